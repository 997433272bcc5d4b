package poll_test

import (
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"aistat/internal/poll"
)

func TestUntil(t *testing.T) {
	t.Run("True", func(t *testing.T) {
		var n atomic.Int32
		go func() {
			for range 3 {
				n.Add(1)
			}
		}()
		poll.Until(t, "three increments", 5*time.Second, func() bool { return n.Load() == 3 })
	})

	t.Run("TimesOut", func(t *testing.T) {
		rec := &recorder{TB: t}
		done := make(chan struct{})
		start := time.Now()
		go func() {
			defer close(done)
			poll.Until(rec, "the impossible", 100*time.Millisecond, func() bool { return false })
		}()
		<-done
		if took := time.Since(start); took < 100*time.Millisecond {
			t.Errorf("gave up after %v, before the 100 ms it was given", took)
		}
		if !strings.Contains(rec.msg, "the impossible") {
			t.Errorf("failure %q does not name what it waited for", rec.msg)
		}
	})
}

func TestWithin(t *testing.T) {
	calls := 0
	if poll.Within(20*time.Millisecond, func() bool { calls++; return false }) {
		t.Error("a condition that never holds came true")
	}
	if calls < 2 {
		t.Errorf("checked %d times in 20 ms, want more than once", calls)
	}
	if !poll.Within(0, func() bool { return true }) {
		t.Error("a condition that holds at once did not come true")
	}
}

// recorder stands in for a test so that a failure can be observed.
type recorder struct {
	testing.TB
	msg string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.msg = strings.TrimSpace(fmt.Sprintf(format, args...))
	runtime.Goexit()
}
