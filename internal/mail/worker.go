// Package mail delivers the site's mail: the worker that takes each mail
// from the outbox, writes it in its recipient's language and hands it to
// an SMTP server (or, without one, to the log), with retries.
package mail

import (
	"cmp"
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"aistat"
)

// Config is the worker's schedule; zero fields take the defaults.
type Config struct {
	// FirstRetry, MaxRetry and GiveUp are the retry schedule
	// (aistat.MailFirstRetry, …); tests shorten them.
	FirstRetry time.Duration
	MaxRetry   time.Duration
	GiveUp     time.Duration
	// Lease is how long a claimed mail is held by its worker; after it,
	// another worker takes a mail whose worker died while sending. It must
	// exceed SendTimeout. Zero is DefaultLease.
	Lease time.Duration
	// Poll is the longest the worker goes without looking for due mail,
	// for a wake-up that was lost. Zero is DefaultPoll.
	Poll time.Duration
}

// Defaults of Config.
const (
	DefaultLease = 2 * time.Minute
	DefaultPoll  = 10 * time.Second
)

// Worker delivers the outbox's mail. Any number of workers, in one
// process or in many, share one outbox: each mail is claimed by one.
type Worker struct {
	outbox   *aistat.Outbox
	renderer *Renderer
	sender   Sender
	logger   *slog.Logger
	cfg      Config
	wake     chan struct{}
}

// NewWorker returns a worker that sends through sender.
func NewWorker(outbox *aistat.Outbox, renderer *Renderer, sender Sender, cfg Config, logger *slog.Logger) *Worker {
	cfg.FirstRetry = cmp.Or(cfg.FirstRetry, aistat.MailFirstRetry)
	cfg.MaxRetry = cmp.Or(cfg.MaxRetry, aistat.MailMaxRetry)
	cfg.GiveUp = cmp.Or(cfg.GiveUp, aistat.MailGiveUp)
	cfg.Lease = cmp.Or(cfg.Lease, DefaultLease)
	cfg.Poll = cmp.Or(cfg.Poll, DefaultPoll)
	return &Worker{outbox: outbox, renderer: renderer, sender: sender, logger: logger, cfg: cfg,
		wake: make(chan struct{}, 1)}
}

// Wake makes the worker look for due mail now; it never blocks.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run sends due mail until ctx ends: at once, whenever Wake is called,
// when the next retry is due, and at least every Poll.
func (w *Worker) Run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		case <-timer.C:
		}
		w.sendDue(ctx)
		wait := w.cfg.Poll
		if next, err := w.outbox.NextDue(ctx); err != nil {
			if ctx.Err() == nil {
				w.logger.Warn("mail: next due", "err", err)
			}
		} else if !next.IsZero() {
			wait = min(wait, max(time.Until(next), 10*time.Millisecond))
		}
		// Since Go 1.23 a Reset timer never delivers a stale tick.
		timer.Reset(wait)
	}
}

// sendDue sends every mail that is due, one after another.
func (w *Worker) sendDue(ctx context.Context) {
	for ctx.Err() == nil {
		m, err := w.outbox.Claim(ctx, w.cfg.Lease)
		if aistat.NoMailDue(err) {
			return
		} else if err != nil {
			if ctx.Err() == nil {
				// A database that is down: the next wake-up or poll tries
				// again, and the mail waits in the outbox.
				w.logger.Warn("mail: claim", "err", err)
			}
			return
		}
		w.deliver(ctx, m)
	}
}

// deliver renders and sends one claimed mail and records the outcome. A
// worker stopped between the send and the record leaves the mail claimed:
// once its lease ends, another sends it again, under the same Message-ID.
func (w *Worker) deliver(ctx context.Context, m *aistat.OutboxMail) {
	msg, err := w.renderer.Render(m)
	if err == nil {
		err = w.sender.Send(ctx, msg)
	}
	if err == nil {
		if err := w.outbox.MarkSent(ctx, m.ID); err != nil && ctx.Err() == nil {
			w.logger.Error("mail: mark sent", "id", m.ID, "err", err)
		}
		return
	}
	if ctx.Err() != nil {
		return
	}
	failed, merr := w.outbox.MarkRetry(ctx, m.ID, err.Error(), w.cfg.FirstRetry, w.cfg.MaxRetry, w.cfg.GiveUp)
	switch {
	case merr != nil:
		w.logger.Error("mail: reschedule", "id", m.ID, "err", merr)
	case failed:
		w.logger.Error("mail: given up", "id", m.ID, "kind", m.Kind, "attempts", m.Attempts, "err", err)
	default:
		w.logger.Warn("mail: send failed, will retry", "id", m.ID, "kind", m.Kind, "attempts", m.Attempts, "err", err)
	}
}

var mailDesc = prometheus.NewDesc("aistat_mail",
	"Mails in the outbox by state: queued (waiting or being retried), sent and failed (given up), as long as they are kept.",
	[]string{"state"}, nil)

// metrics reads the outbox's counts at each scrape.
type metrics struct {
	outbox *aistat.Outbox
	logger *slog.Logger
}

// Metrics is a collector of the outbox's queued, sent and failed mails,
// read from the database at each scrape.
func Metrics(outbox *aistat.Outbox, logger *slog.Logger) prometheus.Collector {
	return metrics{outbox: outbox, logger: logger}
}

// Describe implements prometheus.Collector.
func (m metrics) Describe(ch chan<- *prometheus.Desc) { ch <- mailDesc }

// Collect implements prometheus.Collector: nothing when the database does
// not answer, rather than zeros a dashboard would believe.
func (m metrics) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	c, err := m.outbox.Counts(ctx)
	if err != nil {
		m.logger.Warn("metrics: count mail", "err", err)
		return
	}
	for _, s := range []struct {
		state string
		n     int64
	}{{aistat.MailQueued, c.Queued}, {aistat.MailSent, c.Sent}, {aistat.MailFailed, c.Failed}} {
		ch <- prometheus.MustNewConstMetric(mailDesc, prometheus.GaugeValue, float64(s.n), s.state)
	}
}
