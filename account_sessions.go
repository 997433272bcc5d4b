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
}

// Device is the browser and system the session was opened from.
func (a ActiveSession) Device() Device { return ParseUserAgent(a.UserAgent) }

// ActiveSessions lists the user's unexpired sessions, the most recently
// active first.
func (s *Users) ActiveSessions(ctx context.Context, userID int64) ([]ActiveSession, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT id, user_agent, ip, created_at, last_active
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
		if err := rows.Scan(&a.ID, &a.UserAgent, &a.IP, &a.CreatedAt, &a.LastActive); err != nil {
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
