package aistat_test

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"aistat"
	"aistat/internal/pgtest"
)

// mustOpenUsers is a migrated fresh database and its user store, hashing
// at the cheapest cost.
func mustOpenUsers(tb testing.TB) (*sql.DB, *aistat.Users) {
	tb.Helper()
	db := mustOpenDB(tb, pgtest.URL(tb))
	if err := aistat.Migrate(context.Background(), db); err != nil {
		tb.Fatal(err)
	}
	users := aistat.NewUsers(db)
	users.SetHashCost(bcrypt.MinCost)
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
