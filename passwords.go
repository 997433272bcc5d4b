package aistat

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// ChangePassword gives the user a new password once their current one is
// checked, and ends every other session of theirs: keepSessionID is the
// request's own, whose token the caller renews. The new hash, the ended
// sessions and a password_changed event are one transaction. The check of
// the current password is an attempt under the sign-in throttle (ETOOMANY
// during a delay), and a wrong one is recorded as a failed attempt. A wrong
// current password or a new one that breaks the password rule (the email
// counts as the account's, and the new password must differ from the
// current one) is EINVALID naming current_password or new_password, and
// changes nothing. It reports how many other active sessions ended.
func (s *Users) ChangePassword(ctx context.Context, userID, keepSessionID int64, current, next string, c Client) (int64, error) {
	var email, hash string
	var locale sql.NullString
	err := s.db.QueryRowContext(ctx, `SELECT email, password_hash, locale FROM users WHERE id = $1`, userID).Scan(&email, &hash, &locale)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, Errorf(ENOTFOUND, "User not found.")
	} else if err != nil {
		return 0, fmt.Errorf("load password of user %d: %w", userID, err)
	}
	if current == "" {
		fields := map[string]string{"current_password": "Enter your current password."}
		if msg := checkPassword(next, email); msg != "" {
			fields["new_password"] = msg
		}
		return 0, passwordFieldsError(fields)
	}
	a, err := s.checkCurrentPassword(ctx, email, hash, current, c, EventPasswordChangeFailed)
	if err != nil {
		return 0, err
	}
	if a == nil {
		fields := map[string]string{"current_password": "This is not your current password."}
		if msg := checkPassword(next, email); msg != "" {
			fields["new_password"] = msg
		}
		return 0, passwordFieldsError(fields)
	}
	// The current password was right: that ends the streak of failures,
	// whatever becomes of the new one. Only now may the new one be compared
	// with it: before, the answer would tell whether a guess was right.
	msg := checkPassword(next, email)
	if msg == "" && next == current {
		msg = errSamePassword
	}
	if msg != "" {
		if _, err := a.succeed(ctx, userID, ""); err != nil {
			return 0, err
		}
		return 0, passwordFieldsError(map[string]string{"new_password": msg})
	}
	newHash, err := s.hash(ctx, next)
	if err != nil {
		a.abandon(ctx)
		return 0, err
	}
	var ended int64
	err = inTx(ctx, s.db, func(tx *sql.Tx) error {
		// Only over the hash just checked: a change that raced this one wins,
		// and this one must be checked again against it.
		res, err := tx.ExecContext(ctx,
			`UPDATE users SET password_hash = $3, updated_at = now() WHERE id = $1 AND password_hash = $2`,
			userID, hash, newHash)
		if err != nil {
			return fmt.Errorf("set password of user %d: %w", userID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("set password of user %d: %w", userID, err)
		} else if n == 0 {
			return Errorf(ECONFLICT, "Your password was changed elsewhere at the same moment. Try again with the new one.")
		}
		if err := setEndReason(ctx, tx, EndPasswordChanged); err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx, `
			WITH ended AS (
				DELETE FROM sessions WHERE user_id = $1 AND id <> $2 RETURNING expiry > now() AS active
			)
			SELECT count(*) FILTER (WHERE active) FROM ended`, userID, keepSessionID).Scan(&ended)
		if err != nil {
			return fmt.Errorf("end other sessions of user %d: %w", userID, err)
		}
		// A reset link issued before would undo the change it never saw.
		if _, err := tx.ExecContext(ctx, `DELETE FROM password_resets WHERE user_id = $1`, userID); err != nil {
			return fmt.Errorf("end reset links of user %d: %w", userID, err)
		}
		if err := enqueueMail(ctx, tx, Mail{Kind: MailPasswordChanged, To: email, Locale: Locale(locale.String)}); err != nil {
			return err
		}
		return recordEvent(ctx, tx, userID, EventPasswordChanged, c)
	})
	if err != nil {
		a.abandon(ctx)
		return 0, err
	}
	_, err = a.succeed(ctx, userID, "")
	return ended, err
}

// passwordFieldsError is the EINVALID error of the password change form; its
// message is the first field's.
func passwordFieldsError(fields map[string]string) *Error {
	msg := fields["current_password"]
	if msg == "" {
		msg = fields["new_password"]
	}
	return &Error{Code: EINVALID, Message: msg, Fields: fields}
}

// errSamePassword is the message for a new password that is the current one.
const errSamePassword = "New password must differ from your current one."

// ValidatePassword checks a password that someone sets on the account of
// email against the password rule: 10 to 256 characters, not the email (in
// any case), not in the shipped list of common passwords (compared
// case-insensitively). A broken rule is EINVALID naming the field
// "password".
func ValidatePassword(p, email string) error {
	if msg := checkPassword(p, email); msg != "" {
		return invalid(map[string]string{"password": msg})
	}
	return nil
}

// NormalizeEmail trims an email address and checks it against the input
// rules; a broken rule is EINVALID naming the field "email".
func NormalizeEmail(s string) (string, error) {
	email, msg := normalizeEmail(s)
	if msg != "" {
		return "", invalid(map[string]string{"email": msg})
	}
	return email, nil
}
