package sessions

import (
	"context"
	"time"

	"aistat"
)

type stateKey struct{}

// state is what one request knows about its session. The outer middleware
// puts it into the context before scs loads the session, so that the store
// can hand over the user it joined and learn who is signing in.
type state struct {
	userAgent string
	ip        string
	// found is the session the store found for this request, nil when none.
	found *found
	// login is the user id signing in during this request, 0 when none.
	login int64
	// renew is set when the found session gets a new token in this request:
	// its row is re-keyed at commit rather than deleted and inserted.
	renew bool
	// user is the signed-in user of this request, nil when anonymous.
	user *aistat.User
	// expiry is when the session ends under the user's current role, zero
	// when the request has none.
	expiry time.Time
	// endReason is why the session of the request's cookie ended, when the
	// cookie no longer signs in and the end has a reason; "" otherwise.
	endReason aistat.EndReason
}

// found is a session row as the store read it, joined with its user.
type found struct {
	token      string
	id         int64
	expiry     time.Time
	lastActive time.Time
	user       *aistat.User
}

func stateFrom(ctx context.Context) *state {
	st, _ := ctx.Value(stateKey{}).(*state)
	return st
}

// User is the signed-in user of the request, nil when it is anonymous. It
// was read together with the session, so it is never older than the
// request; handlers read it here and never query it again.
func User(ctx context.Context) *aistat.User {
	if st := stateFrom(ctx); st != nil {
		return st.user
	}
	return nil
}

// EndReason is why the session of the request's cookie ended, when it no
// longer signs in and its end has a reason (an admin's revocation, a
// password change elsewhere, ...); "" otherwise. The request is anonymous
// either way.
func EndReason(ctx context.Context) aistat.EndReason {
	if st := stateFrom(ctx); st != nil && st.user == nil {
		return st.endReason
	}
	return ""
}

// SessionID is the id of the request's stored session (not its token), 0
// when the request has none.
func SessionID(ctx context.Context) int64 {
	if st := stateFrom(ctx); st != nil && st.user != nil && st.found != nil && st.login == 0 {
		return st.found.id
	}
	return 0
}

// Client is the address and user agent of the request, cleaned as the
// sessions table stores them.
func Client(ctx context.Context) aistat.Client {
	if st := stateFrom(ctx); st != nil {
		return aistat.Client{IP: st.ip, UserAgent: st.userAgent}
	}
	return aistat.Client{}
}
