// Package postgres is the plumbing under database/sql: it opens lib/pq
// pools that send a query in one round trip and give up on a silent server
// with their caller's context, and it knows which driver errors mean that
// the database is out of reach.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/lib/pq"
)

// defaultConnectTimeout bounds opening a connection, the handshake
// included, when dsn sets no connect_timeout: a server that accepts
// connections but does not answer must not hold up a request for long.
const defaultConnectTimeout = 2 * time.Second

// DefaultMaxConns is the pool's size unless configured: four connections
// per core. Under the benchmark's load (BENCHMARKS.md) a pool this size
// served more requests than one with a connection per client, with a lower
// p99: more connections only make PostgreSQL's backends and the app take
// turns on the same cores.
var DefaultMaxConns = 4 * runtime.NumCPU()

// Open opens a connection pool on dsn (a URL or a key/value string).
// binary_parameters is forced on: without it lib/pq sends every query with
// parameters in two network round trips, and the request path has a budget
// of one. Every connection gives up on a server that stops answering as soon
// as the context of the call using it ends. A nil dialer uses lib/pq's own.
func Open(dsn string, d pq.Dialer) (*sql.DB, error) {
	cfg, err := pq.NewConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	cfg.BinaryParameters = true
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = defaultConnectTimeout
	}
	inner, err := pq.NewConnectorConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("database connector: %w", err)
	}
	if d == nil {
		d = &netDialer{}
	}
	inner.Dialer(dialer{inner: d})
	db := sql.OpenDB(&connector{inner: inner})
	db.SetMaxOpenConns(DefaultMaxConns)
	db.SetMaxIdleConns(DefaultMaxConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return db, nil
}

// lib/pq honours a context only by asking PostgreSQL to cancel the query,
// over a second connection: when the server stops answering altogether (a
// network partition, a hung host, PgBouncer queueing with no server behind
// it), the query keeps waiting on its socket until TCP gives up, many
// minutes later, and so does the request. The types below tie each
// connection's socket to the context of the call using it instead: when
// that context ends, the socket's deadline passes shortly after, the blocked
// read fails, and database/sql discards the connection.

// abortGrace is how long a query whose context ended may still take to
// return: enough for lib/pq's cancel request to reach a server that works,
// so the query stops there too, too short to matter to the caller.
const abortGrace = 100 * time.Millisecond

// socket is a connection to PostgreSQL whose deadline follows the context of
// the call currently using it.
type socket struct {
	net.Conn
	mu sync.Mutex
	// gen tells the current binding from earlier ones whose context may end
	// after the connection moved on to another call.
	gen  uint64
	stop func() bool
}

// bind makes the socket fail abortGrace after ctx ends, until the next bind.
func (s *socket) bind(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop != nil {
		s.stop()
	}
	s.gen++
	gen := s.gen
	_ = s.Conn.SetDeadline(time.Time{})
	s.stop = context.AfterFunc(ctx, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.gen == gen {
			_ = s.Conn.SetDeadline(time.Now().Add(abortGrace))
		}
	})
}

// socketSlot carries the socket that lib/pq dials during one Connect back to
// the connector, together with the context of that Connect.
type socketSlot struct {
	ctx  context.Context
	sock *socket
}

type socketSlotKey struct{}

// dialer wraps the dialer lib/pq uses. Dials made for a Connect become bound
// sockets; the others, lib/pq's cancel requests, stay plain.
type dialer struct {
	inner pq.Dialer
}

var (
	_ pq.Dialer        = dialer{}
	_ pq.DialerContext = dialer{}
)

func (d dialer) Dial(network, address string) (net.Conn, error) {
	return d.DialContext(context.Background(), network, address)
}

func (d dialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.DialContext(ctx, network, address)
}

func (d dialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var (
		c   net.Conn
		err error
	)
	if dc, ok := d.inner.(pq.DialerContext); ok {
		c, err = dc.DialContext(ctx, network, address)
	} else if deadline, ok := ctx.Deadline(); ok {
		c, err = d.inner.DialTimeout(network, address, time.Until(deadline))
	} else {
		c, err = d.inner.Dial(network, address)
	}
	if err != nil {
		return nil, err
	}
	slot, ok := ctx.Value(socketSlotKey{}).(*socketSlot)
	if !ok {
		return c, nil
	}
	s := &socket{Conn: c}
	s.bind(slot.ctx)
	slot.sock = s
	return s, nil
}

// netDialer is lib/pq's default way of dialing.
type netDialer struct{ net.Dialer }

func (d *netDialer) DialTimeout(network, address string, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return d.DialContext(ctx, network, address)
}

// connector opens lib/pq connections whose sockets follow their caller's
// context.
type connector struct {
	inner *pq.Connector
}

var _ driver.Connector = (*connector)(nil)

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	slot := &socketSlot{ctx: ctx}
	dc, err := c.inner.Connect(context.WithValue(ctx, socketSlotKey{}, slot))
	if err != nil {
		return nil, err
	}
	pc, ok := dc.(pqConn)
	if !ok || slot.sock == nil {
		_ = dc.Close()
		return nil, errors.New("connect: not a lib/pq connection through the dialer")
	}
	return &conn{inner: pc, sock: slot.sock}, nil
}

func (c *connector) Driver() driver.Driver { return c.inner.Driver() }

// pqConn is what database/sql uses of a lib/pq connection.
type pqConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.QueryerContext
	driver.ExecerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	driver.NamedValueChecker
}

// conn is a lib/pq connection that binds its socket to the context of every
// call that can wait on the server.
type conn struct {
	inner pqConn
	sock  *socket
}

var _ pqConn = (*conn)(nil)

func (c *conn) Prepare(query string) (driver.Stmt, error) { return c.inner.Prepare(query) }

func (c *conn) Close() error { return c.inner.Close() }

func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	c.sock.bind(ctx)
	return c.inner.BeginTx(ctx, opts)
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	c.sock.bind(ctx)
	return c.inner.PrepareContext(ctx, query)
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.sock.bind(ctx)
	return c.inner.QueryContext(ctx, query, args)
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c.sock.bind(ctx)
	return c.inner.ExecContext(ctx, query, args)
}

func (c *conn) Ping(ctx context.Context) error {
	c.sock.bind(ctx)
	return c.inner.Ping(ctx)
}

func (c *conn) ResetSession(ctx context.Context) error { return c.inner.ResetSession(ctx) }

func (c *conn) IsValid() bool { return c.inner.IsValid() }

func (c *conn) CheckNamedValue(nv *driver.NamedValue) error { return c.inner.CheckNamedValue(nv) }

// Unavailable reports whether err means that the database could not be
// reached or did not answer in time, rather than that it refused what was
// asked: the request may well succeed when tried again later. It is the one
// place that knows which driver errors these are.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var netErr net.Error
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) {
		return true
	}
	var pqErr *pq.Error
	if !errors.As(err, &pqErr) {
		return false
	}
	code := string(pqErr.Code)
	switch {
	case strings.HasPrefix(code, "08"): // connection exception
		return true
	case code == "57P01", code == "57P02", code == "57P03": // the server shuts down, crashed or is starting
		return true
	case code == "57014": // a statement timeout or a cancelled query
		return true
	case code == "53300": // too many connections
		return true
	}
	return false
}
