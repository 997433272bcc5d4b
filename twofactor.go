package aistat

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// Second factors: an authenticator app (TOTP, RFC 6238) and its recovery
// codes. A user with one signs in in two steps (a login challenge between
// them), and gives it again with their password to re-authenticate.

// RecoveryCodeCount is how many recovery codes a user gets at a time.
const RecoveryCodeCount = 10

// totpOptions are the codes every authenticator app computes by default:
// six digits every 30 seconds, HMAC-SHA1.
var totpOptions = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// TwoFactor is what the settings page shows of a user's second factors.
type TwoFactor struct {
	// TOTPEnabled is whether an authenticator app is confirmed.
	TOTPEnabled bool
	// Pending is the key of the enrolment waiting for its first code, nil
	// when the app is enabled.
	Pending *otp.Key
	// RecoveryLeft is the number of recovery codes not used yet.
	RecoveryLeft int
}

// TwoFactor returns u's second factors. Without a confirmed app it returns
// the key of an enrolment, which it creates when there is none: the key
// stays the same until it is confirmed, so a reload shows the key the app
// already scanned. issuer names the site in the app (its host).
func (s *Users) TwoFactor(ctx context.Context, u *User, issuer string) (TwoFactor, error) {
	var tf TwoFactor
	var secret string
	err := s.db.QueryRowContext(ctx, `
		SELECT t.secret, t.confirmed_at IS NOT NULL,
		       (SELECT count(*) FROM recovery_codes r WHERE r.user_id = t.user_id AND r.used_at IS NULL)
		FROM totp_secrets t WHERE t.user_id = $1`, u.ID).Scan(&secret, &tf.TOTPEnabled, &tf.RecoveryLeft)
	if errors.Is(err, sql.ErrNoRows) {
		fresh, gerr := newTOTPSecret()
		if gerr != nil {
			return tf, gerr
		}
		// Two loads at once keep the first one's key.
		err = s.db.QueryRowContext(ctx, `
			WITH new AS (INSERT INTO totp_secrets (user_id, secret) VALUES ($1, $2) ON CONFLICT (user_id) DO NOTHING RETURNING secret)
			SELECT secret FROM new UNION ALL SELECT secret FROM totp_secrets WHERE user_id = $1 LIMIT 1`,
			u.ID, fresh).Scan(&secret)
	}
	if err != nil {
		return tf, fmt.Errorf("load second factors of user %d: %w", u.ID, err)
	}
	if tf.TOTPEnabled {
		return tf, nil
	}
	tf.Pending, err = totpKey(secret, issuer, u.Email)
	return tf, err
}

// newTOTPSecret is a new key of 160 bits, RFC 4226's recommendation, in the
// base32 apps are given.
func newTOTPSecret() (string, error) {
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new totp secret: %w", err)
	}
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b), nil
}

// totpKey is the stored secret as the key an app is given.
func totpKey(secret, issuer, account string) (*otp.Key, error) {
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		return nil, fmt.Errorf("decode totp secret: %w", err)
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: account, Secret: raw,
		Period: totpOptions.Period, Digits: totpOptions.Digits, Algorithm: totpOptions.Algorithm})
	if err != nil {
		return nil, fmt.Errorf("totp key: %w", err)
	}
	return key, nil
}

// totpCode is a submitted authenticator code without the spaces apps show
// in its middle, ok false when it is not six digits.
func totpCode(code string) (string, bool) {
	code = strings.Join(strings.Fields(code), "")
	if len(code) != 6 {
		return "", false
	}
	for _, c := range code {
		if c < '0' || c > '9' {
			return "", false
		}
	}
	return code, true
}

// totpStep is the time step after lastStep whose code is code, one step of
// clock drift either way accepted; ok false when none is.
func totpStep(secret, code string, now time.Time, lastStep int64) (step int64, ok bool) {
	current := now.Unix() / int64(totpOptions.Period)
	for _, s := range []int64{current - 1, current, current + 1} {
		if s <= lastStep {
			continue
		}
		want, err := totp.GenerateCodeCustom(secret, time.Unix(s*int64(totpOptions.Period), 0), totpOptions)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return s, true
		}
	}
	return 0, false
}

