package aistat

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// A new email address: the user gives it with their current password, a
// link goes to the new address, and the account keeps its old one until the
// link is used; then the old address is told. The new address is held to
// the rules of every email (unique, and not a look-alike of another
// account's) when it is asked for and again when it is confirmed.

// EmailChangeLifetime is how long the link to confirm a new address works.
const EmailChangeLifetime = 24 * time.Hour

// Security events of an email change.
const (
	EventEmailChanged      EventKind = "email_changed"
	EventEmailChangeFailed EventKind = "email_change_failed"
)

var (
	errEmailChangeGone = Errorf(EGONE, "This link has expired or was already used.")
	errSameEmail       = "This is already your email."
)

// RequestEmailChange mails a link to confirm newEmail as the user's address
// once password, their current one, is checked (under the sign-in
// throttle, as a password change's is; a wrong one is a failed attempt).
// An email that breaks the rules is EINVALID naming email, a missing or
// wrong password EINVALID naming password; an address taken by or looking
// like another account's is ECONFLICT. It replaces any earlier request.
func (s *Users) RequestEmailChange(ctx context.Context, userID int64, newEmail, password string, c Client) error {
	newEmail, msg := normalizeEmail(newEmail)
	fields := map[string]string{}
	if msg != "" {
		fields["email"] = msg
	}
	if password == "" {
		fields["password"] = "Enter your current password."
	}
	var email, hash string
	var locale sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT email, password_hash, locale FROM users WHERE id = $1`, userID).
		Scan(&email, &hash, &locale)
	if errors.Is(err, sql.ErrNoRows) {
		return Errorf(ENOTFOUND, "User not found.")
	} else if err != nil {
		return fmt.Errorf("load user %d: %w", userID, err)
	}
	if msg == "" && strings.EqualFold(newEmail, email) {
		fields["email"] = errSameEmail
	}
	if len(fields) > 0 {
		return invalid(fields)
	}
	a, err := s.checkCurrentPassword(ctx, email, hash, password, c, EventEmailChangeFailed)
	if err != nil {
		return err
	}
	if a == nil {
		return invalid(map[string]string{"password": "This is not your current password."})
	}
	token, sum := newResetToken()
	err = inTx(ctx, s.db, func(tx *sql.Tx) error {
		if err := emailAvailable(ctx, tx, userID, newEmail); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`DELETE FROM email_changes WHERE user_id = $1 OR expires_at <= now()`, userID); err != nil {
			return fmt.Errorf("end email changes of user %d: %w", userID, err)
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO email_changes (token_hash, user_id, new_email, expires_at)
			VALUES ($1, $2, $3, now() + make_interval(secs => $4))`,
			sum[:], userID, newEmail, EmailChangeLifetime.Seconds()); err != nil {
			return fmt.Errorf("record email change of user %d: %w", userID, err)
		}
		return enqueueMail(ctx, tx, Mail{Kind: MailEmailConfirm, To: newEmail, Locale: Locale(locale.String),
			Data: map[string]string{"path": "/email/" + token, "email": newEmail}})
	})
	if err != nil {
		a.abandon(ctx)
		return err
	}
	_, err = a.succeed(ctx, userID, "")
	return err
}

// emailAvailable refuses, as ECONFLICT, an email that another account has
// or looks like.
func emailAvailable(ctx context.Context, q queryRower, userID int64, email string) error {
	var taken, lookAlike bool
	err := q.QueryRowContext(ctx, `
		SELECT coalesce(bool_or(lower(email) = lower($1)), false), coalesce(bool_or(email_skeleton = $2), false)
		FROM users WHERE (lower(email) = lower($1) OR email_skeleton = $2) AND id <> $3`,
		email, emailSkeleton(email), userID).Scan(&taken, &lookAlike)
	if err != nil {
		return fmt.Errorf("check email %q: %w", email, err)
	}
	switch {
	case taken:
		return Errorf(ECONFLICT, "%s", msgEmailTaken)
	case lookAlike:
		return Errorf(ECONFLICT, "%s", msgEmailLookAlike)
	}
	return nil
}

// EmailChange is the user and the new address of a usable confirmation
// link: ENOTFOUND for one never issued, EGONE once it expired or was used.
func (s *Users) EmailChange(ctx context.Context, token string) (*User, string, error) {
	hash, err := resetTokenHash(token)
	if err != nil {
		return nil, "", err
	}
	var newEmail string
	u, err := scanUser(s.db.QueryRowContext(ctx, `
		SELECT `+uUserColumns+`, c.new_email
		FROM email_changes c JOIN users u ON u.id = c.user_id
		WHERE c.token_hash = $1 AND c.expires_at > now()`, hash), &newEmail)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", errEmailChangeGone
	} else if err != nil {
		return nil, "", fmt.Errorf("find email change: %w", err)
	}
	return u, newEmail, nil
}

// ConfirmEmailChange makes the link's new address the user's, uses the
// link up, tells the old address and records the change among the user's
// security events as made from c, all in one transaction. The address must
// still be free (ECONFLICT otherwise, the link kept); of two requests with
// one link exactly one succeeds.
func (s *Users) ConfirmEmailChange(ctx context.Context, token string, c Client) (*User, error) {
	hash, err := resetTokenHash(token)
	if err != nil {
		return nil, err
	}
	var user *User
	err = inTx(ctx, s.db, func(tx *sql.Tx) error {
		var userID int64
		var newEmail string
		err := tx.QueryRowContext(ctx, `
			DELETE FROM email_changes WHERE token_hash = $1 AND expires_at > now()
			RETURNING user_id, new_email`, hash).Scan(&userID, &newEmail)
		if errors.Is(err, sql.ErrNoRows) {
			return errEmailChangeGone
		} else if err != nil {
			return fmt.Errorf("use email change: %w", err)
		}
		old, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR UPDATE`, userID))
		if err != nil {
			return fmt.Errorf("load user %d: %w", userID, err)
		}
		if old.Disabled {
			return errDisabled
		}
		if err := emailAvailable(ctx, tx, userID, newEmail); err != nil {
			return err
		}
		u, err := scanUser(tx.QueryRowContext(ctx, `
			UPDATE users SET email = $2, email_skeleton = $3, updated_at = now() WHERE id = $1 RETURNING `+userColumns,
			userID, newEmail, emailSkeleton(newEmail)))
		if err != nil {
			return conflictByIndex(fmt.Errorf("set email of user %d: %w", userID, err), emailConflicts)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM email_changes WHERE user_id = $1`, userID); err != nil {
			return fmt.Errorf("end email changes of user %d: %w", userID, err)
		}
		user = u
		if err := enqueueMail(ctx, tx, noticeTo(old, MailEmailChanged, map[string]string{"email": newEmail})); err != nil {
			return err
		}
		return recordEvent(ctx, tx, userID, EventEmailChanged, c)
	})
	return user, err
}
