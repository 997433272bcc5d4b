package handlers

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"aistat"
	"aistat/internal/postgres"
)

// DefaultDatabaseDeadline bounds the database work of one request unless
// Config.DatabaseDeadline says otherwise, so that every request is answered
// within 3 s when the database is down or has stopped answering: the
// session lookup, the handler's queries and the session's save all run on
// the request's context, and a connection gives up 100 ms after its context
// ends. Password hashing pauses it (aistat.Pauser): it is CPU work, slow on
// purpose, and a busy server must not turn a sign-in into a 503.
const DefaultDatabaseDeadline = 2500 * time.Millisecond

// errDeadline is the cause of a request's context ending at the database
// deadline.
var errDeadline = aistat.Errorf(aistat.EUNAVAILABLE, "The database did not answer in time. Please try again in a moment.")

// errUnavailable answers every request the database could not serve.
var errUnavailable = aistat.Errorf(aistat.EUNAVAILABLE, "The site cannot reach its database right now. Please try again in a moment.")

// requestInfo is what the outermost middleware shares with the layers below
// it about one request.
type requestInfo struct {
	id string
	// route is the pattern of the route that matched, "" when none did.
	route string
	// timer ends the request's context at the database deadline; mu
	// guards it, due and lifted, as pausing moves the deadline.
	mu     sync.Mutex
	timer  *time.Timer
	due    time.Time
	lifted bool
}

var _ aistat.Pauser = (*requestInfo)(nil)

// Pause implements aistat.Pauser: the deadline moves later by as long as
// the pause lasts.
func (info *requestInfo) Pause() func() {
	info.mu.Lock()
	defer info.mu.Unlock()
	if info.lifted || !info.timer.Stop() {
		return func() {}
	}
	remaining := time.Until(info.due)
	return func() {
		info.mu.Lock()
		defer info.mu.Unlock()
		if !info.lifted {
			info.due = time.Now().Add(remaining)
			info.timer.Reset(remaining)
		}
	}
}

type requestInfoKey struct{}

// track gives the request its id and its database deadline, which passes
// after deadline of database work. The returned finish must run when the
// request is over.
func track(r *http.Request, id string, deadline time.Duration) (*http.Request, *requestInfo, func()) {
	ctx, cancel := context.WithCancelCause(r.Context())
	info := &requestInfo{id: id, due: time.Now().Add(deadline)}
	info.timer = time.AfterFunc(deadline, func() { cancel(errDeadline) })
	ctx = aistat.WithPauser(context.WithValue(ctx, requestInfoKey{}, info), info)
	return r.WithContext(ctx), info, func() {
		info.mu.Lock()
		info.lifted = true
		info.timer.Stop()
		info.mu.Unlock()
		cancel(nil)
	}
}

func infoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return info
}

// requestIDFrom is the id of the request, as logged and sent in
// X-Request-Id; "" outside a request.
func requestIDFrom(ctx context.Context) string {
	if info := infoFrom(ctx); info != nil {
		return info.id
	}
	return ""
}

// liftDeadline frees a request from the database deadline once it has done
// its database work and goes on streaming for as long as the client stays.
func liftDeadline(ctx context.Context) {
	if info := infoFrom(ctx); info != nil {
		info.mu.Lock()
		defer info.mu.Unlock()
		info.lifted = true
		info.timer.Stop()
	}
}

// deadlinePassed reports whether the request's context ended because its
// database work took too long, rather than because the client went away.
func deadlinePassed(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), errDeadline)
}

// asUnavailable turns a failure to reach the database into errUnavailable,
// logged with the request's id; every other error passes unchanged.
func (s *Server) asUnavailable(r *http.Request, err error) error {
	if !postgres.Unavailable(err) && !errors.Is(err, errDeadline) {
		return err
	}
	s.logger.Warn("database unavailable",
		"request_id", requestIDFrom(r.Context()),
		"method", r.Method,
		"route", routeLabel(r.Context()),
		"err", err,
	)
	return errUnavailable
}

// routeLabel names the request's route for metrics and logs: its pattern,
// or "unmatched" for requests that matched none (404, 405, redirects).
func routeLabel(ctx context.Context) string {
	if info := infoFrom(ctx); info != nil && info.route != "" {
		return info.route
	}
	return "unmatched"
}
