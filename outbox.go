package aistat

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// MailKind is what a mail is about; the mail worker writes its words from
// the kind and the mail's data, in the recipient's language.
type MailKind string

// The mails the site sends.
const (
	// MailPasswordReset carries a forgotten password's reset link.
	MailPasswordReset MailKind = "password_reset"
	// MailInvitation carries an invitation's link to set a first password.
	MailInvitation MailKind = "invitation"
	// MailEmailConfirm goes to a new address, with the link that makes it
	// the account's.
	MailEmailConfirm MailKind = "email_confirm"
	// MailPasswordChanged tells that the account's password was changed.
	MailPasswordChanged MailKind = "password_changed"
	// MailEmailChanged tells the old address that the account's email was
	// changed.
	MailEmailChanged MailKind = "email_changed"
	// MailNewDevice tells of a sign-in from a browser that had not signed
	// in to the account before.
	MailNewDevice MailKind = "new_device"
	// MailAdminReset tells that an admin issued a reset link for the
	// account.
	MailAdminReset MailKind = "admin_reset"
	// MailDisabled tells that an admin disabled the account.
	MailDisabled MailKind = "disabled"
	// MailTOTPEnabled and MailTOTPDisabled tell that an authenticator app
	// was added to or removed from the account.
	MailTOTPEnabled  MailKind = "totp_enabled"
	MailTOTPDisabled MailKind = "totp_disabled"
	// MailRecoveryCodesRenewed tells that new recovery codes replaced the
	// old ones.
	MailRecoveryCodesRenewed MailKind = "recovery_codes_renewed"
	// MailRecoveryCodeUsed tells of a sign-in with a recovery code, and
	// how many are left (data "left").
	MailRecoveryCodeUsed MailKind = "recovery_code_used"
	// MailSecondFactorsReset tells that an admin removed the account's
	// second factors.
	MailSecondFactorsReset MailKind = "second_factors_reset"
)

// Mail is one mail to write to the outbox.
type Mail struct {
	Kind MailKind
	To   string
	// Locale is the recipient's language, "" for the site's default.
	Locale Locale
	// Data is what the mail says beyond its kind: "path" is a link's path
	// on the site (the worker puts the site's base URL before it), the
	// others are values its words show.
	Data map[string]string
}

// Outbox states.
const (
	MailQueued = "queued"
	MailSent   = "sent"
	MailFailed = "failed"
)

// Delivery's schedule: a mail that could not be sent is tried again
// MailFirstRetry later, twice as long after each further failure, at most
// MailMaxRetry apart, and given up MailGiveUp after it was written.
const (
	MailFirstRetry = 5 * time.Second
	MailMaxRetry   = 5 * time.Minute
	MailGiveUp     = 24 * time.Hour
	// MailSentRetention and MailFailedRetention are how long a sent or a
	// given-up mail stays in the outbox.
	MailSentRetention   = 7 * 24 * time.Hour
	MailFailedRetention = 30 * 24 * time.Hour
)

