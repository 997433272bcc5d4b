package i18n

import (
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"aistat"
)

func newCatalogue(t *testing.T) *Catalogue {
	t.Helper()
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestChoose(t *testing.T) {
	c := newCatalogue(t)
	for _, tt := range []struct {
		profile, cookie, accept string
		def                     aistat.Locale
		want                    aistat.Locale
	}{
		// The browser's languages, q weights honoured.
		{accept: "ru", def: aistat.LocaleEnglish, want: aistat.LocaleRussian},
		{accept: "ru-RU,ru;q=0.9", def: aistat.LocaleEnglish, want: aistat.LocaleRussian},
		{accept: "en-GB,en;q=0.8", want: aistat.LocaleEnglish},
		{accept: "en-US", want: aistat.LocaleEnglish},
		{accept: "de", def: aistat.LocaleRussian, want: aistat.LocaleRussian},
		{accept: "de", def: aistat.LocaleEnglish, want: aistat.LocaleEnglish},
		{accept: "de-DE,de;q=0.9,en;q=0.5", def: aistat.LocaleRussian, want: aistat.LocaleEnglish},
		{accept: "en;q=0.3,ru;q=0.7", def: aistat.LocaleEnglish, want: aistat.LocaleRussian},
		{accept: "ru;q=0.3,en;q=0.7", def: aistat.LocaleRussian, want: aistat.LocaleEnglish},
		{accept: "*", def: aistat.LocaleEnglish, want: aistat.LocaleEnglish},
		{accept: "", def: aistat.LocaleRussian, want: aistat.LocaleRussian},
		{accept: "garbage;;q=x", def: aistat.LocaleRussian, want: aistat.LocaleRussian},
		// The switch's cookie beats the browser, the profile beats both.
		{cookie: "en", accept: "ru", def: aistat.LocaleRussian, want: aistat.LocaleEnglish},
		{profile: "ru", cookie: "en", accept: "en", def: aistat.LocaleEnglish, want: aistat.LocaleRussian},
		{profile: "en", accept: "ru", def: aistat.LocaleRussian, want: aistat.LocaleEnglish},
		// Choices that are no language of the site are passed over.
		{profile: "de", cookie: "xx", accept: "en", def: aistat.LocaleRussian, want: aistat.LocaleEnglish},
		{cookie: "EN", accept: "ru", def: aistat.LocaleEnglish, want: aistat.LocaleRussian},
	} {
		// Twice: the second answer is the remembered one.
		for range 2 {
			if got := c.Choose(tt.profile, tt.cookie, tt.accept, tt.def); got != tt.want {
				t.Errorf("Choose(%q, %q, %q, %q) = %q, want %q", tt.profile, tt.cookie, tt.accept, tt.def, got, tt.want)
			}
		}
	}
}

// TestMatchRemembersBounded: Match remembers at most maxMatches headers,
// and none longer than maxMatchHeader, and still answers past them.
func TestMatchRemembersBounded(t *testing.T) {
	c := newCatalogue(t)
	for i := range maxMatches + 50 {
		if l, ok := c.Match("en;q=0.5, x-" + strconv.Itoa(i)); !ok || l != aistat.LocaleEnglish {
			t.Fatalf("header %d: %q %v", i, l, ok)
		}
	}
	long := "ru, " + strings.Repeat("x-abcdefgh, ", 20)
	if l, ok := c.Match(long); !ok || l != aistat.LocaleRussian {
		t.Errorf("a long header: %q %v", l, ok)
	}
	if n := c.nMatches.Load(); n != maxMatches {
		t.Errorf("remembered %d headers, want %d", n, maxMatches)
	}
}

func TestPlural(t *testing.T) {
	c := newCatalogue(t)
	ru, en := c.Localizer(aistat.LocaleRussian), c.Localizer(aistat.LocaleEnglish)
	for n, want := range map[int]string{
		0: "0 сеансов", 1: "1 сеанс", 2: "2 сеанса", 4: "4 сеанса", 5: "5 сеансов",
		11: "11 сеансов", 12: "12 сеансов", 14: "14 сеансов", 21: "21 сеанс", 22: "22 сеанса",
		25: "25 сеансов", 101: "101 сеанс", 111: "111 сеансов",
	} {
		if got := ru.N("sessions.count", n); got != want {
			t.Errorf("ru %d: %q, want %q", n, got, want)
		}
	}
	for n, want := range map[int]string{0: "0 sessions", 1: "1 session", 2: "2 sessions", 21: "21 sessions"} {
		if got := en.N("sessions.count", n); got != want {
			t.Errorf("en %d: %q, want %q", n, got, want)
		}
	}
}

func TestArguments(t *testing.T) {
	c := newCatalogue(t)
	ru, en := c.Localizer(aistat.LocaleRussian), c.Localizer(aistat.LocaleEnglish)
	if got := ru.F("flash.revoked", map[string]any{"Name": "Сара", "PluralCount": 5}); got != "Все сеансы пользователя Сара завершены (5 сеансов)." {
		t.Errorf("ru revoked: %q", got)
	}
	if got := en.F("flash.revoked", map[string]any{"Name": "Sara", "PluralCount": 1}); got != "Sara is signed out everywhere (1 session ended)." {
		t.Errorf("en revoked: %q", got)
	}
	if got := ru.F("flash.roleChanged", map[string]any{"Name": "Сара", "Role": ru.Role(aistat.RoleViewer)}); got != "Новая роль пользователя Сара: Читатель." {
		t.Errorf("ru role: %q", got)
	}
	if ru.Has("flash.roleChanged") {
		t.Error("a message with arguments counts as plain: a template could print it raw")
	}
}

func TestStatic(t *testing.T) {
	c := newCatalogue(t)
	if got := c.Localizer(aistat.LocaleRussian).T("role.admin"); got != "Администратор" {
		t.Errorf("ru role.admin = %q", got)
	}
	if got := c.Localizer(aistat.LocaleEnglish).T("role.admin"); got != "Admin" {
		t.Errorf("en role.admin = %q", got)
	}
	if got := c.Localizer(aistat.LocaleEnglish).T("no.such.key"); got != "no.such.key" {
		t.Errorf("a missing key = %q, want the key itself", got)
	}
	if got := c.Localizer(aistat.LocaleRussian).Role(aistat.RoleEditor); got != "Редактор" {
		t.Errorf("ru editor = %q", got)
	}
	if got := c.Localizer(aistat.LocaleRussian).Role(aistat.RoleViewer); got != "Читатель" {
		t.Errorf("ru viewer = %q", got)
	}
	if c.Localizer("de") != nil {
		t.Error("a localizer for a language the site does not speak")
	}
}

// TestCatalogueChecks feeds load message files that break each rule New
// holds the embedded ones to.
func TestCatalogueChecks(t *testing.T) {
	roles := `"role.admin": "a", "role.editor": "e", "role.viewer": "v"`
	months := `"month.1": "1", "month.2": "2", "month.3": "3", "month.4": "4", "month.5": "5", "month.6": "6", ` +
		`"month.7": "7", "month.8": "8", "month.9": "9", "month.10": "10", "month.11": "11", "month.12": "12"`
	good := map[string]string{
		"messages/ru.json": `{"a.b": "А", "n.x": {"one": "{{.PluralCount}} р", "few": "{{.PluralCount}} ра", "many": "{{.PluralCount}} ров", "other": "{{.PluralCount}} ра"}}`,
		"messages/en.json": `{"a.b": "A", "n.x": {"one": "{{.PluralCount}} r", "other": "{{.PluralCount}} rs"}}`,
	}
	files := func(ru, en string) fstest.MapFS {
		fs := fstest.MapFS{}
		// Every file needs the roles' labels; the cases leave them alone.
		withRoles := func(s string) []byte {
			switch {
			case s == "{}":
				return []byte("{" + roles + ", " + months + "}")
			case len(s) > 1 && s[0] == '{':
				return []byte("{" + roles + ", " + months + ", " + s[1:])
			}
			return []byte(s)
		}
		fs["messages/ru.json"] = &fstest.MapFile{Data: withRoles(ru)}
		fs["messages/en.json"] = &fstest.MapFile{Data: withRoles(en)}
		return fs
	}
	if _, err := load(files(good["messages/ru.json"], good["messages/en.json"])); err != nil {
		t.Fatalf("good files: %v", err)
	}
	for _, tt := range []struct {
		name, ru, en, want string
	}{
		{"missing in en", `{"a.b": "А", "c.d": "В"}`, `{"a.b": "A"}`, `"c.d" is missing in en`},
		{"missing in ru", `{"a.b": "А"}`, `{"a.b": "A", "c.d": "C"}`, `"c.d" is missing in ru`},
		{"russian form missing", `{"n.x": {"one": "р", "other": "ра"}}`, `{"n.x": {"one": "r", "other": "rs"}}`, `lacks the plural form "few"`},
		{"form english lacks", `{"n.x": {"one": "р", "few": "ра", "many": "ров", "other": "ра"}}`, `{"n.x": {"one": "r", "few": "rs", "other": "rs"}}`, `which en does not use`},
		{"counted in one only", `{"n.x": {"one": "р", "few": "ра", "many": "ров", "other": "ра"}}`, `{"n.x": "rs"}`, `"n.x" is counted in ru but plain in en`},
		{"empty", `{"a.b": ""}`, `{"a.b": "A"}`, `"a.b" is empty`},
		{"arguments in one only", `{"a.b": "{{.X}}"}`, `{"a.b": "A"}`, `"a.b" is with arguments in ru but plain in en`},
		{"not JSON", `[`, `{}`, `ru.json`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(files(tt.ru, tt.en))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("load: %v, want an error with %q", err, tt.want)
			}
		})
	}
	t.Run("no month", func(t *testing.T) {
		_, err := load(fstest.MapFS{
			"messages/ru.json": {Data: []byte("{" + roles + "}")},
			"messages/en.json": {Data: []byte("{" + roles + "}")},
		})
		if err == nil || !strings.Contains(err.Error(), `"month.1"`) {
			t.Errorf("load: %v, want an error naming month.1", err)
		}
	})
	t.Run("no role label", func(t *testing.T) {
		_, err := load(fstest.MapFS{
			"messages/ru.json": {Data: []byte(`{"a.b": "А"}`)},
			"messages/en.json": {Data: []byte(`{"a.b": "A"}`)},
		})
		if err == nil || !strings.Contains(err.Error(), `"role.admin"`) {
			t.Errorf("load: %v, want an error naming role.admin", err)
		}
	})
}