var (
	errCodeMissing = invalid(map[string]string{"code": "Enter the code from your authenticator app, or a recovery code."})
	errCodeFormat  = invalid(map[string]string{"code": "Enter the 6-digit code from your authenticator app."})
	errCodeWrong   = invalid(map[string]string{"code": "This code is not right, or it was already used."})
	errNoEnrolment = invalid(map[string]string{"code": "Open the page again: it shows a new key to scan."})
	errTOTPOff     = Errorf(ECONFLICT, "The authenticator app is not enabled.")
	errNoFactor    = Errorf(ECONFLICT, "This user has no second factor to reset.")
)

// ConfirmTOTP enables u's authenticator app when code is the app's current
// one for the pending key, and returns the user's new recovery codes, shown
// only this once. A wrong code is EINVALID naming code and changes nothing.
func (s *Users) ConfirmTOTP(ctx context.Context, u *User, code string, c Client) ([]string, error) {
	code, ok := totpCode(code)
	if !ok {
		return nil, errCodeFormat
	}
	var codes []string
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		var secret string
		var confirmed bool
		err := tx.QueryRowContext(ctx, `SELECT secret, confirmed_at IS NOT NULL FROM totp_secrets WHERE user_id = $1 FOR UPDATE`, u.ID).Scan(&secret, &confirmed)
		if errors.Is(err, sql.ErrNoRows) || confirmed {
			return errNoEnrolment
		} else if err != nil {
			return fmt.Errorf("load totp enrolment of user %d: %w", u.ID, err)
		}
		step, ok := totpStep(secret, code, time.Now(), 0)
		if !ok {
			return errCodeWrong
		}
		if _, err := tx.ExecContext(ctx, `UPDATE totp_secrets SET confirmed_at = now(), last_step = $2 WHERE user_id = $1`, u.ID, step); err != nil {
			return fmt.Errorf("confirm totp of user %d: %w", u.ID, err)
		}
		if codes, err = replaceRecoveryCodes(ctx, tx, u.ID); err != nil {
			return err
		}
		return s.factorChanged(ctx, tx, u, EventTOTPEnabled, MailTOTPEnabled, c)
	})
	return codes, err
}

// DisableTOTP removes u's authenticator app and its recovery codes.
func (s *Users) DisableTOTP(ctx context.Context, u *User, c Client) error {
	return inTx(ctx, s.db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM totp_secrets WHERE user_id = $1 AND confirmed_at IS NOT NULL`, u.ID)
		if err != nil {
			return fmt.Errorf("disable totp of user %d: %w", u.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("disable totp of user %d: %w", u.ID, err)
		} else if n == 0 {
			return errTOTPOff
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, u.ID); err != nil {
			return fmt.Errorf("delete recovery codes of user %d: %w", u.ID, err)
		}
		return s.factorChanged(ctx, tx, u, EventTOTPDisabled, MailTOTPDisabled, c)
	})
}

// RenewRecoveryCodes replaces u's recovery codes with new ones, returned to
// be shown once; the old ones stop working.
func (s *Users) RenewRecoveryCodes(ctx context.Context, u *User, c Client) ([]string, error) {
	var codes []string
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		var enabled bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM totp_secrets WHERE user_id = $1 AND confirmed_at IS NOT NULL)`, u.ID).Scan(&enabled); err != nil {
			return fmt.Errorf("load totp of user %d: %w", u.ID, err)
		}
		if !enabled {
			return errTOTPOff
		}
		var err error
		if codes, err = replaceRecoveryCodes(ctx, tx, u.ID); err != nil {
			return err
		}
		if err := recordEvent(ctx, tx, u.ID, EventRecoveryCodesRenewed, c); err != nil {
			return err
		}
		return enqueueMail(ctx, tx, noticeTo(u, MailRecoveryCodesRenewed, nil))
	})
	return codes, err
}

