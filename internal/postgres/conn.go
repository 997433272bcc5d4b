// Package postgres is the plumbing under database/sql: it opens lib/pq
// pools that send a query in one round trip, give up on a silent server
// with their caller's context and drop a connection to a server that
// became read-only, and it knows which driver errors mean that the
// database is out of reach.
package postgres

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
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
	dsn, err := Hosts(dsn)
	if err != nil {
		return nil, err
	}
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

// Hosts returns dsn in a form that lib/pq reads with every host on its own
// port. lib/pq (v1.12.3) takes the multi-host key/value form as libpq does
// (host=a,b port=5432,5433), but reads a URL's host list
// (postgres://a:5432,b:5433/db) as the hosts "a:5432" and "b:5433" on the
// default port, so such a URL is rewritten to carry the same hosts and
// ports as its host and port parameters. A host without a port gets
// PGPORT's, or 5432, as libpq gives it. Anything else is returned as it
// is; the listener, which takes a string, gets the same rewriting.
func Hosts(dsn string) (string, error) {
	scheme, rest, ok := strings.Cut(dsn, "://")
	if !ok || (scheme != "postgres" && scheme != "postgresql") {
		return dsn, nil
	}
	// Go's url.Parse refuses a host list with IPv6 addresses in it, so the
	// list is cut out of the authority before the rest is parsed.
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	at := strings.LastIndexByte(authority, '@')
	userinfo, hostList := authority[:at+1], authority[at+1:]
	if !strings.Contains(hostList, ",") {
		return dsn, nil
	}
	u, err := url.Parse(scheme + "://" + userinfo + rest[end:])
	if err != nil {
		return "", fmt.Errorf("parse database url: %w", err)
	}
	q := u.Query()
	if q.Has("host") || q.Has("hostaddr") || q.Has("port") {
		return "", errors.New("database url: give its hosts either before the path or as host, hostaddr and port parameters, not both")
	}
	list := strings.Split(hostList, ",")
	hosts, ports := make([]string, len(list)), make([]string, len(list))
	anyPort := false
	for i, h := range list {
		host, port := h, ""
		// A port follows the last colon that is not inside an IPv6
		// address's brackets.
		if c := strings.LastIndexByte(h, ':'); c > strings.LastIndexByte(h, ']') {
			host, port = h[:c], h[c+1:]
		}
		host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
		if host == "" {
			return "", fmt.Errorf("database url: host %d of %q is empty", i+1, hostList)
		}
		if host, err = url.PathUnescape(host); err != nil {
			return "", fmt.Errorf("database url: host %d of %q: %w", i+1, hostList, err)
		}
		hosts[i], ports[i] = host, port
		anyPort = anyPort || port != ""
	}
	q.Set("host", strings.Join(hosts, ","))
	if anyPort {
		def := cmp.Or(os.Getenv("PGPORT"), "5432")
		for i := range ports {
			ports[i] = cmp.Or(ports[i], def)
		}
		q.Set("port", strings.Join(ports, ","))
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
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
// call that can wait on the server, and that the pool drops once its server
// refused a write as read-only.
//
// target_session_attrs=read-write checks a server only when a connection is
// opened. A connection opened to a primary that later answers as a
// read-only server (default_transaction_read_only turned on to fence an
// old primary, or PgBouncer now pointing at a standby) would otherwise stay
// in the pool and fail every write it is given, while its reads came from
// a server that is no longer the primary: the first refusal marks it, and
// database/sql closes it instead of putting it back.
type conn struct {
	inner    pqConn
	sock     *socket
	readOnly atomic.Bool
}

// check notes a refusal of err as read-only and returns err.
func (c *conn) check(err error) error {
	// Most calls succeed: errors.As would cost them an allocation.
	if err != nil && readOnlyRefusal(err) {
		c.readOnly.Store(true)
	}
	return err
}

var _ pqConn = (*conn)(nil)

func (c *conn) Prepare(query string) (driver.Stmt, error) { return c.inner.Prepare(query) }

func (c *conn) Close() error { return c.inner.Close() }

func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	c.sock.bind(ctx)
	tx, err := c.inner.BeginTx(ctx, opts)
	return tx, c.check(err)
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	c.sock.bind(ctx)
	st, err := c.inner.PrepareContext(ctx, query)
	return st, c.check(err)
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	c.sock.bind(ctx)
	rows, err := c.inner.QueryContext(ctx, query, args)
	return rows, c.check(err)
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	c.sock.bind(ctx)
	res, err := c.inner.ExecContext(ctx, query, args)
	return res, c.check(err)
}

func (c *conn) Ping(ctx context.Context) error {
	c.sock.bind(ctx)
	return c.inner.Ping(ctx)
}

func (c *conn) ResetSession(ctx context.Context) error {
	if c.readOnly.Load() {
		return driver.ErrBadConn
	}
	return c.inner.ResetSession(ctx)
}

func (c *conn) IsValid() bool { return !c.readOnly.Load() && c.inner.IsValid() }

func (c *conn) CheckNamedValue(nv *driver.NamedValue) error { return c.inner.CheckNamedValue(nv) }

// Unavailable reports whether err means that the database could not be
// reached or did not answer in time, rather than that it refused what was
// asked: the request may well succeed when tried again later. It is the one
// place that knows which driver errors these are.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if noSuchServer(err) {
		return true
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
	case code == "25006": // a read-only server: no primary answers here now
		return true
	}
	return false
}

// readOnlyRefusal reports whether err is PostgreSQL refusing a write
// because the server or the session is read-only.
func readOnlyRefusal(err error) bool {
	var pqErr *pq.Error
	return errors.As(err, &pqErr) && pqErr.Code == "25006"
}

// sessionAttrsRefusals are lib/pq's (v1.12.3) errors for a server that
// target_session_attrs rules out, plain errors that carry no code: with
// read-write, a standby, or a primary in the middle of a failover.
var sessionAttrsRefusals = []string{
	"session is read-only",
	"session is not read-only",
	"server is in hot standby mode",
	"server is not in hot standby mode",
}

// noSuchServer reports whether err, or any error it joins or wraps, is
// lib/pq ruling a server out by target_session_attrs: none of the hosts was
// the kind of server asked for, which a failover's promotion will change.
func noSuchServer(err error) bool {
	if err == nil {
		return false
	}
	switch e := err.(type) {
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			if noSuchServer(inner) {
				return true
			}
		}
		return false
	case interface{ Unwrap() error }:
		return noSuchServer(e.Unwrap())
	}
	for _, msg := range sessionAttrsRefusals {
		if err.Error() == msg {
			return true
		}
	}
	return false
}
