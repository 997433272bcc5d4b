package aistat

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxSearchLength bounds the admin page's search, in Unicode characters.
const MaxSearchLength = 100

// UserView is how much of each user a list of users holds.
type UserView int

const (
	// DirectoryView is the user directory editors see: each user's id,
	// name, role and whether the account is disabled, nothing else (no
	// email, avatar, sessions or activity). Its search matches names only,
	// so that it cannot be used to find out whose email is what; no session
	// is read at all.
	DirectoryView UserView = iota
	// AdminView is what admins see: the whole user, with the count of
	// active sessions and the latest activity; its search matches emails
	// too.
	AdminView
)

// UserQuery selects a page of the admin page's list of users, in the order
// they were created.
type UserQuery struct {
	// View is how much of each user the page holds; the zero value is the
	// least, DirectoryView.
	View UserView
	// Search keeps the users whose name (and in AdminView, email) contains
	// it, ignoring case; empty keeps everyone.
	Search string
	Cursor Cursor
	// Limit is the page size; zero means DefaultPageSize.
	Limit int
}

// UserPage is one page of users, in the order they were created.
type UserPage struct {
	// Users hold, in DirectoryView, only the fields that view names: the
	// others are zero.
	Users []UserSummary
	// Prev and Next are the cursors of the neighbouring pages, nil when
	// there is none.
	Prev, Next *Cursor
}

// NormalizeSearch trims a search term and checks it: at most
// MaxSearchLength characters of valid UTF-8 text without control
// characters. Names and emails hold no control characters, PostgreSQL text
// holds neither invalid UTF-8 nor NUL, and a longer term is a mistake, not
// a search worth a scan.
func NormalizeSearch(q string) (string, error) {
	field := func(msg string) error {
		return &Error{Code: EINVALID, Message: msg, Fields: map[string]string{"q": msg}}
	}
	switch {
	case !utf8.ValidString(q):
		return "", field("Search must be valid UTF-8 text.")
	case strings.IndexFunc(q, unicode.IsControl) >= 0:
		return "", field("Search must not contain control characters.")
	}
	q = strings.TrimSpace(q)
	if utf8.RuneCountInString(q) > MaxSearchLength {
		return "", field(fmt.Sprintf("Search must be at most %d characters.", MaxSearchLength))
	}
	return q, nil
}

