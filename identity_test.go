package aistat_test

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"aistat"
	"aistat/internal/pgtest"
)

// mustOpenUsers is a migrated fresh database and its user store, hashing
// at the cheapest costs.
func mustOpenUsers(tb testing.TB) (*sql.DB, *aistat.Users) {
	tb.Helper()
	db := pgtest.DB(tb, pgtest.URL(tb))
	if err := aistat.Migrate(context.Background(), db); err != nil {
		tb.Fatal(err)
	}
	users := aistat.NewUsers(db)
	users.SetHashParams(aistat.MinHashParams)
	return db, users
}

func mustCreate(tb testing.TB, users *aistat.Users, email, password string) *aistat.User {
	tb.Helper()
	u, err := users.Create(context.Background(), aistat.NewUser{Email: email, Name: "Someone", Role: aistat.RoleViewer, Password: password})
	if err != nil {
		tb.Fatalf("create %s: %v", email, err)
	}
	return u
}

func countEmails(tb testing.TB, db *sql.DB) int {
	tb.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM users`).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	return n
}

func TestUsers_CreateLookAlikeEmail(t *testing.T) {
	db, users := mustOpenUsers(t)
	mustCreate(t, users, "admin@ai-stat.ru", "correct horse battery")

	tests := []struct{ name, email, want string }{
		{"CyrillicA", "\u0430dmin@ai-stat.ru", "looks the same"},
		{"CyrillicAInCapitals", "\u0410DMIN@ai-stat.ru", "looks the same"},
		{"RnForM", "adrnin@ai-stat.ru", "looks the same"},
		{"FullwidthDomain", "admin@\uff41i-stat.ru", "looks the same"},
		{"CaseVariant", "Admin@AI-STAT.ru", "A user with this email already exists."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := users.Create(t.Context(), aistat.NewUser{Email: tt.email, Name: "Twin", Role: aistat.RoleAdmin, Password: "another passphrase"})
			if aistat.ErrorCode(err) != aistat.ECONFLICT || !strings.Contains(aistat.ErrorMessage(err), tt.want) {
				t.Fatalf("create %+q: %v, want ECONFLICT saying %q", tt.email, err, tt.want)
			}
			if n := countEmails(t, db); n != 1 {
				t.Fatalf("%d users, want the one", n)
			}
		})
	}

	t.Run("DifferentEmailPasses", func(t *testing.T) {
		mustCreate(t, users, "editor@ai-stat.ru", "correct horse battery")
	})

	t.Run("TwoAtOnce", func(t *testing.T) {
		// Two look-alikes created at the same moment: no check made before
		// the insert could stop both, the unique index does.
		emails := []string{"p\u0430ypal@example.com", "pa\u0443pal@example.com", "\u0440aypal@example.com", "p\u0430\u0443pal@example.com"}
		var wg sync.WaitGroup
		errs := make([]error, len(emails))
		for i, email := range emails {
			wg.Go(func() {
				_, errs[i] = users.Create(t.Context(), aistat.NewUser{Email: email, Name: "Twin", Role: aistat.RoleViewer, Password: "another passphrase"})
			})
		}
		wg.Wait()
		ok := 0
		for i, err := range errs {
			switch aistat.ErrorCode(err) {
			case "":
				ok++
			case aistat.ECONFLICT:
			default:
				t.Fatalf("create %+q: %v", emails[i], err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d of the look-alikes were created, want 1", ok)
		}
	})
}

// TestMigrate_BackfillsEmailSkeletons is a database from before the
// skeleton column: rows without one get theirs at migrate, the oldest of
// two look-alikes wins it, and the site still starts.
func TestMigrate_BackfillsEmailSkeletons(t *testing.T) {
	db, users := mustOpenUsers(t)
	_, err := db.Exec(`
		INSERT INTO users (email, name, password_hash) VALUES
			('old@example.com', 'Old', '-'), ('twin@example.com', 'Twin', '-'), ($1, 'Twin 2', '-')`, "tw\u0456n@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := aistat.Migrate(t.Context(), db); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	rows, err := db.Query(`SELECT email, email_skeleton IS NOT NULL FROM users ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var email string
		var has bool
		if err := rows.Scan(&email, &has); err != nil {
			t.Fatal(err)
		}
		if has {
			got = append(got, email)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"old@example.com", "twin@example.com"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("emails with a skeleton %q, want %q", got, want)
	}
	if _, err := users.Create(t.Context(), aistat.NewUser{Email: "\u043eld@example.com", Name: "X", Role: aistat.RoleViewer, Password: "another passphrase"}); aistat.ErrorCode(err) != aistat.ECONFLICT {
		t.Fatalf("look-alike of a backfilled email: %v, want ECONFLICT", err)
	}
	if err := aistat.Migrate(t.Context(), db); err != nil {
		t.Fatalf("migrate again: %v", err)
	}
}

