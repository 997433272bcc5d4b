// Package poll is how tests wait for something another goroutine or
// process brings about: they check for it rather than sleep and hope.
package poll

import (
	"testing"
	"time"
)

// maxInterval bounds the pause between two checks. Checks start 1 ms apart
// and back off to it, so a condition that comes true at once costs next to
// nothing and a slow one does not flood what it checks (a server, a log).
const maxInterval = 50 * time.Millisecond

// Until calls cond until it reports true, and fails tb naming what it
// waited for when within passes first. cond runs on the caller's
// goroutine, so it may itself fail tb.
func Until(tb testing.TB, what string, within time.Duration, cond func() bool) {
	tb.Helper()
	if !Within(within, cond) {
		tb.Fatalf("waited %v for %s", within, what)
	}
}

// Within calls cond until it reports true or within passes, and reports
// whether it came true: for the waits whose failure is not fatal, such as a
// cleanup's.
func Within(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	interval := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
		interval = min(2*interval, maxInterval)
	}
	return true
}