// likeEscaper makes a search term match itself literally in LIKE.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// List returns a page of users, in AdminView with their active sessions.
// Both the search and the page are found through indexes (trigram indexes
// on lower(email) and lower(name), the primary key), and the sessions are
// counted only for the users of the page, through the index on (user_id,
// expiry), so the cost stays flat however many users and expired sessions
// there are.
func (s *Users) List(ctx context.Context, q UserQuery) (*UserPage, error) {
	search, err := NormalizeSearch(q.Search)
	if err != nil {
		return nil, err
	}
	if err := q.Cursor.validate(); err != nil {
		return nil, err
	}
	limit := pageLimit(q.Limit)
	// The previous page is read downwards from Before, so that it ends
	// next to the page it was reached from.
	up := q.Cursor.Before == 0
	query, args := directoryQuery(search, q.Cursor, limit+1)
	scan := scanDirectoryEntry
	if q.View == AdminView {
		query, args = listQuery(search, q.Cursor, limit+1)
		scan = scanUserSummary
	}
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var list []UserSummary
	for rows.Next() {
		sum, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		list = append(list, sum)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	more := len(list) > limit
	if more {
		// The extra row lies beyond the far end: the last one read upwards,
		// the first one (in ascending order) read downwards.
		if up {
			list = list[:limit]
		} else {
			list = list[1:]
		}
	}
	ids := make([]int64, len(list))
	for i, sum := range list {
		ids[i] = sum.User.ID
	}
	page := &UserPage{Users: list}
	page.Next, page.Prev = around(q.Cursor, up, more, ids)
	return page, nil
}

// scanUserSummary reads a row of listQuery.
func scanUserSummary(row scanner) (UserSummary, error) {
	var sum UserSummary
	var last sql.NullTime
	u, err := scanUser(row, &sum.ActiveSessions, &last)
	if err != nil {
		return sum, err
	}
	sum.User, sum.LastActive = *u, last.Time
	return sum, nil
}

// scanDirectoryEntry reads a row of directoryQuery.
func scanDirectoryEntry(row scanner) (UserSummary, error) {
	var sum UserSummary
	u := &sum.User
	err := row.Scan(&u.ID, &u.Name, &u.Role, &u.Disabled)
	return sum, err
}

// directoryQuery is List's SQL for DirectoryView, read as listQuery reads:
// the users' table alone, and of it only what the view shows, so that
// nothing else can reach an editor's page by mistake.
func directoryQuery(search string, c Cursor, limit int) (string, []any) {
	where, order, from := `id > $1`, `id`, c.After
	if c.Before > 0 {
		where, order, from = `id < $1`, `id DESC`, c.Before
	}
	args := []any{from, limit}
	if search != "" {
		where += ` AND lower(name) LIKE lower($3)`
		args = append(args, "%"+likeEscaper.Replace(search)+"%")
	}
	return `SELECT id, name, role, disabled FROM (
		SELECT id, name, role, disabled FROM users WHERE ` + where + ` ORDER BY ` + order + ` LIMIT $2) u
		ORDER BY id`, args
}

// listQuery is List's SQL for AdminView and a normalized search term,
// reading limit rows from the cursor: upwards from After, or downwards from
// Before.
func listQuery(search string, c Cursor, limit int) (string, []any) {
	where, order, from := `id > $1`, `id`, c.After
	if c.Before > 0 {
		where, order, from = `id < $1`, `id DESC`, c.Before
	}
	args := []any{from, limit}
	if search != "" {
		// lower() of the whole pattern in SQL, the same function as the
		// indexes', and a constant the planner extracts trigrams from.
		where += ` AND (lower(email) LIKE lower($3) OR lower(name) LIKE lower($3))`
		args = append(args, "%"+likeEscaper.Replace(search)+"%")
	}
	return `
		SELECT ` + userColumns + `, a.active, a.last_active
		FROM (SELECT ` + userColumns + ` FROM users WHERE ` + where + ` ORDER BY ` + order + ` LIMIT $2) u
		CROSS JOIN LATERAL (
			SELECT count(*) AS active, max(s.last_active) AS last_active
			FROM sessions s
			WHERE s.user_id = u.id AND s.expiry > now()) a
		ORDER BY u.id`, args
}

// CreateAs adds an account on behalf of actor, who must be an enabled
// admin, after checking every input rule, the password rule included.
func (s *Users) CreateAs(ctx context.Context, actorID int64, nu NewUser) (*User, error) {
	nu, err := nu.normalize()
	if err != nil {
		return nil, err
	}
	hash, err := s.hash(ctx, nu.Password)
	if err != nil {
		return nil, err
	}
	var created *User
	err = s.adminTx(ctx, actorID, func(tx *sql.Tx) error {
		u, err := insertUser(ctx, tx, nu.Email, nu.Name, nu.Role, hash)
		if err != nil {
			return err
		}
		created = u
		return audit(ctx, tx, actorID, AuditCreate, u, u.Role.Label())
	})
	return created, err
}

// Delete removes the target's account on behalf of actor, under the same
// rules as SetRole, and returns the user as they were. Their sessions and
// reset links go with them; the audit log keeps what was done to and by them.
func (s *Users) Delete(ctx context.Context, actorID, targetID int64) (*User, error) {
	var deleted *User
	err := s.adminChange(ctx, actorID, targetID, func(tx *sql.Tx, target *User) error {
		if target.Role == RoleAdmin && !target.Disabled {
			if err := ensureAnotherAdmin(ctx, tx, target.ID); err != nil {
				return err
			}
		}
		if err := audit(ctx, tx, actorID, AuditDelete, target, ""); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, target.ID); err != nil {
			return fmt.Errorf("delete user %d: %w", target.ID, err)
		}
		deleted = target
		return nil
	})
	return deleted, err
}

// EndSessions signs the target out on every device on behalf of actor,
// under the same rules as SetRole, and reports how many sessions ended. The
// target's reset links end with them, in the same transaction: signing
// someone out everywhere is an answer to an account in the wrong hands, and
// a link sent out before would let those hands back in.
func (s *Users) EndSessions(ctx context.Context, actorID, targetID int64) (*User, int64, error) {
	var (
		user  *User
		ended int64
	)
	err := s.adminChange(ctx, actorID, targetID, func(tx *sql.Tx, target *User) error {
		n, err := endSessions(ctx, tx, target.ID, EndRevoked)
		if err != nil {
			return err
		}
		links, err := endResetLinks(ctx, tx, target.ID)
		if err != nil {
			return err
		}
		user, ended = target, n
		// The user sees it among their security events; the admin's own
		// address and browser are none of their business.
		if err := recordEvent(ctx, tx, target.ID, EventSessionsRevoked, Client{}); err != nil {
			return err
		}
		return audit(ctx, tx, actorID, AuditRevoke, target, endedDetail(n, links))
	})
	return user, ended, err
}

// endSessions deletes every session of the user in tx for reason, which
// their browsers' next pages tell; the trigger on sessions signs their open
// pages out once tx commits.
func endSessions(ctx context.Context, tx *sql.Tx, userID int64, reason EndReason) (int64, error) {
	if err := setEndReason(ctx, tx, reason); err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1`, userID)
	if err != nil {
		return 0, fmt.Errorf("end sessions of user %d: %w", userID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("end sessions of user %d: %w", userID, err)
	}
	return n, nil
}

// endedDetail is the audit log's detail for n ended sessions and links
// usable reset links cancelled with them.
func endedDetail(n, links int64) string {
	if l := linksEnded(links); l != "" {
		return fmt.Sprintf("%s, %s", sessionsEnded(n), l)
	}
	return sessionsEnded(n)
}

// sessionsEnded is the audit log's detail for n ended sessions.
func sessionsEnded(n int64) string {
	if n == 1 {
		return "1 session ended"
	}
	return fmt.Sprintf("%d sessions ended", n)
}
