package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"aistat"
)

// pageLang is the lang attribute of a page's <html>.
func pageLang(tb testing.TB, res *response) string {
	tb.Helper()
	_, rest, ok := strings.Cut(res.body, `<html lang="`)
	if !ok {
		tb.Fatalf("%s: no <html lang>: %.300s", res.Request.URL.Path, res.body)
	}
	lang, _, _ := strings.Cut(rest, `"`)
	return lang
}

// TestLanguage_Browser: without a choice of their own, a reader gets the
// language their browser asks for when the site speaks it, else Russian
// (--default-locale's default).
func TestLanguage_Browser(t *testing.T) {
	e := mustOpenEnv(t)
	c := newClient(t, e)
	for accept, want := range map[string]string{
		"ru":                      "ru",
		"ru-RU,ru;q=0.9":          "ru",
		"en-GB,en;q=0.8":          "en",
		"de":                      "ru",
		"de-DE,de;q=0.9,en;q=0.5": "en",
		"en;q=0.2,ru;q=0.8":       "ru",
		"":                        "ru",
	} {
		res := c.do(http.MethodGet, "/", "", "", "Accept-Language", accept)
		wantStatus(t, res, http.StatusOK)
		if got := pageLang(t, res); got != want {
			t.Errorf("Accept-Language %q: lang %q, want %q", accept, got, want)
		}
	}
	ru := c.do(http.MethodGet, "/", "", "", "Accept-Language", "ru")
	wantBody(t, ru, "Добро пожаловать", ">Войти</a>")
	wantNoBody(t, ru, "Welcome to ai-stat", ">Sign in</a>")
}

// TestLanguage_Switch: the switch on every page keeps a visitor's choice
// in a cookie that beats the browser's, and sends them back where they
// were; a signed-in user's choice goes to their profile.
func TestLanguage_Switch(t *testing.T) {
	e := mustOpenEnv(t)
	c := newClient(t, e)
	if !strings.Contains(c.get("/login").body, `action="/language"`) {
		t.Fatal("the login page has no language switch")
	}
	res := c.postForm("/language", url.Values{"locale": {"ru"}, "next": {"/login?next=%2Fsettings"}})
	wantStatus(t, res, http.StatusSeeOther)
	if got := res.Header.Get("Location"); got != "/login?next=%2Fsettings" {
		t.Errorf("Location %q, want the page the switch was on", got)
	}
	if got := pageLang(t, c.do(http.MethodGet, "/", "", "", "Accept-Language", "en")); got != "ru" {
		t.Errorf("after switching to Russian, an English browser gets %q", got)
	}

	// A next that leaves the site goes home instead.
	for _, next := range []string{"//evil.example/", "https://evil.example/", "", `/\evil.example`} {
		res := c.postForm("/language", url.Values{"locale": {"en"}, "next": {next}})
		wantStatus(t, res, http.StatusSeeOther)
		if got := res.Header.Get("Location"); got != "/" {
			t.Errorf("next %q: Location %q, want /", next, got)
		}
	}

	// A language the site does not speak is refused and changes nothing.
	for _, bad := range []string{"de", "", "EN", "ru-RU"} {
		res := c.postForm("/language", url.Values{"locale": {bad}, "next": {"/"}})
		wantStatus(t, res, http.StatusUnprocessableEntity)
		if res.Header.Get("Set-Cookie") != "" {
			t.Errorf("locale %q: a refused switch set a cookie", bad)
		}
	}
	if got := pageLang(t, c.do(http.MethodGet, "/", "", "", "Accept-Language", "ru")); got != "en" {
		t.Errorf("refused switches changed the language to %q", got)
	}

	// Signed in, the switch writes the profile, which beats every cookie.
	u := mustCreateUser(t, e, "switch@example.com", "Switcher", aistat.RoleViewer)
	c.login(u.Email)
	wantStatus(t, c.postForm("/language", url.Values{"locale": {"ru"}, "next": {"/settings"}}), http.StatusSeeOther)
	other := newClient(t, e)
	other.login(u.Email)
	other.postForm("/language", url.Values{"locale": {"ru"}})
	if got := readLocale(t, e, u.ID); got != "ru" {
		t.Errorf("profile locale %q after the switch, want ru", got)
	}
	other.http.Jar.SetCookies(mustURL(t, e.server.URL), []*http.Cookie{{Name: "lang", Value: "en", Path: "/"}})
	if got := pageLang(t, other.get("/settings")); got != "ru" {
		t.Errorf("another device with an English cookie: lang %q, want the profile's ru", got)
	}
}

