package aistat

import (
	"context"
	"fmt"
	"time"
)

// EndReason is why a session ended other than by its own sign-out, so that
// its browser's next page can say so instead of a bare "signed out". The
// code that deletes sessions sets it for its transaction (setEndReason);
// a trigger in schema.sql records it in ended_sessions, keyed by the
// session's token hash, with 'deleted' when the user row itself is gone.
type EndReason string

// The reasons a session ends for.
const (
	EndRevoked         EndReason = "revoked"
	EndPasswordChanged EndReason = "password_changed"
	EndDisabled        EndReason = "disabled"
	EndDeleted         EndReason = "deleted"
	EndSessionLimit    EndReason = "session_limit"
	EndExpired         EndReason = "expired"
)

// EndedSessionRetention is how long the reason of an ended session is
// kept: its browser learns it on its next visit, if that comes soon.
const EndedSessionRetention = 24 * time.Hour

// Message is what the person whose session ended reads; "" for a reason
// this version does not know, which the pages then do not mention.
func (r EndReason) Message() string {
	switch r {
	case EndRevoked:
		return "An admin signed you out on every device."
	case EndPasswordChanged:
		return "Your password was changed on another device, so you were signed out here."
	case EndDisabled:
		return "Your account was disabled by an admin."
	case EndDeleted:
		return "Your account was deleted."
	case EndSessionLimit:
		return "You were signed out here because your account has too many sessions: the oldest one ended."
	case EndExpired:
		return "Your session expired. Sign in again."
	}
	return ""
}

// setEndReason tells the trigger on sessions why the sessions tx is about
// to delete end; it holds until tx ends.
func setEndReason(ctx context.Context, tx execer, reason EndReason) error {
	if _, err := tx.ExecContext(ctx, `SELECT set_config('aistat.end_reason', $1, true)`, string(reason)); err != nil {
		return fmt.Errorf("set end reason: %w", err)
	}
	return nil
}
