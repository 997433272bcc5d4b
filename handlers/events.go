package handlers

import (
	"errors"
	"net"
	"net/http"
	"strconv"
	"time"

	"aistat"
	"aistat/internal/live"
	"aistat/sessions"
)

// streamRetryAfter is how long a client refused a stream by the limits is
// told to wait before it tries again.
const streamRetryAfter = 30 * time.Second

// handleEvents is the Server-Sent Events stream of the signed-in session.
// Once the response header is out, the connection is taken over from
// net/http and the handler returns: an open stream then costs a
// connection, a small reader and its place in the hub, where net/http would
// keep two goroutines and their buffers for as long as it stays open.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	stream, err := s.live.Subscribe(sessions.User(ctx), sessions.SessionID(ctx), s.locale(r).Lang())
	switch {
	case errors.Is(err, live.ErrTooManyForUser), errors.Is(err, live.ErrTooMany):
		s.writeError(w, r, &aistat.Error{
			Code:       aistat.ETOOMANY,
			Message:    "Too many open event streams: " + err.Error() + ".",
			RetryAfter: streamRetryAfter,
		})
		return
	case errors.Is(err, live.ErrClosed):
		s.writeError(w, r, aistat.Errorf(aistat.EUNAVAILABLE, "The server is restarting."))
		return
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	// LoadAndSave commits the session here, before the header goes out.
	w.WriteHeader(http.StatusOK)
	expiry := s.sessions.Expiry(ctx)
	rc := http.NewResponseController(w)
	if conn, _, err := rc.Hijack(); err == nil {
		// net/http sent the header, chunked for HTTP/1.1 as the body's
		// length is unknown. The access log has the stream's start, with
		// this request's id; its end gets a line of its own.
		opened, id := time.Now(), requestIDFrom(ctx)
		sink := &connSink{conn: conn, chunked: r.ProtoAtLeast(1, 1), closed: func() {
			s.logger.Info("event stream closed", "request_id", id,
				"duration_ms", float64(time.Since(opened).Microseconds())/1000)
		}}
		stream.Start(sink, expiry)
		go sink.watch(stream)
		return
	}
	// A connection that cannot be taken over (HTTP/2): the handler holds
	// the stream for as long as it lasts.
	liftDeadline(ctx)
	stream.Start(&responseSink{w: w, rc: rc}, expiry)
	select {
	case <-stream.Done():
	case <-ctx.Done():
		stream.Close()
	}
}

// connSink writes a stream to a connection taken over from net/http.
type connSink struct {
	conn    net.Conn
	chunked bool
	// closed runs once the connection is closed.
	closed func()
}

func (c *connSink) Write(p []byte) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(live.WriteTimeout))
	if c.chunked {
		framed := make([]byte, 0, len(p)+16)
		framed = strconv.AppendInt(framed, int64(len(p)), 16)
		framed = append(framed, "\r\n"...)
		framed = append(framed, p...)
		p = append(framed, "\r\n"...)
	}
	_, err := c.conn.Write(p)
	return err
}

// Close ends the body properly, as far as the client still reads, and
// closes the connection.
func (c *connSink) Close() {
	if c.chunked {
		_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.conn.Write([]byte("0\r\n\r\n"))
	}
	_ = c.conn.Close()
	c.closed()
}

// watch ends the stream when the client closes the connection. A client of
// an event stream sends nothing more, so anything it sends ends it too.
func (c *connSink) watch(stream *live.Stream) {
	var b [1]byte
	_, _ = c.conn.Read(b[:])
	stream.Close()
}

// responseSink writes a stream through the response writer of a handler
// that waits for it to end.
type responseSink struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (r *responseSink) Write(p []byte) error {
	_ = r.rc.SetWriteDeadline(time.Now().Add(live.WriteTimeout))
	if _, err := r.w.Write(p); err != nil {
		return err
	}
	return r.rc.Flush()
}

func (r *responseSink) Close() {}
