package aistat

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"time"
)

// AuditAction is what an admin did to an account, or a user to their own.
type AuditAction string

// The actions the audit log records.
const (
	AuditCreate     AuditAction = "create"
	AuditRoleChange AuditAction = "role"
	AuditRevoke     AuditAction = "revoke"
	AuditDisable    AuditAction = "disable"
	AuditEnable     AuditAction = "enable"
	AuditDelete     AuditAction = "delete"
	AuditResetLink  AuditAction = "reset_link"
	// AuditDeleteOwn is a user deleting their own account: the actor is
	// the user.
	AuditDeleteOwn AuditAction = "delete_own"
	// AuditSecondFactorsReset is an admin removing a user's second
	// factors.
	AuditSecondFactorsReset AuditAction = "second_factors_reset"
)

// Label is the action as people read it.
func (a AuditAction) Label() string {
	switch a {
	case AuditCreate:
		return "Created"
	case AuditRoleChange:
		return "Role changed"
	case AuditRevoke:
		return "Signed out everywhere"
	case AuditDisable:
		return "Disabled"
	case AuditEnable:
		return "Enabled"
	case AuditDelete:
		return "Deleted"
	case AuditResetLink:
		return "Reset link issued"
	case AuditDeleteOwn:
		return "Deleted their own account"
	case AuditSecondFactorsReset:
		return "Second factors reset"
	case AuditInvite:
		return "Invited"
	case AuditInviteResend:
		return "Invitation sent again"
	case AuditInviteWithdraw:
		return "Invitation withdrawn"
	}
	return string(a)
}

// AuditEntry is one recorded admin action. The emails are as they were at
// the time; either user may since have changed or been deleted.
type AuditEntry struct {
	ID          int64
	At          time.Time
	ActorID     int64
	ActorEmail  string
	Action      AuditAction
	TargetID    int64
	TargetEmail string
	// Detail says more about the change, such as "Editor → Viewer".
	Detail string
}

// AuditQuery selects a page of the audit log, newest first.
type AuditQuery struct {
	Cursor Cursor
	// Limit is the page size; zero means DefaultPageSize.
	Limit int
}

// AuditPage is one page of the audit log, newest first.
type AuditPage struct {
	Entries []AuditEntry
	// Newer and Older are the cursors of the neighbouring pages; nil when
	// there is none.
	Newer, Older *Cursor
}

// audit records, in the transaction of the change itself, that actor did
// action to target: the entry exists exactly when the change does. The
// actor's email is read in the same statement, as the transaction sees it.
func audit(ctx context.Context, tx *sql.Tx, actorID int64, action AuditAction, target *User, detail string) error {
	res, err := tx.ExecContext(ctx, `
		INSERT INTO audit_log (actor_id, actor_email, action, target_id, target_email, detail)
		SELECT id, email, $2, $3, $4, $5 FROM users WHERE id = $1`,
		actorID, action, target.ID, target.Email, detail)
	if err != nil {
		return fmt.Errorf("audit %s of user %d: %w", action, target.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("audit %s of user %d: %w", action, target.ID, err)
	}
	if n != 1 {
		return fmt.Errorf("audit %s of user %d: no actor %d", action, target.ID, actorID)
	}
	return nil
}

// AuditLog returns a page of the audit log, newest first.
func (s *Users) AuditLog(ctx context.Context, q AuditQuery) (*AuditPage, error) {
	if err := q.Cursor.validate(); err != nil {
		return nil, err
	}
	limit := pageLimit(q.Limit)
	// Newest first: the first page and every older one are read downwards;
	// a newer one upwards from After, so that it ends next to the page it
	// was reached from.
	up := q.Cursor.After > 0
	query := `SELECT id, at, actor_id, actor_email, action, target_id, target_email, detail
		FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT $2`
	from := int64(math.MaxInt64)
	switch {
	case up:
		query = `SELECT id, at, actor_id, actor_email, action, target_id, target_email, detail
			FROM audit_log WHERE id > $1 ORDER BY id LIMIT $2`
		from = q.Cursor.After
	case q.Cursor.Before > 0:
		from = q.Cursor.Before
	}
	rows, err := s.db.QueryContext(ctx, query, from, limit+1)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	defer rows.Close()
	var entries []AuditEntry
	for rows.Next() {
		var e AuditEntry
		if err := rows.Scan(&e.ID, &e.At, &e.ActorID, &e.ActorEmail, &e.Action, &e.TargetID, &e.TargetEmail, &e.Detail); err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	more := len(entries) > limit
	entries = entries[:min(len(entries), limit)]
	ids := make([]int64, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	if !up {
		slices.Reverse(ids)
	}
	page := &AuditPage{Entries: entries}
	page.Newer, page.Older = around(q.Cursor, up, more, ids)
	if up {
		slices.Reverse(page.Entries)
	}
	return page, nil
}
