package aistat

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// adminLockID is the advisory lock every change that can remove an admin
// takes, so that two admins demoting each other at once are serialised and
// the second sees the first's result.
const adminLockID = 7_316_240_102

// UserSummary is a user as the admin page lists them.
type UserSummary struct {
	User           User
	ActiveSessions int
	// LastActive is the latest activity of any unexpired session, zero when
	// the user has none.
	LastActive time.Time
}

// NewUser is what it takes to create an account.
type NewUser struct {
	Email    string
	Name     string
	Role     Role
	Password string
}

// DemoUsers are the accounts a demo site starts with. Their passwords are
// the seed's own and are exempt from the password rule.
var DemoUsers = []NewUser{
	{Email: "admin@ai-stat.ru", Name: "Администратор", Role: RoleAdmin, Password: "admin123"},
	{Email: "editor@ai-stat.ru", Name: "Сара Чен", Role: RoleEditor, Password: "editor123"},
	{Email: "viewer@ai-stat.ru", Name: "Viewer", Role: RoleViewer, Password: "viewer123"},
}

// Users stores accounts in PostgreSQL.
type Users struct {
	db *sql.DB
	// params are Argon2id's costs for new hashes.
	params HashParams
	// dummyHash is compared against for unknown emails: Argon2id with
	// params, so that it costs what a real comparison costs.
	dummyHash string
	// hashSlots bounds the hashes running at once. Each holds its memory
	// (19 MiB with the default costs), so a burst of sign-ins would hold as
	// much as there are requests; more hashes at once than cores gain no
	// throughput, only memory.
	hashSlots chan struct{}
	// keyMu guards key, the device cookies' signing key once read.
	keyMu sync.Mutex
	key   []byte
}

// NewUsers returns the user store on db hashing with DefaultHashParams.
func NewUsers(db *sql.DB) *Users {
	s := &Users{db: db, hashSlots: make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))}
	s.SetHashParams(DefaultHashParams)
	return s
}

// SetHashParams changes Argon2id's costs for new hashes and for the dummy
// comparison; tests lower them to MinHashParams. Call it before the store
// is used.
func (s *Users) SetHashParams(p HashParams) {
	s.params = p
	s.dummyHash = s.dummy()
}

const userColumns = `id, email, name, role, avatar_url, disabled, created_at, updated_at, locale, time_zone, second_factor`

// uUserColumns are userColumns of the users table as u, for the queries
// that join it with another.
var uUserColumns = "u." + strings.ReplaceAll(userColumns, ", ", ", u.")

type scanner interface{ Scan(dest ...any) error }

func scanUser(row scanner, extra ...any) (*User, error) {
	var (
		u                User
		locale, timeZone sql.NullString
	)
	dest := append([]any{&u.ID, &u.Email, &u.Name, &u.Role, &u.AvatarURL, &u.Disabled, &u.CreatedAt, &u.UpdatedAt, &locale, &timeZone, &u.SecondFactor}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	u.Locale, u.TimeZone = Locale(locale.String), timeZone.String
	return &u, nil
}

// ByID returns the user with id, disabled or not.
func (s *Users) ByID(ctx context.Context, id int64) (*User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, Errorf(ENOTFOUND, "User not found.")
	} else if err != nil {
		return nil, fmt.Errorf("load user %d: %w", id, err)
	}
	return u, nil
}

