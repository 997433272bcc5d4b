package handlers_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"aistat"
	"aistat/internal/webauthntest"
)

// mustOpenPasskeyEnv is a site whose base URL names it localhost, where
// passkeys work, and the origin a browser's client data gives its pages.
func mustOpenPasskeyEnv(t *testing.T) (*env, string) {
	t.Helper()
	e := mustOpenEnvConfig(t, envConfig{localhost: true})
	return e, "http://localhost:" + strconv.Itoa(e.server.Listener.Addr().(*net.TCPAddr).Port)
}

func (c *client) postJSON(path, body string) *response {
	c.tb.Helper()
	return c.do(http.MethodPost, path, "application/json", body, "Accept", "application/json")
}

// wantField fails unless the JSON error names field.
func wantField(tb testing.TB, res *response, field string) {
	tb.Helper()
	var body struct {
		Fields map[string]string `json:"fields"`
	}
	if err := json.Unmarshal([]byte(res.body), &body); err != nil || body.Fields[field] == "" {
		tb.Fatalf("%s: error names no %q: %s", res.Request.URL.Path, field, res.body)
	}
}

// registerPasskey adds auth's passkey named name for the signed-in client,
// returning the finish's answer.
func registerPasskey(t *testing.T, c *client, auth *webauthntest.Authenticator, name string) *response {
	t.Helper()
	nameJSON, _ := json.Marshal(name)
	begun := c.postJSON("/settings/2fa/passkeys/begin", `{"name":`+string(nameJSON)+`}`)
	wantStatus(t, begun, http.StatusOK)
	cred, err := auth.Create([]byte(begun.body))
	if err != nil {
		t.Fatal(err)
	}
	return c.postJSON("/settings/2fa/passkeys/finish", `{"name":`+string(nameJSON)+`,"credential":`+string(cred)+`}`)
}

// passkeyAnswer begins a sign-in with a passkey and has auth answer it.
func passkeyAnswer(t *testing.T, c *client, auth *webauthntest.Authenticator) string {
	t.Helper()
	begun := c.postJSON("/login/passkey/begin", "")
	wantStatus(t, begun, http.StatusOK)
	answer, err := auth.Get([]byte(begun.body))
	if err != nil {
		t.Fatal(err)
	}
	return string(answer)
}

// signInWithPasskey signs the client in with auth's passkey alone.
func signInWithPasskey(t *testing.T, c *client, auth *webauthntest.Authenticator, next string) *response {
	t.Helper()
	return c.postJSON("/login/passkey/finish", `{"credential":`+passkeyAnswer(t, c, auth)+`,"next":"`+next+`"}`)
}

// passkeyState is a passkey's row as a refused request must leave it.
type passkeyState struct {
	Count    int64
	Cloned   bool
	LastUsed *time.Time
}