// factorChanged brings the user's second_factor up to date after one of
// their factors came or went, and records and mails the change.
func (s *Users) factorChanged(ctx context.Context, tx *sql.Tx, u *User, kind EventKind, mail MailKind, c Client) error {
	if err := refreshSecondFactor(ctx, tx, u.ID); err != nil {
		return err
	}
	if err := recordEvent(ctx, tx, u.ID, kind, c); err != nil {
		return err
	}
	return enqueueMail(ctx, tx, noticeTo(u, mail, nil))
}

// HasAuthenticatorApp reports whether the user has confirmed an
// authenticator app, whose codes (or the recovery codes) a sign-in's
// second step and a re-authentication may ask for; a user whose second
// factors are passkeys alone has none.
func (s *Users) HasAuthenticatorApp(ctx context.Context, userID int64) (bool, error) {
	var has bool
	err := s.db.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM totp_secrets WHERE user_id = $1 AND confirmed_at IS NOT NULL)`, userID).Scan(&has)
	if err != nil {
		return false, fmt.Errorf("authenticator app of user %d: %w", userID, err)
	}
	return has, nil
}

// refreshSecondFactor sets users.second_factor from the factors the user
// has: the one place that says what counts as a second factor, an
// authenticator app that was confirmed or a passkey not disabled as copied.
func refreshSecondFactor(ctx context.Context, tx *sql.Tx, userID int64) error {
	if _, err := tx.ExecContext(ctx, `
		UPDATE users SET second_factor =
			EXISTS (SELECT 1 FROM totp_secrets WHERE user_id = $1 AND confirmed_at IS NOT NULL) OR
			EXISTS (SELECT 1 FROM passkeys WHERE user_id = $1 AND NOT cloned)
		WHERE id = $1`, userID); err != nil {
		return fmt.Errorf("refresh second factor of user %d: %w", userID, err)
	}
	return nil
}

// recoveryAlphabet is what recovery codes are made of: lowercase letters
// and digits, 36 symbols, so ten of them carry 51 bits.
const recoveryAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// newRecoveryCode is a random code of the form xxxxx-xxxxx.
func newRecoveryCode() (string, error) {
	var b strings.Builder
	buf := make([]byte, 1)
	for b.Len() < 11 {
		if b.Len() == 5 {
			b.WriteByte('-')
			continue
		}
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("new recovery code: %w", err)
		}
		// 252 is the largest multiple of 36 a byte holds: no symbol is
		// likelier than another.
		if buf[0] < 252 {
			b.WriteByte(recoveryAlphabet[buf[0]%36])
		}
	}
	return b.String(), nil
}

// recoveryHash is what is stored of a recovery code as typed: lowercase,
// spaces gone, the dash where it belongs. The codes carry 51 random bits,
// so a plain SHA-256 leaves nothing to guess from.
func recoveryHash(code string) []byte {
	code = strings.ToLower(strings.Join(strings.Fields(code), ""))
	if len(code) == 10 {
		code = code[:5] + "-" + code[5:]
	}
	h := sha256.Sum256([]byte(code))
	return h[:]
}

// replaceRecoveryCodes gives the user RecoveryCodeCount new codes in place
// of their old ones.
func replaceRecoveryCodes(ctx context.Context, tx *sql.Tx, userID int64) ([]string, error) {
	if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, userID); err != nil {
		return nil, fmt.Errorf("delete recovery codes of user %d: %w", userID, err)
	}
	codes := make([]string, RecoveryCodeCount)
	hashes := make([][]byte, RecoveryCodeCount)
	for i := range codes {
		code, err := newRecoveryCode()
		if err != nil {
			return nil, err
		}
		codes[i], hashes[i] = code, recoveryHash(code)
	}
	for _, h := range hashes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2) ON CONFLICT DO NOTHING`, userID, h); err != nil {
			return nil, fmt.Errorf("store recovery codes of user %d: %w", userID, err)
		}
	}
	return codes, nil
}