// Authenticate returns the enabled user whose email matches (ignoring case)
// and whose password is right. Every failure is the same EUNAUTHORIZED error
// and costs one password comparison, so neither the message nor the time
// tells whether the email exists. A disabled account whose password is
// right is EFORBIDDEN: only someone who knows the password learns that the
// account is disabled. A right password whose stored hash is bcrypt's (or
// Argon2id's with other costs) is hashed again with the current ones.
func (s *Users) Authenticate(ctx context.Context, email, password string) (*User, error) {
	email = strings.TrimSpace(email)
	if !utf8.ValidString(email) || strings.ContainsRune(email, 0) {
		// PostgreSQL text cannot hold it, so no account has it.
		if _, err := s.matches(ctx, "", password); err != nil {
			return nil, err
		}
		return nil, errBadCredentials
	}
	var hash string
	u, err := scanUser(s.db.QueryRowContext(ctx,
		`SELECT `+userColumns+`, password_hash FROM users WHERE lower(email) = lower($1)`,
		email), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := s.matches(ctx, "", password); err != nil {
			return nil, err
		}
		return nil, errBadCredentials
	} else if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if ok, err := s.matches(ctx, hash, password); err != nil {
		return nil, err
	} else if !ok {
		return nil, errBadCredentials
	}
	if u.Disabled {
		return nil, errDisabled
	}
	if needsRehash(hash, s.params) {
		if err := s.rehash(ctx, u.ID, hash, password); err != nil {
			return nil, err
		}
	}
	return u, nil
}

var (
	errBadCredentials = Errorf(EUNAUTHORIZED, "Wrong email or password.")
	errDisabled       = Errorf(EFORBIDDEN, "This account is disabled. Ask an administrator to enable it again.")
)

// rehash replaces the stored hash old of the user with an Argon2id hash of
// the password just verified. Only over old: a password changed meanwhile
// stays as it was changed. updated_at stays too, for the account did not
// change in anything its owner or an admin can see. The sign-in's other
// bookkeeping is the throttle's statement; this one runs once an account,
// at its first sign-in after the move from bcrypt.
func (s *Users) rehash(ctx context.Context, userID int64, old, password string) error {
	hash, err := s.hash(ctx, password)
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx,
		`UPDATE users SET password_hash = $3 WHERE id = $1 AND password_hash = $2`, userID, old, hash); err != nil {
		return fmt.Errorf("rehash password of user %d: %w", userID, err)
	}
	return nil
}

// matches reports whether password is the one hash was made from; an empty
// hash compares against a dummy, so that an unknown account costs the same
// time as a known one. It fails only when ctx ends while it waits its turn.
func (s *Users) matches(ctx context.Context, hash, password string) (bool, error) {
	var ok bool
	err := s.slowHash(ctx, func() {
		if hash == "" {
			_ = verifyPassword(s.dummyHash, password)
			return
		}
		ok = verifyPassword(hash, password)
	})
	return ok, err
}

// slowHash runs fn, a password hash, once one of the hash slots is free,
// with the context's deadline clock paused for the wait too: neither is
// database work.
func (s *Users) slowHash(ctx context.Context, fn func()) error {
	var err error
	slowWork(ctx, func() {
		select {
		case s.hashSlots <- struct{}{}:
		case <-ctx.Done():
			err = fmt.Errorf("wait to hash a password: %w", ctx.Err())
			return
		}
		defer func() { <-s.hashSlots }()
		fn()
	})
	return err
}

// dummy is an Argon2id hash with the store's costs and a key of zeros,
// which no known password derives.
func (s *Users) dummy() string {
	salt := make([]byte, argon2SaltLen)
	_, _ = rand.Read(salt)
	return argon2Hash{params: s.params, salt: salt, key: make([]byte, argon2KeyLen)}.String()
}

// Create adds an account after checking every input rule, the password rule
// included.
func (s *Users) Create(ctx context.Context, nu NewUser) (*User, error) {
	nu, err := nu.normalize()
	if err != nil {
		return nil, err
	}
	return s.insert(ctx, nu.Email, nu.Name, nu.Role, nu.Password)
}

// normalize trims the new account's values and checks every input rule, the
// password rule included; a broken rule is an EINVALID *Error naming each
// field.
func (nu NewUser) normalize() (NewUser, error) {
	email, name, fields := normalizeIdentity(nu.Email, nu.Name, nu.Role)
	if msg := checkPassword(nu.Password, email); msg != "" {
		fields["password"] = msg
	}
	if len(fields) > 0 {
		return nu, invalid(fields)
	}
	return NewUser{Email: email, Name: name, Role: nu.Role, Password: nu.Password}, nil
}

