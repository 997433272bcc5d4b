package sessions

// The life of a request's session, in the order it happens:
//
//  1. Manager.Handler puts a fresh state into the request's context: phase
//     sessionNew, anonymous. A request without a session cookie stays so
//     and costs no query.
//  2. scs reads the cookie and asks Store.FindCtx for its token, which the
//     finder looks up in one query that joins the session with its user
//     (finder.go). A live row: st.found(row), phase sessionFound. A dead
//     token: st.ended(reason), still sessionNew, and the page can say why.
//  3. Manager.resolve holds the row against the limits of the user's
//     current role: within them, st.admit puts the user into the context,
//     where handlers read it through User and never query it again; past
//     them, st.expire leaves the request anonymous. When the refresh
//     interval has passed it also moves the deadline, which modifies the
//     session.
//  4. The handler may sign in (Manager.Login: st.signIn, sessionSignedIn),
//     give the session a new token (Manager.Renew: st.renew,
//     sessionRenewed; the store skips the delete of the old token that
//     scs's RenewToken starts with) or sign out (Manager.Logout:
//     st.signOut, back to sessionNew, the row deleted).
//  5. scs saves a modified session through Store.CommitCtx, which switches
//     on the phase: sessionFound is an UPDATE of the found row by its token,
//     sessionRenewed an UPDATE that re-keys the found row to the new token
//     (its id, and so its open pages, stay), sessionSignedIn an INSERT of a
//     new row owned by the user. Neither UPDATE ever inserts, so a row that
//     was revoked while the request ran matches nothing and stays revoked;
//     an anonymous request has nothing to save.

import (
	"context"
	"time"

	"aistat"
)

type stateKey struct{}

// phase is what a request has done with its session, and so what
// committing it writes.
type phase int

const (
	// sessionNew: the request has no stored session (no cookie, a dead
	// token, or signed out); there is nothing to save.
	sessionNew phase = iota
	// sessionFound: the store found the cookie's session; saving it
	// updates that row.
	sessionFound
	// sessionRenewed: the found session got a new token; saving it
	// re-keys that row.
	sessionRenewed
	// sessionSignedIn: a user signed in; saving inserts their new row.
	sessionSignedIn
)

// state is what one request knows about its session. The outer middleware
// puts it into the context before scs loads the session, so that the store
// can hand over the user it joined and learn who is signing in. Its fields
// change only through the transitions below.
type state struct {
	userAgent string
	ip        string
	phase     phase
	// row is the session the store found for this request, nil when none;
	// it stays through a renewal (its old token names the row) and a
	// sign-in.
	row *storedSession
	// user is the signed-in user of this request, nil when anonymous.
	user *aistat.User
	// expiry is when the session ends under the user's current role, zero
	// when the request has none.
	expiry time.Time
	// endReason is why the session of the request's cookie ended, when the
	// cookie no longer signs in and the end has a reason; "" otherwise.
	endReason aistat.EndReason
}

// storedSession is a session row as the store read it, joined with its
// user.
type storedSession struct {
	token      string
	id         int64
	expiry     time.Time
	lastActive time.Time
	user       *aistat.User
}

// found records the live row of the request's cookie.
func (st *state) found(row *storedSession) {
	st.row, st.phase = row, sessionFound
}

// ended records why the cookie's session no longer signs in.
func (st *state) ended(reason aistat.EndReason) {
	st.endReason = reason
}

// admit makes the found row's user the request's user, its session ending
// at expiry.
func (st *state) admit(expiry time.Time) {
	st.user, st.expiry = st.row.user, expiry
}

// expire leaves the request anonymous: the found row passed the limits of
// its user's current role at expiry.
func (st *state) expire(expiry time.Time) {
	st.expiry, st.endReason = expiry, aistat.EndExpired
}

// signIn makes user the request's user, in a session to be inserted.
func (st *state) signIn(user *aistat.User, expiry time.Time) {
	st.phase, st.user, st.expiry = sessionSignedIn, user, expiry
}

// renew marks the found session as getting a new token. It comes before
// scs's RenewToken, whose delete of the old token the store then skips.
func (st *state) renew() {
	st.phase = sessionRenewed
}

// keep undoes renew: the found row keeps its token.
func (st *state) keep() {
	st.phase = sessionFound
}

// signOut leaves the request anonymous with nothing stored: its row is
// deleted.
func (st *state) signOut() {
	st.phase, st.user = sessionNew, nil
}

// signedInFound reports whether the request is signed in through the
// cookie's stored session, rather than anonymous or signing in now.
func (st *state) signedInFound() bool {
	return st.user != nil && (st.phase == sessionFound || st.phase == sessionRenewed)
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
	if st := stateFrom(ctx); st != nil && st.signedInFound() {
		return st.row.id
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
