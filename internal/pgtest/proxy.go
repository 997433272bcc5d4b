package pgtest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/lib/pq"
)

// Proxy is a TCP proxy in front of a test database that a test can freeze,
// to play a database that stops answering without closing anything: a
// network partition or a hung host, as opposed to a server that is down.
type Proxy struct {
	ln     net.Listener
	target string // network address of the database, as lib/pq dials it
	net    string

	mu     sync.Mutex
	frozen bool
	thaw   chan struct{} // closed when the proxy thaws
	conns  map[net.Conn]struct{}
}

// NewProxy starts a proxy in front of the database dsn names and returns it
// with dsn rewritten to go through it. Both stop at the end of the test.
func NewProxy(tb testing.TB, dsn string) (*Proxy, string) {
	tb.Helper()
	cfg, err := pq.NewConfig(dsn)
	if err != nil {
		tb.Fatalf("pgtest: parse %q: %v", dsn, err)
	}
	network, target := "tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	if len(cfg.Host) > 0 && cfg.Host[0] == '/' {
		network, target = "unix", cfg.Host+"/.s.PGSQL."+strconv.Itoa(int(cfg.Port))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, net: network, conns: make(map[net.Conn]struct{})}
	var wg sync.WaitGroup
	wg.Go(p.accept)
	tb.Cleanup(func() {
		_ = ln.Close()
		p.Thaw()
		p.mu.Lock()
		for c := range p.conns {
			_ = c.Close()
		}
		p.mu.Unlock()
		wg.Wait()
	})
	addr := ln.Addr().(*net.TCPAddr)
	proxied, err := withHostPort(dsn, "127.0.0.1", addr.Port)
	if err != nil {
		tb.Fatal(err)
	}
	return p, proxied
}

// Freeze stops every byte in both directions, on open connections and new
// ones alike, until Thaw; nothing is closed.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.frozen {
		p.frozen, p.thaw = true, make(chan struct{})
	}
}

// Thaw lets the bytes held back by Freeze through.
func (p *Proxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.frozen {
		p.frozen = false
		close(p.thaw)
	}
}

// wait blocks while the proxy is frozen.
func (p *Proxy) wait() {
	p.mu.Lock()
	frozen, thaw := p.frozen, p.thaw
	p.mu.Unlock()
	if frozen {
		<-thaw
	}
}

func (p *Proxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.serve(client)
	}
}

// track remembers an open connection so that the end of the test closes
// it; the returned func forgets it again.
func (p *Proxy) track(c net.Conn) func() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conns[c] = struct{}{}
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		delete(p.conns, c)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer client.Close()
	defer p.track(client)()
	p.wait()
	var d net.Dialer
	server, err := d.DialContext(context.Background(), p.net, p.target)
	if err != nil {
		return
	}
	defer server.Close()
	defer p.track(server)()
	done := make(chan struct{}, 2)
	go func() { p.pipe(server, client); done <- struct{}{} }()
	go func() { p.pipe(client, server); done <- struct{}{} }()
	<-done
}

// pipe copies src to dst, holding every chunk while the proxy is frozen.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.wait()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// withHostPort points dsn, in URL or key/value form, at host and port and
// keeps every other setting.
func withHostPort(dsn, host string, port int) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parse url: %w", err)
		}
		u.Host = net.JoinHostPort(host, strconv.Itoa(port))
		q := u.Query()
		q.Del("host")
		q.Del("port")
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	// A later keyword overrides an earlier one in a key/value string.
	return fmt.Sprintf("%s host=%s port=%d", dsn, host, port), nil
}