// enqueueMail writes m to the outbox in tx, the transaction of the change
// that causes it: the mail exists exactly when the change does.
func enqueueMail(ctx context.Context, tx execer, m Mail) error {
	data, err := json.Marshal(m.Data)
	if err != nil {
		return fmt.Errorf("encode %s mail: %w", m.Kind, err)
	}
	if m.Data == nil {
		data = []byte(`{}`)
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO mail_outbox (kind, recipient, locale, data) VALUES ($1, $2, nullif($3, ''), $4)`,
		// As text: with binary_parameters, bytes would reach jsonb in its
		// binary format.
		m.Kind, m.To, string(m.Locale), string(data)); err != nil {
		return fmt.Errorf("queue %s mail: %w", m.Kind, err)
	}
	return nil
}

// noticeTo is a security notice of kind to u.
func noticeTo(u *User, kind MailKind, data map[string]string) Mail {
	return Mail{Kind: kind, To: u.Email, Locale: u.Locale, Data: data}
}

// OutboxMail is a mail the worker claimed, to send.
type OutboxMail struct {
	ID        int64
	Kind      MailKind
	To        string
	Locale    Locale
	Data      map[string]string
	MessageID string
	// Attempts counts this one.
	Attempts  int
	CreatedAt time.Time
}

// FailedMail is a mail that was given up, for the admin page.
type FailedMail struct {
	ID        int64
	Kind      MailKind
	To        string
	Attempts  int
	LastError string
	CreatedAt time.Time
}

// Outbox is the mail waiting to be sent, and what became of it.
type Outbox struct {
	db *sql.DB
}

// NewOutbox returns the outbox on db.
func NewOutbox(db *sql.DB) *Outbox { return &Outbox{db: db} }

// errNoMailDue is Claim's answer when no mail is due; nobody reads it.
var errNoMailDue = errors.New("no mail is due")

// NoMailDue reports whether err is Claim's answer that no mail is due.
func NoMailDue(err error) bool { return errors.Is(err, errNoMailDue) }

// Claim takes the oldest due mail for sending and holds it for lease: until
// then no other worker claims it, and after it (a worker that died) the
// next one does. Rows other workers are claiming are skipped, not waited
// for. With no mail due it returns an error for which NoMailDue is true.
func (o *Outbox) Claim(ctx context.Context, lease time.Duration) (*OutboxMail, error) {
	var (
		m      OutboxMail
		locale sql.NullString
		data   []byte
	)
	err := o.db.QueryRowContext(ctx, `
		UPDATE mail_outbox SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $1)
		WHERE id = (
			SELECT id FROM mail_outbox
			WHERE status = 'queued' AND next_attempt_at <= now()
			ORDER BY next_attempt_at, id
			LIMIT 1
			FOR UPDATE SKIP LOCKED)
		RETURNING id, kind, recipient, locale, data, message_key::text, attempts, created_at`,
		lease.Seconds()).Scan(&m.ID, &m.Kind, &m.To, &locale, &data, &m.MessageID, &m.Attempts, &m.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoMailDue
	} else if err != nil {
		return nil, fmt.Errorf("claim mail: %w", err)
	}
	m.Locale = Locale(locale.String)
	if err := json.Unmarshal(data, &m.Data); err != nil {
		return nil, fmt.Errorf("decode mail %d: %w", m.ID, err)
	}
	return &m, nil
}

// MarkSent records that mail id was handed to the SMTP server, and drops
// its link: the table keeps no usable token longer than it must.
func (o *Outbox) MarkSent(ctx context.Context, id int64) error {
	if _, err := o.db.ExecContext(ctx, `
		UPDATE mail_outbox SET status = 'sent', done_at = now(), last_error = '', data = data - 'path'
		WHERE id = $1`, id); err != nil {
		return fmt.Errorf("mark mail %d sent: %w", id, err)
	}
	return nil
}

// MarkRetry records that sending mail id failed with reason: it is tried
// again after the schedule's wait for its attempts, or given up (failed)
// once MailGiveUp has passed since it was written. It reports whether the
// mail was given up.
func (o *Outbox) MarkRetry(ctx context.Context, id int64, reason string, first, maxWait, giveUp time.Duration) (bool, error) {
	var failed bool
	err := o.db.QueryRowContext(ctx, `
		UPDATE mail_outbox SET
			last_error = left($2, 500),
			status = CASE WHEN created_at + make_interval(secs => $5) <= now() THEN 'failed' ELSE 'queued' END,
			done_at = CASE WHEN created_at + make_interval(secs => $5) <= now() THEN now() END,
			data = CASE WHEN created_at + make_interval(secs => $5) <= now() THEN data - 'path' ELSE data END,
			next_attempt_at = now() + least(
				make_interval(secs => $3) * power(2, least(greatest(attempts - 1, 0), 30)),
				make_interval(secs => $4))
		WHERE id = $1
		RETURNING status = 'failed'`,
		id, reason, first.Seconds(), maxWait.Seconds(), giveUp.Seconds()).Scan(&failed)
	if err != nil {
		return false, fmt.Errorf("reschedule mail %d: %w", id, err)
	}
	return failed, nil
}

// NextDue is when the next queued mail is due, zero when none is queued.
func (o *Outbox) NextDue(ctx context.Context) (time.Time, error) {
	var next sql.NullTime
	err := o.db.QueryRowContext(ctx,
		`SELECT min(next_attempt_at) FROM mail_outbox WHERE status = 'queued'`).Scan(&next)
	if err != nil {
		return time.Time{}, fmt.Errorf("next mail due: %w", err)
	}
	return next.Time, nil
}

// MailCounts are the outbox's mails by state.
type MailCounts struct {
	Queued, Sent, Failed int64
}

// Counts counts the outbox's mails by state (sent and failed ones as long
// as they are kept).
func (o *Outbox) Counts(ctx context.Context) (MailCounts, error) {
	var c MailCounts
	err := o.db.QueryRowContext(ctx, `
		SELECT count(*) FILTER (WHERE status = 'queued'),
		       count(*) FILTER (WHERE status = 'sent'),
		       count(*) FILTER (WHERE status = 'failed')
		FROM mail_outbox`).Scan(&c.Queued, &c.Sent, &c.Failed)
	if err != nil {
		return c, fmt.Errorf("count mail: %w", err)
	}
	return c, nil
}

// Failed lists the latest mails that were given up, newest first.
func (o *Outbox) Failed(ctx context.Context, limit int) ([]FailedMail, error) {
	rows, err := o.db.QueryContext(ctx, `
		SELECT id, kind, recipient, attempts, last_error, created_at
		FROM mail_outbox WHERE status = 'failed'
		ORDER BY done_at DESC, id DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("list failed mail: %w", err)
	}
	defer rows.Close()
	var list []FailedMail
	for rows.Next() {
		var f FailedMail
		if err := rows.Scan(&f.ID, &f.Kind, &f.To, &f.Attempts, &f.LastError, &f.CreatedAt); err != nil {
			return nil, fmt.Errorf("list failed mail: %w", err)
		}
		list = append(list, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list failed mail: %w", err)
	}
	return list, nil
}