func TestTime(t *testing.T) {
	c := newCatalogue(t)
	moscow, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	yekaterinburg, err := time.LoadLocation("Asia/Yekaterinburg")
	if err != nil {
		t.Fatal(err)
	}
	when := time.Date(2026, 11, 27, 7, 51, 0, 0, time.UTC)
	for _, tt := range []struct {
		locale aistat.Locale
		zone   *time.Location
		want   string
	}{
		{aistat.LocaleRussian, moscow, "27 нояб. 2026, 10:51 MSK"},
		{aistat.LocaleEnglish, moscow, "27 Nov 2026, 10:51 MSK"},
		{aistat.LocaleEnglish, nil, "27 Nov 2026, 07:51 UTC"},
		{aistat.LocaleRussian, yekaterinburg, "27 нояб. 2026, 12:51 +05"},
	} {
		if got := c.Localizer(tt.locale).Time(when, tt.zone); got != tt.want {
			t.Errorf("%s %v: %q, want %q", tt.locale, tt.zone, got, tt.want)
		}
	}
	if got := c.Localizer(aistat.LocaleRussian).Time(time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC), nil); got != "1 мая 2026, 00:00 UTC" {
		t.Errorf("May in Russian: %q", got)
	}
}

func TestAgo(t *testing.T) {
	c := newCatalogue(t)
	ru, en := c.Localizer(aistat.LocaleRussian), c.Localizer(aistat.LocaleEnglish)
	now := time.Date(2026, 11, 27, 7, 51, 0, 0, time.UTC)
	for _, tt := range []struct {
		ago    time.Duration
		ru, en string
	}{
		{-time.Minute, "только что", "just now"},
		{59 * time.Second, "только что", "just now"},
		{time.Minute, "1 минуту назад", "1 minute ago"},
		{2 * time.Minute, "2 минуты назад", "2 minutes ago"},
		{5*time.Minute + 59*time.Second, "5 минут назад", "5 minutes ago"},
		{21 * time.Minute, "21 минуту назад", "21 minutes ago"},
		{time.Hour, "1 час назад", "1 hour ago"},
		{3 * time.Hour, "3 часа назад", "3 hours ago"},
		{11 * time.Hour, "11 часов назад", "11 hours ago"},
		{24 * time.Hour, "1 день назад", "1 day ago"},
		{22 * 24 * time.Hour, "22 дня назад", "22 days ago"},
		{30 * 24 * time.Hour, "30 дней назад", "30 days ago"},
		{31 * 24 * time.Hour, "27 окт. 2026, 07:51 UTC", "27 Oct 2026, 07:51 UTC"},
	} {
		if got := ru.Ago(now.Add(-tt.ago), now, nil); got != tt.ru {
			t.Errorf("ru %v: %q, want %q", tt.ago, got, tt.ru)
		}
		if got := en.Ago(now.Add(-tt.ago), now, nil); got != tt.en {
			t.Errorf("en %v: %q, want %q", tt.ago, got, tt.en)
		}
	}
}
