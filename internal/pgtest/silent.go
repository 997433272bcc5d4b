package pgtest

import (
	"fmt"
	"net"
	"testing"
	"time"
)

// SilentServer is a server that accepts connections and never says a word,
// as a hung host does: a PostgreSQL client connecting to it waits for the
// handshake forever. It lives until the test ends.
type SilentServer struct {
	ln       net.Listener
	accepted chan net.Conn
}

// NewSilentServer starts a silent server on a loopback port.
func NewSilentServer(tb testing.TB) *SilentServer {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &SilentServer{ln: ln, accepted: make(chan net.Conn, 100)}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.accepted <- conn
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		for {
			select {
			case conn := <-s.accepted:
				conn.Close()
			default:
				return
			}
		}
	})
	return s
}

// DSN is a connection string that reaches the silent server.
func (s *SilentServer) DSN() string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=nobody dbname=none sslmode=disable", s.ln.Addr().(*net.TCPAddr).Port)
}

// WaitConnected fails the test unless a client connects within d; the
// connection stays open and silent.
func (s *SilentServer) WaitConnected(tb testing.TB, what string, d time.Duration) {
	tb.Helper()
	select {
	case conn := <-s.accepted:
		s.accepted <- conn
	case <-time.After(d):
		tb.Fatalf("%s did not connect within %v", what, d)
	}
}
