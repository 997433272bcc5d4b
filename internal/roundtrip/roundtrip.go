// Package roundtrip counts network round trips between the app and
// PostgreSQL at the connection, where a statement count could not see a
// driver that splits one query into several exchanges.
package roundtrip

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	"github.com/lib/pq"
)

// Counter is a lib/pq dialer whose connections count their round trips: a
// write that follows a read (or opens the connection) starts a new one.
type Counter struct {
	n atomic.Int64
}

var (
	_ pq.Dialer        = (*Counter)(nil)
	_ pq.DialerContext = (*Counter)(nil)
)

// Count is the number of round trips so far.
func (c *Counter) Count() int64 { return c.n.Load() }

// Dial implements pq.Dialer.
func (c *Counter) Dial(network, address string) (net.Conn, error) {
	return c.DialContext(context.Background(), network, address)
}

// DialTimeout implements pq.Dialer.
func (c *Counter) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return c.DialContext(ctx, network, address)
}

// DialContext implements pq.DialerContext.
func (c *Counter) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: conn, counter: c}, nil
}

type countingConn struct {
	net.Conn
	counter *Counter
	// writing is true between the first write of a round trip and the next
	// read.
	writing atomic.Bool
}

func (c *countingConn) Write(b []byte) (int, error) {
	if !c.writing.Swap(true) {
		c.counter.n.Add(1)
	}
	return c.Conn.Write(b)
}

func (c *countingConn) Read(b []byte) (int, error) {
	c.writing.Store(false)
	return c.Conn.Read(b)
}
