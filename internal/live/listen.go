package live

import (
	"context"
	"net"
	"sync"
	"time"
)

// lib/pq's Listener reads the LISTEN connection in a goroutine of its own
// and hands every notification over an unbuffered-in-effect chain: its
// reader blocks sending to a channel of 32, whose forwarder blocks sending
// to Listener.Notify, another 32. A Ping (or a LISTEN) waits for its reply
// on that same reader while holding the Listener's lock, and Close takes
// that lock. So whoever reads Notify must never be the one waiting for a
// ping, or a backlog of 64 notifications stops everything for good; and a
// server that stops answering holds the lock for as long as TCP keeps the
// socket open, Close included. Nothing in lib/pq puts a deadline on these
// waits: the dialer below keeps the connection's socket, so the hub can
// close it itself, which fails every read and write on it at once and
// releases every wait.

// listenDialer dials the LISTEN connection and can cut it: cut closes the
// sockets it dialed and aborts dials under way; after stop it refuses to
// dial at all.
type listenDialer struct {
	d net.Dialer

	mu      sync.Mutex
	stopped bool
	conns   map[*trackedConn]struct{}
	dials   map[*context.CancelFunc]struct{}
}

func newListenDialer() *listenDialer {
	return &listenDialer{
		conns: make(map[*trackedConn]struct{}),
		dials: make(map[*context.CancelFunc]struct{}),
	}
}

func (d *listenDialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

func (d *listenDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.DialContext(ctx, network, address)
}

func (d *listenDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return nil, net.ErrClosed
	}
	d.dials[&cancel] = struct{}{}
	d.mu.Unlock()

	c, err := d.d.DialContext(ctx, network, address)

	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.dials, &cancel)
	if err != nil {
		return nil, err
	}
	if d.stopped || ctx.Err() != nil {
		_ = c.Close()
		return nil, net.ErrClosed
	}
	tc := &trackedConn{Conn: c, d: d}
	d.conns[tc] = struct{}{}
	return tc, nil
}

// cut closes every socket and aborts every dial; lib/pq's Listener sees a
// lost connection and reconnects.
func (d *listenDialer) cut() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cutLocked()
}

// stop cuts and refuses every later dial, so that nothing reconnects while
// the hub shuts down.
func (d *listenDialer) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopped = true
	d.cutLocked()
}

func (d *listenDialer) cutLocked() {
	for cancel := range d.dials {
		(*cancel)()
	}
	for c := range d.conns {
		// Closing the socket never blocks: it is safe under the lock.
		_ = c.Conn.Close()
	}
}

// trackedConn is a socket of the listener's; closing it forgets it.
type trackedConn struct {
	net.Conn
	d *listenDialer
}

func (c *trackedConn) Close() error {
	c.d.mu.Lock()
	delete(c.d.conns, c)
	c.d.mu.Unlock()
	return c.Conn.Close()
}

// Bursts. A bulk change by plain SQL (an UPDATE of every user) sends one
// notification per row; forwarding each would mean one query and one event
// per row and stream, for minutes, while what matters most (a sign-out)
// waits its turn. Past burstLimit notifications within burstWindow (or
// waiting, when the database is slow to answer the dispatcher), the hub
// stops forwarding, drops what it has queued and, once the burst is
// over (burstQuiet without a notification, or burstWindow at the latest
// while it goes on), sends every stream one resync and checks every
// session with one query, as after a reconnect.
const (
	burstLimit  = 1000
	burstWindow = time.Second
	burstQuiet  = 100 * time.Millisecond
)

// inbox is where the goroutine that reads the LISTEN connection leaves
// notifications for the one that dispatches them: reading never waits for
// a query, a stream or a ping.
type inbox struct {
	// wake gets a value when there is something new to look at.
	wake chan struct{}

	mu      sync.Mutex
	pending []string
	// lost is whether notifications may have been lost (a reconnect).
	lost bool
	// burst is whether a burst is being coalesced; since is when it began,
	// dropped how many notifications it dropped.
	burst   bool
	since   time.Time
	dropped int
	// window is when the current second began, count how many
	// notifications arrived in it; last is when the latest arrived.
	window time.Time
	count  int
	last   time.Time
}

func newInbox() *inbox {
	return &inbox{wake: make(chan struct{}, 1)}
}

// add takes one notification's payload, received at now.
func (in *inbox) add(payload string, now time.Time) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if now.Sub(in.window) >= burstWindow {
		in.window, in.count = now, 0
	}
	in.count++
	in.last = now
	switch {
	case in.burst:
		in.dropped++
		return
	case in.count > burstLimit || len(in.pending) >= burstLimit:
		in.burst, in.since = true, now
		in.dropped = len(in.pending) + 1
		in.pending = nil
	default:
		in.pending = append(in.pending, payload)
	}
	in.signal()
}

// reconnected notes that notifications may have been lost.
func (in *inbox) reconnected() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.lost = true
	in.pending = nil
	in.signal()
}

func (in *inbox) signal() {
	select {
	case in.wake <- struct{}{}:
	default:
	}
}

// coalescing reports whether what was taken last is to be given up: a
// resync that covers it is on its way.
func (in *inbox) coalescing() bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.burst || in.lost
}

// take returns what to do at now: resync (dropped is how many
// notifications the resync stands for, for the log), or dispatch batch; or
// nothing until wait has passed, while a burst goes on.
func (in *inbox) take(now time.Time) (batch []string, resync bool, dropped int, wait time.Duration) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.burst {
		quietFor, lasted := now.Sub(in.last), now.Sub(in.since)
		if quietFor < burstQuiet && lasted < burstWindow {
			return nil, false, 0, min(burstQuiet-quietFor, burstWindow-lasted)
		}
		dropped = in.dropped
		in.burst, in.dropped, in.lost, in.pending = false, 0, false, nil
		// What follows the resync starts a new count: changes made
		// after a burst flow one by one again.
		in.window, in.count = now, 0
		return nil, true, dropped, 0
	}
	if in.lost {
		in.lost, in.pending = false, nil
		return nil, true, 0, 0
	}
	batch, in.pending = in.pending, nil
	return batch, false, 0, 0
}
