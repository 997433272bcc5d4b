package aistat

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
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
	// cost is bcrypt's work factor for new hashes.
	cost      int
	dummyOnce sync.Once
	dummyHash []byte
	// keyMu guards key, the device cookies' signing key once read.
	keyMu sync.Mutex
	key   []byte
}

// NewUsers returns the user store on db hashing with bcrypt's default cost.
func NewUsers(db *sql.DB) *Users {
	return &Users{db: db, cost: bcrypt.DefaultCost}
}

// SetHashCost changes bcrypt's work factor for new hashes; tests lower it.
func (s *Users) SetHashCost(cost int) { s.cost = cost }

const userColumns = `id, email, name, role, avatar_url, disabled, created_at, updated_at`

type scanner interface{ Scan(dest ...any) error }

func scanUser(row scanner, extra ...any) (*User, error) {
	var u User
	dest := append([]any{&u.ID, &u.Email, &u.Name, &u.Role, &u.AvatarURL, &u.Disabled, &u.CreatedAt, &u.UpdatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
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
// and costs one bcrypt comparison, so neither the message nor the time tells
// whether the email exists.
func (s *Users) Authenticate(ctx context.Context, email, password string) (*User, error) {
	email = strings.TrimSpace(email)
	if !utf8.ValidString(email) || strings.ContainsRune(email, 0) {
		// PostgreSQL text cannot hold it, so no account has it.
		s.matches(ctx, nil, password)
		return nil, errBadCredentials
	}
	var hash []byte
	u, err := scanUser(s.db.QueryRowContext(ctx,
		`SELECT `+userColumns+`, password_hash FROM users WHERE lower(email) = lower($1)`,
		email), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		s.matches(ctx, nil, password)
		return nil, errBadCredentials
	} else if err != nil {
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if !s.matches(ctx, hash, password) || u.Disabled {
		return nil, errBadCredentials
	}
	return u, nil
}

var errBadCredentials = Errorf(EUNAUTHORIZED, "Wrong email or password.")

// matches reports whether password is the one hash was made from; a nil
// hash compares against a dummy, so that an unknown account costs the same
// time as a known one.
func (s *Users) matches(ctx context.Context, hash []byte, password string) bool {
	var ok bool
	slowWork(ctx, func() {
		if hash == nil {
			_ = bcrypt.CompareHashAndPassword(s.dummy(), []byte(password))
			return
		}
		ok = bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil
	})
	return ok
}

// dummy is a hash compared against for unknown emails.
func (s *Users) dummy() []byte {
	s.dummyOnce.Do(func() {
		s.dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not a password of anyone"), s.cost)
	})
	return s.dummyHash
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
	fields := map[string]string{}
	email, msg := normalizeEmail(nu.Email)
	if msg != "" {
		fields["email"] = msg
	}
	name, msg := normalizeName(nu.Name)
	if msg != "" {
		fields["name"] = msg
	}
	if !nu.Role.Valid() {
		fields["role"] = "Role must be admin, editor or viewer."
	}
	if msg := checkPassword(nu.Password); msg != "" {
		fields["password"] = msg
	}
	if len(fields) > 0 {
		return nu, invalid(fields)
	}
	return NewUser{Email: email, Name: name, Role: nu.Role, Password: nu.Password}, nil
}

func (s *Users) insert(ctx context.Context, email, name string, role Role, password string) (*User, error) {
	hash, err := s.hash(ctx, password)
	if err != nil {
		return nil, err
	}
	return insertUser(ctx, s.db, email, name, role, hash)
}

// hash is the bcrypt hash of a new password. Callers hash before they open a
// transaction, so that no lock is held for the time it takes.
func (s *Users) hash(ctx context.Context, password string) (string, error) {
	var hash []byte
	var err error
	slowWork(ctx, func() { hash, err = bcrypt.GenerateFromPassword([]byte(password), s.cost) })
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(hash), nil
}

// queryRower is a *sql.DB or a *sql.Tx.
type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func insertUser(ctx context.Context, q queryRower, email, name string, role Role, hash string) (*User, error) {
	u, err := scanUser(q.QueryRowContext(ctx,
		`INSERT INTO users (email, name, role, password_hash) VALUES ($1, $2, $3, $4)
		 RETURNING `+userColumns, email, name, role, hash))
	if err != nil {
		return nil, conflictOrErr(fmt.Errorf("create user: %w", err), "A user with this email already exists.")
	}
	return u, nil
}

// EnsureDemoUsers creates each demo account that does not exist yet and
// never touches one that does, so a renamed demo user stays renamed.
func (s *Users) EnsureDemoUsers(ctx context.Context) error {
	for _, d := range DemoUsers {
		var exists bool
		err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM users WHERE lower(email) = lower($1))`, d.Email).Scan(&exists)
		if err != nil {
			return fmt.Errorf("demo user %s: %w", d.Email, err)
		}
		if exists {
			continue
		}
		if _, err := s.insert(ctx, d.Email, d.Name, d.Role, d.Password); err != nil && ErrorCode(err) != ECONFLICT {
			return fmt.Errorf("demo user %s: %w", d.Email, err)
		}
	}
	return nil
}

// UpdateProfile changes the user's name and avatar. Invalid input writes
// nothing.
func (s *Users) UpdateProfile(ctx context.Context, id int64, p Profile) (*User, error) {
	p, err := p.Normalize()
	if err != nil {
		return nil, err
	}
	u, err := scanUser(s.db.QueryRowContext(ctx,
		`UPDATE users SET name = $2, avatar_url = $3, updated_at = now() WHERE id = $1 RETURNING `+userColumns,
		id, p.Name, p.AvatarURL))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, Errorf(ENOTFOUND, "User not found.")
	} else if err != nil {
		return nil, fmt.Errorf("update profile of user %d: %w", id, err)
	}
	return u, nil
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
		return audit(ctx, tx, actorID, AuditRoleChange, target, target.Role.Label()+" → "+role.Label())
	})
	return updated, err
}

// SetDisabled disables or re-enables the target user on behalf of actor,
// under the same rules as SetRole. Disabling ends every session of the user,
// so that re-enabling does not bring back a device that was signed in (or a
// stolen cookie); their open pages sign out at once. Both are in the user's
// security events.
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
		if err := recordEvent(ctx, tx, target.ID, EventAccountDisabled, Client{}); err != nil {
			return err
		}
		return audit(ctx, tx, actorID, AuditDisable, target, sessionsEnded(n))
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