// TestProfileLocale: PUT /api/profile takes an optional locale and
// timeZone; left out they stay, null clears them, anything else is 422
// naming the field with nothing written. /api/session reports them.
func TestProfileLocale(t *testing.T) {
	e := mustOpenEnv(t)
	u := mustCreateUser(t, e, "prefs@example.com", "Prefs", aistat.RoleViewer)
	c := newClient(t, e)
	c.login(u.Email)

	prefs := func(res *response) (any, any) {
		t.Helper()
		var body struct {
			User map[string]any `json:"user"`
		}
		if err := json.Unmarshal([]byte(res.body), &body); err != nil {
			t.Fatalf("%s: %v", res.body, err)
		}
		locale, ok1 := body.User["locale"]
		zone, ok2 := body.User["timeZone"]
		if !ok1 || !ok2 {
			t.Fatalf("user JSON without locale or timeZone: %s", res.body)
		}
		return locale, zone
	}
	if l, z := prefs(c.get("/api/session")); l != nil || z != nil {
		t.Errorf("a new user's locale %v, time zone %v: want null, null", l, z)
	}

	res := c.putJSON("/api/profile", `{"name": "Prefs", "avatarUrl": "", "locale": "en", "timeZone": "Asia/Tokyo"}`)
	wantStatus(t, res, http.StatusOK)
	if l, z := prefs(res); l != "en" || z != "Asia/Tokyo" {
		t.Errorf("saved locale %v, time zone %v", l, z)
	}
	if l, z := prefs(c.get("/api/session")); l != "en" || z != "Asia/Tokyo" {
		t.Errorf("/api/session: locale %v, time zone %v", l, z)
	}
	// The profile's language beats the browser's.
	if got := pageLang(t, c.do(http.MethodGet, "/", "", "", "Accept-Language", "ru")); got != "en" {
		t.Errorf("lang %q, want the profile's en", got)
	}

	// Without the keys, both stay.
	res = c.putJSON("/api/profile", `{"name": "Prefs Two", "avatarUrl": ""}`)
	wantStatus(t, res, http.StatusOK)
	if l, z := prefs(res); l != "en" || z != "Asia/Tokyo" {
		t.Errorf("a PUT without the keys changed them to %v, %v", l, z)
	}

	for _, tt := range []struct{ name, body, field string }{
		{"unknown locale", `{"name": "X", "avatarUrl": "", "locale": "de"}`, "locale"},
		{"empty locale", `{"name": "X", "avatarUrl": "", "locale": ""}`, "locale"},
		{"locale as a tag", `{"name": "X", "avatarUrl": "", "locale": "en-GB"}`, "locale"},
		{"unknown time zone", `{"name": "X", "avatarUrl": "", "timeZone": "Mars/Olympus"}`, "timeZone"},
		{"machine's time zone", `{"name": "X", "avatarUrl": "", "timeZone": "Local"}`, "timeZone"},
		{"empty time zone", `{"name": "X", "avatarUrl": "", "timeZone": ""}`, "timeZone"},
		{"time zone as a path", `{"name": "X", "avatarUrl": "", "timeZone": "../../etc/passwd"}`, "timeZone"},
		{"good locale, bad zone", `{"name": "X", "avatarUrl": "", "locale": "ru", "timeZone": "Nowhere"}`, "timeZone"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before, beforeLocale := readUserRow(t, e, u.ID), readLocale(t, e, u.ID)
			res := c.putJSON("/api/profile", tt.body)
			wantStatus(t, res, http.StatusUnprocessableEntity)
			var body struct {
				Fields map[string]string `json:"fields"`
			}
			if err := json.Unmarshal([]byte(res.body), &body); err != nil || body.Fields[tt.field] == "" {
				t.Errorf("422 does not name %s: %s", tt.field, res.body)
			}
			if after := readUserRow(t, e, u.ID); after != before || readLocale(t, e, u.ID) != beforeLocale {
				t.Errorf("a refused PUT wrote: %+v, now %+v", before, after)
			}
		})
	}
	for _, body := range []string{
		`{"name": "X", "avatarUrl": "", "locale": 1}`,
		`{"name": "X", "avatarUrl": "", "timeZone": ["UTC"]}`,
		`{"name": "X", "avatarUrl": null, "locale": "ru"}`,
	} {
		wantStatus(t, c.putJSON("/api/profile", body), http.StatusBadRequest)
	}

	// null follows the browser and the site's zone again.
	res = c.putJSON("/api/profile", `{"name": "Prefs", "avatarUrl": "", "locale": null, "timeZone": null}`)
	wantStatus(t, res, http.StatusOK)
	if l, z := prefs(res); l != nil || z != nil {
		t.Errorf("after null: %v, %v", l, z)
	}
	if got := pageLang(t, c.do(http.MethodGet, "/", "", "", "Accept-Language", "ru")); got != "ru" {
		t.Errorf("following the browser again: lang %q, want ru", got)
	}
}