// useSecondFactor spends code, an authenticator code or a recovery code of
// u: an app's code only for a time step after the last one accepted (no
// code counts twice), a recovery code only once. It reports whether code
// was good; a recovery code used is recorded and mailed.
func (s *Users) useSecondFactor(ctx context.Context, u *User, code string, c Client) (bool, error) {
	if digits, ok := totpCode(code); ok {
		var secret string
		var last int64
		err := s.db.QueryRowContext(ctx, `SELECT secret, last_step FROM totp_secrets WHERE user_id = $1 AND confirmed_at IS NOT NULL`, u.ID).Scan(&secret, &last)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		} else if err != nil {
			return false, fmt.Errorf("load totp of user %d: %w", u.ID, err)
		}
		step, ok := totpStep(secret, digits, time.Now(), last)
		if !ok {
			return false, nil
		}
		// Only over a lower step: of two requests with one code, one wins.
		res, err := s.db.ExecContext(ctx, `UPDATE totp_secrets SET last_step = $2 WHERE user_id = $1 AND last_step < $2`, u.ID, step)
		if err != nil {
			return false, fmt.Errorf("record totp step of user %d: %w", u.ID, err)
		}
		n, err := res.RowsAffected()
		return n == 1, err
	}
	used := false
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE recovery_codes SET used_at = now() WHERE user_id = $1 AND code_hash = $2 AND used_at IS NULL`,
			u.ID, recoveryHash(code))
		if err != nil {
			return fmt.Errorf("use recovery code of user %d: %w", u.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		used = true
		var left int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM recovery_codes WHERE user_id = $1 AND used_at IS NULL`, u.ID).Scan(&left); err != nil {
			return fmt.Errorf("count recovery codes of user %d: %w", u.ID, err)
		}
		if err := recordEvent(ctx, tx, u.ID, EventRecoveryCodeUsed, c); err != nil {
			return err
		}
		return enqueueMail(ctx, tx, noticeTo(u, MailRecoveryCodeUsed, map[string]string{"left": strconv.Itoa(left)}))
	})
	return used, err
}

// SignInSecondStep completes the sign-in of u, whose password was right,
// with code (an authenticator code or a recovery code), under the sign-in
// throttle: a wrong code counts as a failed attempt (EINVALID naming code),
// and during a delay every code is ETOOMANY. device is the browser's device
// cookie, as for SignIn: the sign-in is recorded here, and a browser
// without one is mailed about.
func (s *Users) SignInSecondStep(ctx context.Context, u *User, code, device string, c Client) error {
	if strings.TrimSpace(code) == "" {
		return errCodeMissing
	}
	row, err := s.deviceRow(ctx, device, throttleEmail(u.Email))
	if err != nil {
		return err
	}
	a, err := s.beginAttempt(ctx, u.Email, row, c)
	if err != nil {
		return err
	}
	ok, err := s.useSecondFactor(ctx, u, code, c)
	if err != nil {
		a.abandon(ctx)
		return err
	}
	if !ok {
		if err := a.fail(ctx, EventSecondFactorFailed); err != nil {
			return err
		}
		return errCodeWrong
	}
	_, err = a.succeed(ctx, u.ID, EventSignIn)
	return err
}

// Reauthenticate checks, under the sign-in throttle, that the signed-in u
// is who they say: their password and, when they have an authenticator
// app, its code (or a recovery code). A wrong answer is EINVALID naming the
// field (password or code) and a failed attempt.
func (s *Users) Reauthenticate(ctx context.Context, u *User, password, code string, c Client) error {
	var hash string
	var hasTOTP bool
	err := s.db.QueryRowContext(ctx, `
		SELECT password_hash, EXISTS (SELECT 1 FROM totp_secrets WHERE user_id = $1 AND confirmed_at IS NOT NULL)
		FROM users WHERE id = $1`, u.ID).Scan(&hash, &hasTOTP)
	if errors.Is(err, sql.ErrNoRows) {
		return Errorf(ENOTFOUND, "User not found.")
	} else if err != nil {
		return fmt.Errorf("load password of user %d: %w", u.ID, err)
	}
	if password == "" {
		return invalid(map[string]string{"password": "Enter your password."})
	}
	if hasTOTP && strings.TrimSpace(code) == "" {
		return errCodeMissing
	}
	a, err := s.beginAttempt(ctx, u.Email, "", c)
	if err != nil {
		return err
	}
	ok, err := s.matches(ctx, hash, password)
	if err == nil && ok && hasTOTP {
		ok, err = s.useSecondFactor(ctx, u, code, c)
		if err == nil && !ok {
			if err := a.fail(ctx, EventReauthFailed); err != nil {
				return err
			}
			return errCodeWrong
		}
	}
	if err != nil {
		a.abandon(ctx)
		return err
	}
	if !ok {
		if err := a.fail(ctx, EventReauthFailed); err != nil {
			return err
		}
		return invalid(map[string]string{"password": "This is not your password."})
	}
	_, err = a.succeed(ctx, u.ID, "")
	return err
}

