package aistat

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// EventKind is what happened to an account in a SecurityEvent.
type EventKind string

// The kinds of security events a user sees about their own account.
const (
	EventSignIn               EventKind = "sign_in"
	EventSignInFailed         EventKind = "sign_in_failed"
	EventPasswordChanged      EventKind = "password_changed"
	EventPasswordChangeFailed EventKind = "password_change_failed"
	EventSessionEnded         EventKind = "session_ended"
	EventOtherSessionsEnded   EventKind = "other_sessions_ended"
	EventSessionsRevoked      EventKind = "sessions_revoked"
	EventAccountDisabled      EventKind = "account_disabled"
	EventAccountEnabled       EventKind = "account_enabled"
	EventSessionLimit         EventKind = "session_limit"
	EventAccountDeleteFailed  EventKind = "account_delete_failed"
	EventTOTPEnabled          EventKind = "totp_enabled"
	EventTOTPDisabled         EventKind = "totp_disabled"
	EventRecoveryCodesRenewed EventKind = "recovery_codes_renewed"
	EventRecoveryCodeUsed     EventKind = "recovery_code_used"
	EventSecondFactorsReset   EventKind = "second_factors_reset"
	EventSecondFactorFailed   EventKind = "second_factor_failed"
	EventReauthFailed         EventKind = "reauth_failed"
)

// Label is the event as its user reads it.
func (k EventKind) Label() string {
	switch k {
	case EventSignIn:
		return "Signed in"
	case EventSignInFailed:
		return "Failed sign-in attempt"
	case EventPasswordChanged:
		return "Password changed"
	case EventPasswordChangeFailed:
		return "Password change refused: wrong current password"
	case EventSessionEnded:
		return "Session ended"
	case EventOtherSessionsEnded:
		return "Other sessions ended"
	case EventSessionsRevoked:
		return "Signed out everywhere by an admin"
	case EventAccountDisabled:
		return "Account disabled by an admin"
	case EventAccountEnabled:
		return "Account enabled again by an admin"
	case EventSessionLimit:
		return "Oldest session ended: too many sessions"
	case EventAccountDeleteFailed:
		return "Account deletion refused: wrong password"
	case EventEmailChanged:
		return "Email changed"
	case EventEmailChangeFailed:
		return "Email change refused: wrong current password"
	case EventTOTPEnabled:
		return "Authenticator app enabled"
	case EventTOTPDisabled:
		return "Authenticator app disabled"
	case EventRecoveryCodesRenewed:
		return "New recovery codes"
	case EventRecoveryCodeUsed:
		return "Signed in with a recovery code"
	case EventSecondFactorsReset:
		return "Second factors reset by an admin"
	case EventSecondFactorFailed:
		return "Failed sign-in attempt: wrong code"
	case EventReauthFailed:
		return "Password asked again: wrong answer"
	}
	return string(k)
}

// Failure reports whether the event is a refused attempt, which a page
// shows as a warning.
func (k EventKind) Failure() bool {
	switch k {
	case EventSignInFailed, EventPasswordChangeFailed, EventAccountDeleteFailed, EventEmailChangeFailed,
		EventSecondFactorFailed, EventReauthFailed, EventPasskeyFailed, EventPasskeyCloned:
		return true
	}
	return false
}

// SecurityEvent is one entry of the list of what happened to an account:
// sign-ins, failed attempts, password changes, sessions ended.
type SecurityEvent struct {
	ID   int64
	Kind EventKind
	// IP and UserAgent are those of the client that caused the event; both
	// are empty for an admin's action.
	IP        string
	UserAgent string
	CreatedAt time.Time
}

// Device is the browser and system the event came from.
func (e SecurityEvent) Device() Device { return ParseUserAgent(e.UserAgent) }

// Client is where a request came from, as the security records keep it.
type Client struct {
	IP        string
	UserAgent string
}

