package gctune

import (
	"os"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"aistat/internal/poll"
)

func TestPercent(t *testing.T) {
	for _, tc := range []struct {
		live, roots, min uint64
		want             int
	}{
		{4 << 20, 0, 64 << 20, 1500},
		{8 << 20, 0, 64 << 20, 700},
		{32 << 20, 0, 64 << 20, 100},
		{300 << 20, 0, 64 << 20, 100},
		{0, 0, 64 << 20, 100},
		{1, 0, 1 << 62, 1e6},
		// Roots count in the goal: 60 MiB more over 4 + 4 MiB is 750%.
		{4 << 20, 4 << 20, 64 << 20, 750},
		// A tiny live heap: not the 3,100% its roots would allow, since
		// the runtime's own floor of 4 MiB grows with GOGC: at 1,600% it
		// is the 64 MiB wanted.
		{64 << 10, 2 << 20, 64 << 20, 1600},
		{20 << 20, 30 << 20, 64 << 20, 100},
	} {
		if got := Percent(tc.live, tc.roots, tc.min); got != tc.want {
			t.Errorf("Percent(%d, %d, %d) = %d, want %d", tc.live, tc.roots, tc.min, got, tc.want)
		}
	}
}

// TestTuner: with a small live heap the collector runs far less often than
// GOGC=100 would have it; a large live heap brings GOGC back to 100.
func TestTuner(t *testing.T) {
	// The tuner must see no GOGC at all; t.Setenv restores it afterwards.
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	// The heap goal says when the next collection comes; counting the
	// collections a burst of garbage causes would say the same, but
	// depends on how much CPU the collector gets on a busy machine.
	goal := func() uint64 {
		s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	runtime.GC()
	plain := goal()

	tuner := Start(64 << 20)
	defer tuner.Stop()
	runtime.GC()
	collectUntil(t, func() bool { return tuner.Percent() > 100 })
	runtime.GC()
	tuned := goal()
	t.Logf("heap goal %d MiB with GOGC=100, %d MiB tuned (GOGC=%d)", plain>>20, tuned>>20, tuner.Percent())
	if plain >= 32<<20 || tuned < 48<<20 || tuned > 96<<20 {
		t.Errorf("heap goal %d MiB tuned, %d MiB with GOGC=100: want the tuned one near the minimum heap of 64 MiB", tuned>>20, plain>>20)
	}

	big := make([]byte, 96<<20)
	for i := range big {
		big[i] = 1
	}
	runtime.GC()
	collectUntil(t, func() bool { return tuner.Percent() == 100 })
	runtime.KeepAlive(big)
}

var sink []byte

// collectUntil runs collections until the tuner has adjusted GOGC as cond
// wants: it adjusts after a collection.
func collectUntil(t *testing.T, cond func() bool) {
	t.Helper()
	poll.Until(t, "the tuner to adjust GOGC after a collection", 5*time.Second, func() bool {
		if cond() {
			return true
		}
		runtime.GC()
		return false
	})
}

func TestTunerLeavesAChosenGOGC(t *testing.T) {
	t.Setenv("GOGC", "200")
	if tuner := Start(64 << 20); tuner != nil {
		tuner.Stop()
		t.Error("the tuner started although GOGC is set")
	}
}
