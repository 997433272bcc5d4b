// Package sessions keeps sign-in sessions in PostgreSQL through scs and
// hands each request its current user, read fresh from the database in the
// same query that finds the session.
package sessions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/alexedwards/scs/v2"
	"github.com/lib/pq"

	"aistat"
)

// Store is scs's session store on the sessions table. Tokens arrive hashed
// (scs's HashTokenInStore). Unlike scs's postgresstore it joins the user in
// the same query, records who owns each session, and never re-creates a row
// that was deleted while a request was running.
type Store struct {
	db     *sql.DB
	finder *finder
}

var _ scs.CtxStore = (*Store)(nil)

// NewStore returns the store on db.
func NewStore(db *sql.DB) *Store {
	return &Store{db: db, finder: newFinder(db)}
}

// LookupStats is how many sessions the store has looked up and in how many
// queries: under load a query serves several requests.
func (s *Store) LookupStats() (lookups, queries int64) {
	return s.finder.lookups.Load(), s.finder.queries.Load()
}

// FindCtx returns the data of an unexpired session whose user is enabled,
// and hands that user and the session's times to the request's state.
func (s *Store) FindCtx(ctx context.Context, token string) ([]byte, bool, error) {
	row, data, reason, err := s.finder.find(ctx, token)
	if err != nil {
		return nil, false, err
	}
	st := stateFrom(ctx)
	if row == nil {
		if st != nil {
			st.ended(aistat.EndReason(reason))
		}
		return nil, false, nil
	}
	if st != nil {
		st.found(row)
	}
	return data, true, nil
}

// CommitCtx saves a session as the request's phase says (see state.go).
// The session found by this request is updated, never re-inserted: when it
// was revoked meanwhile it stays revoked. A session that is new to this
// request (a sign-in) is inserted with its owner and the client that opened
// it.
func (s *Store) CommitCtx(ctx context.Context, token string, b []byte, expiry time.Time) error {
	st := stateFrom(ctx)
	if st == nil {
		return errors.New("commit session: request state missing: wrap the handler with Manager.Handler")
	}
	switch {
	case st.phase == sessionFound && token == st.row.token:
		_, err := s.db.ExecContext(ctx,
			`UPDATE sessions SET data = $2, expiry = $3, last_active = now() WHERE token = $1`,
			token, b, expiry)
		if err != nil {
			return fmt.Errorf("update session: %w", err)
		}
		return nil
	case st.phase == sessionRenewed:
		// The row keeps its id, so its open pages stay signed in. A
		// session revoked meanwhile stays revoked.
		_, err := s.db.ExecContext(ctx,
			`UPDATE sessions SET token = $1, data = $2, expiry = $3, last_active = now() WHERE token = $4`,
			token, b, expiry, st.row.token)
		if err != nil {
			return fmt.Errorf("renew session: %w", err)
		}
		return nil
	case st.phase == sessionSignedIn:
		return s.insert(ctx, st.user.ID, st, token, b, expiry)
	default:
		return errors.New("commit session: a new session needs a signed-in user")
	}
}

// MaxPerUser is how many live sessions a user may have: a sign-in past it
// ends the oldest, so that a stolen password cannot pile up sessions
// unseen and the sessions page stays short.
const MaxPerUser = 50

// insertSessionSQL adds the session of a sign-in and ends the user's oldest
// live sessions past MaxPerUser ($7), with a session_limit event ($8) when
// it ended any. The DELETE does not see the row being inserted (one
// snapshot), hence the "- 1".
const insertSessionSQL = `
WITH inserted AS (
	INSERT INTO sessions (token, data, expiry, user_id, user_agent, ip) VALUES ($1, $2, $3, $4, $5, $6)
), ended AS (
	DELETE FROM sessions WHERE id IN (
		SELECT id FROM sessions WHERE user_id = $4 AND expiry > now()
		ORDER BY created_at, id
		LIMIT greatest(0, (SELECT count(*) FROM sessions WHERE user_id = $4 AND expiry > now()) - ($7::int - 1)))
	RETURNING id
)
INSERT INTO security_events (user_id, kind, ip, user_agent)
SELECT $4, $8, $6, $5 WHERE EXISTS (SELECT 1 FROM ended)`

