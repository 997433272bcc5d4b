package aistat

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
)

// Passkeys (WebAuthn credentials, through github.com/go-webauthn/webauthn):
// a user registers them on the two-step page, signs in with one alone (a
// discoverable credential, so no email is typed), or uses one as the
// second step after the password.
//
// Every ceremony's challenge is kept in passkey_challenges until it is
// answered, for PasskeyChallengeLifetime at most, and taken out by the one
// statement that reads it: an answer to a challenge that expired, was
// answered before, or was issued for another purpose or user is refused.
// The stored signature counter only goes forward: an answer whose counter
// does not (a copy of the passkey used beside the original) disables the
// passkey, which the owner sees in the list and in their security events,
// and is mailed, as when a passkey is added or removed.

// The security events of passkeys.
const (
	EventPasskeyAdded   EventKind = "passkey_added"
	EventPasskeyRemoved EventKind = "passkey_removed"
	// EventPasskeySignIn is a sign-in with a passkey alone.
	EventPasskeySignIn EventKind = "passkey_sign_in"
	// EventPasskeyUsed is a passkey given as the second step.
	EventPasskeyUsed EventKind = "passkey_used"
	// EventPasskeyFailed is an answer whose signature did not verify.
	EventPasskeyFailed EventKind = "passkey_failed"
	// EventPasskeyCloned is a passkey disabled because its counter went
	// backwards.
	EventPasskeyCloned EventKind = "passkey_cloned"
)

// The notices of passkeys, mailed to their owner: a passkey added or
// removed on their account is something to hear of if it was not them.
const (
	MailPasskeyAdded   MailKind = "passkey_added"
	MailPasskeyRemoved MailKind = "passkey_removed"
	MailPasskeyCloned  MailKind = "passkey_cloned"
)

// enqueuePasskeyMail mails the user a notice of kind about their passkey
// named name, in the transaction of the change it tells of.
func enqueuePasskeyMail(ctx context.Context, tx execer, userID int64, kind MailKind, name string) error {
	_, err := tx.ExecContext(ctx, `
		INSERT INTO mail_outbox (kind, recipient, locale, data)
		SELECT $2, email, locale, jsonb_build_object('name', $3::text) FROM users WHERE id = $1`,
		userID, kind, name)
	if err != nil {
		return fmt.Errorf("mail %s to user %d: %w", kind, userID, err)
	}
	return nil
}

const (
	// PasskeyChallengeLifetime is how long a ceremony's challenge can be
	// answered: the browser's own timeout (the library's default, five
	// minutes) and no longer.
	PasskeyChallengeLifetime = 5 * time.Minute
	// MaxPasskeyNameLength is the most Unicode characters a passkey's name
	// has.
	MaxPasskeyNameLength = 40
	// passkeyHandleBytes is the size of a user handle: random, so that it
	// tells an authenticator nothing about the account (WebAuthn §14.6.1).
	passkeyHandleBytes = 32
)

// The purposes a challenge is issued for.
const (
	challengeRegister = "register"
	challengeSignIn   = "sign_in"
	challengeStep     = "second_step"
)

// Messages of refused ceremonies.
const (
	passkeyChallengeGone = "This passkey request has expired or was already used. Try again."
	passkeyUnreadable    = "The passkey's answer could not be read."
	passkeyRefused       = "The passkey could not be verified."
	passkeyUnknown       = "This passkey is not registered for this account."
	passkeyDisabled      = "This passkey was disabled because it looks copied. Sign in another way and add it again."
)

// Passkey is one of a user's passkeys as the settings page lists it.
type Passkey struct {
	ID        int64
	Name      string
	CreatedAt time.Time
	// LastUsedAt is zero for a passkey never used since its registration.
	LastUsedAt time.Time
	// Cloned is set once its counter went backwards: it is disabled.
	Cloned bool
}

// Passkeys runs the WebAuthn ceremonies of the site's users.
type Passkeys struct {
	users *Users
	wa    *webauthn.WebAuthn
}

// NewPasskeys serves passkeys for the site at baseURL (as
// handlers.ParseBaseURL returns it): its host is the relying party's ID and
// the URL its one origin. A host that is an IP address cannot be one
// (browsers refuse it), which is an error.
func NewPasskeys(users *Users, baseURL string) (*Passkeys, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("passkeys: base URL: %w", err)
	}
	wa, err := webauthn.New(&webauthn.Config{
		RPID:          u.Hostname(),
		RPDisplayName: "ai-stat",
		RPOrigins:     []string{baseURL},
	})
	if err != nil {
		return nil, fmt.Errorf("passkeys: %w", err)
	}
	return &Passkeys{users: users, wa: wa}, nil
}