// DeleteExpired deletes sent and failed mail past its retention, spent
// mail throttle windows and expired email confirmations, in batches of at
// most batch rows. It reports how
// many rows it deleted.
func (o *Outbox) DeleteExpired(ctx context.Context, batch int) (int64, error) {
	mail, err := deleteBatches(ctx, o.db, batch, `
		DELETE FROM mail_outbox WHERE id IN (
			SELECT id FROM mail_outbox
			WHERE (status = 'sent' AND done_at < now() - make_interval(secs => $2))
			   OR (status = 'failed' AND done_at < now() - make_interval(secs => $3))
			LIMIT $1)`, MailSentRetention.Seconds(), MailFailedRetention.Seconds())
	if err != nil {
		return mail, fmt.Errorf("delete old mail: %w", err)
	}
	throttle, err := deleteBatches(ctx, o.db, batch, `
		DELETE FROM mail_throttle WHERE key IN (
			SELECT key FROM mail_throttle WHERE window_end < now() LIMIT $1)`)
	if err != nil {
		return mail + throttle, fmt.Errorf("delete old mail throttle entries: %w", err)
	}
	// The mailed links that expired unused: a new address never confirmed.
	changes, err := deleteBatches(ctx, o.db, batch, `
		DELETE FROM email_changes WHERE token_hash IN (
			SELECT token_hash FROM email_changes WHERE expires_at < now() LIMIT $1)`)
	if err != nil {
		return mail + throttle + changes, fmt.Errorf("delete expired email changes: %w", err)
	}
	return mail + throttle + changes, nil
}
