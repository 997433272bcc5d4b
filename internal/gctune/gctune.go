// Package gctune gives the Go collector a minimum heap goal. The site's
// live heap is a few megabytes while every request leaves tens of
// kilobytes of garbage behind, so with GOGC=100 the collector ran every few
// milliseconds under load: a fifth of the process's CPU went to it. With a
// minimum goal it runs when the heap reaches that size, and once the live
// heap is large enough (say, thousands of open event streams) the goal is
// GOGC=100's again.
package gctune

import (
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// DefaultMinHeap is the heap size the collector may let garbage grow to
// before it runs. A larger one served no more pages under the benchmark's
// load (BENCHMARKS.md), only held more memory.
const DefaultMinHeap = 32 << 20

// basePercent is GOGC's default, kept whenever it gives the larger goal.
const basePercent = 100

// Tuner adjusts the collector's GOGC after every collection.
type Tuner struct {
	minHeap uint64
	stopped atomic.Bool
	// percent is the GOGC last set, for tests and logs.
	percent atomic.Int64
}

// Start tunes the collector until Stop; it does nothing, and returns nil,
// when the GOGC environment variable is set: the operator chose.
func Start(minHeap uint64) *Tuner {
	if _, set := os.LookupEnv("GOGC"); set {
		return nil
	}
	t := &Tuner{minHeap: minHeap}
	t.adjust()
	t.arm()
	return t
}

// Stop leaves GOGC at 100 again. It is safe on a nil Tuner.
func (t *Tuner) Stop() {
	if t == nil {
		return
	}
	t.stopped.Store(true)
	debug.SetGCPercent(basePercent)
}

// Percent is the GOGC the tuner set last.
func (t *Tuner) Percent() int {
	if t == nil {
		return basePercent
	}
	return int(t.percent.Load())
}

// sentinel is garbage whose finalizer runs once per collection cycle.
type sentinel struct{ _ [16]byte }

// arm leaves a sentinel to the next collection, whose finalizer adjusts
// GOGC and arms the one after.
func (t *Tuner) arm() {
	runtime.SetFinalizer(&sentinel{}, func(*sentinel) {
		if t.stopped.Load() {
			return
		}
		t.adjust()
		t.arm()
	})
}

// adjust sets GOGC so that the next goal is the larger of GOGC=100's and
// the minimum heap.
func (t *Tuner) adjust() {
	live, roots := lastCycle()
	p := Percent(live, roots, t.minHeap)
	if int64(p) != t.percent.Load() {
		t.percent.Store(int64(p))
		debug.SetGCPercent(p)
	}
}

// Percent is the GOGC that puts the heap goal at minHeap, or 100 when that
// gives more, after a collection found live bytes of heap in use and roots
// bytes of stacks and globals to scan. The collector's goal is the live
// heap plus GOGC percent of the live heap and the roots together, so a
// tiny live heap beside megabytes of roots must not be taken for the whole.
// The collector also never aims below runtimeMinHeap times GOGC/100, so
// GOGC stays at most what puts that floor at minHeap.
func Percent(live, roots, minHeap uint64) int {
	if live == 0 || live >= minHeap || live+(live+roots) >= minHeap {
		return basePercent
	}
	p := float64(minHeap-live) / float64(live+roots) * 100
	floor := float64(minHeap) / runtimeMinHeap * 100
	return int(math.Max(basePercent, math.Min(p, math.Min(floor, 1e6))))
}

// runtimeMinHeap is the Go runtime's own smallest heap goal at GOGC=100
// (its heapMinimum), which grows with GOGC.
const runtimeMinHeap = 4 << 20

// lastCycle is the heap the last collection found in use and the stacks
// and globals it scanned.
func lastCycle() (live, roots uint64) {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/scan/stack:bytes"}, {Name: "/gc/scan/globals:bytes"}}
	metrics.Read(s)
	for i, v := range s {
		if v.Value.Kind() != metrics.KindUint64 {
			continue
		}
		if i == 0 {
			live = v.Value.Uint64()
		} else {
			roots += v.Value.Uint64()
		}
	}
	return live, roots
}
