package live

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"

	"aistat"
)

// Stream timing. Heartbeats keep proxies from closing an idle stream and
// find clients that went away; the retry hint is how long a browser waits
// before reconnecting.
const (
	HeartbeatInterval = 20 * time.Second
	RetryMillis       = 2000
	// WriteTimeout is how long a write to a client may take.
	WriteTimeout = 10 * time.Second
	checkTimeout = 3 * time.Second
)

// streamBuffer is how many events may wait for a slow client before its
// stream is ended; the browser reconnects and resynchronises.
const streamBuffer = 16

// Sink is where a stream's bytes go: the connection of a response whose
// header is sent, or the response writer of a handler that waits for the
// stream to end.
type Sink interface {
	// Write sends p to the client now, giving up after WriteTimeout.
	Write(p []byte) error
	// Close ends the response; Write is not called after it.
	Close()
}

// errSinkClosed is a write to a stream that has ended.
var errSinkClosed = errors.New("live: stream closed")

// Stream is one open event stream of a signed-in session. An open stream
// that has nothing to send holds no goroutine: events are queued and a
// writer runs only while there is something to write, and timers send the
// heartbeats and re-check the session when it is due to expire.
type Stream struct {
	hub       *Hub
	userID    int64
	sessionID int64
	// role decides which changes of other users the stream hears, and in
	// how much detail; guarded by hub.mu, as it follows role changes.
	role aistat.Role
	// locale is the language its page is read in, which names roles in
	// the users it receives; guarded by hub.mu, as it follows the user's
	// choice.
	locale aistat.Locale

	mu sync.Mutex
	// queue holds the bytes of queued events, queued how many events.
	queue  []byte
	queued int
	sink   Sink
	// writing is whether a writer goroutine runs; ending whether the
	// stream closes once the queue is written.
	writing, ending, closed bool
	heartbeat, expiry       *time.Timer

	// wmu is held while writing to the sink, so that Close waits for a
	// write under way and nothing is written after it.
	wmu        sync.Mutex
	sinkClosed bool

	done chan struct{}
}

// Done is closed when the stream has ended and its sink is closed.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Start sends the stream to sink, beginning with the retry hint and the
// events queued since Subscribe. expiry is when the session expires, unless
// another request slides it: the stream re-checks then.
func (s *Stream) Start(sink Sink, expiry time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		sink.Close()
		return
	}
	s.sink = sink
	open := strconv.AppendInt([]byte("retry: "), RetryMillis, 10)
	open = append(open, "\n: stream open\n\n"...)
	s.queue = append(open, s.queue...)
	s.heartbeat = time.AfterFunc(HeartbeatInterval, s.ping)
	s.expiry = time.AfterFunc(time.Until(expiry), s.checkExpiry)
	s.kickLocked()
}

// Close ends the stream at once: the client went away, or its handler is
// done. It waits for a write under way; Close is safe to call more than
// once.
func (s *Stream) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.queue = nil
	if s.heartbeat != nil {
		s.heartbeat.Stop()
		s.expiry.Stop()
	}
	sink := s.sink
	s.mu.Unlock()

	s.hub.remove(s)
	s.wmu.Lock()
	s.sinkClosed = true
	if sink != nil {
		sink.Close()
	}
	s.wmu.Unlock()
	close(s.done)
}

// send queues ev without blocking; a stream too far behind is ended (the
// browser reconnects and resynchronises).
func (s *Stream) send(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ending || s.closed {
		return
	}
	if s.queued >= streamBuffer {
		s.endLocked()
		return
	}
	s.appendEvent(ev)
	s.kickLocked()
}

// end finishes the stream after what is queued, with a retry hint.
func (s *Stream) end() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ending && !s.closed {
		s.endLocked()
	}
}

// logout sends the logout event and ends the stream; only the first of
// logout and end does anything.
func (s *Stream) logout() { s.logoutFor("") }

// logoutFor is logout saying why the session ended ({"reason": ...}), so
// that the page can tell; "" says nothing.
func (s *Stream) logoutFor(reason aistat.EndReason) {
	ev := logoutEvent
	if reason != "" {
		ev.Data, _ = json.Marshal(struct {
			Reason aistat.EndReason `json:"reason"`
		}{reason})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ending && !s.closed {
		s.appendEvent(ev)
		s.endLocked()
	}
}

func (s *Stream) appendEvent(ev Event) {
	s.queue = append(s.queue, "event: "...)
	s.queue = append(s.queue, ev.Name...)
	s.queue = append(s.queue, "\ndata: "...)
	s.queue = append(s.queue, ev.Data...)
	s.queue = append(s.queue, "\n\n"...)
	s.queued++
}

func (s *Stream) endLocked() {
	s.ending = true
	s.queue = strconv.AppendInt(append(s.queue, "retry: "...), RetryMillis, 10)
	s.queue = append(s.queue, "\n\n"...)
	s.kickLocked()
}

// kickLocked starts a writer when there is something to write and none
// runs.
func (s *Stream) kickLocked() {
	if s.sink == nil || s.writing || s.closed || len(s.queue) == 0 {
		return
	}
	s.writing = true
	go s.write()
}

// write sends the queue until it is empty, then closes an ending stream.
func (s *Stream) write() {
	for {
		s.mu.Lock()
		buf, ending := s.queue, s.ending
		s.queue, s.queued = nil, 0
		if len(buf) == 0 {
			s.writing = false
			s.mu.Unlock()
			if ending {
				s.Close()
			}
			return
		}
		s.mu.Unlock()
		if err := s.writeSink(buf); err != nil {
			s.mu.Lock()
			s.writing = false
			s.mu.Unlock()
			s.Close()
			return
		}
	}
}

func (s *Stream) writeSink(p []byte) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.sinkClosed {
		return errSinkClosed
	}
	return s.sink.Write(p)
}

// ping writes a heartbeat when nothing else is on its way.
func (s *Stream) ping() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ending || s.closed {
		return
	}
	if len(s.queue) == 0 {
		s.queue = append(s.queue, ": ping\n\n"...)
	}
	s.kickLocked()
	s.heartbeat.Reset(HeartbeatInterval)
}

// checkExpiry re-reads the session when it is due to expire: another tab
// may have slid it. A session that is over logs the stream out.
func (s *Stream) checkExpiry() {
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	next, err := s.hub.Check(ctx, s)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ending || s.closed {
		return
	}
	switch {
	case err != nil:
		s.hub.logger.Warn("live: check session", "user_id", s.userID, "err", err)
		s.expiry.Reset(time.Minute)
	case !next.IsZero():
		s.expiry.Reset(time.Until(next))
	}
}