// insert stores a new session under the session limit, in one transaction
// that first locks the user's row: concurrent sign-ins of one user then
// count each other's sessions, and the user cannot go past the limit. The
// lock also names the reason the ended sessions' browsers will read.
func (s *Store) insert(ctx context.Context, userID int64, st *state, token string, b []byte, expiry time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("insert session: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx,
		`SELECT set_config('aistat.end_reason', $2, true) FROM users WHERE id = $1 FOR NO KEY UPDATE`,
		userID, string(aistat.EndSessionLimit)); err != nil {
		return fmt.Errorf("insert session: %w", err)
	}
	if _, err := tx.ExecContext(ctx, insertSessionSQL, token, b, expiry, userID, st.userAgent, st.ip,
		MaxPerUser, aistat.EventSessionLimit); err != nil {
		return fmt.Errorf("insert session: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("insert session: %w", err)
	}
	return nil
}

// DeleteCtx deletes a session; a missing one is not an error. The delete
// that renewing a token starts with is skipped: CommitCtx re-keys that row.
func (s *Store) DeleteCtx(ctx context.Context, token string) error {
	if st := stateFrom(ctx); st != nil && st.phase == sessionRenewed {
		if token == st.row.token {
			return nil
		}
		// A renewed session being destroyed: its row still has the old
		// token.
		token = st.row.token
		st.keep()
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE token = $1`, token); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// Find is FindCtx without a context; scs requires it.
func (s *Store) Find(token string) ([]byte, bool, error) {
	return s.FindCtx(context.Background(), token)
}

// Commit is CommitCtx without a context; scs requires it.
func (s *Store) Commit(token string, b []byte, expiry time.Time) error {
	return s.CommitCtx(context.Background(), token, b, expiry)
}

// Delete is DeleteCtx without a context; scs requires it.
func (s *Store) Delete(token string) error {
	return s.DeleteCtx(context.Background(), token)
}

// DeleteExpired deletes expired sessions, and the reasons of sessions that
// ended longer ago than aistat.EndedSessionRetention, in batches of at most
// batch rows, each its own short statement so the table is never locked for
// long, until none is left or ctx ends. It reports how many sessions it
// deleted.
func (s *Store) DeleteExpired(ctx context.Context, batch int) (int64, error) {
	for {
		res, err := s.db.ExecContext(ctx, `
			DELETE FROM ended_sessions WHERE token IN (
				SELECT token FROM ended_sessions WHERE ended_at < now() - make_interval(secs => $2) LIMIT $1)`,
			batch, aistat.EndedSessionRetention.Seconds())
		if err != nil {
			return 0, fmt.Errorf("delete old ended sessions: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return 0, fmt.Errorf("delete old ended sessions: %w", err)
		} else if n < int64(batch) {
			break
		}
	}
	var total int64
	for {
		res, err := s.db.ExecContext(ctx, `
			DELETE FROM sessions WHERE token IN (
				SELECT token FROM sessions WHERE expiry <= now() LIMIT $1)`, batch)
		if err != nil {
			return total, fmt.Errorf("delete expired sessions: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("delete expired sessions: %w", err)
		}
		total += n
		if n < int64(batch) {
			return total, nil
		}
	}
}

// Live reports which of the sessions ids are unexpired with an enabled user,
// with that user's current role.
func (s *Store) Live(ctx context.Context, ids []int64) (map[int64]aistat.Role, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT s.id, u.role
		FROM sessions s
		JOIN users u ON u.id = s.user_id
		WHERE s.id = ANY($1) AND s.expiry > now() AND NOT u.disabled`, pq.Array(ids))
	if err != nil {
		return nil, fmt.Errorf("check sessions: %w", err)
	}
	defer rows.Close()
	live := make(map[int64]aistat.Role, len(ids))
	for rows.Next() {
		var id int64
		var role aistat.Role
		if err := rows.Scan(&id, &role); err != nil {
			return nil, fmt.Errorf("check sessions: %w", err)
		}
		live[id] = role
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("check sessions: %w", err)
	}
	return live, nil
}

// Expiry is when the session expires as stored now; false when it is gone,
// expired or its user disabled.
func (s *Store) Expiry(ctx context.Context, id int64) (time.Time, bool, error) {
	var expiry time.Time
	err := s.db.QueryRowContext(ctx, `
		SELECT s.expiry
		FROM sessions s
		JOIN users u ON u.id = s.user_id
		WHERE s.id = $1 AND s.expiry > now() AND NOT u.disabled`, id).Scan(&expiry)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	} else if err != nil {
		return time.Time{}, false, fmt.Errorf("session expiry: %w", err)
	}
	return expiry, true, nil
}