// Retention of the records behind security features.
const (
	// SecurityEventRetention is how long security events are kept. They hold
	// client addresses, so they go once they are too old to matter.
	SecurityEventRetention = 90 * 24 * time.Hour
	// MaxSecurityEvents is how many events the account pages show.
	MaxSecurityEvents = 20
)

// execer is a *sql.DB or a *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// recordEvent adds an event to the user's list through q, so that it is part
// of the transaction that did what it records.
func recordEvent(ctx context.Context, q execer, userID int64, kind EventKind, c Client) error {
	_, err := q.ExecContext(ctx,
		`INSERT INTO security_events (user_id, kind, ip, user_agent) VALUES ($1, $2, $3, $4)`,
		userID, kind, c.IP, c.UserAgent)
	if err != nil {
		return fmt.Errorf("record %s for user %d: %w", kind, userID, err)
	}
	return nil
}

// SecurityEvents lists the user's latest security events, newest first.
func (s *Users) SecurityEvents(ctx context.Context, userID int64, limit int) ([]SecurityEvent, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT id, kind, ip, user_agent, created_at
		FROM security_events
		WHERE user_id = $1
		ORDER BY created_at DESC, id DESC
		LIMIT $2`, userID, limit)
	if err != nil {
		return nil, fmt.Errorf("list security events of user %d: %w", userID, err)
	}
	defer rows.Close()
	var list []SecurityEvent
	for rows.Next() {
		var e SecurityEvent
		if err := rows.Scan(&e.ID, &e.Kind, &e.IP, &e.UserAgent, &e.CreatedAt); err != nil {
			return nil, fmt.Errorf("list security events of user %d: %w", userID, err)
		}
		list = append(list, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list security events of user %d: %w", userID, err)
	}
	return list, nil
}

// DeleteExpired deletes security events past their retention, sign-in
// throttle entries that no longer count, and sign-in and passkey
// challenges that can no longer be answered, in batches of at most batch rows,
// each its own short statement, until none is left or ctx ends. It reports
// how many rows it deleted.
func (s *Users) DeleteExpired(ctx context.Context, batch int) (int64, error) {
	events, err := deleteBatches(ctx, s.db, batch, `
		DELETE FROM security_events WHERE id IN (
			SELECT id FROM security_events WHERE created_at < now() - make_interval(secs => $2) LIMIT $1)`,
		SecurityEventRetention.Seconds())
	if err != nil {
		return events, fmt.Errorf("delete old security events: %w", err)
	}
	throttle, err := deleteBatches(ctx, s.db, batch, `
		DELETE FROM sign_in_throttle WHERE (addr, email) IN (
			SELECT addr, email FROM sign_in_throttle WHERE forget_at < now() LIMIT $1)`)
	if err != nil {
		return events + throttle, fmt.Errorf("delete old sign-in throttle entries: %w", err)
	}
	logins, err := deleteBatches(ctx, s.db, batch, `
		DELETE FROM login_challenges WHERE token_hash IN (
			SELECT token_hash FROM login_challenges WHERE expires_at < now() LIMIT $1)`)
	if err != nil {
		return events + throttle + logins, fmt.Errorf("delete expired login challenges: %w", err)
	}
	passkeys, err := deleteBatches(ctx, s.db, batch, `
		DELETE FROM passkey_challenges WHERE challenge IN (
			SELECT challenge FROM passkey_challenges WHERE expires_at < now() LIMIT $1)`)
	if err != nil {
		return events + throttle + logins + passkeys, fmt.Errorf("delete expired passkey challenges: %w", err)
	}
	return events + throttle + logins + passkeys, nil
}

// deleteBatches runs a DELETE whose first argument is its batch size until
// it deletes fewer rows than that.
func deleteBatches(ctx context.Context, db *sql.DB, batch int, query string, args ...any) (int64, error) {
	var total int64
	for {
		res, err := db.ExecContext(ctx, query, append([]any{batch}, args...)...)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += n
		if n < int64(batch) {
			return total, nil
		}
	}
}
