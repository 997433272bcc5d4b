package mail_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"aistat"
	"aistat/internal/i18n"
	"aistat/internal/mail"
	"aistat/internal/pgtest"
	"aistat/internal/poll"
	"aistat/internal/smtptest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const baseURL = "https://ai-stat.example"

// mustOpenDB is a fresh, migrated database.
func mustOpenDB(tb testing.TB) (string, *sql.DB) {
	tb.Helper()
	dsn := pgtest.URL(tb)
	db := pgtest.DB(tb, dsn)
	if err := aistat.Migrate(tb.Context(), db); err != nil {
		tb.Fatal(err)
	}
	return dsn, db
}

func mustRenderer(tb testing.TB) *mail.Renderer {
	tb.Helper()
	c, err := i18n.New()
	if err != nil {
		tb.Fatal(err)
	}
	r, err := mail.NewRenderer(c, aistat.LocaleRussian, baseURL, "noreply@ai-stat.example")
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// smtpSender sends to srv, trusting its certificate.
func smtpSender(tb testing.TB, srv *smtptest.Server) *mail.SMTP {
	tb.Helper()
	s, err := mail.ParseSMTPURL(srv.URL())
	if err != nil {
		tb.Fatal(err)
	}
	s.SetTLSConfig(srv.ClientTLS())
	return s
}

// startWorker runs a worker until the test ends or stop is called.
func startWorker(tb testing.TB, db *sql.DB, sender mail.Sender, cfg mail.Config) (w *mail.Worker, stop func()) {
	tb.Helper()
	// Nothing wakes these workers but their poll: the site's hub does.
	if cfg.Poll == 0 {
		cfg.Poll = 50 * time.Millisecond
	}
	w = mail.NewWorker(aistat.NewOutbox(db), mustRenderer(tb), sender, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx) })
	stop = sync.OnceFunc(func() { cancel(); wg.Wait() })
	tb.Cleanup(stop)
	return w, stop
}

// queue writes a mail to the outbox as the domain does and returns its id.
func queue(tb testing.TB, db *sql.DB, kind aistat.MailKind, to, locale, data string) int64 {
	tb.Helper()
	var id int64
	err := db.QueryRow(`INSERT INTO mail_outbox (kind, recipient, locale, data) VALUES ($1, $2, nullif($3, ''), $4) RETURNING id`,
		kind, to, locale, data).Scan(&id)
	if err != nil {
		tb.Fatal(err)
	}
	return id
}

type row struct {
	Status, Data, LastError string
	Attempts                int
}

func readRow(tb testing.TB, db *sql.DB, id int64) row {
	tb.Helper()
	var r row
	if err := db.QueryRow(`SELECT status, data::text, last_error, attempts FROM mail_outbox WHERE id = $1`, id).
		Scan(&r.Status, &r.Data, &r.LastError, &r.Attempts); err != nil {
		tb.Fatal(err)
	}
	return r
}

func TestWorker_Delivers(t *testing.T) {
	_, db := mustOpenDB(t)
	srv := smtptest.Start(t)
	startWorker(t, db, smtpSender(t, srv), mail.Config{})
	id := queue(t, db, aistat.MailPasswordReset, "anna@example.com", "en", `{"path": "/reset/abc", "email": "<b>anna</b>@example.com"}`)
	poll.Until(t, "the mail arrives", 10*time.Second, func() bool { return len(srv.Messages()) == 1 })
	m := srv.Messages()[0]
	if m.From != "noreply@ai-stat.example" || len(m.To) != 1 || m.To[0] != "anna@example.com" {
		t.Fatalf("envelope: from %q to %q", m.From, m.To)
	}
	if want := "ai-stat.example: reset your password"; m.Subject != want {
		t.Errorf("subject %q, want %q", m.Subject, want)
	}
	if !strings.HasPrefix(m.MessageID, "<") || !strings.HasSuffix(m.MessageID, "@ai-stat.example>") {
		t.Errorf("Message-ID %q, want <key@ai-stat.example>", m.MessageID)
	}
	if !strings.Contains(m.Text, baseURL+"/reset/abc") || !strings.Contains(m.Text, "<b>anna</b>@example.com") {
		t.Errorf("text lacks the link or the email:\n%s", m.Text)
	}
	if !strings.Contains(m.HTML, `href="`+baseURL+`/reset/abc"`) || !strings.Contains(m.HTML, "&lt;b&gt;anna&lt;/b&gt;") {
		t.Errorf("HTML lacks the link or escapes nothing:\n%s", m.HTML)
	}
	if strings.Contains(m.HTML, "<img") || strings.Contains(m.HTML, "src=") {
		t.Errorf("HTML loads something:\n%s", m.HTML)
	}
	poll.Until(t, "the mail is marked sent", 5*time.Second, func() bool { return readRow(t, db, id).Status == aistat.MailSent })
	if r := readRow(t, db, id); strings.Contains(r.Data, "/reset/abc") {
		t.Errorf("sent mail keeps its link: %s", r.Data)
	}
}