// normalizeIdentity trims a new account's email and name and checks them
// and its role, returning a message for each field that breaks its rule.
func normalizeIdentity(email, name string, role Role) (string, string, map[string]string) {
	fields := map[string]string{}
	email, msg := normalizeEmail(email)
	if msg != "" {
		fields["email"] = msg
	}
	name, msg = normalizeName(name)
	if msg != "" {
		fields["name"] = msg
	}
	if !role.Valid() {
		fields["role"] = "Role must be admin, editor or viewer."
	}
	return email, name, fields
}

func (s *Users) insert(ctx context.Context, email, name string, role Role, password string) (*User, error) {
	hash, err := s.hash(ctx, password)
	if err != nil {
		return nil, err
	}
	return insertUser(ctx, s.db, email, name, role, hash)
}

// hash is the Argon2id hash of a new password, in the PHC string format.
// Callers hash before they open a transaction, so that no lock is held for
// the time it takes.
func (s *Users) hash(ctx context.Context, password string) (string, error) {
	var h argon2Hash
	if err := s.slowHash(ctx, func() { h = newArgon2Hash(password, s.params) }); err != nil {
		return "", err
	}
	return h.String(), nil
}

// queryRower is a *sql.DB or a *sql.Tx.
type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// insertUser adds an account with its email's skeleton, whose unique index
// refuses an email that looks like another account's (ECONFLICT), however
// many instances create accounts at once.
func insertUser(ctx context.Context, q queryRower, email, name string, role Role, hash string) (*User, error) {
	u, err := scanUser(q.QueryRowContext(ctx,
		`INSERT INTO users (email, name, role, password_hash, email_skeleton) VALUES ($1, $2, $3, $4, $5)
		 RETURNING `+userColumns, email, name, role, hash, emailSkeleton(email)))
	if err != nil {
		return nil, conflictByIndex(fmt.Errorf("create user: %w", err), emailConflicts)
	}
	return u, nil
}

// SeedDemoUsers creates the demo accounts the first time it runs on a
// database and never again: the database records that it did, so a demo
// account that was deleted, renamed or given a new password stays as its
// admins left it, across restarts and instances. It reports whether it
// created them.
func (s *Users) SeedDemoUsers(ctx context.Context) (bool, error) {
	hashes := make([]string, len(DemoUsers))
	for i, d := range DemoUsers {
		h, err := s.hash(ctx, d.Password)
		if err != nil {
			return false, err
		}
		hashes[i] = h
	}
	var seeded bool
	err := inTx(ctx, s.db, func(tx *sql.Tx) error {
		// Under the schema's lock: another instance's migration reads
		// setup_steps and locks users, in the other order than a seed, so
		// the two would deadlock if they ran at once.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, schemaLockID); err != nil {
			return fmt.Errorf("schema lock: %w", err)
		}
		// Instances seeding one after another find it done.
		res, err := tx.ExecContext(ctx, `INSERT INTO setup_steps (name) VALUES ('demo_users') ON CONFLICT (name) DO NOTHING`)
		if err != nil {
			return fmt.Errorf("record demo users: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("record demo users: %w", err)
		}
		if n == 0 {
			return nil // seeded before
		}
		for i, d := range DemoUsers {
			var exists bool
			err := tx.QueryRowContext(ctx,
				`SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($1) OR email_skeleton = $2)`,
				d.Email, emailSkeleton(d.Email)).Scan(&exists)
			if err != nil {
				return fmt.Errorf("demo user %s: %w", d.Email, err)
			}
			if exists {
				continue
			}
			if _, err := insertUser(ctx, tx, d.Email, d.Name, d.Role, hashes[i]); err != nil {
				return fmt.Errorf("demo user %s: %w", d.Email, err)
			}
		}
		seeded = true
		return nil
	})
	if err != nil {
		return false, fmt.Errorf("seed demo users: %w", err)
	}
	return seeded, nil
}