func readPasskey(tb testing.TB, e *env, credentialID []byte) passkeyState {
	tb.Helper()
	var p passkeyState
	err := e.db.QueryRow(`SELECT sign_count, cloned, last_used_at FROM passkeys WHERE credential_id = $1`, credentialID).
		Scan(&p.Count, &p.Cloned, &p.LastUsed)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// mails is how many mails of kind wait for the user.
// signedInAs is the id of the user /api/session says the client is, 0 for
// nobody.
func signedInAs(tb testing.TB, c *client) int64 {
	tb.Helper()
	res := c.get("/api/session")
	if res.StatusCode == http.StatusUnauthorized {
		return 0
	}
	var body struct {
		User struct {
			ID int64 `json:"id"`
		} `json:"user"`
	}
	if err := json.Unmarshal([]byte(res.body), &body); err != nil {
		tb.Fatalf("session: %v: %s", err, res.body)
	}
	return body.User.ID
}

// TestServer_Passkeys: a user adds a passkey on the two-step page, signs
// in with it alone, sees it listed with when it was used, and removes it;
// every refused answer signs nobody in.
func TestServer_Passkeys(t *testing.T) {
	e, origin := mustOpenPasskeyEnv(t)
	u := mustCreateUser(t, e, "passkeys@example.com", "Passkeys", aistat.RoleEditor)
	owner := newClient(t, e)
	owner.login(u.Email)

	t.Run("Anonymous", func(t *testing.T) {
		res := newClient(t, e).get("/settings/2fa")
		wantStatus(t, res, http.StatusSeeOther)
	})

	t.Run("RegisterSignInRemove", func(t *testing.T) {
		auth := webauthntest.New(origin)
		res := registerPasskey(t, owner, auth, "  Рабочий ноутбук  ")
		wantStatus(t, res, http.StatusCreated)
		if got := events(t, e, aistat.EventPasskeyAdded, u.ID); got != 1 {
			t.Fatalf("%d passkey_added events, want 1", got)
		}
		if got := mails(t, e, aistat.MailPasskeyAdded, u.Email); got != 1 {
			t.Fatalf("%d passkey_added mails, want 1", got)
		}
		page := owner.get("/settings/2fa")
		wantBody(t, page, "Passkey added.", `<span class="device-name">Рабочий ноутбук</span>`, "Never", "just now")

		browser := newClient(t, e)
		res = signInWithPasskey(t, browser, auth, "/settings")
		wantStatus(t, res, http.StatusOK)
		wantBody(t, res, `"redirect":"/settings"`)
		if got := signedInAs(t, browser); got != u.ID {
			t.Fatalf("signed in as %d, want %d", got, u.ID)
		}
		// As a password sign-in: a device cookie, the sign-in recorded.
		if !strings.Contains(res.Header.Get("Set-Cookie"), "device=") {
			t.Errorf("no device cookie: %q", res.Header.Values("Set-Cookie"))
		}
		if got := events(t, e, aistat.EventPasskeySignIn, u.ID); got != 1 {
			t.Errorf("%d passkey_sign_in events, want 1", got)
		}
		if got := readPasskey(t, e, auth.ID()); got.LastUsed == nil || got.Count != 2 {
			t.Errorf("passkey after use %+v, want last used and counter 2", got)
		}
		wantNoBody(t, owner.get("/settings/2fa"), "Never")

		// A next that is not a local path goes home.
		res = signInWithPasskey(t, newClient(t, e), auth, "//evil.example")
		wantStatus(t, res, http.StatusOK)
		wantBody(t, res, `"redirect":"/"`)

		var id int64
		if err := e.db.QueryRow(`SELECT id FROM passkeys WHERE credential_id = $1`, auth.ID()).Scan(&id); err != nil {
			t.Fatal(err)
		}
		res = owner.postForm("/settings/2fa/passkeys/remove", url.Values{"id": {itoa(id)}})
		wantStatus(t, res, http.StatusSeeOther)
		wantBody(t, owner.get("/settings/2fa"), "Passkey removed.", "You have no passkeys yet.")
		if got := events(t, e, aistat.EventPasskeyRemoved, u.ID); got != 1 {
			t.Errorf("%d passkey_removed events, want 1", got)
		}
		if got := mails(t, e, aistat.MailPasskeyRemoved, u.Email); got != 1 {
			t.Errorf("%d passkey_removed mails, want 1", got)
		}
		// A removed passkey signs nobody in.
		stranger := newClient(t, e)
		wantStatus(t, signInWithPasskey(t, stranger, auth, "/"), http.StatusUnauthorized)
		if got := signedInAs(t, stranger); got != 0 {
			t.Fatalf("signed in as %d with a removed passkey", got)
		}
	})

	t.Run("ReusedChallenge", func(t *testing.T) {
		auth := webauthntest.New(origin)
		wantStatus(t, registerPasskey(t, owner, auth, "Phone"), http.StatusCreated)
		browser := newClient(t, e)
		body := `{"credential":` + passkeyAnswer(t, browser, auth) + `}`
		wantStatus(t, browser.postJSON("/login/passkey/finish", body), http.StatusOK)
		other := newClient(t, e)
		res := other.postJSON("/login/passkey/finish", body)
		wantStatus(t, res, http.StatusUnprocessableEntity)
		wantField(t, res, "credential")
		if got := signedInAs(t, other); got != 0 {
			t.Fatalf("a replayed answer signed in %d", got)
		}

		// A registration's answer is good once too.
		begun := owner.postJSON("/settings/2fa/passkeys/begin", `{"name":"Twice"}`)
		cred, err := webauthntest.New(origin).Create([]byte(begun.body))
		if err != nil {
			t.Fatal(err)
		}
		finish := `{"name":"Twice","credential":` + string(cred) + `}`
		wantStatus(t, owner.postJSON("/settings/2fa/passkeys/finish", finish), http.StatusCreated)
		res = owner.postJSON("/settings/2fa/passkeys/finish", finish)
		wantStatus(t, res, http.StatusUnprocessableEntity)
		wantField(t, res, "credential")
	})

	t.Run("ExpiredChallenge", func(t *testing.T) {
		auth := webauthntest.New(origin)
		wantStatus(t, registerPasskey(t, owner, auth, "Tablet"), http.StatusCreated)
		before := readPasskey(t, e, auth.ID())
		browser := newClient(t, e)
		body := `{"credential":` + passkeyAnswer(t, browser, auth) + `}`
		if _, err := e.db.Exec(`UPDATE passkey_challenges SET expires_at = now() - interval '1 second'`); err != nil {
			t.Fatal(err)
		}
		res := browser.postJSON("/login/passkey/finish", body)
		wantStatus(t, res, http.StatusUnprocessableEntity)
		wantField(t, res, "credential")
		if got := signedInAs(t, browser); got != 0 {
			t.Fatalf("an expired challenge signed in %d", got)
		}
		if got := readPasskey(t, e, auth.ID()); got.Count != before.Count || got.LastUsed != nil {
			t.Errorf("passkey after a refused answer %+v, want %+v", got, before)
		}
	})

	t.Run("NobodysCredential", func(t *testing.T) {
		// Created for a registration that was never finished: no account
		// has it.
		auth := webauthntest.New(origin)
		begun := owner.postJSON("/settings/2fa/passkeys/begin", `{"name":"Unfinished"}`)
		if _, err := auth.Create([]byte(begun.body)); err != nil {
			t.Fatal(err)
		}
		browser := newClient(t, e)
		wantStatus(t, signInWithPasskey(t, browser, auth, "/"), http.StatusUnauthorized)
		if got := signedInAs(t, browser); got != 0 {
			t.Fatalf("an unknown passkey signed in %d", got)
		}
	})

	t.Run("BadSignature", func(t *testing.T) {
		auth := webauthntest.New(origin)
		wantStatus(t, registerPasskey(t, owner, auth, "Key"), http.StatusCreated)
		browser := newClient(t, e)
		// Another page's origin: a phishing site relaying the challenge.
		auth.Origin = "http://localhost.evil.example"
		res := signInWithPasskey(t, browser, auth, "/")
		wantStatus(t, res, http.StatusUnauthorized)
		if got := signedInAs(t, browser); got != 0 {
			t.Fatalf("a passkey answer for another origin signed in %d", got)
		}
		if got := events(t, e, aistat.EventPasskeyFailed, u.ID); got != 1 {
			t.Errorf("%d passkey_failed events, want 1", got)
		}
	})

	t.Run("Throttled", func(t *testing.T) {
		// Answers that do not verify count as failed sign-ins of the
		// passkey's account, as wrong passwords do.
		guessed := mustCreateUser(t, e, "throttled-passkey@example.com", "Throttled", aistat.RoleViewer)
		theirs := newClient(t, e)
		theirs.login(guessed.Email)
		auth := webauthntest.New(origin)
		wantStatus(t, registerPasskey(t, theirs, auth, "Guessed"), http.StatusCreated)
		auth.Origin = "http://localhost.evil.example"
		for range aistat.ThrottleAccountLimit {
			wantStatus(t, signInWithPasskey(t, newClient(t, e), auth, "/"), http.StatusUnauthorized)
		}
		auth.Origin = origin
		browser := newClient(t, e)
		res := signInWithPasskey(t, browser, auth, "/")
		wantStatus(t, res, http.StatusTooManyRequests)
		if res.Header.Get("Retry-After") == "" {
			t.Error("no Retry-After")
		}
		if got := signedInAs(t, browser); got != 0 {
			t.Fatalf("a throttled passkey sign-in signed in %d", got)
		}
	})

	t.Run("CounterBackwards", func(t *testing.T) {
		auth := webauthntest.New(origin)
		wantStatus(t, registerPasskey(t, owner, auth, "Copied"), http.StatusCreated)
		copied := auth.Clone()
		wantStatus(t, signInWithPasskey(t, newClient(t, e), auth, "/"), http.StatusOK)
		// The copy signs with the counter the original already used.
		browser := newClient(t, e)
		res := signInWithPasskey(t, browser, copied, "/")
		wantStatus(t, res, http.StatusForbidden)
		wantBody(t, res, "looks copied")
		if got := signedInAs(t, browser); got != 0 {
			t.Fatalf("a copied passkey signed in %d", got)
		}
		if got := readPasskey(t, e, auth.ID()); !got.Cloned {
			t.Fatal("the copied passkey is not disabled")
		}
		if got := events(t, e, aistat.EventPasskeyCloned, u.ID); got != 1 {
			t.Errorf("%d passkey_cloned events, want 1", got)
		}
		if got := mails(t, e, aistat.MailPasskeyCloned, u.Email); got != 1 {
			t.Errorf("%d passkey_cloned mails, want 1", got)
		}
		// Disabled for the original too, and the owner is told.
		wantStatus(t, signInWithPasskey(t, newClient(t, e), auth, "/"), http.StatusForbidden)
		wantBody(t, owner.get("/settings/2fa"), "Disabled: looks copied")
		wantBody(t, owner.get("/settings/sessions"), "Passkey disabled: it looks copied")
	})

	t.Run("BadInput", func(t *testing.T) {
		stored := func() int { return countRows(t, e, `SELECT count(*) FROM passkeys`) }
		challenges := func() int { return countRows(t, e, `SELECT count(*) FROM passkey_challenges`) }
		row, keys, waiting := readUserRow(t, e, u.ID), stored(), challenges()
		for _, tc := range []struct {
			name, path, contentType, body string
			status                        int
			field                         string
		}{
			{"EmptyName", "/settings/2fa/passkeys/begin", "application/json", `{"name":"  "}`, 422, "name"},
			{"LongName", "/settings/2fa/passkeys/begin", "application/json", `{"name":"` + strings.Repeat("я", 41) + `"}`, 422, "name"},
			{"HiddenName", "/settings/2fa/passkeys/begin", "application/json", `{"name":"Key\u202egpj"}`, 422, "name"},
			{"ControlName", "/settings/2fa/passkeys/begin", "application/json", `{"name":"Key\n2"}`, 422, "name"},
			{"NameMissing", "/settings/2fa/passkeys/begin", "application/json", `{}`, 422, "name"},
			{"NameNotString", "/settings/2fa/passkeys/begin", "application/json", `{"name":5}`, 400, ""},
			{"NotJSON", "/settings/2fa/passkeys/begin", "text/plain", `name=x`, 415, ""},
			{"FinishMalformed", "/settings/2fa/passkeys/finish", "application/json", `{"name":`, 400, ""},
			{"FinishUnknown", "/settings/2fa/passkeys/finish", "application/json", `{"name":"a","credential":{},"admin":true}`, 400, ""},
			{"FinishNoCredential", "/settings/2fa/passkeys/finish", "application/json", `{"name":"a"}`, 422, "credential"},
			{"FinishCredentialString", "/settings/2fa/passkeys/finish", "application/json", `{"name":"a","credential":"x"}`, 400, ""},
			{"FinishGarbage", "/settings/2fa/passkeys/finish", "application/json", `{"name":"a","credential":{"id":"AA","type":"public-key"}}`, 422, "credential"},
			{"FinishBadName", "/settings/2fa/passkeys/finish", "application/json", `{"name":"","credential":{}}`, 422, "name"},
			{"FinishInvalidUTF8", "/settings/2fa/passkeys/finish", "application/json", "{\"name\":\"\xff\",\"credential\":{}}", 400, ""},
			{"SignInNoCredential", "/login/passkey/finish", "application/json", `{"next":"/"}`, 422, "credential"},
			{"SignInRemember", "/login/passkey/finish", "application/json", `{"credential":{},"remember":"yes"}`, 400, ""},
			{"SignInNext", "/login/passkey/finish", "application/json", `{"credential":{},"next":7}`, 400, ""},
			{"SignInGarbage", "/login/passkey/finish", "application/json", `{"credential":{"rawId":"!!"}}`, 422, "credential"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := owner.do(http.MethodPost, tc.path, tc.contentType, tc.body, "Accept", "application/json")
				wantStatus(t, res, tc.status)
				if tc.field != "" {
					wantField(t, res, tc.field)
				}
			})
		}
		for _, id := range []string{"abc", "", "-1", "1 2"} {
			wantStatus(t, owner.postForm("/settings/2fa/passkeys/remove", url.Values{"id": {id}}), http.StatusUnprocessableEntity)
		}
		wantStatus(t, owner.postForm("/settings/2fa/passkeys/remove", url.Values{"id": {"1", "2"}}), http.StatusUnprocessableEntity)
		if got := stored(); got != keys {
			t.Errorf("%d passkeys after bad input, want %d", got, keys)
		}
		if got := challenges(); got != waiting {
			t.Errorf("%d challenges after bad input, want %d", got, waiting)
		}
		if got := readUserRow(t, e, u.ID); got != row {
			t.Errorf("user after bad input %+v, want %+v", got, row)
		}
	})

	t.Run("AnotherUsersPasskey", func(t *testing.T) {
		other := mustCreateUser(t, e, "other-passkeys@example.com", "Other", aistat.RoleViewer)
		theirs := newClient(t, e)
		theirs.login(other.Email)
		auth := webauthntest.New(origin)
		wantStatus(t, registerPasskey(t, theirs, auth, "Theirs"), http.StatusCreated)
		var id int64
		if err := e.db.QueryRow(`SELECT id FROM passkeys WHERE credential_id = $1`, auth.ID()).Scan(&id); err != nil {
			t.Fatal(err)
		}
		wantStatus(t, owner.postForm("/settings/2fa/passkeys/remove", url.Values{"id": {itoa(id)}}), http.StatusNotFound)
		if got := countRows(t, e, `SELECT count(*) FROM passkeys WHERE id = $1`, id); got != 1 {
			t.Fatal("another user's passkey was removed")
		}
		wantNoBody(t, owner.get("/settings/2fa"), "Theirs")
	})
}

