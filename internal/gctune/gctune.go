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

// adjust sets GOGC so that the next goal is the larger of twice the live
// heap and the minimum heap.
func (t *Tuner) adjust() {
	p := Percent(liveHeap(), t.minHeap)
	if int64(p) != t.percent.Load() {
		t.percent.Store(int64(p))
		debug.SetGCPercent(p)
	}
}

// Percent is the GOGC that puts the heap goal of a live heap at minHeap, or
// 100 when that is more.
func Percent(live, minHeap uint64) int {
	if live == 0 || live*2 >= minHeap {
		return basePercent
	}
	p := (float64(minHeap)/float64(live) - 1) * 100
	return int(math.Min(p, 1e6))
}

// liveHeap is the heap the last collection found in use.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
