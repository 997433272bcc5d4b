package aistat

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"
)

// Sign-in throttling, kept in PostgreSQL so that it holds across instances.
//
// Every password check (a sign-in, or the current password of a password
// change) is an attempt counted twice: for the account (its lower-cased
// email) from the client's address, and for the address across accounts.
// Once a counter reaches its limit of consecutive failures, the failure
// that reached it starts a delay during which every attempt is refused, a
// right password too: ThrottleFirstDelay, doubling with each further
// failure, at most ThrottleMaxDelay. A success ends the account's streak
// from that address; failures of other addresses never delay it. A streak is
// forgotten ThrottleWindow after its last failure or the end of its delay.
const (
	// ThrottleAccountLimit is how many consecutive failures one account may
	// have from one address before the delay.
	ThrottleAccountLimit = 5
	// ThrottleAddressLimit is how many failures one address may have across
	// accounts before the delay.
	ThrottleAddressLimit = 50
	// ThrottleWindow is how long a streak of failures is remembered.
	ThrottleWindow = 15 * time.Minute
	// ThrottleFirstDelay is the delay that the failure reaching a limit starts.
	ThrottleFirstDelay = time.Minute
	// ThrottleMaxDelay caps the delay, however many failures follow.
	ThrottleMaxDelay = 15 * time.Minute
)

// The statements below work on all the rows of an attempt at once. Without
// a valid device cookie those are the address's own row (email '') and the
// account's from that address, in that order: every statement locks them in
// the same order, so concurrent attempts queue rather than deadlock. With
// one they are the device's row alone (addr is the device's key, email the
// account's), and the address's and the account's counts are neither
// checked nor changed. Each is an upsert, so concurrent attempts never lose
// a count. Parameters: $1 the address or the device's key, $2 the email as
// typed, $3 and $4 the account (or device) and address limits, $5 the
// window in seconds.

// throttleRows is the VALUES list of an attempt's rows: row is one row's
// values, with %s where its email goes.
func throttleRows(device bool, row string) string {
	account := fmt.Sprintf(row, "lower($2)")
	if device {
		return account
	}
	return fmt.Sprintf(row, "''") + ", " + account
}

// throttleLimit is the limit of the row being updated.
const throttleLimit = `(CASE WHEN t.email = '' THEN $4::int ELSE $3::int END)`

// throttleRefused says whether the row refuses an attempt: during a delay,
// and, at the limit, while another attempt is still being checked, so that
// attempts sent in parallel cannot slip past the limit before their
// failures count.
const throttleRefused = `(t.forget_at > now() AND (coalesce(t.blocked_until > now(), false)
	OR (t.in_flight > 0 AND t.failures + t.in_flight >= ` + throttleLimit + `)))`

// throttleFailures is the row's count once this failure is added.
const throttleFailures = `(CASE WHEN t.forget_at <= now() THEN 1 ELSE t.failures + 1 END)`

// throttleBlockedUntil is when the delay after this failure ends: $6 after
// the failure that reaches the limit, twice as long after each further one,
// at most $7 (both in seconds).
const throttleBlockedUntil = `(CASE
	WHEN ` + throttleFailures + ` >= ` + throttleLimit + ` THEN now() + least(
		make_interval(secs => $6) * power(2, least(` + throttleFailures + ` - ` + throttleLimit + `, 20)),
		make_interval(secs => $7))
	WHEN t.forget_at <= now() THEN NULL
	ELSE t.blocked_until END)`

// throttleStatements are the statements of one kind of attempt: with a
// device cookie or without.
type throttleStatements struct {
	// begin counts an attempt as in flight on each row that does not refuse
	// it; it returns, per row, its email, whether it refused and for how
	// many seconds.
	begin string
	// fail counts a failure on the rows and records it for the account
	// whose email was typed, if there is one: the statement is the same
	// whether or not the email exists, so that neither the work nor the
	// time tells.
	fail string
	// succeed ends the account's (or device's) streak, takes the attempt
	// out of flight on the address's row (whose count is of failures only)
	// and records the event $5 for user $4 unless $5 is empty. $3 is the
	// window in seconds. It returns the user's device epoch, which a new
	// device cookie is signed with.
	succeed string
	// abandon takes an attempt that reached no verdict out of flight; an
	// upsert too, for the order of its locks.
	abandon string
}