// passkeyUser is a user as the library sees them: the handle and the
// passkeys the ceremony may use.
type passkeyUser struct {
	handle      []byte
	email, name string
	credentials []webauthn.Credential
}

func (u *passkeyUser) WebAuthnID() []byte                         { return u.handle }
func (u *passkeyUser) WebAuthnName() string                       { return u.email }
func (u *passkeyUser) WebAuthnDisplayName() string                { return u.name }
func (u *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.credentials }

var _ webauthn.User = (*passkeyUser)(nil)

// handle is the user's user handle, created with their first ceremony.
func (p *Passkeys) handle(ctx context.Context, userID int64) ([]byte, error) {
	fresh := make([]byte, passkeyHandleBytes)
	_, _ = rand.Read(fresh)
	var handle []byte
	err := p.users.db.QueryRowContext(ctx, `
		WITH created AS (
			INSERT INTO passkey_handles (user_id, handle) VALUES ($1, $2)
			ON CONFLICT (user_id) DO NOTHING RETURNING handle)
		SELECT handle FROM created UNION ALL SELECT handle FROM passkey_handles WHERE user_id = $1
		LIMIT 1`, userID, fresh).Scan(&handle)
	if err != nil {
		return nil, fmt.Errorf("passkey handle of user %d: %w", userID, err)
	}
	return handle, nil
}

// ceremonyUser is the user with their handle and their passkeys that are
// not disabled.
func (p *Passkeys) ceremonyUser(ctx context.Context, u *User) (*passkeyUser, error) {
	handle, err := p.handle(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	rows, err := p.users.db.QueryContext(ctx,
		`SELECT credential, sign_count FROM passkeys WHERE user_id = $1 AND NOT cloned ORDER BY id`, u.ID)
	if err != nil {
		return nil, fmt.Errorf("load passkeys of user %d: %w", u.ID, err)
	}
	defer rows.Close()
	pu := &passkeyUser{handle: handle, email: u.Email, name: u.Name}
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, fmt.Errorf("load passkeys of user %d: %w", u.ID, err)
		}
		pu.credentials = append(pu.credentials, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load passkeys of user %d: %w", u.ID, err)
	}
	return pu, nil
}

// scanCredential reads a stored credential; its counter is the column's,
// which every use moves forward.
func scanCredential(row scanner) (webauthn.Credential, error) {
	var (
		raw   []byte
		count int64
		c     webauthn.Credential
	)
	if err := row.Scan(&raw, &count); err != nil {
		return c, err
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, err
	}
	c.Authenticator.SignCount = uint32(count)
	return c, nil
}

// saveChallenge keeps a ceremony's data for its answer, for the user (0
// for a sign-in, where nobody is known yet), and deletes a batch of
// expired challenges on the way, so that the table holds no more than the
// ceremonies under way.
func (p *Passkeys) saveChallenge(ctx context.Context, purpose string, userID int64, s *webauthn.SessionData) error {
	// As text: with binary_parameters a []byte would reach jsonb as its
	// binary format.
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("save passkey challenge: %w", err)
	}
	_, err = p.users.db.ExecContext(ctx, `
		WITH expired AS (
			DELETE FROM passkey_challenges WHERE challenge IN (
				SELECT challenge FROM passkey_challenges WHERE expires_at < now() LIMIT 100))
		INSERT INTO passkey_challenges (challenge, purpose, user_id, session, expires_at)
		VALUES ($1, $2, nullif($3, 0), $4, now() + make_interval(secs => $5))`,
		s.Challenge, purpose, userID, string(data), PasskeyChallengeLifetime.Seconds())
	if err != nil {
		return fmt.Errorf("save passkey challenge: %w", err)
	}
	return nil
}

