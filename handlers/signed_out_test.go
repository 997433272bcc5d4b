package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"aistat"
	"aistat/sessions"
)

// TestServer_SignedOutReason: a browser whose session was ended by someone
// or something else is told why on its next page, once; a page that needs
// a user sends it to sign in with the reason; a session ended by its own
// user tells nothing. A dead cookie costs one round trip either way.
func TestServer_SignedOutReason(t *testing.T) {
	e := mustOpenEnv(t)
	mustCreateUser(t, e, "boss@example.com", "Boss", aistat.RoleAdmin)
	admin := newClient(t, e)
	admin.login("boss@example.com")
	adminPost := func(path string, form url.Values) {
		t.Helper()
		wantStatus(t, admin.postForm(path, form), http.StatusSeeOther)
	}

	type endCase struct {
		reason aistat.EndReason
		// end ends the session of victim, signed in as u.
		end func(t *testing.T, u *aistat.User, victim *client)
	}
	tests := []endCase{
		{aistat.EndRevoked, func(t *testing.T, u *aistat.User, _ *client) {
			adminPost("/admin/users/"+itoa(u.ID)+"/revoke", confirmed())
		}},
		{aistat.EndDisabled, func(t *testing.T, u *aistat.User, _ *client) {
			adminPost("/admin/users/"+itoa(u.ID)+"/disable", confirmed())
		}},
		{aistat.EndDeleted, func(t *testing.T, u *aistat.User, _ *client) {
			adminPost("/admin/users/"+itoa(u.ID)+"/delete", url.Values{"confirm": {"yes"}})
		}},
		{aistat.EndPasswordChanged, func(t *testing.T, u *aistat.User, _ *client) {
			other := newClient(t, e)
			other.login(u.Email)
			wantStatus(t, other.postForm("/settings/password", url.Values{
				"current_password": {testPassword}, "new_password": {"a brand new passphrase"}}), http.StatusSeeOther)
		}},
		{aistat.EndExpired, func(t *testing.T, u *aistat.User, _ *client) {
			if _, err := e.db.Exec(`UPDATE sessions SET expiry = now() - interval '1 second' WHERE user_id = $1`, u.ID); err != nil {
				t.Fatal(err)
			}
		}},
	}
	// signedOut signs a new victim in and ends its session as tt says; each
	// case has an account of its own, so that cases run in any order.
	signedOut := func(t *testing.T, tt endCase, page string) *client {
		t.Helper()
		u := mustCreateUser(t, e, string(tt.reason)+"-"+page+"@example.com", "Victim", aistat.RoleViewer)
		victim := newClient(t, e)
		victim.login(u.Email)
		tt.end(t, u, victim)
		return victim
	}
	for _, tt := range tests {
		t.Run(string(tt.reason), func(t *testing.T) {
			t.Run("Page", func(t *testing.T) {
				victim := signedOut(t, tt, "page")
				before := e.counter.Count()
				res := victim.get("/")
				if trips := e.counter.Since(before); len(trips) != 1 {
					t.Fatalf("a dead cookie cost %d round trips, want 1:\n%s", len(trips), strings.Join(trips, "\n"))
				}
				wantStatus(t, res, http.StatusOK)
				wantBody(t, res, tt.reason.Message(), "Sign in")
				if victim.cookie() != "" {
					t.Fatal("the dead session cookie was kept")
				}
				// Told once: the next page is a plain anonymous one.
				wantNoBody(t, victim.get("/"), tt.reason.Message())
			})

			t.Run("PageThatNeedsAUser", func(t *testing.T) {
				victim := signedOut(t, tt, "settings")
				res := victim.get("/settings")
				wantStatus(t, res, http.StatusSeeOther)
				loc := res.Header.Get("Location")
				if want := "/login?next=%2Fsettings&signed_out=" + string(tt.reason); loc != want {
					t.Fatalf("Location %q, want %q", loc, want)
				}
				login := victim.get(loc)
				wantStatus(t, login, http.StatusOK)
				wantBody(t, login, tt.reason.Message())
			})
		})
	}

	t.Run("LiveLogoutLink", func(t *testing.T) {
		for _, reason := range []aistat.EndReason{aistat.EndRevoked, aistat.EndPasswordChanged, aistat.EndDisabled,
			aistat.EndDeleted, aistat.EndSessionLimit, aistat.EndExpired} {
			res := newClient(t, e).get("/login?signed_out=" + string(reason))
			wantStatus(t, res, http.StatusOK)
			wantBody(t, res, reason.Message())
		}
		res := newClient(t, e).get("/login?signed_out=%3Cb%3Eowned%3C%2Fb%3E")
		wantStatus(t, res, http.StatusOK)
		wantNoBody(t, res, "owned")
	})

	t.Run("OwnActionTellsNothing", func(t *testing.T) {
		u := mustCreateUser(t, e, "self@example.com", "Self", aistat.RoleViewer)
		here, there := newClient(t, e), newClient(t, e)
		here.login(u.Email)
		there.login(u.Email)
		wantStatus(t, here.postForm("/settings/sessions/end", url.Values{"session": {"others"}}), http.StatusSeeOther)
		res := there.get("/")
		wantStatus(t, res, http.StatusOK)
		for _, reason := range []aistat.EndReason{aistat.EndRevoked, aistat.EndPasswordChanged, aistat.EndDisabled,
			aistat.EndDeleted, aistat.EndSessionLimit, aistat.EndExpired} {
			wantNoBody(t, res, reason.Message())
		}
		var n int
		if err := e.db.QueryRow(`SELECT count(*) FROM ended_sessions WHERE token = $1`, hashToken(there.cookie())).Scan(&n); err != nil || n != 0 {
			t.Fatalf("ended_sessions rows for a session its own user ended: %d, %v", n, err)
		}
	})

	t.Run("SignInAgainAtOnce", func(t *testing.T) {
		u := mustCreateUser(t, e, "again@example.com", "Again", aistat.RoleViewer)
		victim := newClient(t, e)
		victim.login(u.Email)
		adminPost("/admin/users/"+itoa(u.ID)+"/revoke", confirmed())
		// The sign-in's own cookie comes after the one dropping the dead
		// session's, and wins.
		victim.login(u.Email)
		wantStatus(t, victim.get("/api/session"), http.StatusOK)
	})

	t.Run("FormPost", func(t *testing.T) {
		u := mustCreateUser(t, e, "poster@example.com", "Poster", aistat.RoleViewer)
		victim := newClient(t, e)
		victim.login(u.Email)
		adminPost("/admin/users/"+itoa(u.ID)+"/revoke", confirmed())
		res := victim.postForm("/settings", url.Values{"name": {"X"}, "avatar_url": {""}})
		wantStatus(t, res, http.StatusUnauthorized)
		wantBody(t, res, aistat.EndRevoked.Message())
	})
}

