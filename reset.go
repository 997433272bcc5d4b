package aistat

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// ResetLinkLifetime is how long a password reset link can be used.
const ResetLinkLifetime = time.Hour

// resetTokenBytes is the randomness of a reset token: 32 bytes, 43
// characters of base64url.
const resetTokenBytes = 32

// Errors of a reset token that cannot be used.
var (
	errResetGarbled = Errorf(ENOTFOUND, "This reset link is incomplete or mistyped. Copy the whole link and try again.")
	errResetGone    = Errorf(EGONE, "This link has expired or was already used.")
	// What ResetUser can tell of a link that cannot be used: its row says
	// it was used or it expired; a link without a row was replaced by a
	// newer one, ended with its account's sessions, or expired and was
	// cleaned up.
	errResetUsed     = Errorf(EGONE, "This link was already used to set a password, and works only once. To set a new password again, ask for a new link with “Forgot your password?” on the sign-in page.")
	errResetExpired  = Errorf(EGONE, "This link has expired. Ask for a new one with “Forgot your password?” on the sign-in page, or ask an admin.")
	errResetReplaced = Errorf(EGONE, "This link no longer works: it has expired, was already used, or a newer one was made. Ask for a new one with “Forgot your password?” on the sign-in page, or ask an admin.")
)

// IssueResetLink creates a one-time password reset token for the target on
// behalf of actor, under the same rules as SetRole, and invalidates every
// older one of that user. Only the token's SHA-256 is stored: the token
// returned here is the one time anyone sees it.
func (s *Users) IssueResetLink(ctx context.Context, actorID, targetID int64) (*User, string, error) {
	token, sum := newResetToken()
	var user *User
	err := s.adminChange(ctx, actorID, targetID, func(tx *sql.Tx, target *User) error {
		if err := replaceResetLink(ctx, tx, target.ID, sum, ResetLinkLifetime); err != nil {
			return err
		}
		user = target
		if err := enqueueMail(ctx, tx, noticeTo(target, MailAdminReset, nil)); err != nil {
			return err
		}
		return audit(ctx, tx, actorID, AuditResetLink, target, fmt.Sprintf("valid for %d minutes", int(ResetLinkLifetime.Minutes())))
	})
	if err != nil {
		return nil, "", err
	}
	return user, token, nil
}

// newResetToken is a fresh one-time token, as its link carries it, and the
// SHA-256 the table stores in its place.
func newResetToken() (string, [sha256.Size]byte) {
	raw := make([]byte, resetTokenBytes)
	// crypto/rand never returns an error: it crashes the program instead.
	_, _ = rand.Read(raw)
	return base64.RawURLEncoding.EncodeToString(raw), sha256.Sum256(raw)
}

