package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"aistat"
	"aistat/internal/live"
	"aistat/sessions"
)

// Stream timing. Heartbeats keep proxies from closing an idle stream and
// find clients that went away; the retry hint is how long a browser waits
// before reconnecting.
const (
	heartbeatInterval = 20 * time.Second
	retryMillis       = 2000
	writeTimeout      = 10 * time.Second
)

// handleEvents is the Server-Sent Events stream of the signed-in session.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	stream, err := s.live.Subscribe(sessions.User(ctx), sessions.SessionID(ctx))
	switch {
	case errors.Is(err, live.ErrTooManyForUser), errors.Is(err, live.ErrTooMany):
		w.Header().Set("Retry-After", "30")
		s.writeError(w, r, badRequest(http.StatusTooManyRequests, "Too many open event streams: "+err.Error()+"."))
		return
	case errors.Is(err, live.ErrClosed):
		s.writeError(w, r, aistat.Errorf(aistat.EUNAVAILABLE, "The server is restarting."))
		return
	}
	defer stream.Close()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	rc := http.NewResponseController(w)
	// LoadAndSave commits the session on the first write: the header goes
	// out before the first flush.
	w.WriteHeader(http.StatusOK)
	write := func(format string, args ...any) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	writeEvent := func(ev live.Event) bool {
		return write("event: %s\ndata: %s\n\n", ev.Name, ev.Data)
	}
	if !write("retry: %d\n: stream open\n\n", retryMillis) {
		return
	}
	// The session is loaded and saved: from here on the stream lasts as
	// long as the client stays.
	liftDeadline(ctx)

	heartbeat := time.NewTicker(heartbeatInterval)
	defer heartbeat.Stop()
	expiry := time.NewTimer(time.Until(s.sessions.Expiry(ctx)))
	defer expiry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-stream.Events():
			if !writeEvent(ev) {
				return
			}
		case <-stream.Done():
			for {
				select {
				case ev := <-stream.Events():
					if !writeEvent(ev) {
						return
					}
				default:
					write("retry: %d\n\n", retryMillis)
					return
				}
			}
		case <-heartbeat.C:
			if !write(": ping\n\n") {
				return
			}
		case <-expiry.C:
			checkCtx, cancel := context.WithTimeout(ctx, 3*time.Second)
			next, err := s.live.Check(checkCtx, stream)
			cancel()
			switch {
			case err != nil:
				s.logger.Warn("event stream: check session", "request_id", requestIDFrom(ctx), "err", err)
				expiry.Reset(time.Minute)
			case !next.IsZero():
				expiry.Reset(time.Until(next))
			}
		}
	}
}