func newThrottleStatements(device bool) throttleStatements {
	return throttleStatements{
		begin: `
INSERT INTO sign_in_throttle AS t (addr, email, in_flight, forget_at)
VALUES ` + throttleRows(device, `($1, %s, 1, now() + make_interval(secs => $5))`) + `
ON CONFLICT (addr, email) DO UPDATE SET
	refused = ` + throttleRefused + `,
	in_flight = CASE WHEN ` + throttleRefused + ` THEN t.in_flight
	                 WHEN t.forget_at <= now() THEN 1 ELSE t.in_flight + 1 END,
	failures = CASE WHEN t.forget_at <= now() THEN 0 ELSE t.failures END,
	blocked_until = CASE WHEN t.forget_at <= now() THEN NULL ELSE t.blocked_until END,
	forget_at = CASE WHEN t.forget_at <= now() THEN now() + make_interval(secs => $5) ELSE t.forget_at END
RETURNING t.email, t.refused,
	CASE WHEN t.refused THEN greatest(1, ceil(extract(epoch FROM coalesce(t.blocked_until, now()) - now())))::int
	     ELSE 0 END`,
		fail: `
WITH counted AS (
	INSERT INTO sign_in_throttle AS t (addr, email, failures, forget_at)
	VALUES ` + throttleRows(device, `($1, %s, 1, now() + make_interval(secs => $5))`) + `
	ON CONFLICT (addr, email) DO UPDATE SET
		in_flight = greatest(t.in_flight - 1, 0),
		failures = ` + throttleFailures + `,
		blocked_until = ` + throttleBlockedUntil + `,
		forget_at = greatest(now(), ` + throttleBlockedUntil + `) + make_interval(secs => $5)
)
INSERT INTO security_events (user_id, kind, ip, user_agent)
SELECT id, $8, $9, $10 FROM users WHERE lower(email) = lower($2)`,
		succeed: `
WITH reset AS (
	INSERT INTO sign_in_throttle AS t (addr, email, forget_at)
	VALUES ` + throttleRows(device, `($1, %s, now() + make_interval(secs => $3))`) + `
	ON CONFLICT (addr, email) DO UPDATE SET
		in_flight = greatest(t.in_flight - 1, 0),
		failures = CASE WHEN t.email = '' THEN t.failures ELSE 0 END,
		blocked_until = CASE WHEN t.email = '' THEN t.blocked_until END
), recorded AS (
	INSERT INTO security_events (user_id, kind, ip, user_agent)
	SELECT $4, $5, $6, $7 WHERE $5 <> ''
)` + newDeviceMail(device) + `
SELECT coalesce((SELECT device_epoch FROM users WHERE id = $4), 0)`,
		abandon: `
INSERT INTO sign_in_throttle AS t (addr, email, forget_at)
VALUES ` + throttleRows(device, `($1, %s, now())`) + `
ON CONFLICT (addr, email) DO UPDATE SET in_flight = greatest(t.in_flight - 1, 0)`,
	}
}

// newDeviceMail is the part of a sign-in's statement that mails the user
// a notice of a browser that has no device cookie of the account: a
// browser never seen before, in the one statement that records the
// sign-in. Only a sign-in ($5 is its event) mails: the password check of
// a password change records none, and a sign-in with a valid cookie runs
// the device's statements, which have no such part.
func newDeviceMail(device bool) string {
	if device {
		return ""
	}
	return `, mailed AS (
	INSERT INTO mail_outbox (kind, recipient, locale, data)
	SELECT '` + string(MailNewDevice) + `', email, locale, jsonb_build_object('address', $6::text, 'userAgent', $7::text)
	FROM users WHERE id = $4 AND $5 = '` + string(EventSignIn) + `'
)`
}

// The statements of attempts without and with a valid device cookie.
var (
	addressStatements = newThrottleStatements(false)
	deviceStatements  = newThrottleStatements(true)
)