// LoginChallenge is a sign-in waiting for its second step.
type LoginChallenge struct {
	User *User
	// Remember and Next are the sign-in form's "Keep me signed in" and
	// where it was going.
	Remember bool
	Next     string
}

// CreateLoginChallenge records that u gave the right password and is to
// give a second factor within ttl; the returned token, which the browser
// keeps, names it. No session exists until then.
func (s *Users) CreateLoginChallenge(ctx context.Context, u *User, remember bool, next string, ttl time.Duration) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("new login challenge: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(token))
	if _, err := s.db.ExecContext(ctx, `
		INSERT INTO login_challenges (token_hash, user_id, remember, next, expires_at)
		VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))`,
		h[:], u.ID, remember, next, ttl.Seconds()); err != nil {
		return "", fmt.Errorf("create login challenge of user %d: %w", u.ID, err)
	}
	return token, nil
}

// errChallengeGone is the answer for a login challenge that expired, was
// used, or never was.
var errChallengeGone = Errorf(ENOTFOUND, "This sign-in has expired. Sign in again.")

// FindLoginChallenge returns the unexpired login challenge of token, with
// its user as of now (ENOTFOUND when there is none or the user is
// disabled).
func (s *Users) FindLoginChallenge(ctx context.Context, token string) (*LoginChallenge, error) {
	if token == "" {
		return nil, errChallengeGone
	}
	h := sha256.Sum256([]byte(token))
	var lc LoginChallenge
	u, err := scanUser(s.db.QueryRowContext(ctx, `
		SELECT `+uUserColumns+`, c.remember, c.next
		FROM login_challenges c JOIN users u ON u.id = c.user_id
		WHERE c.token_hash = $1 AND c.expires_at > now() AND NOT u.disabled`, h[:]), &lc.Remember, &lc.Next)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errChallengeGone
	} else if err != nil {
		return nil, fmt.Errorf("find login challenge: %w", err)
	}
	lc.User = u
	return &lc, nil
}

// EndLoginChallenge deletes the login challenge of token, used or given up.
func (s *Users) EndLoginChallenge(ctx context.Context, token string) error {
	h := sha256.Sum256([]byte(token))
	if _, err := s.db.ExecContext(ctx, `DELETE FROM login_challenges WHERE token_hash = $1`, h[:]); err != nil {
		return fmt.Errorf("end login challenge: %w", err)
	}
	return nil
}

// ResetSecondFactors removes every second factor of the target user on
// behalf of actor, an admin, for someone who lost them: the user signs in
// with their password alone until they set one up again. Audited, in the
// user's security events, and mailed to them. A user without a second
// factor is ECONFLICT.
func (s *Users) ResetSecondFactors(ctx context.Context, actorID, targetID int64) error {
	return s.adminChange(ctx, actorID, targetID, func(tx *sql.Tx, target *User) error {
		if !target.SecondFactor {
			return errNoFactor
		}
		for _, q := range []string{`DELETE FROM totp_secrets WHERE user_id = $1`, `DELETE FROM recovery_codes WHERE user_id = $1`, `DELETE FROM passkeys WHERE user_id = $1`} {
			if _, err := tx.ExecContext(ctx, q, target.ID); err != nil {
				return fmt.Errorf("reset second factors of user %d: %w", target.ID, err)
			}
		}
		if err := s.factorChanged(ctx, tx, target, EventSecondFactorsReset, MailSecondFactorsReset, Client{}); err != nil {
			return err
		}
		return audit(ctx, tx, actorID, AuditSecondFactorsReset, target, "")
	})
}
