package main

import (
	"database/sql"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"aistat/internal/pgtest"
)

// TestServe_BaseURL: the reset link an admin is shown is on --base-url,
// whatever Host the request came with.
func TestServe_BaseURL(t *testing.T) {
	t.Parallel()
	dsn := pgtest.URL(t)
	s := launchServe(t, "--database-url", dsn, "--addr", "127.0.0.1:0", "--demo", "--base-url", "http://aistat.example:8443/")
	s.await(t)
	db, err := sql.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var editorID int64
	if err := db.QueryRowContext(t.Context(), `SELECT id FROM users WHERE email = 'editor@ai-stat.ru'`).Scan(&editorID); err != nil {
		t.Fatal(err)
	}
	admin := signIn(t, s.base, "admin@ai-stat.ru", "admin123")
	base, err := url.Parse(s.base)
	if err != nil {
		t.Fatal(err)
	}
	// Both the POST that issues the link and the page it leads to come
	// with a forged Host.
	forged := func(method, path string) *http.Request {
		req, err := http.NewRequestWithContext(t.Context(), method, s.base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Host = "evil.test"
		req.Header.Set("X-Forwarded-Host", "evil.test")
		// net/http picks a request's cookies by the Host it sends.
		for _, c := range admin.Jar.Cookies(base) {
			req.AddCookie(c)
		}
		return req
	}
	post := forged(http.MethodPost, "/admin/users/"+strconv.FormatInt(editorID, 10)+"/reset")
	resp, err := newClient(t).Do(post)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	page := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(page, "/admin/users/") {
		t.Fatalf("issue a reset link = %d, Location %q: want 303 to its page", resp.StatusCode, page)
	}
	code, body := do(t, newClient(t), forged(http.MethodGet, page))
	if code != http.StatusOK {
		t.Fatalf("the reset link's page = %d\n%.500s", code, body)
	}
	m := regexp.MustCompile(`value="([^"]*/reset/[A-Za-z0-9_-]+)"`).FindStringSubmatch(body)
	if m == nil || !strings.HasPrefix(m[1], "http://aistat.example:8443/reset/") {
		t.Fatalf("reset link %q, want one on http://aistat.example:8443", m)
	}
}