// UpdateProfile changes the user's name and avatar, and their language and
// time zone when p has them. Invalid input writes nothing.
func (s *Users) UpdateProfile(ctx context.Context, id int64, p Profile) (*User, error) {
	p, err := p.Normalize()
	if err != nil {
		return nil, err
	}
	// A preference p does not have keeps its value; "" stores NULL.
	var locale, timeZone sql.NullString
	if p.Locale != nil {
		locale = sql.NullString{String: string(*p.Locale), Valid: true}
	}
	if p.TimeZone != nil {
		timeZone = sql.NullString{String: *p.TimeZone, Valid: true}
	}
	u, err := scanUser(s.db.QueryRowContext(ctx,
		`UPDATE users SET name = $2, avatar_url = $3,
		        locale = CASE WHEN $4::text IS NULL THEN locale ELSE nullif($4, '') END,
		        time_zone = CASE WHEN $5::text IS NULL THEN time_zone ELSE nullif($5, '') END,
		        updated_at = now()
		 WHERE id = $1 RETURNING `+userColumns,
		id, p.Name, p.AvatarURL, locale, timeZone))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, Errorf(ENOTFOUND, "User not found.")
	} else if err != nil {
		return nil, fmt.Errorf("update profile of user %d: %w", id, err)
	}
	return u, nil
}

// SetLocale makes locale the user's language, as the language switch of
// every page does for a signed-in user. Writing the language the user
// already has writes nothing.
func (s *Users) SetLocale(ctx context.Context, id int64, locale Locale) error {
	if _, ok := ParseLocale(string(locale)); !ok {
		return invalid(map[string]string{"locale": LocaleRule})
	}
	_, err := s.db.ExecContext(ctx,
		`UPDATE users SET locale = $2, updated_at = now() WHERE id = $1 AND locale IS DISTINCT FROM $2`, id, string(locale))
	if err != nil {
		return fmt.Errorf("set locale of user %d: %w", id, err)
	}
	return nil
}

// SetRole gives the target user a new role on behalf of actor. Only an
// enabled admin may, never on themselves, and never so that no enabled admin
// is left.
func (s *Users) SetRole(ctx context.Context, actorID, targetID int64, role Role) (*User, error) {
	if !role.Valid() {
		return nil, invalid(map[string]string{"role": "Role must be admin, editor or viewer."})
	}
	var updated *User
	err := s.adminChange(ctx, actorID, targetID, func(tx *sql.Tx, target *User) error {
		if target.Role == RoleAdmin && role != RoleAdmin && !target.Disabled {
			if err := ensureAnotherAdmin(ctx, tx, target.ID); err != nil {
				return err
			}
		}
		u, err := scanUser(tx.QueryRowContext(ctx,
			`UPDATE users SET role = $2, updated_at = now() WHERE id = $1 RETURNING `+userColumns, target.ID, role))
		if err != nil {
			return fmt.Errorf("set role of user %d: %w", target.ID, err)
		}
		updated = u
		return audit(ctx, tx, actorID, AuditRoleChange, target, fmt.Sprintf("%s → %s", target.Role.Label(), role.Label()))
	})
	return updated, err
}