func TestWorker_RecipientLanguage(t *testing.T) {
	_, db := mustOpenDB(t)
	srv := smtptest.Start(t)
	startWorker(t, db, smtpSender(t, srv), mail.Config{})
	queue(t, db, aistat.MailPasswordChanged, "ru@example.com", "", `{}`)
	queue(t, db, aistat.MailPasswordChanged, "en@example.com", "en", `{}`)
	poll.Until(t, "both mails arrive", 10*time.Second, func() bool { return len(srv.Messages()) == 2 })
	if got := srv.To("ru@example.com")[0].Subject; got != "ai-stat.example: пароль изменён" {
		t.Errorf("default language subject %q", got)
	}
	if got := srv.To("en@example.com")[0].Subject; got != "ai-stat.example: your password was changed" {
		t.Errorf("English subject %q", got)
	}
}

func TestWorker_SMTPDownThenUp(t *testing.T) {
	_, db := mustOpenDB(t)
	srv := smtptest.Start(t)
	srv.Stop()
	startWorker(t, db, smtpSender(t, srv), mail.Config{FirstRetry: 50 * time.Millisecond, MaxRetry: 200 * time.Millisecond})
	id := queue(t, db, aistat.MailPasswordChanged, "anna@example.com", "en", `{}`)
	poll.Until(t, "two failed attempts", 10*time.Second, func() bool {
		r := readRow(t, db, id)
		return r.Attempts >= 2 && r.LastError != ""
	})
	if r := readRow(t, db, id); r.Status != aistat.MailQueued {
		t.Fatalf("status %q while the server is down, want queued", r.Status)
	}
	srv.Restart()
	poll.Until(t, "the mail arrives once the server is back", 10*time.Second, func() bool { return len(srv.Messages()) == 1 })
	poll.Until(t, "the mail is marked sent", 5*time.Second, func() bool { return readRow(t, db, id).Status == aistat.MailSent })
}

func TestWorker_GivesUp(t *testing.T) {
	_, db := mustOpenDB(t)
	srv := smtptest.Start(t)
	srv.Stop()
	startWorker(t, db, smtpSender(t, srv), mail.Config{FirstRetry: 20 * time.Millisecond, GiveUp: time.Millisecond})
	id := queue(t, db, aistat.MailDisabled, "anna@example.com", "en", `{}`)
	poll.Until(t, "the mail is given up", 10*time.Second, func() bool { return readRow(t, db, id).Status == aistat.MailFailed })
	failed, err := aistat.NewOutbox(db).Failed(t.Context(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) != 1 || failed[0].ID != id || failed[0].LastError == "" {
		t.Fatalf("failed mails %+v, want mail %d with its error", failed, id)
	}
	counts, err := aistat.NewOutbox(db).Counts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if counts != (aistat.MailCounts{Failed: 1}) {
		t.Fatalf("counts %+v, want one failed", counts)
	}
}

func TestWorker_TwoInstancesSendEachOnce(t *testing.T) {
	dsn, db := mustOpenDB(t)
	srv := smtptest.Start(t)
	const n = 30
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = queue(t, db, aistat.MailPasswordChanged, "anna@example.com", "en", `{}`)
	}
	// Two workers on two pools, as two instances of the site, each send
	// held up a little as by a slow server, so that each worker is still
	// sending while the other claims.
	startWorker(t, db, slowSender{smtpSender(t, srv)}, mail.Config{})
	startWorker(t, pgtest.DB(t, dsn), slowSender{smtpSender(t, srv)}, mail.Config{})
	poll.Until(t, "every mail is sent", 30*time.Second, func() bool {
		var left int
		if err := db.QueryRow(`SELECT count(*) FROM mail_outbox WHERE status <> 'sent'`).Scan(&left); err != nil {
			t.Fatal(err)
		}
		return left == 0
	})
	seen := map[string]int{}
	for _, m := range srv.Messages() {
		seen[m.MessageID]++
	}
	if len(srv.Messages()) != n || len(seen) != n {
		t.Fatalf("%d messages with %d Message-IDs, want %d of each", len(srv.Messages()), len(seen), n)
	}
}

