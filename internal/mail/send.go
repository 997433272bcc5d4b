package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Sender hands a message to whatever delivers it.
type Sender interface {
	Send(ctx context.Context, m *Message) error
}

// SendTimeout bounds one message's conversation with the SMTP server.
const SendTimeout = 30 * time.Second

// SMTP sends through an SMTP server with github.com/wneessen/go-mail.
type SMTP struct {
	host     string
	port     int
	implicit bool
	user     string
	password string
	tls      *tls.Config
}

var _ Sender = (*SMTP)(nil)

// ParseSMTPURL checks an --smtp-url: smtp://[user:password@]host[:port]
// speaks STARTTLS, which the server must offer (587 by default), and
// smtps://… implicit TLS (465 by default). Nothing else: no path, query
// or fragment. A user name without a password, or the reverse, is refused.
// The errors never repeat the URL, which may hold a password.
func ParseSMTPURL(raw string) (*SMTP, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("not a URL such as smtp://user:password@mail.example.com:587")
	}
	s := &SMTP{host: u.Hostname()}
	switch u.Scheme {
	case "smtp":
		s.port = 587
	case "smtps":
		s.port, s.implicit = 465, true
	default:
		return nil, errors.New("must start with smtp:// (STARTTLS) or smtps:// (implicit TLS)")
	}
	if s.host == "" {
		return nil, errors.New("must name a host, as in smtp://mail.example.com:587")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, errors.New("the port must be a number from 1 to 65535")
		}
		s.port = n
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return nil, errors.New("must have no path, query or fragment")
	}
	if u.User != nil {
		s.user = u.User.Username()
		s.password, _ = u.User.Password()
		if s.user == "" || s.password == "" {
			return nil, errors.New("give both a user name and a password, or neither")
		}
	}
	s.tls = &tls.Config{ServerName: s.host, MinVersion: tls.VersionTLS12}
	return s, nil
}

// SetTLSConfig replaces the TLS settings, such as the certificates trusted:
// tests trust their own server's.
func (s *SMTP) SetTLSConfig(c *tls.Config) { s.tls = c }

// Send implements Sender: one connection per message, which is all the
// site's few mails need.
func (s *SMTP) Send(ctx context.Context, m *Message) error {
	msg := gomail.NewMsg()
	if err := msg.From(m.From); err != nil {
		return fmt.Errorf("from %q: %w", m.From, err)
	}
	if err := msg.To(m.To); err != nil {
		return fmt.Errorf("to: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetMessageIDWithValue(m.MessageID)
	msg.SetDate()
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(SendTimeout),
		gomail.WithTLSConfig(s.tls),
	}
	if s.implicit {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	}
	if s.user != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.user), gomail.WithPassword(s.password))
	}
	c, err := gomail.NewClient(s.host, opts...)
	if err != nil {
		return fmt.Errorf("smtp client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, SendTimeout)
	defer cancel()
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("send to %s:%d: %w", s.host, s.port, err)
	}
	return nil
}

// Console "sends" a message by writing its subject, recipient and links to
// the log, for a site without --smtp-url: the flows can be tried locally.
type Console struct {
	Logger *slog.Logger
}

var _ Sender = Console{}

// Send implements Sender.
func (c Console) Send(_ context.Context, m *Message) error {
	c.Logger.Info("mail (no --smtp-url: printed, not sent)",
		"to", m.To, "subject", m.Subject, "links", m.Links, "message_id", m.MessageID)
	return nil
}