// SetDisabled disables or re-enables the target user on behalf of actor,
// under the same rules as SetRole. Disabling ends every session and every
// reset link of the user in the same transaction, so that re-enabling brings
// back neither a device that was signed in (or a stolen cookie) nor a link
// that was sent out; their open pages sign out at once. Both are in the
// user's security events.
func (s *Users) SetDisabled(ctx context.Context, actorID, targetID int64, disabled bool) (*User, error) {
	var updated *User
	err := s.adminChange(ctx, actorID, targetID, func(tx *sql.Tx, target *User) error {
		if disabled && target.Role == RoleAdmin && !target.Disabled {
			if err := ensureAnotherAdmin(ctx, tx, target.ID); err != nil {
				return err
			}
		}
		u, err := scanUser(tx.QueryRowContext(ctx,
			`UPDATE users SET disabled = $2, updated_at = now() WHERE id = $1 RETURNING `+userColumns, target.ID, disabled))
		if err != nil {
			return fmt.Errorf("set disabled of user %d: %w", target.ID, err)
		}
		updated = u
		if !disabled {
			if err := recordEvent(ctx, tx, target.ID, EventAccountEnabled, Client{}); err != nil {
				return err
			}
			return audit(ctx, tx, actorID, AuditEnable, target, "")
		}
		n, err := endSessions(ctx, tx, target.ID, EndDisabled)
		if err != nil {
			return err
		}
		links, err := endResetLinks(ctx, tx, target.ID)
		if err != nil {
			return err
		}
		if err := recordEvent(ctx, tx, target.ID, EventAccountDisabled, Client{}); err != nil {
			return err
		}
		// Only when it was enabled: disabling twice tells nothing new.
		if !target.Disabled {
			if err := enqueueMail(ctx, tx, noticeTo(target, MailDisabled, nil)); err != nil {
				return err
			}
		}
		return audit(ctx, tx, actorID, AuditDisable, target, endedDetail(n, links))
	})
	return updated, err
}

// Authorize checks, as of now, that actor may act on target: actor is an
// enabled admin, target exists and is someone else. It returns the target.
func (s *Users) Authorize(ctx context.Context, actorID, targetID int64) (*User, error) {
	var target *User
	err := s.adminChange(ctx, actorID, targetID, func(_ *sql.Tx, u *User) error {
		target = u
		return nil
	})
	return target, err
}

// adminChange runs change in a transaction holding the admin lock, after
// re-reading actor and target inside it: the checks and the change see the
// same state, whatever other admins do at the same moment.
func (s *Users) adminChange(ctx context.Context, actorID, targetID int64, change func(*sql.Tx, *User) error) error {
	return s.adminTx(ctx, actorID, func(tx *sql.Tx) error {
		if actorID == targetID {
			return Errorf(EFORBIDDEN, "You cannot change your own account here.")
		}
		target, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, targetID))
		if errors.Is(err, sql.ErrNoRows) {
			return Errorf(ENOTFOUND, "User not found.")
		} else if err != nil {
			return fmt.Errorf("load user %d: %w", targetID, err)
		}
		return change(tx, target)
	})
}

// adminTx runs fn in a transaction holding the admin lock, once it has
// checked inside it that actor is an enabled admin.
func (s *Users) adminTx(ctx context.Context, actorID int64, fn func(*sql.Tx) error) error {
	return inTx(ctx, s.db, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, adminLockID); err != nil {
			return fmt.Errorf("admin lock: %w", err)
		}
		actor, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, actorID))
		if errors.Is(err, sql.ErrNoRows) || (err == nil && (actor.Role != RoleAdmin || actor.Disabled)) {
			return Errorf(EFORBIDDEN, "Only an admin can do this.")
		} else if err != nil {
			return fmt.Errorf("load actor %d: %w", actorID, err)
		}
		return fn(tx)
	})
}

// ensureAnotherAdmin refuses a change that would leave no enabled admin
// besides the user being changed.
func ensureAnotherAdmin(ctx context.Context, tx *sql.Tx, userID int64) error {
	var others int
	err := tx.QueryRowContext(ctx,
		`SELECT count(*) FROM users WHERE role = 'admin' AND NOT disabled AND id <> $1`, userID).Scan(&others)
	if err != nil {
		return fmt.Errorf("count admins: %w", err)
	}
	if others == 0 {
		return Errorf(ECONFLICT, "The site must keep at least one enabled admin.")
	}
	return nil
}