// releaseRowSQL takes a refused attempt out of flight on the row ($1, $2)
// that had let it in: the other row refused it. One row, so no lock order.
const releaseRowSQL = `
UPDATE sign_in_throttle SET in_flight = greatest(in_flight - 1, 0) WHERE addr = $1 AND email = $2`

// finishTimeout bounds the statement that records an attempt's outcome. It
// runs even when the client has gone: an attempt left in flight would hold
// up the next ones.
const finishTimeout = 5 * time.Second

// attempt is one password check under the throttle. Every attempt that
// began ends with exactly one of fail, succeed or abandon.
type attempt struct {
	db    *sql.DB
	sql   *throttleStatements
	addr  string
	email string
	// limit is the account's limit, or the device's.
	limit  int
	client Client
}

// checkCurrentPassword checks password against hash, the current one of
// the account with email, as an attempt under the sign-in throttle
// (ETOOMANY during a delay), before a change that needs it. A wrong one is
// recorded as a failed attempt, the event failed among the account's, and
// gives a nil attempt; a right one gives the attempt, still open, for the
// caller to end as the change goes (succeed or abandon).
func (s *Users) checkCurrentPassword(ctx context.Context, email, hash, password string, c Client, failed EventKind) (*attempt, error) {
	a, err := s.beginAttempt(ctx, email, "", c)
	if err != nil {
		return nil, err
	}
	ok, err := s.matches(ctx, hash, password)
	if err != nil {
		a.abandon(ctx)
		return nil, err
	}
	if !ok {
		return nil, a.fail(ctx, failed)
	}
	return a, nil
}

// beginAttempt starts a password check for email from c's address, or
// refuses it with ETOOMANY saying how long to wait. device is the throttle
// key of the browser's valid device cookie for the account, "" for none.
func (s *Users) beginAttempt(ctx context.Context, email, device string, c Client) (*attempt, error) {
	a := &attempt{db: s.db, sql: &addressStatements, addr: throttleAddr(c.IP), email: throttleEmail(email),
		limit: ThrottleAccountLimit, client: c}
	if device != "" {
		a.sql, a.addr, a.limit = &deviceStatements, device, ThrottleDeviceLimit
	}
	rows, err := s.db.QueryContext(ctx, a.sql.begin, a.addr, a.email,
		a.limit, ThrottleAddressLimit, ThrottleWindow.Seconds())
	if err != nil {
		return nil, fmt.Errorf("begin sign-in attempt: %w", err)
	}
	defer rows.Close()
	refused, wait, admitted := false, 0, []string(nil)
	for rows.Next() {
		var key string
		var r bool
		var seconds int
		if err := rows.Scan(&key, &r, &seconds); err != nil {
			return nil, fmt.Errorf("begin sign-in attempt: %w", err)
		}
		refused, wait = refused || r, max(wait, seconds)
		if !r {
			admitted = append(admitted, key)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("begin sign-in attempt: %w", err)
	}
	if !refused {
		return a, nil
	}
	for _, key := range admitted {
		if _, err := s.db.ExecContext(ctx, releaseRowSQL, a.addr, key); err != nil {
			return nil, fmt.Errorf("release refused sign-in attempt: %w", err)
		}
	}
	return nil, tooMany(time.Duration(wait) * time.Second)
}

// tooMany is the ETOOMANY error for a wait of d.
func tooMany(d time.Duration) *Error {
	minutes := int(math.Ceil(d.Minutes()))
	unit := "minutes"
	if minutes == 1 {
		unit = "minute"
	}
	return &Error{
		Code:       ETOOMANY,
		Message:    fmt.Sprintf("Too many failed attempts. Try again in %d %s.", minutes, unit),
		RetryAfter: d,
	}
}

// detach gives the statement recording an outcome a context of its own.
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), finishTimeout)
}

