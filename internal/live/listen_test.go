package live

import (
	"strconv"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// addN adds n notifications to in, all received at at.
func addN(in *inbox, n int, at time.Time) {
	for i := range n {
		in.add(strconv.Itoa(i), at)
	}
}

// TestInbox_Burst follows the inbox through a burst on a clock of its own:
// notifications flow one by one up to the limit, a burst past it becomes
// one resync once it is over, and what follows flows one by one again.
func TestInbox_Burst(t *testing.T) {
	in := newInbox()
	addN(in, burstLimit/2, t0)
	batch, resync, _, wait := in.take(t0)
	if len(batch) != burstLimit/2 || resync || wait != 0 {
		t.Fatalf("take = %d notifications, resync %v, wait %v; want %d, false, 0", len(batch), resync, wait, burstLimit/2)
	}
	// Within the same second, up to the limit in all.
	addN(in, burstLimit/2, t0.Add(500*time.Millisecond))
	if batch, resync, _, _ := in.take(t0.Add(500 * time.Millisecond)); len(batch) != burstLimit/2 || resync {
		t.Fatalf("take = %d notifications, resync %v; want %d, false", len(batch), resync, burstLimit/2)
	}

	// Past the limit within the second.
	at := t0.Add(900 * time.Millisecond)
	addN(in, 5000, at)
	batch, resync, _, wait = in.take(at)
	if len(batch) != 0 || resync || wait != burstQuiet {
		t.Fatalf("during the burst: take = %d notifications, resync %v, wait %v; want none, false, %v", len(batch), resync, wait, burstQuiet)
	}
	if !in.coalescing() {
		t.Fatal("not coalescing during a burst")
	}
	// Quiet since: one resync for all of it.
	batch, resync, dropped, _ := in.take(at.Add(burstQuiet))
	if len(batch) != 0 || !resync || dropped != 5000 {
		t.Fatalf("after the burst: take = %d notifications, resync %v, dropped %d; want none, true, 5000", len(batch), resync, dropped)
	}
	if batch, resync, _, wait := in.take(at.Add(burstQuiet)); len(batch) != 0 || resync || wait != 0 {
		t.Fatalf("second take = %d notifications, resync %v, wait %v; want nothing", len(batch), resync, wait)
	}

	// Right after the resync, one by one again.
	at = at.Add(burstQuiet + time.Millisecond)
	in.add(`{"kind":"user","user":1}`, at)
	if batch, resync, _, _ := in.take(at); len(batch) != 1 || resync {
		t.Fatalf("after the resync: take = %d notifications, resync %v; want 1, false", len(batch), resync)
	}
}

// TestInbox_EndlessBurst: a burst that never pauses still resynchronises
// the streams about every second and a half (the limit's worth one by one,
// then a second of coalescing).
func TestInbox_EndlessBurst(t *testing.T) {
	in := newInbox()
	step := burstWindow / 20
	resyncs := 0
	for at := t0; at.Sub(t0) < 3*burstWindow; at = at.Add(step) {
		addN(in, burstLimit/10+1, at)
		if _, resync, _, _ := in.take(at); resync {
			resyncs++
		}
	}
	if resyncs != 2 {
		t.Fatalf("%d resyncs in 3 s of a burst that never pauses, want 2", resyncs)
	}
}

// TestInbox_Backlog: fewer than the limit a second, but not taken (the
// database is slow to answer the dispatcher): past the limit waiting, they
// are coalesced too.
func TestInbox_Backlog(t *testing.T) {
	in := newInbox()
	for i := range 3 {
		addN(in, burstLimit/2, t0.Add(time.Duration(i)*burstWindow))
	}
	if !in.coalescing() {
		t.Fatalf("%d notifications waiting, not coalescing", 3*burstLimit/2)
	}
}

// TestInbox_Reconnect: after a reconnect, the streams resynchronise and
// what was waiting is dropped.
func TestInbox_Reconnect(t *testing.T) {
	in := newInbox()
	in.add("before the reconnect", t0)
	in.reconnected()
	batch, resync, _, _ := in.take(t0)
	if len(batch) != 0 || !resync {
		t.Fatalf("after a reconnect: take = %d notifications, resync %v; want none, true", len(batch), resync)
	}
}
