package aistat

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"time"
)

// A forgotten password: anyone may ask for a reset link to be mailed to an
// address, and is told the same whether or not an account has it. Asking is
// throttled per client address (ForgotPerAddress in ForgotWindow, then
// ETOOMANY) and per email (ForgotPerEmail in ForgotWindow, then nothing more
// is mailed, with the same answer), so that nobody can flood a mailbox or
// probe many addresses from one place.
const (
	ForgotPerAddress = 20
	ForgotPerEmail   = 3
	ForgotWindow     = time.Hour
)

// forgotCountSQL counts one request for the address ($1) and the email ($2)
// in their windows ($3 seconds), the address's row first, as every request
// locks them: it returns both counts and when the address's window ends.
const forgotCountSQL = `
WITH counted AS (
	INSERT INTO mail_throttle AS t (key, hits, window_end)
	VALUES ($1, 1, now() + make_interval(secs => $3)), ($2, 1, now() + make_interval(secs => $3))
	ON CONFLICT (key) DO UPDATE SET
		hits = CASE WHEN t.window_end <= now() THEN 1 ELSE t.hits + 1 END,
		window_end = CASE WHEN t.window_end <= now() THEN now() + make_interval(secs => $3) ELSE t.window_end END
	RETURNING key, hits, window_end
)
SELECT coalesce(max(hits) FILTER (WHERE key = $1), 0),
       coalesce(max(hits) FILTER (WHERE key = $2), 0),
       ceil(extract(epoch FROM coalesce(max(window_end) FILTER (WHERE key = $1), now()) - now()))::int
FROM counted`

// forgotLinkSQL replaces the reset link of the enabled account of email $1,
// if there is one and $4 allows it, with the link of hash $2 valid for $3
// seconds, and writes its mail (path $5): one statement, the same work
// whether or not the account exists, so that neither the answer nor its
// time tells.
const forgotLinkSQL = `
WITH u AS (
	SELECT id, email, locale FROM users WHERE lower(email) = lower($1) AND NOT disabled AND $4
), gone AS (
	DELETE FROM password_resets WHERE user_id IN (SELECT id FROM u) OR expires_at <= now()
), link AS (
	INSERT INTO password_resets (token_hash, user_id, expires_at)
	SELECT $2, id, now() + make_interval(secs => $3) FROM u
)
INSERT INTO mail_outbox (kind, recipient, locale, data)
SELECT $6, email, locale, jsonb_build_object('path', $5::text, 'email', email) FROM u`

// RequestPasswordReset mails a reset link, valid for ResetLinkLifetime, to
// the enabled account whose email is email, if there is one; the answer is
// the same when there is none. A string that cannot be an email is
// EINVALID naming email (which tells nothing of any account); the address's
// throttle is ETOOMANY.
func (s *Users) RequestPasswordReset(ctx context.Context, email string, c Client) error {
	// Only the email's form is checked, which tells nothing of any account.
	email, msg := normalizeEmail(email)
	if msg != "" {
		return invalid(map[string]string{"email": msg})
	}
	token, sum := newResetToken()
	return inTx(ctx, s.db, func(tx *sql.Tx) error {
		var addrHits, emailHits, wait int
		err := tx.QueryRowContext(ctx, forgotCountSQL, "addr:"+throttleAddr(c.IP), "email:"+strings.ToLower(email),
			ForgotWindow.Seconds()).Scan(&addrHits, &emailHits, &wait)
		if err != nil {
			return fmt.Errorf("count reset requests: %w", err)
		}
		if addrHits > ForgotPerAddress {
			return tooManyRequests(time.Duration(max(wait, 1)) * time.Second)
		}
		if _, err := tx.ExecContext(ctx, forgotLinkSQL, email, sum[:], ResetLinkLifetime.Seconds(),
			emailHits <= ForgotPerEmail, "/reset/"+token, MailPasswordReset); err != nil {
			return fmt.Errorf("mail reset link: %w", err)
		}
		return nil
	})
}

// tooManyRequests is the ETOOMANY error of a throttle on asking, for a wait
// of d.
func tooManyRequests(d time.Duration) *Error {
	e := tooMany(d)
	e.Message = fmt.Sprintf("Too many requests. Try again in %d minutes.", int(math.Ceil(d.Minutes())))
	return e
}
