package aistat

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Device cookies, after OWASP's "Slow Down Online Guessing Attacks with
// Device Cookies": a browser that signed in to an account holds a signed
// cookie naming that account, and its attempts on that account are counted
// for the device alone. Guessing from the same address (an office, a NAT, a
// proxy) then never locks out the people who have signed in there before,
// while a guesser without a cookie meets the address's and the account's
// limits as before.
//
// The cookie holds the user id, when it was issued and a random nonce, with
// an HMAC-SHA256 over them and the user's device_epoch, which the schema
// bumps whenever the password hash changes: a password change (or a reset)
// invalidates every device cookie of the account. The key lives in the
// database, so every instance signs and checks with the same one and a
// restart keeps the cookies valid.
const (
	// ThrottleDeviceLimit is how many consecutive failures a browser with a
	// device cookie may have on its account before its own delay.
	ThrottleDeviceLimit = 5
	// DeviceCookieLifetime is how long a device cookie is honoured after it
	// was issued; every sign-in issues a new one.
	DeviceCookieLifetime = 365 * 24 * time.Hour
)

const (
	deviceKeyBytes   = 32
	deviceNonceBytes = 16
	// deviceVersion starts every cookie value, so that a later format can
	// tell its own from these.
	deviceVersion = "d1."
	// devicePayload is the user id and issue time (8 bytes each) and the
	// nonce; the MAC follows.
	devicePayload = 8 + 8 + deviceNonceBytes
	// deviceAddrPrefix marks a device's throttle row: its addr is the
	// prefix and the nonce, which no client address can be.
	deviceAddrPrefix = "device:"
)

// ensureDeviceKey creates the signing key on the first migration and keeps
// the one there after that. It is generated here, not in SQL, because
// gen_random_bytes needs pgcrypto, which a server may not have.
func ensureDeviceKey(ctx context.Context, tx *sql.Tx) error {
	key := make([]byte, deviceKeyBytes)
	// crypto/rand never returns an error: it crashes the program instead.
	_, _ = rand.Read(key)
	if _, err := tx.ExecContext(ctx, `INSERT INTO device_key (key) VALUES ($1) ON CONFLICT DO NOTHING`, key); err != nil {
		return fmt.Errorf("create device cookie key: %w", err)
	}
	return nil
}

// LoadDeviceKey reads the device cookies' signing key. The site calls it
// at start-up so that a missing key fails there; otherwise the first
// sign-in reads it.
func (s *Users) LoadDeviceKey(ctx context.Context) error {
	_, err := s.deviceKey(ctx)
	return err
}

// deviceKey is the signing key, read once.
func (s *Users) deviceKey(ctx context.Context) ([]byte, error) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	if s.key != nil {
		return s.key, nil
	}
	var key []byte
	if err := s.db.QueryRowContext(ctx, `SELECT key FROM device_key`).Scan(&key); err != nil {
		return nil, fmt.Errorf("load device cookie key: %w", err)
	}
	if len(key) < deviceKeyBytes {
		return nil, errors.New("load device cookie key: key too short")
	}
	s.key = key
	return key, nil
}

// deviceClaim is a device cookie's content before it is checked against
// the account.
type deviceClaim struct {
	userID int64
	issued int64
	nonce  []byte
	mac    []byte
}

// parseDeviceCookie reads a cookie value; ok is false for anything that
// cannot be one of ours.
func parseDeviceCookie(v string) (deviceClaim, bool) {
	rest, ok := strings.CutPrefix(v, deviceVersion)
	if !ok || len(rest) != base64.RawURLEncoding.EncodedLen(devicePayload+sha256.Size) {
		return deviceClaim{}, false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(rest)
	if err != nil || len(b) != devicePayload+sha256.Size {
		return deviceClaim{}, false
	}
	return deviceClaim{
		userID: int64(binary.BigEndian.Uint64(b[0:8])),
		issued: int64(binary.BigEndian.Uint64(b[8:16])),
		nonce:  b[16:devicePayload],
		mac:    b[devicePayload:],
	}, true
}

// deviceMAC signs a cookie's content together with the user's epoch.
func deviceMAC(key []byte, userID, issued int64, nonce []byte, epoch int64) []byte {
	m := hmac.New(sha256.New, key)
	var b [8]byte
	m.Write([]byte(deviceVersion))
	binary.BigEndian.PutUint64(b[:], uint64(userID))
	m.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(issued))
	m.Write(b[:])
	m.Write(nonce)
	binary.BigEndian.PutUint64(b[:], uint64(epoch))
	m.Write(b[:])
	return m.Sum(nil)
}

// newDeviceCookie is a fresh cookie value for the user at its epoch.
func newDeviceCookie(key []byte, userID, epoch int64, now time.Time) string {
	b := make([]byte, devicePayload, devicePayload+sha256.Size)
	binary.BigEndian.PutUint64(b[0:8], uint64(userID))
	binary.BigEndian.PutUint64(b[8:16], uint64(now.Unix()))
	_, _ = rand.Read(b[16:devicePayload])
	b = append(b, deviceMAC(key, userID, now.Unix(), b[16:devicePayload], epoch)...)
	return deviceVersion + base64.RawURLEncoding.EncodeToString(b)
}

// deviceRow is the throttle key of the browser's device cookie when it is
// a valid one for the account of email, "" otherwise: a cookie that is
// garbled, forged, expired, another account's, or older than the account's
// latest password change counts as none. Only a cookie of the right form
// and age costs a query: the epoch its MAC covers is the user's.
func (s *Users) deviceRow(ctx context.Context, cookie, email string) (string, error) {
	claim, ok := parseDeviceCookie(cookie)
	if !ok {
		return "", nil
	}
	issued := time.Unix(claim.issued, 0)
	if now := time.Now(); issued.After(now.Add(time.Minute)) || now.Sub(issued) > DeviceCookieLifetime {
		return "", nil
	}
	key, err := s.deviceKey(ctx)
	if err != nil {
		return "", err
	}
	var epoch int64
	err = s.db.QueryRowContext(ctx, `SELECT device_epoch FROM users WHERE id = $1 AND lower(email) = lower($2)`,
		claim.userID, email).Scan(&epoch)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	} else if err != nil {
		return "", fmt.Errorf("check device cookie: %w", err)
	}
	if !hmac.Equal(claim.mac, deviceMAC(key, claim.userID, claim.issued, claim.nonce, epoch)) {
		return "", nil
	}
	return deviceAddrPrefix + base64.RawURLEncoding.EncodeToString(claim.nonce), nil
}

// NewDeviceCookie is a fresh device cookie for the user as of now, for the
// browser that has just changed the user's password: the change made its
// old one worthless.
func (s *Users) NewDeviceCookie(ctx context.Context, userID int64) (string, error) {
	key, err := s.deviceKey(ctx)
	if err != nil {
		return "", err
	}
	var epoch int64
	err = s.db.QueryRowContext(ctx, `SELECT device_epoch FROM users WHERE id = $1`, userID).Scan(&epoch)
	if errors.Is(err, sql.ErrNoRows) {
		return "", Errorf(ENOTFOUND, "User not found.")
	} else if err != nil {
		return "", fmt.Errorf("device cookie for user %d: %w", userID, err)
	}
	return newDeviceCookie(key, userID, epoch, time.Now()), nil
}
