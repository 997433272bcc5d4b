package aistat

import (
	"context"
	"fmt"
	"time"
)

// ActiveSession is one unexpired session of a user, as its owner sees it on
// the sessions page. ID is the row's public id, never its token hash.
type ActiveSession struct {
	ID         int64
	UserAgent  string
	IP         string
	CreatedAt  time.Time
	LastActive time.Time
	// Name is what the owner called the session's device, "" for nothing.
	Name string
}

// MaxDeviceNameLength is the most Unicode characters a device's name has.
const MaxDeviceNameLength = 40

// normalizeDeviceName trims a device's name and checks it under the rules
// of a user's name, but at most MaxDeviceNameLength characters; empty is
// allowed and forgets the name.
func normalizeDeviceName(s string) (string, string) {
	s, broken, _ := oneLineText(s, MaxDeviceNameLength)
	switch broken {
	case textInvalidUTF8:
		return "", "Device name must be valid UTF-8 text."
	case textTooLong:
		return "", "Device name must be at most 40 characters."
	case textControl:
		return "", "Device name must not contain control characters."
	case textHidden:
		return "", "Device name must not contain invisible or direction-changing characters."
	case textInvisible:
		return "", "Device name must have a letter, digit or symbol, or be empty."
	}
	return s, ""
}

// NameSession gives one unexpired session of the user's a device name, or
// forgets it (""), and returns the name as stored. A name that breaks the
// rule is EINVALID naming "name"; a session that is not the user's, or no
// longer active, ENOTFOUND; either way nothing changes.
func (s *Users) NameSession(ctx context.Context, userID, sessionID int64, name string) (string, error) {
	name, msg := normalizeDeviceName(name)
	if msg != "" {
		return "", &Error{Code: EINVALID, Message: msg, Fields: map[string]string{"name": msg}}
	}
	res, err := s.db.ExecContext(ctx,
		`UPDATE sessions SET name = $3 WHERE id = $2 AND user_id = $1 AND expiry > now()`,
		userID, sessionID, name)
	if err != nil {
		return "", fmt.Errorf("name session %d of user %d: %w", sessionID, userID, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return "", fmt.Errorf("name session %d of user %d: %w", sessionID, userID, err)
	} else if n == 0 {
		return "", Errorf(ENOTFOUND, "Session not found.")
	}
	return name, nil
}

// Device is the browser and system the session was opened from.
func (a ActiveSession) Device() Device { return ParseUserAgent(a.UserAgent) }

// ActiveSessions lists the user's unexpired sessions, the most recently
// active first.
func (s *Users) ActiveSessions(ctx context.Context, userID int64) ([]ActiveSession, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT id, user_agent, ip, created_at, last_active, name
		FROM sessions
		WHERE user_id = $1 AND expiry > now()
		ORDER BY last_active DESC, id DESC`, userID)
	if err != nil {
		return nil, fmt.Errorf("list sessions of user %d: %w", userID, err)
	}
	defer rows.Close()
	var list []ActiveSession
	for rows.Next() {
		var a ActiveSession
		if err := rows.Scan(&a.ID, &a.UserAgent, &a.IP, &a.CreatedAt, &a.LastActive, &a.Name); err != nil {
			return nil, fmt.Errorf("list sessions of user %d: %w", userID, err)
		}
		list = append(list, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sessions of user %d: %w", userID, err)
	}
	return list, nil
}

// EndSession ends one unexpired session of the user and records it, in one
// statement. A session that is not the user's, or no longer active, is
// ENOTFOUND and nothing changes.
func (s *Users) EndSession(ctx context.Context, userID, sessionID int64, c Client) error {
	res, err := s.db.ExecContext(ctx, `
		WITH ended AS (
			DELETE FROM sessions WHERE id = $2 AND user_id = $1 AND expiry > now() RETURNING user_id
		)
		INSERT INTO security_events (user_id, kind, ip, user_agent)
		SELECT user_id, $3, $4, $5 FROM ended`,
		userID, sessionID, EventSessionEnded, c.IP, c.UserAgent)
	if err != nil {
		return fmt.Errorf("end session %d of user %d: %w", sessionID, userID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("end session %d of user %d: %w", sessionID, userID, err)
	}
	if n == 0 {
		return Errorf(ENOTFOUND, "Session not found.")
	}
	return nil
}

// EndOtherSessions ends every session of the user except keepID (the
// request's own) and records it when any was active, in one statement. It
// reports how many active sessions ended.
func (s *Users) EndOtherSessions(ctx context.Context, userID, keepID int64, c Client) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `
		WITH ended AS (
			DELETE FROM sessions WHERE user_id = $1 AND id <> $2 RETURNING expiry > now() AS active
		), recorded AS (
			INSERT INTO security_events (user_id, kind, ip, user_agent)
			SELECT $1, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM ended WHERE active)
		)
		SELECT count(*) FILTER (WHERE active) FROM ended`,
		userID, keepID, EventOtherSessionsEnded, c.IP, c.UserAgent).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("end other sessions of user %d: %w", userID, err)
	}
	return n, nil
}