// TestServer_PasskeysOffForAnIPAddress: browsers refuse passkeys for a
// site named by an IP address, so such a site offers none.
func TestServer_PasskeysOffForAnIPAddress(t *testing.T) {
	e := mustOpenEnv(t)
	u := mustCreateUser(t, e, "ip@example.com", "IP", aistat.RoleViewer)
	c := newClient(t, e)
	wantNoBody(t, c.get("/login"), "passkey-sign-in", "webauthn")
	wantStatus(t, c.postJSON("/login/passkey/begin", ""), http.StatusNotFound)
	c.login(u.Email)
	wantBody(t, c.get("/settings/2fa"), "Passkeys are not available here")
}

// TestServer_PasskeyStep: a user whose second factor is a passkey is sent
// from the right password to /login/2fa, which offers the passkey and
// signs in with that user's passkey only, once per challenge.
func TestServer_PasskeyStep(t *testing.T) {
	e, origin := mustOpenPasskeyEnv(t)
	alice := mustCreateUser(t, e, "alice-step@example.com", "Alice", aistat.RoleAdmin)
	bob := mustCreateUser(t, e, "bob-step@example.com", "Bob", aistat.RoleViewer)
	keys := map[int64]*webauthntest.Authenticator{}
	for _, u := range []*aistat.User{alice, bob} {
		c := newClient(t, e)
		c.login(u.Email)
		keys[u.ID] = webauthntest.New(origin)
		wantStatus(t, registerPasskey(t, c, keys[u.ID], "Key"), http.StatusCreated)
	}
	// pending is a browser whose password for u was right: with a passkey
	// it is sent to the second step and not signed in yet.
	pending := func(u *aistat.User) *client {
		t.Helper()
		c := newClient(t, e)
		res := c.postForm("/login", url.Values{"email": {u.Email}, "password": {testPassword}, "remember": {"yes"}})
		wantStatus(t, res, http.StatusSeeOther)
		if loc := res.Header.Get("Location"); loc != "/login/2fa" {
			t.Fatalf("the password of a user with a passkey leads to %q, want /login/2fa", loc)
		}
		if id := signedInAs(t, c); id != 0 {
			t.Fatalf("signed in as %d before the second step", id)
		}
		return c
	}
	answer := func(c *client, auth *webauthntest.Authenticator) string {
		t.Helper()
		begun := c.postJSON("/login/2fa/passkey/begin", "")
		wantStatus(t, begun, http.StatusOK)
		cred, err := auth.Get([]byte(begun.body))
		if err != nil {
			t.Fatal(err)
		}
		return `{"credential":` + string(cred) + `}`
	}

	a := pending(alice)
	signIns := events(t, e, aistat.EventSignIn, alice.ID)
	// Passkeys alone: the page offers them and asks for no code.
	page := a.get("/login/2fa")
	wantBody(t, page, `id="passkey-step"`, "one of your passkeys")
	wantNoBody(t, page, `name="code"`)
	body := answer(a, keys[alice.ID])
	res := a.postJSON("/login/2fa/passkey/finish", body)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `"redirect":"/"`)
	if id := signedInAs(t, a); id != alice.ID {
		t.Fatalf("after the passkey: signed in as %d, want %d", id, alice.ID)
	}
	// Signed in as after a code: the sign-in is among alice's events.
	if got := events(t, e, aistat.EventSignIn, alice.ID); got != signIns+1 {
		t.Errorf("%d sign_in events after the passkey step, want %d", got, signIns+1)
	}

	again := pending(alice)
	if res := again.postJSON("/login/2fa/passkey/finish", body); res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("a reused answer: %d, want 422", res.StatusCode)
	}
	if res := again.postJSON("/login/2fa/passkey/finish", answer(again, keys[bob.ID])); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bob's passkey for alice: %d, want 401", res.StatusCode)
	}
	for _, bad := range []string{`{}`, `{"credential":"x"}`, `{"credential":{},"code":"1"}`, `not json`} {
		if res := again.postJSON("/login/2fa/passkey/finish", bad); res.StatusCode < 400 || res.StatusCode >= 500 {
			t.Errorf("body %s: %d %s, want a 4xx", bad, res.StatusCode, res.body)
		}
	}
	res = again.postJSON("/login/2fa/passkey/finish", `{}`)
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantField(t, res, "credential")
	if id := signedInAs(t, again); id != 0 {
		t.Fatalf("refused answers signed in as %d", id)
	}
	// Answers that do not verify count as failed sign-ins, as wrong codes
	// do: past the limit even alice's own passkey waits.
	// (The browsers are pending first: the throttle holds the password
	// step back too.)
	browsers := make([]*client, aistat.ThrottleAccountLimit+1)
	for i := range browsers {
		browsers[i] = pending(bob)
	}
	forged := keys[bob.ID].Clone()
	forged.Origin = "http://localhost.evil.example"
	for _, c := range browsers[1:] {
		wantStatus(t, c.postJSON("/login/2fa/passkey/finish", answer(c, forged)), http.StatusUnauthorized)
	}
	throttled := browsers[0]
	res = throttled.postJSON("/login/2fa/passkey/finish", answer(throttled, keys[bob.ID]))
	wantStatus(t, res, http.StatusTooManyRequests)
	if res.Header.Get("Retry-After") == "" {
		t.Error("a throttled second step without Retry-After")
	}
	// No pending sign-in at all.
	nobody := newClient(t, e)
	if res := nobody.postJSON("/login/2fa/passkey/begin", ""); res.StatusCode < 400 || res.StatusCode >= 500 {
		t.Errorf("begin without a pending sign-in: %d, want a 4xx", res.StatusCode)
	}
}
