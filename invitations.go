package aistat

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Invitations: an admin adds an account by email, name and role without
// choosing its password; the person gets a link, valid InviteLinkLifetime,
// to choose one (a reset link of longer life, used through the same page).
// Until they do, the account has no password (password_hash is empty), so
// nobody can sign in to it, and the admin page lists it as pending.

// InviteLinkLifetime is how long an invitation's link can be used.
const InviteLinkLifetime = 7 * 24 * time.Hour

// The audit log's actions on invitations.
const (
	AuditInvite         AuditAction = "invite"
	AuditInviteResend   AuditAction = "invite_resend"
	AuditInviteWithdraw AuditAction = "invite_withdraw"
)

// NewInvite is what it takes to invite someone.
type NewInvite struct {
	Email string
	Name  string
	Role  Role
}

// Invitation is an account whose person has not yet chosen a password.
type Invitation struct {
	User User
	// Expires is when its latest link stops working; zero when it has
	// none that works (expired, or ended with the account's links).
	Expires time.Time
}

var errNotPending = Errorf(ECONFLICT, "This person has already accepted the invitation.")

// Invite adds an account without a password on behalf of actor, who must
// be an enabled admin, and mails its person a link to choose one, all in
// one transaction. The email, name and role rules are those of Create; an
// email that is taken or looks like another account's is ECONFLICT.
func (s *Users) Invite(ctx context.Context, actorID int64, ni NewInvite) (*User, error) {
	email, name, fields := normalizeIdentity(ni.Email, ni.Name, ni.Role)
	if len(fields) > 0 {
		return nil, invalid(fields)
	}
	var created *User
	err := s.adminTx(ctx, actorID, func(tx *sql.Tx) error {
		u, err := insertUser(ctx, tx, email, name, ni.Role, "")
		if err != nil {
			return err
		}
		created = u
		if err := sendInvitation(ctx, tx, actorID, u); err != nil {
			return err
		}
		return audit(ctx, tx, actorID, AuditInvite, u, u.Role.Label())
	})
	return created, err
}

// sendInvitation replaces the invited user's links with a new one and
// mails it, in tx.
func sendInvitation(ctx context.Context, tx *sql.Tx, actorID int64, u *User) error {
	token, sum := newResetToken()
	if err := replaceResetLink(ctx, tx, u.ID, sum, InviteLinkLifetime); err != nil {
		return err
	}
	var inviter string
	if err := tx.QueryRowContext(ctx, `SELECT name FROM users WHERE id = $1`, actorID).Scan(&inviter); err != nil {
		return fmt.Errorf("load inviter %d: %w", actorID, err)
	}
	return enqueueMail(ctx, tx, Mail{Kind: MailInvitation, To: u.Email, Locale: u.Locale,
		Data: map[string]string{"path": "/reset/" + token, "email": u.Email, "inviter": inviter}})
}

// pending refuses, in tx, a target who has chosen a password.
func pending(ctx context.Context, tx *sql.Tx, target *User) error {
	var open bool
	err := tx.QueryRowContext(ctx, `SELECT password_hash = '' FROM users WHERE id = $1`, target.ID).Scan(&open)
	if errors.Is(err, sql.ErrNoRows) {
		return Errorf(ENOTFOUND, "User not found.")
	} else if err != nil {
		return fmt.Errorf("load invitation of user %d: %w", target.ID, err)
	}
	if !open {
		return errNotPending
	}
	return nil
}

// ResendInvitation mails a pending invitation again, with a new link that
// replaces the old one, on behalf of actor (under the rules of SetRole).
func (s *Users) ResendInvitation(ctx context.Context, actorID, targetID int64) (*User, error) {
	return s.invitationChange(ctx, actorID, targetID, AuditInviteResend, func(tx *sql.Tx, target *User) error {
		return sendInvitation(ctx, tx, actorID, target)
	})
}

// WithdrawInvitation deletes a pending invitation's account, and with it
// its link, on behalf of actor (under the rules of SetRole).
func (s *Users) WithdrawInvitation(ctx context.Context, actorID, targetID int64) (*User, error) {
	return s.invitationChange(ctx, actorID, targetID, AuditInviteWithdraw, func(tx *sql.Tx, target *User) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, target.ID); err != nil {
			return fmt.Errorf("withdraw invitation of user %d: %w", target.ID, err)
		}
		return nil
	})
}

// invitationChange runs change on a pending invitation, under the rules of
// SetRole, and records action in the audit log; a target who has chosen a
// password is ECONFLICT.
func (s *Users) invitationChange(ctx context.Context, actorID, targetID int64, action AuditAction,
	change func(tx *sql.Tx, target *User) error) (*User, error) {
	var user *User
	err := s.adminChange(ctx, actorID, targetID, func(tx *sql.Tx, target *User) error {
		if err := pending(ctx, tx, target); err != nil {
			return err
		}
		user = target
		if err := change(tx, target); err != nil {
			return err
		}
		return audit(ctx, tx, actorID, action, target, "")
	})
	return user, err
}

// Invitations lists the pending invitations, oldest first, at most limit.
func (s *Users) Invitations(ctx context.Context, limit int) ([]Invitation, error) {
	rows, err := s.db.QueryContext(ctx, `
		SELECT `+uUserColumns+`,
		       (SELECT max(r.expires_at) FROM password_resets r
		        WHERE r.user_id = u.id AND r.used_at IS NULL AND r.expires_at > now())
		FROM users u WHERE u.password_hash = ''
		ORDER BY u.id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list invitations: %w", err)
	}
	defer rows.Close()
	var list []Invitation
	for rows.Next() {
		var expires sql.NullTime
		u, err := scanUser(rows, &expires)
		if err != nil {
			return nil, fmt.Errorf("list invitations: %w", err)
		}
		list = append(list, Invitation{User: *u, Expires: expires.Time})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list invitations: %w", err)
	}
	return list, nil
}