// replaceResetLink makes the link of hash sum, valid for lifetime, the
// user's one link, in tx: the user's older links go, used or not, and so
// does every expired link of anyone, so the table holds only what can
// still be used. Admins' reset links and invitations both go through it.
func replaceResetLink(ctx context.Context, tx *sql.Tx, userID int64, sum [sha256.Size]byte, lifetime time.Duration) error {
	if _, err := tx.ExecContext(ctx,
		`DELETE FROM password_resets WHERE user_id = $1 OR expires_at <= now()`, userID); err != nil {
		return fmt.Errorf("invalidate reset links of user %d: %w", userID, err)
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO password_resets (token_hash, user_id, expires_at)
		VALUES ($1, $2, now() + make_interval(secs => $3))`,
		sum[:], userID, lifetime.Seconds()); err != nil {
		return fmt.Errorf("create reset link for user %d: %w", userID, err)
	}
	return nil
}

// endResetLinks deletes every reset link of the user in tx, used or not, and
// reports how many could still have been used. Disabling an account and
// signing it out everywhere are what an admin does when it may be in the
// wrong hands: a link issued before must not let anyone back in, and a
// deleted link cannot come back when the account is enabled again.
func endResetLinks(ctx context.Context, tx *sql.Tx, userID int64) (int64, error) {
	var usable int64
	err := tx.QueryRowContext(ctx, `
		WITH gone AS (DELETE FROM password_resets WHERE user_id = $1 RETURNING used_at, expires_at)
		SELECT count(*) FROM gone WHERE used_at IS NULL AND expires_at > now()`, userID).Scan(&usable)
	if err != nil {
		return 0, fmt.Errorf("end reset links of user %d: %w", userID, err)
	}
	return usable, nil
}

// linksEnded is the audit log's detail for n usable reset links ended, ""
// for none.
func linksEnded(n int64) string {
	switch n {
	case 0:
		return ""
	case 1:
		return "reset link cancelled"
	}
	return fmt.Sprintf("%d reset links cancelled", n)
}

// resetTokenHash is the stored form of a token as it came in a link. A
// token that cannot have been issued (wrong length or alphabet) is
// ENOTFOUND.
func resetTokenHash(token string) ([]byte, error) {
	if len(token) != base64.RawURLEncoding.EncodedLen(resetTokenBytes) {
		return nil, errResetGarbled
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) != resetTokenBytes {
		return nil, errResetGarbled
	}
	sum := sha256.Sum256(raw)
	return sum[:], nil
}

// ResetUser returns the user a reset token belongs to while the token can
// be used: EGONE once it expired, was used or was replaced by a newer link,
// whose message says which, as far as the table still tells, and what to
// do about it.
//
// invited reports whether the user has no password yet: the link is an
// invitation's.
func (s *Users) ResetUser(ctx context.Context, token string) (u *User, invited bool, err error) {
	hash, err := resetTokenHash(token)
	if err != nil {
		return nil, false, err
	}
	var used, expired bool
	u, err = scanUser(s.db.QueryRowContext(ctx, `
		SELECT `+uUserColumns+`,
			r.used_at IS NOT NULL, r.expires_at <= now(), u.password_hash = ''
		FROM password_resets r
		JOIN users u ON u.id = r.user_id
		WHERE r.token_hash = $1`, hash), &used, &expired, &invited)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, false, errResetReplaced
	case err != nil:
		return nil, false, fmt.Errorf("find reset link: %w", err)
	case used:
		return nil, false, errResetUsed
	case expired:
		return nil, false, errResetExpired
	}
	return u, invited, nil
}

// ResetPassword sets a new password for the user of a reset token, uses the
// token up, ends every session of that user and records the change among
// their security events as made from c, all in one transaction. The password
// rule applies, with the user's email, and the new password must differ
// from the current one. Of two requests racing with one token exactly one
// succeeds: the other waits for the first's row lock and then finds the
// token used (EGONE).
func (s *Users) ResetPassword(ctx context.Context, token, password string, c Client) (*User, error) {
	hash, err := resetTokenHash(token)
	if err != nil {
		return nil, err
	}
	var email, current string
	err = s.db.QueryRowContext(ctx, `
		SELECT u.email, u.password_hash
		FROM password_resets r
		JOIN users u ON u.id = r.user_id
		WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > now()`, hash).Scan(&email, &current)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errResetGone
	} else if err != nil {
		return nil, fmt.Errorf("find reset link: %w", err)
	}
	if msg := checkPassword(password, email); msg != "" {
		return nil, invalid(map[string]string{"password": msg})
	}
	// This tells the link's holder whether a guess is the current password,
	// which is no oracle to fear: a wrong guess sets the password and uses
	// the link up, and the holder of a live link can take the account anyway.
	if same, err := s.matches(ctx, current, password); err != nil {
		return nil, err
	} else if same {
		return nil, invalid(map[string]string{"password": errSamePassword})
	}
	passwordHash, err := s.hash(ctx, password)
	if err != nil {
		return nil, err
	}
	var user *User
	err = inTx(ctx, s.db, func(tx *sql.Tx) error {
		var userID int64
		err := tx.QueryRowContext(ctx, `
			UPDATE password_resets SET used_at = now()
			WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
			RETURNING user_id`, hash).Scan(&userID)
		if errors.Is(err, sql.ErrNoRows) {
			return errResetGone
		} else if err != nil {
			return fmt.Errorf("use reset link: %w", err)
		}
		u, err := scanUser(tx.QueryRowContext(ctx,
			`UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1 RETURNING `+userColumns,
			userID, passwordHash))
		if err != nil {
			return fmt.Errorf("set password of user %d: %w", userID, err)
		}
		if _, err := endSessions(ctx, tx, userID, EndPasswordChanged); err != nil {
			return err
		}
		user = u
		// Accepting an invitation (no password before) changes nothing
		// anyone must be warned of.
		if current != "" {
			if err := enqueueMail(ctx, tx, noticeTo(u, MailPasswordChanged, nil)); err != nil {
				return err
			}
		}
		return recordEvent(ctx, tx, userID, EventPasswordChanged, c)
	})
	return user, err
}
