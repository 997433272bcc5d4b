package handlers

import (
	"net/http/httptest"
	"testing"
	"time"
)

// TestRequestInfo_Pause shows that slow CPU work, such as hashing a
// password on a busy server, does not use up a request's database deadline:
// the deadline does not pass during a pause, and passes after it.
func TestRequestInfo_Pause(t *testing.T) {
	r, info, finish := track(httptest.NewRequest("GET", "/", nil), "id")
	defer finish()
	resume := info.Pause()
	time.Sleep(databaseDeadline + 200*time.Millisecond)
	if err := r.Context().Err(); err != nil {
		t.Fatalf("the deadline passed during a pause: %v", err)
	}
	resume()
	select {
	case <-r.Context().Done():
		if !deadlinePassed(r.Context()) {
			t.Fatalf("context ended by %v, want the database deadline", r.Context().Err())
		}
	case <-time.After(databaseDeadline + time.Second):
		t.Fatal("the deadline never passed after the pause")
	}

	lifted, info, finish := track(httptest.NewRequest("GET", "/", nil), "id")
	defer finish()
	liftDeadline(lifted.Context())
	info.Pause()()
	time.Sleep(databaseDeadline + 200*time.Millisecond)
	if err := lifted.Context().Err(); err != nil {
		t.Fatalf("a pause restarted a lifted deadline: %v", err)
	}
}