// takeChallenge takes out the challenge an answer signed, issued for
// purpose and the user (0 for nobody): it is good once, and only before
// it expires.
func (p *Passkeys) takeChallenge(ctx context.Context, challenge, purpose string, userID int64) (webauthn.SessionData, error) {
	var (
		s     webauthn.SessionData
		data  []byte
		owner sql.NullInt64
		live  bool
	)
	err := p.users.db.QueryRowContext(ctx, `
		DELETE FROM passkey_challenges WHERE challenge = $1 AND purpose = $2
		RETURNING session, user_id, expires_at > now()`, challenge, purpose).Scan(&data, &owner, &live)
	if errors.Is(err, sql.ErrNoRows) {
		return s, passkeyError(passkeyChallengeGone)
	} else if err != nil {
		return s, fmt.Errorf("take passkey challenge: %w", err)
	}
	if !live || owner.Int64 != userID {
		return s, passkeyError(passkeyChallengeGone)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("take passkey challenge: %w", err)
	}
	return s, nil
}

// passkeyError is a refused answer: EINVALID naming "credential", the
// field that carries it.
func passkeyError(msg string) *Error {
	return &Error{Code: EINVALID, Message: msg, Fields: map[string]string{"credential": msg}}
}

// BeginRegistration starts adding a passkey for u: it returns the options
// for the browser's navigator.credentials.create (JSON). The passkey is to
// be discoverable, so that it can sign in alone, and none of u's passkeys
// may be registered again.
func (p *Passkeys) BeginRegistration(ctx context.Context, u *User) (json.RawMessage, error) {
	pu, err := p.ceremonyUser(ctx, u)
	if err != nil {
		return nil, err
	}
	creation, s, err := p.wa.BeginRegistration(pu,
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithExclusions(webauthn.Credentials(pu.credentials).CredentialDescriptors()))
	if err != nil {
		return nil, fmt.Errorf("begin passkey registration: %w", err)
	}
	if err := p.saveChallenge(ctx, challengeRegister, u.ID, s); err != nil {
		return nil, err
	}
	return marshalOptions(creation)
}

func marshalOptions(v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("passkey options: %w", err)
	}
	return b, nil
}

// normalizePasskeyName trims a passkey's name and checks it under the rule
// of a device's name; a passkey must have one.
func normalizePasskeyName(s string) (string, string) {
	s, broken, _ := oneLineText(s, MaxPasskeyNameLength)
	switch broken {
	case textInvalidUTF8:
		return "", "Passkey name must be valid UTF-8 text."
	case textEmpty:
		return "", "Passkey name is required."
	case textTooLong:
		return "", "Passkey name must be at most 40 characters."
	case textControl:
		return "", "Passkey name must not contain control characters."
	case textHidden:
		return "", "Passkey name must not contain invisible or direction-changing characters."
	case textInvisible:
		return "", "Passkey name must have a letter, digit or symbol."
	}
	return s, ""
}

// CheckPasskeyName checks a new passkey's name before its ceremony
// begins: EINVALID naming "name" when it breaks the rule.
func CheckPasskeyName(name string) error {
	if _, msg := normalizePasskeyName(name); msg != "" {
		return &Error{Code: EINVALID, Message: msg, Fields: map[string]string{"name": msg}}
	}
	return nil
}

// FinishRegistration adds the passkey that answers u's registration
// challenge under name. A name that breaks its rule is EINVALID naming
// "name" and leaves the challenge to be answered again; an answer that
// cannot be read, does not verify (the library checks the attestation) or
// answers no live challenge of u's is EINVALID naming "credential".
// Nothing is written either way but the challenge's removal.
func (p *Passkeys) FinishRegistration(ctx context.Context, u *User, name string, credential []byte, c Client) (*Passkey, error) {
	if err := CheckPasskeyName(name); err != nil {
		return nil, err
	}
	name, _ = normalizePasskeyName(name)
	parsed, err := protocol.ParseCredentialCreationResponseBytes(credential)
	if err != nil {
		return nil, passkeyError(passkeyUnreadable)
	}
	s, err := p.takeChallenge(ctx, parsed.Response.CollectedClientData.Challenge, challengeRegister, u.ID)
	if err != nil {
		return nil, err
	}
	pu, err := p.ceremonyUser(ctx, u)
	if err != nil {
		return nil, err
	}
	cred, err := p.wa.CreateCredential(pu, s, parsed)
	if err != nil {
		return nil, passkeyError(passkeyRefused)
	}
	data, err := json.Marshal(cred)
	if err != nil {
		return nil, fmt.Errorf("add passkey: %w", err)
	}
	pk := &Passkey{Name: name}
	err = inTx(ctx, p.users.db, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `
			INSERT INTO passkeys (user_id, credential_id, name, credential, sign_count)
			VALUES ($1, $2, $3, $4, $5) RETURNING id, created_at`,
			u.ID, cred.ID, name, string(data), int64(cred.Authenticator.SignCount)).Scan(&pk.ID, &pk.CreatedAt)
		if err != nil {
			return conflictByIndex(fmt.Errorf("add passkey for user %d: %w", u.ID, err), passkeyConflicts)
		}
		if err := refreshSecondFactor(ctx, tx, u.ID); err != nil {
			return err
		}
		if err := recordEvent(ctx, tx, u.ID, EventPasskeyAdded, c); err != nil {
			return err
		}
		return enqueuePasskeyMail(ctx, tx, u.ID, MailPasskeyAdded, name)
	})
	if err != nil {
		return nil, err
	}
	return pk, nil
}

