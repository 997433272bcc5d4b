// Package smtptest runs a real SMTP server (github.com/emersion/go-smtp) on
// loopback for tests: it offers STARTTLS with a certificate of its own,
// which the tests' senders trust, and keeps every message it accepts.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one message the server accepted.
type Message struct {
	From      string
	To        []string
	Subject   string
	MessageID string
	// Text and HTML are the message's plain-text and HTML parts.
	Text string
	HTML string
	Raw  []byte
}

// Server is an SMTP server on 127.0.0.1 that can be stopped and started
// again on the same port.
type Server struct {
	tb     testing.TB
	addr   string
	tls    *tls.Config
	client *tls.Config

	// implicit serves TLS from the first byte (smtps://), not STARTTLS.
	implicit bool
	// user and password, when set, are the only credentials the server
	// takes, and it refuses mail without them.
	user, password string

	mu       sync.Mutex
	server   *smtp.Server
	listener net.Listener
	messages []Message
}

// Start runs a server until the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	cert, pool := selfSigned(tb)
	s := &Server{
		tb:     tb,
		tls:    &tls.Config{Certificates: []tls.Certificate{cert}},
		client: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"},
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s.addr = l.Addr().String()
	s.serve(l)
	tb.Cleanup(s.Stop)
	return s
}

// StartWithAuth runs a server that takes mail only from a client signed in
// with user and password (AUTH PLAIN, over STARTTLS).
func StartWithAuth(tb testing.TB, user, password string) *Server {
	tb.Helper()
	s := Start(tb)
	s.mu.Lock()
	s.user, s.password = user, password
	s.mu.Unlock()
	return s
}

// StartImplicitTLS runs a server that speaks TLS from the first byte, as
// smtps:// asks.
func StartImplicitTLS(tb testing.TB) *Server {
	tb.Helper()
	s := Start(tb)
	s.Stop()
	s.implicit = true
	s.Restart()
	return s
}

// URL is the server's address as an --smtp-url, without credentials.
func (s *Server) URL() string {
	if s.implicit {
		return "smtps://" + s.addr
	}
	return "smtp://" + s.addr
}

// Addr is the server's host and port.
func (s *Server) Addr() string { return s.addr }

// ClientTLS is the TLS configuration that trusts the server.
func (s *Server) ClientTLS() *tls.Config { return s.client.Clone() }

func (s *Server) serve(l net.Listener) {
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{s: s}, nil }))
	srv.Domain = "127.0.0.1"
	srv.TLSConfig = s.tls
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	s.mu.Lock()
	s.server, s.listener = srv, l
	s.mu.Unlock()
	var serving net.Listener = l
	if s.implicit {
		serving = tls.NewListener(l, s.tls)
	}
	go func() { _ = srv.Serve(serving) }()
}

// Stop closes the server: connections are refused until Restart.
func (s *Server) Stop() {
	s.mu.Lock()
	srv, l := s.server, s.listener
	s.server, s.listener = nil, nil
	s.mu.Unlock()
	if srv != nil {
		// The listener is closed here too: Serve may not have taken it
		// yet, and the server's Close closes only those it has.
		_ = l.Close()
		_ = srv.Close()
	}
}

// Restart serves again on the same address after Stop.
func (s *Server) Restart() {
	s.tb.Helper()
	l, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.tb.Fatalf("restart SMTP server on %s: %v", s.addr, err)
	}
	s.serve(l)
}

// Messages are the messages accepted so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// To are the messages accepted for recipient, in order.
func (s *Server) To(recipient string) []Message {
	var list []Message
	for _, m := range s.Messages() {
		for _, to := range m.To {
			if strings.EqualFold(to, recipient) {
				list = append(list, m)
			}
		}
	}
	return list
}

type session struct {
	s      *Server
	from   string
	to     []string
	authed bool
}

var _ smtp.AuthSession = (*session)(nil)

// AuthMechanisms implements smtp.AuthSession.
func (ss *session) AuthMechanisms() []string { return []string{sasl.Plain} }

// Auth implements smtp.AuthSession.
func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, password string) error {
		ss.s.mu.Lock()
		defer ss.s.mu.Unlock()
		if ss.s.user == "" || user != ss.s.user || password != ss.s.password {
			return errors.New("invalid credentials")
		}
		ss.authed = true
		return nil
	}), nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.s.mu.Lock()
	needAuth := ss.s.user != ""
	ss.s.mu.Unlock()
	if needAuth && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := Message{From: ss.from, To: ss.to, Raw: raw}
	if parsed, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		dec := new(mime.WordDecoder)
		m.Subject, _ = dec.DecodeHeader(parsed.Header.Get("Subject"))
		m.MessageID = parsed.Header.Get("Message-Id")
		m.Text, m.HTML = parts(parsed)
	}
	ss.s.mu.Lock()
	ss.s.messages = append(ss.s.messages, m)
	ss.s.mu.Unlock()
	return nil
}

// parts reads the plain-text and HTML parts of a message.
func parts(m *mail.Message) (text, html string) {
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mediaType, "multipart/") {
		b, _ := io.ReadAll(m.Body)
		return string(b), ""
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			return text, html
		}
		// multipart.Reader decodes quoted-printable itself; base64 is
		// left to the reader.
		var body io.Reader = p
		if strings.EqualFold(p.Header.Get("Content-Transfer-Encoding"), "base64") {
			body = base64.NewDecoder(base64.StdEncoding, p)
		}
		b, _ := io.ReadAll(body)
		switch ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type")); ct {
		case "text/plain":
			text = string(b)
		case "text/html":
			html = string(b)
		}
	}
}

// selfSigned is a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(tb testing.TB) (tls.Certificate, *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "smtptest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}, pool
}
