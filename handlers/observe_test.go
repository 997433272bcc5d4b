package handlers

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"
)

// TestRequestInfo_Pause shows that slow CPU work, such as hashing a
// password on a busy server, does not use up a request's database deadline:
// the deadline does not pass during a pause, and passes after it.
func TestRequestInfo_Pause(t *testing.T) {
	// Short, so that the test waits little; what a pause does does not
	// depend on the deadline's length.
	const deadline = 100 * time.Millisecond
	r, info, finish := track(httptest.NewRequest("GET", "/", nil), "id", deadline)
	defer finish()
	resume := info.Pause()
	wantAlive(t, r.Context(), deadline+200*time.Millisecond, "the deadline passed during a pause")
	resume()
	select {
	case <-r.Context().Done():
		if !deadlinePassed(r.Context()) {
			t.Fatalf("context ended by %v, want the database deadline", r.Context().Err())
		}
	case <-time.After(deadline + time.Second):
		t.Fatal("the deadline never passed after the pause")
	}

	lifted, info, finish := track(httptest.NewRequest("GET", "/", nil), "id", deadline)
	defer finish()
	liftDeadline(lifted.Context())
	info.Pause()()
	wantAlive(t, lifted.Context(), deadline+200*time.Millisecond, "a pause restarted a lifted deadline")
}

// wantAlive fails with msg when ctx ends within d: here the wait is what is
// tested, that nothing happens in it.
func wantAlive(t *testing.T, ctx context.Context, d time.Duration, msg string) {
	t.Helper()
	select {
	case <-ctx.Done():
		t.Fatalf("%s: %v", msg, context.Cause(ctx))
	case <-time.After(d):
	}
}