// TestSettingsFormLocale: the form without JavaScript sets the language
// and the time zone; a bad zone is 422 with the field's message, nothing
// written; a form without the fields leaves them.
func TestSettingsFormLocale(t *testing.T) {
	e := mustOpenEnv(t)
	u := mustCreateUser(t, e, "form@example.com", "Form", aistat.RoleViewer)
	c := newClient(t, e)
	c.login(u.Email)
	page := c.get("/settings")
	wantBody(t, page, `name="locale"`, `name="time_zone"`, `placeholder="Europe/Moscow"`)

	res := c.postForm("/settings", url.Values{"name": {"Form"}, "avatar_url": {""}, "locale": {"ru"}, "time_zone": {"Europe/Berlin"}})
	wantStatus(t, res, http.StatusSeeOther)
	if got := readLocale(t, e, u.ID); got != "ru" {
		t.Errorf("locale %q, want ru", got)
	}
	next := c.get("/settings")
	if pageLang(t, next) != "ru" {
		t.Error("the page after saving Russian is not Russian")
	}
	wantBody(t, next, "Профиль сохранён.", `value="Europe/Berlin"`, `<option value="ru" lang="ru" selected>`)

	before := readUserRow(t, e, u.ID)
	res = c.postForm("/settings", url.Values{"name": {"Form"}, "avatar_url": {""}, "locale": {"en"}, "time_zone": {"Europe/Atlantis"}})
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, `id="time_zone-error">`, `value="Europe/Atlantis"`)
	if after := readUserRow(t, e, u.ID); after != before || readLocale(t, e, u.ID) != "ru" {
		t.Error("a refused form wrote")
	}

	wantStatus(t, c.postForm("/settings", url.Values{"name": {"Form"}, "avatar_url": {""}}), http.StatusSeeOther)
	if got := readLocale(t, e, u.ID); got != "ru" {
		t.Errorf("a form without the language changed it to %q", got)
	}
	// The empty choice follows the browser again.
	wantStatus(t, c.postForm("/settings", url.Values{"name": {"Form"}, "avatar_url": {""}, "locale": {""}, "time_zone": {""}}), http.StatusSeeOther)
	if got := readLocale(t, e, u.ID); got != "" {
		t.Errorf("locale %q after choosing the browser's", got)
	}
}

// readLocale is the user's stored language, "" for NULL.
func readLocale(tb testing.TB, e *env, id int64) string {
	tb.Helper()
	var locale *string
	if err := e.db.QueryRow(`SELECT locale FROM users WHERE id = $1`, id).Scan(&locale); err != nil {
		tb.Fatal(err)
	}
	if locale == nil {
		return ""
	}
	return *locale
}

func mustURL(tb testing.TB, raw string) *url.URL {
	tb.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		tb.Fatal(err)
	}
	return u
}

// TestRussianPlurals: a count in a Russian message takes the plural form
// CLDR gives it: 1 сеанс, 2 сеанса, 5 сеансов.
func TestRussianPlurals(t *testing.T) {
	e := mustOpenEnv(t)
	u := mustCreateUser(t, e, "plural@example.com", "Plural", aistat.RoleViewer)
	main := newClient(t, e)
	main.login(u.Email)
	for _, tt := range []struct {
		others int
		want   string
	}{
		{1, "Завершён 1 другой сеанс."},
		{2, "Завершено 2 других сеанса."},
		{5, "Завершено 5 других сеансов."},
	} {
		for range tt.others {
			newClient(t, e).login(u.Email)
		}
		form := url.Values{"session": {"others"}}.Encode()
		res := main.do(http.MethodPost, "/settings/sessions/end", "application/x-www-form-urlencoded", form, "Accept-Language", "ru")
		wantStatus(t, res, http.StatusSeeOther)
		wantBody(t, main.do(http.MethodGet, "/settings/sessions", "", "", "Accept-Language", "ru"), tt.want)
	}
}

