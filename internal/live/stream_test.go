package live

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"aistat"
)

// recordingSink keeps what a stream writes; while held, its writes wait.
type recordingSink struct {
	mu      sync.Mutex
	written strings.Builder
	closed  bool
	// held, when not nil, is closed to let writes through; writing gets
	// a value as each write begins.
	held    chan struct{}
	writing chan struct{}
}

func newRecordingSink(held bool) *recordingSink {
	s := &recordingSink{writing: make(chan struct{}, 100)}
	if held {
		s.held = make(chan struct{})
	}
	return s
}

func (r *recordingSink) Write(p []byte) error {
	r.writing <- struct{}{}
	if r.held != nil {
		<-r.held
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		panic("write after Close")
	}
	r.written.Write(p)
	return nil
}

func (r *recordingSink) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
}

func (r *recordingSink) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.written.String()
}

func testStream(t *testing.T) (*Hub, *Stream) {
	t.Helper()
	h := New(nil, nil, "", Config{MaxStreamsPerUser: 1, MaxStreams: 1}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	s, err := h.Subscribe(&aistat.User{ID: 1, Role: aistat.RoleViewer}, 7, aistat.LocaleEnglish)
	if err != nil {
		t.Fatal(err)
	}
	return h, s
}

func waitDone(t *testing.T, s *Stream) {
	t.Helper()
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the stream did not end")
	}
}

const opening = "retry: 2000\n: stream open\n\n"

// TestStream_EventsInOrder: events queued before Start follow the retry
// hint, and later ones follow them, each once.
func TestStream_EventsInOrder(t *testing.T) {
	h, s := testStream(t)
	s.send(Event{Name: "profile", Data: []byte(`{"n":0}`)})
	sink := newRecordingSink(false)
	s.Start(sink, time.Now().Add(time.Hour))
	for i := 1; i < 5; i++ {
		s.send(Event{Name: "profile", Data: fmt.Appendf(nil, `{"n":%d}`, i)})
	}
	s.logout()
	waitDone(t, s)
	want := opening
	for i := range 5 {
		want += fmt.Sprintf("event: profile\ndata: {\"n\":%d}\n\n", i)
	}
	want += "event: logout\ndata: {}\n\nretry: 2000\n\n"
	if got := sink.String(); got != want {
		t.Errorf("written:\n%q\nwant:\n%q", got, want)
	}
	if !sink.closed || h.Len() != 0 {
		t.Errorf("after the end: sink closed %v, hub holds %d", sink.closed, h.Len())
	}
	s.send(Event{Name: "profile", Data: []byte(`{}`)})
	s.logout()
	if got := sink.String(); got != want {
		t.Errorf("something was written after the end: %q", strings.TrimPrefix(got, want))
	}
}

// TestStream_SlowClientIsEnded: a client that does not take its events
// while more than streamBuffer of them wait is ended, with what was
// queued before that and the retry hint.
func TestStream_SlowClientIsEnded(t *testing.T) {
	h, s := testStream(t)
	sink := newRecordingSink(true)
	s.Start(sink, time.Now().Add(time.Hour))
	<-sink.writing // the opening is being written, and waits
	for i := range streamBuffer + 5 {
		s.send(Event{Name: "profile", Data: fmt.Appendf(nil, "%d", i)})
	}
	close(sink.held)
	waitDone(t, s)
	got := sink.String()
	if n := strings.Count(got, "event: profile"); n != streamBuffer {
		t.Errorf("%d events written, want the %d queued before the stream fell behind", n, streamBuffer)
	}
	if !strings.HasPrefix(got, opening) || !strings.HasSuffix(got, "retry: 2000\n\n") {
		t.Errorf("written %q", got)
	}
	if h.Len() != 0 {
		t.Errorf("hub holds %d streams", h.Len())
	}
}

// TestStream_CloseWaitsForTheWrite: Close returns only after a write under
// way, and nothing is written after it.
func TestStream_CloseWaitsForTheWrite(t *testing.T) {
	h, s := testStream(t)
	sink := newRecordingSink(true)
	s.Start(sink, time.Now().Add(time.Hour))
	<-sink.writing
	closed := make(chan struct{})
	go func() {
		s.Close()
		close(closed)
	}()
	select {
	case <-closed:
		t.Fatal("Close returned while a write was under way")
	case <-time.After(100 * time.Millisecond):
	}
	s.send(Event{Name: "profile", Data: []byte(`{}`)})
	close(sink.held)
	<-closed
	waitDone(t, s)
	if got := sink.String(); got != opening {
		t.Errorf("written %q, want only the opening", got)
	}
	if h.Len() != 0 {
		t.Errorf("hub holds %d streams", h.Len())
	}
	s.Close()
}

// TestStream_EndedBeforeStart: a stream ended before its sink arrives
// writes the retry hint and closes as soon as it starts.
func TestStream_EndedBeforeStart(t *testing.T) {
	h, s := testStream(t)
	h.Close()
	sink := newRecordingSink(false)
	s.Start(sink, time.Now().Add(time.Hour))
	waitDone(t, s)
	if got := sink.String(); got != opening+"retry: 2000\n\n" {
		t.Errorf("written %q", got)
	}
}
