// Package roundtrip counts network round trips between the app and
// PostgreSQL at the connection, where a statement count could not see a
// driver that splits one query into several exchanges.
package roundtrip

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"
)

// kept is how many of the latest round trips a Counter can describe.
const kept = 256

// maxStatement bounds the statement text kept for a round trip.
const maxStatement = 160

// Counter is a lib/pq dialer whose connections count their round trips: a
// write that follows a read (or opens the connection) starts a new one. It
// also remembers what the latest round trips sent, so that a test whose
// count is off can say which statement made the extra one.
type Counter struct {
	mu    sync.Mutex
	n     int64
	trips [kept]string
}

var (
	_ pq.Dialer        = (*Counter)(nil)
	_ pq.DialerContext = (*Counter)(nil)
)

// Count is the number of round trips so far.
func (c *Counter) Count() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Since describes the round trips after the first n (a value Count
// returned), oldest first; those too old to be kept are left out.
func (c *Counter) Since(n int64) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	first := max(n, c.n-kept, 0)
	out := make([]string, 0, c.n-first)
	for i := first; i < c.n; i++ {
		out = append(out, c.trips[i%kept])
	}
	return out
}

func (c *Counter) add(first []byte) {
	desc := describe(first)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.trips[c.n%kept] = desc
	c.n++
}

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
	// mu orders a write's check against the read that ends a round trip.
	mu sync.Mutex
	// writing is true between the first write of a round trip and the next
	// read.
	writing bool
}

func (c *countingConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	if !c.writing {
		c.writing = true
		c.counter.add(b)
	}
	c.mu.Unlock()
	return c.Conn.Write(b)
}

func (c *countingConn) Read(b []byte) (int, error) {
	c.mu.Lock()
	c.writing = false
	c.mu.Unlock()
	return c.Conn.Read(b)
}

// describe names what the first message of a round trip asks for: the
// statement of a query, or the kind of message.
func describe(b []byte) string {
	if len(b) < 5 {
		return "a short message"
	}
	switch b[0] {
	case 'Q': // Query: the statement
		return statement(b[5:])
	case 'P': // Parse: a statement name, then the statement
		body := b[5:]
		if i := strings.IndexByte(string(body), 0); i >= 0 {
			return statement(body[i+1:])
		}
		return "parse"
	case 'X':
		return "terminate"
	case 'p':
		return "authentication"
	case 0:
		// Start-up and cancel requests have no type byte: a length, then
		// the protocol version or the cancel code.
		if len(b) >= 8 && binary.BigEndian.Uint32(b[4:8]) == 80877102 {
			return "cancel request"
		}
		return "connection start-up"
	}
	return fmt.Sprintf("message %q", b[0])
}

// statement is the NUL-terminated statement at the start of b, on one line
// and cut to maxStatement bytes.
func statement(b []byte) string {
	s := string(b)
	if i := strings.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxStatement {
		s = strings.ToValidUTF8(s[:maxStatement], "") + "…"
	}
	return s
}