// TestTimesInUsersZone: the pages show times in the reader's language and
// time zone: the profile's, else --time-zone (Europe/Moscow).
func TestTimesInUsersZone(t *testing.T) {
	e := mustOpenEnv(t)
	u := mustCreateUser(t, e, "zone@example.com", "Zone", aistat.RoleViewer)
	c := newClient(t, e)
	c.login(u.Email)
	if _, err := e.db.Exec(`UPDATE sessions SET created_at = '2026-11-27 07:51:00+00', last_active = '2026-11-27 07:51:00+00' WHERE user_id = $1`, u.ID); err != nil {
		t.Fatal(err)
	}
	page := c.do(http.MethodGet, "/settings/sessions", "", "", "Accept-Language", "ru")
	// The sessions say how long ago in words, and the time itself in
	// their title.
	wantBody(t, page, `<time datetime="2026-11-27T07:51:00Z" title="27 нояб. 2026, 10:51 MSK">`)
	wantStatus(t, c.putJSON("/api/profile", `{"name": "Zone", "avatarUrl": "", "timeZone": "Asia/Tokyo"}`), http.StatusOK)
	page = c.get("/settings/sessions")
	wantBody(t, page, `<time datetime="2026-11-27T07:51:00Z" title="27 Nov 2026, 16:51 JST">`)
}

// TestAdminFlashesInRussian: the admin's flashes name the user and the
// role in the admin's language, counts in their plural form.
func TestAdminFlashesInRussian(t *testing.T) {
	e := mustOpenEnv(t)
	admin := mustCreateUser(t, e, "boss@example.com", "Boss", aistat.RoleAdmin)
	target := mustCreateUser(t, e, "sara@example.com", "Сара", aistat.RoleEditor)
	for range 2 {
		newClient(t, e).login(target.Email)
	}
	c := newClient(t, e)
	c.login(admin.Email)
	post := func(path string, form url.Values) {
		t.Helper()
		res := c.do(http.MethodPost, path, "application/x-www-form-urlencoded", form.Encode(), "Accept-Language", "ru")
		wantStatus(t, res, http.StatusSeeOther)
	}
	home := func() *response { return c.do(http.MethodGet, "/admin", "", "", "Accept-Language", "ru") }
	post("/admin/users/"+itoa(target.ID)+"/role", url.Values{"role": {"viewer"}})
	wantBody(t, home(), "Новая роль пользователя Сара: Читатель.")
	post("/admin/users/"+itoa(target.ID)+"/revoke", confirmed())
	wantBody(t, home(), "Все сеансы пользователя Сара завершены (2 сеанса).")
}

// TestDomainMessagesInRussian: the domain's messages (a field's rule, a
// refused sign-in, an API error) reach a Russian reader in Russian.
func TestDomainMessagesInRussian(t *testing.T) {
	e := mustOpenEnv(t)
	u := mustCreateUser(t, e, "ru@example.com", "Ру", aistat.RoleViewer)
	anon := newClient(t, e)
	res := anon.do(http.MethodPost, "/login", "application/x-www-form-urlencoded",
		url.Values{"email": {u.Email}, "password": {"wrong password"}}.Encode(), "Accept-Language", "ru")
	wantStatus(t, res, http.StatusUnauthorized)
	wantBody(t, res, "Неверный адрес электронной почты или пароль.")

	c := newClient(t, e)
	c.login(u.Email)
	res = c.do(http.MethodPut, "/api/profile", "application/json", `{"name": "", "avatarUrl": ""}`, "Accept-Language", "ru")
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, `"name":"Укажите имя."`)
	res = c.do(http.MethodPost, "/settings", "application/x-www-form-urlencoded",
		url.Values{"name": {""}, "avatar_url": {"ftp://x"}}.Encode(), "Accept-Language", "ru")
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "Укажите имя.", "Адрес аватара должен начинаться с https://.")
	// Messages with a value in them: a field's name, a code point.
	res = c.do(http.MethodPut, "/api/profile", "application/json", `{"name": "Ру", "avatarUrl": "", "nmae": "x"}`, "Accept-Language", "ru")
	wantStatus(t, res, http.StatusBadRequest)
	wantBody(t, res, `"error":"Неизвестное поле \"nmae\"."`)
	res = c.do(http.MethodPut, "/api/profile", "application/json", `{"name": "Ру\u202e", "avatarUrl": ""}`, "Accept-Language", "ru")
	wantStatus(t, res, http.StatusUnprocessableEntity)
	wantBody(t, res, "меняющих направление текста (здесь U+202E).")
	// English readers keep the domain's words.
	wantBody(t, c.putJSON("/api/profile", `{"name": "", "avatarUrl": ""}`), `"name":"Name is required."`)
}