// slowSender is a sender whose server takes its time to accept a message.
type slowSender struct{ next mail.Sender }

func (s slowSender) Send(ctx context.Context, m *mail.Message) error {
	// Not a wait for anything: the time a slow server takes.
	time.Sleep(20 * time.Millisecond)
	return s.next.Send(ctx, m)
}

// crashAfterSend sends, then stops its worker before it can record the
// send, as a process killed at that moment would: it returns only once the
// worker's context has ended.
type crashAfterSend struct {
	next  mail.Sender
	crash context.CancelFunc
}

func (c crashAfterSend) Send(ctx context.Context, m *mail.Message) error {
	err := c.next.Send(ctx, m)
	c.crash()
	<-ctx.Done()
	return err
}

func TestWorker_CrashBetweenSendAndMark(t *testing.T) {
	_, db := mustOpenDB(t)
	srv := smtptest.Start(t)
	lease := 300 * time.Millisecond
	ctx, crash := context.WithCancel(context.Background())
	w := mail.NewWorker(aistat.NewOutbox(db), mustRenderer(t), crashAfterSend{smtpSender(t, srv), crash},
		mail.Config{Lease: lease}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	id := queue(t, db, aistat.MailPasswordChanged, "anna@example.com", "en", `{}`)
	w.Run(ctx) // returns at the crash
	if r := readRow(t, db, id); r.Status != aistat.MailQueued || len(srv.Messages()) != 1 {
		t.Fatalf("after the crash: status %q with %d messages, want queued with 1", r.Status, len(srv.Messages()))
	}
	// The next worker finds it once the dead one's lease is over.
	startWorker(t, db, smtpSender(t, srv), mail.Config{Lease: lease, Poll: 50 * time.Millisecond})
	poll.Until(t, "the mail is sent again", 10*time.Second, func() bool { return readRow(t, db, id).Status == aistat.MailSent })
	msgs := srv.Messages()
	if len(msgs) != 2 || msgs[0].MessageID != msgs[1].MessageID {
		t.Fatalf("messages %d with Message-IDs %v, want 2 with the same one", len(msgs), ids(msgs))
	}
}

func ids(msgs []smtptest.Message) []string {
	var list []string
	for _, m := range msgs {
		list = append(list, m.MessageID)
	}
	return list
}

func TestParseSMTPURL(t *testing.T) {
	for _, bad := range []string{
		"", "mail.example.com", "http://mail.example.com", "smtp://", "smtp://:587",
		"smtp://mail.example.com:0", "smtp://mail.example.com:99999", "smtp://mail.example.com:port",
		"smtp://mail.example.com/path", "smtp://mail.example.com?starttls=no", "smtp://mail.example.com#x",
		"smtp://user@mail.example.com", "smtp://:secret@mail.example.com",
	} {
		if _, err := mail.ParseSMTPURL(bad); err == nil {
			t.Errorf("ParseSMTPURL(%q): no error", bad)
		} else if strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseSMTPURL(%q): the error repeats the password: %v", bad, err)
		}
	}
	for _, good := range []string{"smtp://mail.example.com", "smtps://u:p@mail.example.com:2465", "smtp://u:p%40x@[::1]:25"} {
		if _, err := mail.ParseSMTPURL(good); err != nil {
			t.Errorf("ParseSMTPURL(%q): %v", good, err)
		}
	}
}

func TestRenderer_RefusesForeignLinks(t *testing.T) {
	r := mustRenderer(t)
	for _, path := range []string{"", "https://evil.example/x", "//evil.example/x", "/\\evil.example", "/a\r\nBcc: x"} {
		_, err := r.Render(&aistat.OutboxMail{ID: 1, Kind: aistat.MailPasswordReset, To: "a@example.com",
			Data: map[string]string{"path": path}})
		if err == nil {
			t.Errorf("path %q: rendered", path)
		}
	}
	if _, err := r.Render(&aistat.OutboxMail{ID: 1, Kind: "bogus", To: "a@example.com"}); err == nil {
		t.Error("unknown kind: rendered")
	}
}

