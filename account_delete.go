package aistat

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// errLastAdmin refuses the deletion of the site's last enabled admin by
// themselves: no one would be left to manage the site.
var errLastAdmin = &Error{Code: EINVALID, Message: "You are the site's last enabled admin: make someone else an admin before you delete your account."}

// DeleteOwnAccount deletes the user's own account once their current
// password is checked: their sessions on every device (each browser told
// why on its next page), reset links and security events go with it; the
// audit log records it with the user as the actor. The check is an attempt
// under the sign-in throttle (ETOOMANY during a delay), and a wrong
// password is recorded as a failed attempt and is EINVALID naming
// current_password. The last enabled admin cannot delete themselves
// (EINVALID, errLastAdmin). A refusal changes nothing.
func (s *Users) DeleteOwnAccount(ctx context.Context, userID int64, password string, c Client) error {
	var email, hash string
	err := s.db.QueryRowContext(ctx, `SELECT email, password_hash FROM users WHERE id = $1`, userID).Scan(&email, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return Errorf(ENOTFOUND, "User not found.")
	} else if err != nil {
		return fmt.Errorf("load password of user %d: %w", userID, err)
	}
	if password == "" {
		return invalid(map[string]string{"current_password": "Enter your current password."})
	}
	a, err := s.checkCurrentPassword(ctx, email, hash, password, c, EventAccountDeleteFailed)
	if err != nil {
		return err
	}
	if a == nil {
		return invalid(map[string]string{"current_password": "This is not your current password."})
	}
	err = inTx(ctx, s.db, func(tx *sql.Tx) error {
		// Under the lock of every change that can remove an admin: two
		// last admins deleting themselves at once cannot both go.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, adminLockID); err != nil {
			return fmt.Errorf("admin lock: %w", err)
		}
		u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, userID))
		if errors.Is(err, sql.ErrNoRows) {
			return Errorf(ENOTFOUND, "User not found.")
		} else if err != nil {
			return fmt.Errorf("load user %d: %w", userID, err)
		}
		if u.Role == RoleAdmin && !u.Disabled {
			if err := ensureAnotherAdmin(ctx, tx, u.ID); ErrorCode(err) == ECONFLICT {
				return errLastAdmin
			} else if err != nil {
				return err
			}
		}
		if err := audit(ctx, tx, u.ID, AuditDeleteOwn, u, ""); err != nil {
			return err
		}
		if err := setEndReason(ctx, tx, EndDeleted); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, u.ID); err != nil {
			return fmt.Errorf("delete user %d: %w", u.ID, err)
		}
		return nil
	})
	if err != nil && err != errLastAdmin {
		a.abandon(ctx)
		return err
	}
	// The password was right either way: that ends the streak of failures.
	if _, serr := a.succeed(ctx, userID, ""); serr != nil && err == nil {
		return serr
	}
	return err
}
