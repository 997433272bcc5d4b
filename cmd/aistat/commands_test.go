package main

import (
	"bytes"
	"database/sql"
	"strings"
	"testing"

	"aistat"
	"aistat/internal/pgtest"
)

// runCommand runs one command line in-process the way main does, with an
// empty environment.
func runCommand(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(withTimeout(t, startTimeout), args, strings.NewReader(stdin), &out, &errOut, noEnv)
	return out.String(), errOut.String(), err
}

func countUsers(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM users").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestUserAdd(t *testing.T) {
	dsn := pgtest.URL(t)
	db := pgtest.DB(t, dsn)

	tests := []struct {
		email, name, role, stdin, password string
	}{
		{"ada@example.com", "Ada Lovelace", "admin", "analytical-engine\n", "analytical-engine"},
		{"grace@example.com", "  Grace Hopper ", "editor", "compiler-1952\r\n", "compiler-1952"},
		{"alan@example.com", "Alan", "viewer", "no newline at all", "no newline at all"},
	}
	for _, tt := range tests {
		stdout, stderr, err := runCommand(t, tt.stdin, "user", "add", "--database-url", dsn,
			"--email", tt.email, "--name", tt.name, "--role", tt.role)
		if err != nil {
			t.Fatalf("user add %s: %v\n%s", tt.email, err, stderr)
		}
		if !strings.Contains(stdout, "<"+tt.email+">") {
			t.Errorf("user add %s printed %q", tt.email, stdout)
		}
		var name, role string
		err = db.QueryRowContext(t.Context(), "SELECT name, role FROM users WHERE email = $1", tt.email).Scan(&name, &role)
		if err != nil {
			t.Fatalf("row of %s: %v", tt.email, err)
		}
		if name != strings.TrimSpace(tt.name) || role != tt.role {
			t.Errorf("%s stored as %q, %q", tt.email, name, role)
		}
		u, err := aistat.NewUsers(db).Authenticate(t.Context(), strings.ToUpper(tt.email), tt.password)
		if err != nil {
			t.Errorf("sign in as %s with %q: %v", tt.email, tt.password, err)
		} else if string(u.Role) != tt.role {
			t.Errorf("signed in as %s with role %s", tt.email, u.Role)
		}
	}
	if _, err := aistat.NewUsers(db).Authenticate(t.Context(), "grace@example.com", "compiler-1952\r"); err == nil {
		t.Error("the carriage return was kept in the password")
	}
}

func TestUserAddRejects(t *testing.T) {
	dsn := pgtest.URL(t)
	if _, stderr, err := runCommand(t, "taken-password-1\n", "user", "add", "--database-url", dsn,
		"--email", "Taken@Example.com", "--name", "Taken", "--role", "viewer"); err != nil {
		t.Fatalf("first user: %v\n%s", err, stderr)
	}
	db := pgtest.DB(t, dsn)

	const fine = "a-fine-password"
	valid := map[string]string{"email": "new@example.com", "name": "New User", "role": "editor"}
	tests := []struct {
		name     string
		flags    map[string]string // replaces valid's values; "" leaves the flag out
		password string
		want     []string // what the error must name
	}{
		{name: "password too short", password: "short-9ch", want: []string{"password", "at least 10"}},
		{name: "password of 257 characters", password: strings.Repeat("\U0001F600", 257), want: []string{"password", "at most 256"}},
		{name: "password equal to the email", password: "NEW@example.com", want: []string{"password", "email"}},
		{name: "common password", password: "password123", want: []string{"password", "common"}},
		{name: "common password in other case", password: "PASSWORD123", want: []string{"password", "common"}},
		{name: "missing password", password: "", want: []string{"password"}},
		{name: "missing email", flags: map[string]string{"email": ""}, password: fine, want: []string{"email", "required"}},
		{name: "invalid email", flags: map[string]string{"email": "not-an-address"}, password: fine, want: []string{"email"}},
		{name: "blank name", flags: map[string]string{"name": "   "}, password: fine, want: []string{"name", "required"}},
		{name: "unknown role", flags: map[string]string{"role": "owner"}, password: fine, want: []string{"role"}},
		{name: "duplicate email in other case", flags: map[string]string{"email": "taken@EXAMPLE.com"}, password: fine, want: []string{"already exists"}},
		{name: "look-alike email", flags: map[string]string{"email": "T\u0430ken@example.com"}, password: fine, want: []string{"looks the same"}},
		{name: "name with a right-to-left override", flags: map[string]string{"name": "New\u202EUser"}, password: fine, want: []string{"name", "U+202E"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"user", "add", "--database-url", dsn}
			for _, k := range []string{"email", "name", "role"} {
				v, ok := tt.flags[k]
				if !ok {
					v = valid[k]
				}
				if v != "" {
					args = append(args, "--"+k, v)
				}
			}
			_, _, err := runCommand(t, tt.password+"\n", args...)
			if err == nil {
				t.Fatal("user add succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if n := countUsers(t, db); n != 1 {
				t.Errorf("%d users after a refused user add, want 1", n)
			}
		})
	}
}

func TestMigrateTwice(t *testing.T) {
	dsn := pgtest.URL(t)
	for range 2 {
		stdout, stderr, err := runCommand(t, "", "migrate", "--database-url", dsn)
		if err != nil {
			t.Fatalf("migrate: %v\n%s", err, stderr)
		}
		if !strings.Contains(stdout, "schema applied") {
			t.Errorf("migrate printed %q", stdout)
		}
	}
	if n := countUsers(t, pgtest.DB(t, dsn)); n != 0 {
		t.Errorf("%d users after migrate, want none", n)
	}
}

func TestCommandLineErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "unknown command", args: []string{"frobnicate"}, want: `unknown command "frobnicate"`},
		{name: "user without add", args: []string{"user"}, want: "usage: aistat user add"},
		{name: "user with another verb", args: []string{"user", "delete"}, want: "usage: aistat user add"},
		{name: "stray argument to migrate", args: []string{"migrate", "now"}, want: `unexpected argument "now"`},
		{name: "stray argument to user add", args: []string{"user", "add", "--email", "a@example.com", "Ann"}, want: `unexpected argument "Ann"`},
		{name: "stray argument to serve", args: []string{"serve", "extra"}, want: `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCommand(t, "", tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run %q = %v, want an error containing %q", tt.args, err, tt.want)
			}
		})
	}
}