func TestConsole_PrintsWhatToFollow(t *testing.T) {
	_, db := mustOpenDB(t)
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	w := mail.NewWorker(aistat.NewOutbox(db), mustRenderer(t), mail.Console{Logger: logger}, mail.Config{Poll: time.Hour}, logger)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { w.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	id := queue(t, db, aistat.MailPasswordReset, "anna@example.com", "en", `{"path": "/reset/tok", "email": "anna@example.com"}`)
	w.Wake()
	poll.Until(t, "the mail is marked sent", 10*time.Second, func() bool { return readRow(t, db, id).Status == aistat.MailSent })
	for _, want := range []string{"to=anna@example.com", "ai-stat.example: reset your password", baseURL + "/reset/tok"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, logs.String())
		}
	}
}

func TestOutbox_DeleteExpired(t *testing.T) {
	_, db := mustOpenDB(t)
	if _, err := db.Exec(`
		INSERT INTO mail_outbox (kind, recipient, status, done_at) VALUES
			('disabled', 'old-sent@example.com', 'sent', now() - interval '8 days'),
			('disabled', 'new-sent@example.com', 'sent', now() - interval '6 days'),
			('disabled', 'old-failed@example.com', 'failed', now() - interval '31 days'),
			('disabled', 'new-failed@example.com', 'failed', now() - interval '29 days'),
			('disabled', 'queued@example.com', 'queued', NULL);
		INSERT INTO mail_throttle (key, hits, window_end) VALUES ('addr:1', 1, now() - interval '1 second'), ('addr:2', 1, now() + interval '1 hour')`); err != nil {
		t.Fatal(err)
	}
	n, err := aistat.NewOutbox(db).DeleteExpired(t.Context(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("deleted %d rows, want 3", n)
	}
	var left []string
	rows, err := db.Query(`SELECT recipient FROM mail_outbox ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			t.Fatal(err)
		}
		left = append(left, r)
	}
	if want := []string{"new-sent@example.com", "new-failed@example.com", "queued@example.com"}; strings.Join(left, ",") != strings.Join(want, ",") {
		t.Fatalf("left %v, want %v", left, want)
	}
}

// syncBuffer is a buffer the worker writes and the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestWorker_SMTPAuth(t *testing.T) {
	_, db := mustOpenDB(t)
	srv := smtptest.StartWithAuth(t, "bot", "s3cret")
	sender := func(url string) *mail.SMTP {
		s, err := mail.ParseSMTPURL(url)
		if err != nil {
			t.Fatal(err)
		}
		s.SetTLSConfig(srv.ClientTLS())
		return s
	}
	_, stopWrong := startWorker(t, db, sender("smtp://bot:wrong@"+srv.Addr()), mail.Config{FirstRetry: time.Hour})
	id := queue(t, db, aistat.MailPasswordChanged, "anna@example.com", "en", `{}`)
	poll.Until(t, "the refused attempt", 10*time.Second, func() bool { return readRow(t, db, id).LastError != "" })
	stopWrong()
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d messages accepted with a wrong password", n)
	}
	if _, err := db.Exec(`UPDATE mail_outbox SET next_attempt_at = now() WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	startWorker(t, db, sender("smtp://bot:s3cret@"+srv.Addr()), mail.Config{})
	poll.Until(t, "the mail, signed in", 10*time.Second, func() bool { return len(srv.Messages()) == 1 })
}

func TestWorker_ImplicitTLS(t *testing.T) {
	_, db := mustOpenDB(t)
	srv := smtptest.StartImplicitTLS(t)
	if !strings.HasPrefix(srv.URL(), "smtps://") {
		t.Fatalf("URL %s", srv.URL())
	}
	startWorker(t, db, smtpSender(t, srv), mail.Config{})
	queue(t, db, aistat.MailPasswordChanged, "anna@example.com", "en", `{}`)
	poll.Until(t, "the mail over implicit TLS", 10*time.Second, func() bool { return len(srv.Messages()) == 1 })
}