// TestServer_LogoutEventReason: the logout event of an open page says why
// its session ended, for static/live.js to pass on to the sign-in page.
func TestServer_LogoutEventReason(t *testing.T) {
	e := mustOpenEnv(t)
	mustCreateUser(t, e, "lead@example.com", "Lead", aistat.RoleAdmin)
	admin := newClient(t, e)
	admin.login("lead@example.com")
	tests := []struct {
		reason aistat.EndReason
		end    func(t *testing.T, u *aistat.User)
	}{
		{aistat.EndDeleted, func(t *testing.T, u *aistat.User) {
			wantStatus(t, admin.postForm("/admin/users/"+itoa(u.ID)+"/delete", url.Values{"confirm": {"yes"}}), http.StatusSeeOther)
		}},
		{aistat.EndPasswordChanged, func(t *testing.T, u *aistat.User) {
			other := newClient(t, e)
			other.login(u.Email)
			wantStatus(t, other.postForm("/settings/password", url.Values{
				"current_password": {testPassword}, "new_password": {"a brand new passphrase"}}), http.StatusSeeOther)
		}},
		{aistat.EndSessionLimit, func(t *testing.T, u *aistat.User) {
			for range sessions.MaxPerUser {
				newClient(t, e).login(u.Email)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.reason), func(t *testing.T) {
			u := mustCreateUser(t, e, string(tt.reason)+"@example.com", "Victim", aistat.RoleViewer)
			c := newClient(t, e)
			c.login(u.Email)
			s := c.openStream()
			tt.end(t, u)
			if ev := s.want("logout"); ev.data != `{"reason":"`+string(tt.reason)+`"}` {
				t.Fatalf("logout data %q, want the reason %s", ev.data, tt.reason)
			}
			s.wantEnd()
		})
	}
}