// TestThrottleInRussian: a throttled sign-in tells a Russian reader how
// long to wait in Russian, in the plural form of the wait.
func TestThrottleInRussian(t *testing.T) {
	e := mustOpenEnv(t)
	u := mustCreateUser(t, e, "throttled@example.com", "Ру", aistat.RoleViewer)
	anon := newClient(t, e)
	for range 50 {
		res := anon.do(http.MethodPost, "/login", "application/x-www-form-urlencoded",
			url.Values{"email": {u.Email}, "password": {"wrong password"}}.Encode(), "Accept-Language", "ru")
		if res.StatusCode == http.StatusTooManyRequests {
			wantBody(t, res, "Слишком много неудачных попыток. Попробуйте снова через ")
			wantNoBody(t, res, "Too many", "minute")
			return
		}
		wantStatus(t, res, http.StatusUnauthorized)
	}
	t.Fatal("50 wrong passwords and no throttle")
}

// TestRoleLabelInReadersLanguage: the user's JSON names the role in its
// reader's language, in the API's answers and in every stream's events.
func TestRoleLabelInReadersLanguage(t *testing.T) {
	e := mustOpenEnv(t)
	viewer := mustCreateUser(t, e, "label-viewer@example.com", "Ру", aistat.RoleViewer)
	ruAdmin := mustCreateUser(t, e, "label-ru@example.com", "Админ", aistat.RoleAdmin)
	enAdmin := mustCreateUser(t, e, "label-en@example.com", "Admin", aistat.RoleAdmin)
	own, ru, en := newClient(t, e), newClient(t, e), newClient(t, e)
	for c, u := range map[*client]*aistat.User{own: viewer, ru: ruAdmin, en: enAdmin} {
		c.login(u.Email)
	}
	wantStatus(t, ru.putJSON("/api/profile", `{"name": "Админ", "avatarUrl": "", "locale": "ru"}`), http.StatusOK)
	wantStatus(t, en.putJSON("/api/profile", `{"name": "Admin", "avatarUrl": "", "locale": "en"}`), http.StatusOK)
	res := own.putJSON("/api/profile", `{"name": "Ру", "avatarUrl": "", "locale": "ru"}`)
	wantStatus(t, res, http.StatusOK)
	wantBody(t, res, `"roleLabel":"Читатель"`)
	wantBody(t, own.get("/api/session"), `"roleLabel":"Читатель"`)

	ownStream, ruStream, enStream := own.openStream(), ru.openStream(), en.openStream()
	wantStatus(t, own.putJSON("/api/profile", `{"name": "Ру Два", "avatarUrl": ""}`), http.StatusOK)
	if ev := ownStream.want("profile"); !strings.Contains(ev.data, `"roleLabel":"Читатель"`) {
		t.Errorf("the user's own stream: %s", ev.data)
	}
	if got := userEventAbout(t, ruStream, viewer.ID); !strings.Contains(got, `"roleLabel":"Читатель"`) {
		t.Errorf("a Russian admin's stream: %s", got)
	}
	if got := userEventAbout(t, enStream, viewer.ID); !strings.Contains(got, `"roleLabel":"Viewer"`) {
		t.Errorf("an English admin's stream: %s", got)
	}
	// The user's new choice of language holds for their open stream too.
	// Earlier changes may still be on their way: the event that carries
	// the choice is the one to read.
	wantStatus(t, own.putJSON("/api/profile", `{"name": "Ру Два", "avatarUrl": "", "locale": "en"}`), http.StatusOK)
	for {
		ev := ownStream.want("profile")
		if strings.Contains(ev.data, `"locale":"en"`) {
			if !strings.Contains(ev.data, `"roleLabel":"Viewer"`) {
				t.Errorf("the user's own stream after choosing English: %s", ev.data)
			}
			break
		}
	}
}

// userEventAbout reads a staff stream up to its "user" event about the
// user with id and returns its data. The admin's own earlier changes may
// still arrive first, as "profile" events.
func userEventAbout(tb testing.TB, s *sse, id int64) string {
	tb.Helper()
	for {
		ev := s.next()
		if ev.name == "user" && decodeUser(tb, ev.data).ID == id {
			return ev.data
		}
	}
}