// fail counts the attempt as a failure and records an event of kind for the
// account of the email, if it exists.
func (a *attempt) fail(ctx context.Context, kind EventKind) error {
	ctx, cancel := detach(ctx)
	defer cancel()
	_, err := a.db.ExecContext(ctx, a.sql.fail, a.addr, a.email,
		a.limit, ThrottleAddressLimit, ThrottleWindow.Seconds(),
		ThrottleFirstDelay.Seconds(), ThrottleMaxDelay.Seconds(),
		kind, a.client.IP, a.client.UserAgent)
	if err != nil {
		return fmt.Errorf("record failed sign-in attempt: %w", err)
	}
	return nil
}

// succeed ends the account's streak and records an event of kind for
// userID, none when kind is empty. It returns the user's device epoch.
func (a *attempt) succeed(ctx context.Context, userID int64, kind EventKind) (int64, error) {
	ctx, cancel := detach(ctx)
	defer cancel()
	var epoch int64
	err := a.db.QueryRowContext(ctx, a.sql.succeed, a.addr, a.email, ThrottleWindow.Seconds(),
		userID, kind, a.client.IP, a.client.UserAgent).Scan(&epoch)
	if err != nil {
		return 0, fmt.Errorf("record sign-in: %w", err)
	}
	return epoch, nil
}

// abandon ends an attempt that reached no verdict, because something else
// failed; that error is the one worth reporting, so this one is dropped.
func (a *attempt) abandon(ctx context.Context) {
	ctx, cancel := detach(ctx)
	defer cancel()
	_, _ = a.db.ExecContext(ctx, a.sql.abandon, a.addr, a.email)
}

// SignIn is Authenticate under the sign-in throttle. It records the outcome
// in the throttle's counters and in the account's security events: a
// sign-in, or a failed attempt when the email is an account's. While a delay
// runs every attempt is ETOOMANY, with a right password too, and checks no
// password. Unknown emails go through the same statements as known ones.
//
// device is the value of the browser's device cookie, "" when it has none:
// when it is a valid one for the account of email, the attempt is counted
// for that device alone. A sign-in returns a new device cookie for the
// user, to replace the browser's.
func (s *Users) SignIn(ctx context.Context, email, password, device string, c Client) (*User, string, error) {
	if strings.TrimSpace(email) == "" || password == "" {
		return nil, "", errBadCredentials
	}
	row, err := s.deviceRow(ctx, device, throttleEmail(email))
	if err != nil {
		return nil, "", err
	}
	a, err := s.beginAttempt(ctx, email, row, c)
	if err != nil {
		return nil, "", err
	}
	u, err := s.Authenticate(ctx, email, password)
	switch {
	case err == nil:
		// A user with a second factor is not signed in yet: the second
		// step records the sign-in (SignInSecondStep).
		kind := EventSignIn
		if u.SecondFactor {
			kind = ""
		}
		epoch, err := a.succeed(ctx, u.ID, kind)
		if err != nil {
			return nil, "", err
		}
		key, err := s.deviceKey(ctx)
		if err != nil {
			return nil, "", err
		}
		return u, newDeviceCookie(key, u.ID, epoch, time.Now()), nil
	case ErrorCode(err) == EUNAUTHORIZED:
		if err := a.fail(ctx, EventSignInFailed); err != nil {
			return nil, "", err
		}
		return nil, "", err
	}
	a.abandon(ctx)
	return nil, "", err
}

// throttleAddr is the key of a client address: an IPv4 address as it is,
// an IPv6 address by its /64, the block one subscriber usually has, so that
// stepping through the addresses of one block gains nothing.
func throttleAddr(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return clip(strings.ToValidUTF8(strings.ReplaceAll(ip, "\x00", ""), "\uFFFD"), 64)
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		return netip.PrefixFrom(addr, 64).Masked().String()
	}
	return addr.String()
}

// throttleEmail is the email as the throttle keys it (PostgreSQL lower-cases
// it, as the users' unique index does). Text PostgreSQL cannot store is
// replaced, and no email is longer than MaxEmailLength, so neither changes
// an address that could be an account's.
func throttleEmail(email string) string {
	return clip(strings.ToValidUTF8(strings.ReplaceAll(strings.TrimSpace(email), "\x00", "\uFFFD"), "\uFFFD"), MaxEmailLength)
}

// clip cuts s to at most n bytes without splitting a character.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
