package gctune

import (
	"os"
	"runtime"
	"testing"
	"time"

	"aistat/internal/poll"
)

func TestPercent(t *testing.T) {
	for _, tc := range []struct {
		live, min uint64
		want      int
	}{
		{4 << 20, 64 << 20, 1500},
		{8 << 20, 64 << 20, 700},
		{32 << 20, 64 << 20, 100},
		{300 << 20, 64 << 20, 100},
		{0, 64 << 20, 100},
		{1, 1 << 62, 1e6},
	} {
		if got := Percent(tc.live, tc.min); got != tc.want {
			t.Errorf("Percent(%d, %d) = %d, want %d", tc.live, tc.min, got, tc.want)
		}
	}
}

// TestTuner: with a small live heap the collector runs far less often than
// GOGC=100 would have it; a large live heap brings GOGC back to 100.
func TestTuner(t *testing.T) {
	// The tuner must see no GOGC at all; t.Setenv restores it afterwards.
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	collections := func() uint32 {
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.NumGC
	}
	garbage := func() {
		for range 40_000 {
			sink = make([]byte, 1024)
		}
	}

	runtime.GC()
	before := collections()
	garbage()
	plain := collections() - before

	tuner := Start(64 << 20)
	defer tuner.Stop()
	runtime.GC()
	collectUntil(t, func() bool { return tuner.Percent() > 100 })
	before = collections()
	garbage()
	tuned := collections() - before
	t.Logf("40 MB of garbage: %d collections with GOGC=100, %d tuned (GOGC=%d)", plain, tuned, tuner.Percent())
	if tuned*4 > plain || plain < 4 {
		t.Errorf("40 MB of garbage: %d collections tuned, %d with GOGC=100", tuned, plain)
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