// passkeyConflicts names the unique index of a passkey registered twice.
var passkeyConflicts = map[string]string{"passkeys_credential_id_key": "This passkey is already registered."}

// Passkeys lists the user's passkeys, oldest first.
func (p *Passkeys) Passkeys(ctx context.Context, userID int64) ([]Passkey, error) {
	rows, err := p.users.db.QueryContext(ctx, `
		SELECT id, name, created_at, last_used_at, cloned
		FROM passkeys WHERE user_id = $1 ORDER BY created_at, id`, userID)
	if err != nil {
		return nil, fmt.Errorf("list passkeys of user %d: %w", userID, err)
	}
	defer rows.Close()
	var list []Passkey
	for rows.Next() {
		var (
			pk   Passkey
			used sql.NullTime
		)
		if err := rows.Scan(&pk.ID, &pk.Name, &pk.CreatedAt, &used, &pk.Cloned); err != nil {
			return nil, fmt.Errorf("list passkeys of user %d: %w", userID, err)
		}
		pk.LastUsedAt = used.Time
		list = append(list, pk)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list passkeys of user %d: %w", userID, err)
	}
	return list, nil
}

// HasPasskey reports whether the user has a passkey that is not disabled:
// a second factor, for the two-step policy.
func (p *Passkeys) HasPasskey(ctx context.Context, userID int64) (bool, error) {
	var has bool
	err := p.users.db.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM passkeys WHERE user_id = $1 AND NOT cloned)`, userID).Scan(&has)
	if err != nil {
		return false, fmt.Errorf("has passkey, user %d: %w", userID, err)
	}
	return has, nil
}

// Remove deletes one of the user's passkeys; another user's, or one that
// does not exist, is ENOTFOUND.
func (p *Passkeys) Remove(ctx context.Context, userID, id int64, c Client) error {
	return inTx(ctx, p.users.db, func(tx *sql.Tx) error {
		var name string
		err := tx.QueryRowContext(ctx, `DELETE FROM passkeys WHERE id = $1 AND user_id = $2 RETURNING name`, id, userID).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return Errorf(ENOTFOUND, "Passkey not found.")
		} else if err != nil {
			return fmt.Errorf("remove passkey %d of user %d: %w", id, userID, err)
		}
		if err := refreshSecondFactor(ctx, tx, userID); err != nil {
			return err
		}
		if err := recordEvent(ctx, tx, userID, EventPasskeyRemoved, c); err != nil {
			return err
		}
		return enqueuePasskeyMail(ctx, tx, userID, MailPasskeyRemoved, name)
	})
}

// BeginSignIn starts a sign-in with a passkey alone: the options for
// navigator.credentials.get (JSON), with no credential listed, so that the
// browser offers the site's discoverable passkeys (in the email field's
// autofill too). The user must be verified (a PIN, a fingerprint): the
// passkey is the only factor.
func (p *Passkeys) BeginSignIn(ctx context.Context) (json.RawMessage, error) {
	assertion, s, err := p.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, fmt.Errorf("begin passkey sign-in: %w", err)
	}
	if err := p.saveChallenge(ctx, challengeSignIn, 0, s); err != nil {
		return nil, err
	}
	return marshalOptions(assertion)
}

// storedPasskey is a passkey as an answer is checked against it.
type storedPasskey struct {
	id, userID int64
	email      string
	cloned     bool
	handle     []byte
	credential webauthn.Credential
}

// byCredentialID loads the passkey of a credential id, ENOTFOUND-like
// refusal (EUNAUTHORIZED) when nobody has it.
func (p *Passkeys) byCredentialID(ctx context.Context, id []byte) (*storedPasskey, error) {
	var sp storedPasskey
	var raw []byte
	var count int64
	err := p.users.db.QueryRowContext(ctx, `
		SELECT k.id, k.user_id, u.email, k.cloned, h.handle, k.credential, k.sign_count
		FROM passkeys k JOIN users u ON u.id = k.user_id JOIN passkey_handles h ON h.user_id = k.user_id
		WHERE k.credential_id = $1`, id).Scan(&sp.id, &sp.userID, &sp.email, &sp.cloned, &sp.handle, &raw, &count)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, Errorf(EUNAUTHORIZED, passkeyUnknown)
	} else if err != nil {
		return nil, fmt.Errorf("load passkey: %w", err)
	}
	if err := json.Unmarshal(raw, &sp.credential); err != nil {
		return nil, fmt.Errorf("load passkey %d: %w", sp.id, err)
	}
	sp.credential.Authenticator.SignCount = uint32(count)
	return &sp, nil
}

// SignIn signs a user in with a passkey alone, answering a challenge of
// BeginSignIn, as Users.SignIn does with a password: under the sign-in
// throttle of the passkey's account (an answer that does not verify
// counts as a failed attempt), recording the sign-in, and returning a new
// device cookie. A passkey nobody has is EUNAUTHORIZED; a disabled passkey
// EFORBIDDEN, as is one whose counter went backwards now, which disables
// it; a disabled account EFORBIDDEN too.
func (p *Passkeys) SignIn(ctx context.Context, credential []byte, device string, c Client) (*User, string, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
	if err != nil {
		return nil, "", passkeyError(passkeyUnreadable)
	}
	s, err := p.takeChallenge(ctx, parsed.Response.CollectedClientData.Challenge, challengeSignIn, 0)
	if err != nil {
		return nil, "", err
	}
	sp, err := p.byCredentialID(ctx, parsed.RawID)
	if err != nil {
		return nil, "", err
	}
	if sp.cloned {
		return nil, "", Errorf(EFORBIDDEN, passkeyDisabled)
	}
	row, err := p.users.deviceRow(ctx, device, throttleEmail(sp.email))
	if err != nil {
		return nil, "", err
	}
	a, err := p.users.beginAttempt(ctx, sp.email, row, c)
	if err != nil {
		return nil, "", err
	}
	pu := &passkeyUser{handle: sp.handle, email: sp.email, credentials: []webauthn.Credential{sp.credential}}
	_, cred, err := p.wa.ValidatePasskeyLogin(func(rawID, userHandle []byte) (webauthn.User, error) {
		if !bytes.Equal(rawID, sp.credential.ID) {
			return nil, errors.New("another credential")
		}
		return pu, nil
	}, s, parsed)
	if err != nil {
		if err := a.fail(ctx, EventPasskeyFailed); err != nil {
			return nil, "", err
		}
		return nil, "", Errorf(EUNAUTHORIZED, passkeyRefused)
	}
	if err := p.used(ctx, sp, cred, c); err != nil {
		a.abandon(ctx)
		return nil, "", err
	}
	u, err := p.users.ByID(ctx, sp.userID)
	if err != nil {
		a.abandon(ctx)
		return nil, "", err
	}
	if u.Disabled {
		a.abandon(ctx)
		return nil, "", errDisabled
	}
	epoch, err := a.succeed(ctx, u.ID, EventPasskeySignIn)
	if err != nil {
		return nil, "", err
	}
	key, err := p.users.deviceKey(ctx)
	if err != nil {
		return nil, "", err
	}
	return u, newDeviceCookie(key, u.ID, epoch, time.Now()), nil
}

// used records a verified answer of the passkey: its new counter and when
// it was used. A counter that did not go forward disables the passkey
// (EFORBIDDEN), which the owner's security events tell; so does a
// counter some other answer moved meanwhile, for both cannot be the
// genuine passkey's.
func (p *Passkeys) used(ctx context.Context, sp *storedPasskey, cred *webauthn.Credential, c Client) error {
	if !cred.Authenticator.CloneWarning {
		res, err := p.users.db.ExecContext(ctx, `
			UPDATE passkeys SET sign_count = $3, last_used_at = now()
			WHERE id = $1 AND sign_count = $2 AND NOT cloned`,
			sp.id, int64(sp.credential.Authenticator.SignCount), int64(cred.Authenticator.SignCount))
		if err != nil {
			return fmt.Errorf("record use of passkey %d: %w", sp.id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("record use of passkey %d: %w", sp.id, err)
		} else if n == 1 {
			return nil
		}
	}
	// Disabled whatever the request's fate: the detached context.
	dctx, cancel := detach(ctx)
	defer cancel()
	err := inTx(dctx, p.users.db, func(tx *sql.Tx) error {
		var name string
		err := tx.QueryRowContext(dctx, `UPDATE passkeys SET cloned = true WHERE id = $1 AND NOT cloned RETURNING name`, sp.id).Scan(&name)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // disabled already, and told
		} else if err != nil {
			return fmt.Errorf("disable passkey %d: %w", sp.id, err)
		}
		if err := refreshSecondFactor(dctx, tx, sp.userID); err != nil {
			return err
		}
		if err := recordEvent(dctx, tx, sp.userID, EventPasskeyCloned, c); err != nil {
			return err
		}
		return enqueuePasskeyMail(dctx, tx, sp.userID, MailPasskeyCloned, name)
	})
	if err != nil {
		return err
	}
	return Errorf(EFORBIDDEN, passkeyDisabled)
}

// BeginStep starts the passkey second step of the user whose password was
// right: the options for navigator.credentials.get (JSON) listing the
// user's passkeys that are not disabled. A user without one is ENOTFOUND.
func (p *Passkeys) BeginStep(ctx context.Context, u *User) (json.RawMessage, error) {
	pu, err := p.ceremonyUser(ctx, u)
	if err != nil {
		return nil, err
	}
	if len(pu.credentials) == 0 {
		return nil, Errorf(ENOTFOUND, "You have no passkey.")
	}
	assertion, s, err := p.wa.BeginLogin(pu)
	if err != nil {
		return nil, fmt.Errorf("begin passkey step: %w", err)
	}
	if err := p.saveChallenge(ctx, challengeStep, u.ID, s); err != nil {
		return nil, err
	}
	return marshalOptions(assertion)
}

// VerifyStep checks the user's answer to their BeginStep challenge: it
// must be signed by one of the user's passkeys that is not disabled, and
// move its counter forward (else the passkey is disabled). A passkey of
// another user, or of nobody, is EUNAUTHORIZED; a refused answer is
// EUNAUTHORIZED and in the user's security events; a challenge that
// expired or was used before is EINVALID naming "credential". It records
// the passkey's use, and nothing else: the caller signs the user in.
func (p *Passkeys) VerifyStep(ctx context.Context, u *User, credential []byte, c Client) error {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(credential)
	if err != nil {
		return passkeyError(passkeyUnreadable)
	}
	// An attempt under the sign-in throttle, as a code's second step is:
	// an answer that does not verify is a failed sign-in of the account.
	a, err := p.users.beginAttempt(ctx, u.Email, "", c)
	if err != nil {
		return err
	}
	ended := false
	defer func() {
		if !ended {
			a.abandon(ctx)
		}
	}()
	s, err := p.takeChallenge(ctx, parsed.Response.CollectedClientData.Challenge, challengeStep, u.ID)
	if err != nil {
		return err
	}
	sp, err := p.byCredentialID(ctx, parsed.RawID)
	if ErrorCode(err) == EUNAUTHORIZED {
		// Nobody's passkey: an answer for this account that is wrong.
		sp, err = &storedPasskey{}, nil
	}
	if err != nil {
		return err
	}
	if sp.userID == u.ID && sp.cloned {
		return Errorf(EFORBIDDEN, passkeyDisabled)
	}
	var cred *webauthn.Credential
	if sp.userID == u.ID {
		pu, err := p.ceremonyUser(ctx, u)
		if err != nil {
			return err
		}
		cred, err = p.wa.ValidateLogin(pu, s, parsed)
		if err != nil {
			cred = nil
		}
	}
	if cred == nil {
		// Another user's passkey, or an answer that does not verify.
		ended = true
		if err := a.fail(ctx, EventPasskeyFailed); err != nil {
			return err
		}
		if sp.userID != u.ID {
			return Errorf(EUNAUTHORIZED, passkeyUnknown)
		}
		return Errorf(EUNAUTHORIZED, passkeyRefused)
	}
	if err := p.used(ctx, sp, cred, c); err != nil {
		return err
	}
	ended = true
	if _, err := a.succeed(ctx, u.ID, EventSignIn); err != nil {
		return err
	}
	return recordEvent(ctx, p.users.db, u.ID, EventPasskeyUsed, c)
}