func TestUsers_ArgonPasswords(t *testing.T) {
	db, users := mustOpenUsers(t)

	t.Run("LongEmojiPassword", func(t *testing.T) {
		password := strings.Repeat("\U0001F511", aistat.MaxPasswordLength)
		u := mustCreate(t, users, "emoji@example.com", password)
		if _, err := users.Authenticate(t.Context(), u.Email, password); err != nil {
			t.Fatalf("sign in with 256 emoji: %v", err)
		}
		// bcrypt would have read only the first 18 of them.
		if _, err := users.Authenticate(t.Context(), u.Email, strings.Repeat("\U0001F511", 18)); aistat.ErrorCode(err) != aistat.EUNAUTHORIZED {
			t.Fatalf("sign in with the first 18 emoji: %v, want EUNAUTHORIZED", err)
		}
		var hash string
		if err := db.QueryRow(`SELECT password_hash FROM users WHERE id = $1`, u.ID).Scan(&hash); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(hash, "$argon2id$v=19$m=8,t=1,p=1$") {
			t.Fatalf("stored hash %q, want Argon2id at the costs set", hash)
		}
	})

	t.Run("BcryptHashIsReplaced", func(t *testing.T) {
		old, err := bcrypt.GenerateFromPassword([]byte("an old passphrase"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		var id int64
		var updated time.Time
		err = db.QueryRow(`INSERT INTO users (email, name, password_hash) VALUES ('old.hash@example.com', 'Old Hash', $1) RETURNING id, updated_at`,
			string(old)).Scan(&id, &updated)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := users.Authenticate(t.Context(), "old.hash@example.com", "not the passphrase"); aistat.ErrorCode(err) != aistat.EUNAUTHORIZED {
			t.Fatalf("wrong password: %v", err)
		}
		if got := storedHash(t, db, id); got != string(old) {
			t.Fatal("a wrong password replaced the hash")
		}
		for range 2 {
			if _, err := users.Authenticate(t.Context(), "OLD.HASH@example.com", "an old passphrase"); err != nil {
				t.Fatalf("sign in with a bcrypt hash: %v", err)
			}
			if got := storedHash(t, db, id); !strings.HasPrefix(got, "$argon2id$v=19$") {
				t.Fatalf("hash after sign-in %q, want Argon2id", got)
			}
		}
		var after time.Time
		if err := db.QueryRow(`SELECT updated_at FROM users WHERE id = $1`, id).Scan(&after); err != nil || !after.Equal(updated) {
			t.Fatalf("updated_at %v -> %v (%v), want unchanged", updated, after, err)
		}
	})

	t.Run("DisabledAccount", func(t *testing.T) {
		admin := mustCreate(t, users, "admin@example.com", "correct horse battery")
		if _, err := db.Exec(`UPDATE users SET role = 'admin' WHERE id = $1`, admin.ID); err != nil {
			t.Fatal(err)
		}
		u := mustCreate(t, users, "gone@example.com", "correct horse battery")
		if _, err := users.SetDisabled(t.Context(), admin.ID, u.ID, true); err != nil {
			t.Fatal(err)
		}
		if _, err := users.Authenticate(t.Context(), u.Email, "correct horse battery"); aistat.ErrorCode(err) != aistat.EFORBIDDEN || !strings.Contains(aistat.ErrorMessage(err), "disabled") {
			t.Fatalf("right password: %v, want EFORBIDDEN saying disabled", err)
		}
		_, wrong := users.Authenticate(t.Context(), u.Email, "not the password")
		_, unknown := users.Authenticate(t.Context(), "nobody@example.com", "not the password")
		if wrong == nil || wrong.Error() != unknown.Error() || aistat.ErrorCode(wrong) != aistat.EUNAUTHORIZED {
			t.Fatalf("wrong password: %v, unknown email: %v; want the same EUNAUTHORIZED", wrong, unknown)
		}
	})

	t.Run("ChangePasswordRule", func(t *testing.T) {
		u := mustCreate(t, users, "change@example.com", "correct horse battery")
		tests := []struct{ name, next, want string }{
			{"SameAsCurrent", "correct horse battery", "must differ from your current"},
			{"TheEmail", "Change@Example.com", "not be your email"},
			{"TooLong", strings.Repeat("\U0001F511", 257), "at most 256 characters"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				before := storedHash(t, db, u.ID)
				_, err := users.ChangePassword(t.Context(), u.ID, 0, "correct horse battery", tt.next, aistat.Client{IP: "192.0.2.1"})
				if msg := aistat.ErrorFields(err)["new_password"]; aistat.ErrorCode(err) != aistat.EINVALID || !strings.Contains(msg, tt.want) {
					t.Fatalf("change to %q: %v %v, want new_password saying %q", tt.next, err, aistat.ErrorFields(err), tt.want)
				}
				if storedHash(t, db, u.ID) != before {
					t.Fatal("a refused change wrote the hash")
				}
			})
		}
		// A wrong current password says nothing of how the new one
		// compares with the real one.
		_, err := users.ChangePassword(t.Context(), u.ID, 0, "a wrong guess here", "correct horse battery", aistat.Client{IP: "192.0.2.1"})
		if f := aistat.ErrorFields(err); f["current_password"] == "" || f["new_password"] != "" {
			t.Fatalf("wrong current password: fields %v, want only current_password", f)
		}
		if _, err := users.ChangePassword(t.Context(), u.ID, 0, "correct horse battery", strings.Repeat("\U0001F511", 256), aistat.Client{IP: "192.0.2.1"}); err != nil {
			t.Fatalf("change to 256 emoji: %v", err)
		}
	})
}

func storedHash(tb testing.TB, db *sql.DB, id int64) string {
	tb.Helper()
	var h string
	if err := db.QueryRow(`SELECT password_hash FROM users WHERE id = $1`, id).Scan(&h); err != nil {
		tb.Fatal(err)
	}
	return h
}
