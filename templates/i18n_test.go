package templates

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"aistat"
)

// localizedPages are the pages whose every word comes from the catalogue;
// the header is on every page.
var localizedPages = []string{"home/", "settings/", "login/", "error/", "sessions/", "admin/", "audit/", "user-confirm/", "reset/", "reset-link/", "forgot/", "email-confirm/"}

// TestPagesInBothLanguages renders every page in every language: each
// says its language in <html lang>, none shows a raw message key, and the
// pages that are wholly in the catalogue show no word of the other
// language.
func TestPagesInBothLanguages(t *testing.T) {
	tmpl, _ := newTemplates(t)
	keys := catalogue.Keys()
	for _, locale := range aistat.Locales {
		loc := catalogue.Localizer(locale)
		for name, v := range samplesIn(loc) {
			html := render(t, tmpl, v)
			if !strings.Contains(html, `<html lang="`+string(locale)+`">`) {
				t.Errorf("%s in %s: no <html lang=%q>", name, locale, locale)
			}
			for _, key := range keys {
				if strings.Contains(html, key) {
					t.Errorf("%s in %s: the raw key %q", name, locale, key)
				}
			}
			checked := false
			for _, prefix := range localizedPages {
				checked = checked || strings.HasPrefix(name, prefix)
			}
			// Of the other pages, only the header is wholly in the
			// catalogue.
			text := html
			if !checked {
				start, end := strings.Index(html, "<header"), strings.Index(html, "</header>")
				text = html[start:end]
			}
			for _, other := range aistat.Locales {
				if other == locale {
					continue
				}
				for _, key := range keys {
					// The switch names each language in itself.
					if strings.HasPrefix(key, "lang.") || !loc.Has(key) {
						continue
					}
					word := catalogue.Localizer(other).T(key)
					if word != loc.T(key) && len([]rune(word)) > 3 && strings.Contains(text, ">"+word+"<") {
						t.Errorf("%s in %s: %q of %s (%s)", name, locale, word, other, key)
					}
				}
			}
		}
	}
}

// TestRussianHeader: the header's words and the role labels in Russian.
func TestRussianHeader(t *testing.T) {
	tmpl, _ := newTemplates(t)
	html := render(t, tmpl, HomePage{Lang: aistat.LocaleRussian, Title: "Главная", User: NewAccount(admin, ru), Path: "/"})
	for _, want := range []string{
		`<html lang="ru">`,
		`>Администратор</span>`,
		`>Настройки</a>`,
		`>Выйти</button>`,
		`<option value="ru" lang="ru" selected>Русский</option><option value="en" lang="en">English</option>`,
		`data-admin-label="Управление"`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("no %s in\n%s", want, html)
		}
	}
	anon := render(t, tmpl, HomePage{Lang: aistat.LocaleRussian, Title: "Главная", Path: "/"})
	if !strings.Contains(anon, `>Войти</a>`) || !strings.Contains(anon, `<form class="lang-switch" method="post" action="/language">`) {
		t.Errorf("the anonymous header in Russian:\n%s", anon)
	}
}

// TestLanguageOfPage: a page renders in the language its data names, the
// default one when it names none, and fails for one the site does not
// speak.
func TestLanguageOfPage(t *testing.T) {
	tmpl, _ := newTemplates(t)
	if html := render(t, tmpl, HomePage{Title: "Home", Path: "/"}); !strings.Contains(html, `<html lang="en">`) {
		t.Error("a page without a language is not in the default one")
	}
	var buf bytes.Buffer
	if err := tmpl.Render(&buf, HomePage{Lang: "de", Title: "Home", Path: "/"}); err == nil || buf.Len() != 0 {
		t.Errorf("a page in German rendered (%v)", err)
	}
}

// TestUnknownMessage: a template that uses a key the catalogue does not
// have fails New.
func TestUnknownMessage(t *testing.T) {
	_, err := localize(map[string]string{"x.html": `<p>{{t "no.such.key"}}</p>`}, en)
	if err == nil || !strings.Contains(err.Error(), `"no.such.key"`) {
		t.Errorf("localize: %v, want an error naming the key", err)
	}
	out, err := localize(map[string]string{"x.html": `<html lang="{{lang}}"><p title="{{t "role.admin"}}">{{t "header.signIn"}}</p>`}, ru)
	if err != nil {
		t.Fatal(err)
	}
	if got := out["x.html"]; got != `<html lang="ru"><p title="Администратор">Войти</p>` {
		t.Errorf("localized source %q", got)
	}
}

// TestTimesInReadersZone: a page's times are in its language and its
// reader's zone, each in a <time datetime> with the instant in UTC.
func TestTimesInReadersZone(t *testing.T) {
	tmpl, _ := newTemplates(t)
	moscow, err := time.LoadLocation("Europe/Moscow")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 27, 7, 51, 0, 0, time.UTC)
	sessions := []aistat.ActiveSession{{ID: 7, IP: "192.0.2.1", CreatedAt: at, LastActive: at}}
	html := render(t, tmpl, SessionsPage{
		Page:     Page{Lang: aistat.LocaleRussian, Zone: moscow, Title: "Сеансы", User: NewAccount(viewer, ru), Path: "/settings/sessions"},
		Now:      at.Add(2*time.Minute + 5*time.Second),
		Sessions: NewSessionRows(sessions, 7, NameForm{}),
		Events:   []aistat.SecurityEvent{{ID: 1, CreatedAt: at, Kind: aistat.EventSignIn}},
	})
	want := `<time datetime="2026-11-27T07:51:00Z">27 нояб. 2026, 10:51 MSK</time>`
	if n := strings.Count(html, want); n != 1 {
		t.Errorf("%d times of %s, want 1 (the event):\n%s", n, want, html)
	}
	// A session's times in words, counted in Russian's plural forms, the
	// date a hover away.
	want = `<time datetime="2026-11-27T07:51:00Z" title="27 нояб. 2026, 10:51 MSK">2 минуты назад</time>`
	if n := strings.Count(html, want); n != 2 {
		t.Errorf("%d times of %s, want 2 (started, last active):\n%s", n, want, html)
	}
	if !strings.Contains(html, ">Вход</th>") {
		t.Error("the event's label is not in Russian")
	}
	admin := render(t, tmpl, AdminPage{
		Page:    Page{Lang: aistat.LocaleEnglish, Zone: moscow, Title: "Admin", User: NewAccount(admin, en), Path: "/admin"},
		Rows:    NewAdminRows([]aistat.UserSummary{{User: *editor, ActiveSessions: 1, LastActive: at}}, admin.ID, en, moscow),
		Private: true,
		Audit:   []aistat.AuditEntry{{ID: 1, At: at, Action: aistat.AuditDelete}},
	})
	if n := strings.Count(admin, `<time datetime="2026-11-27T07:51:00Z">27 Nov 2026, 10:51 MSK</time>`); n != 2 {
		t.Errorf("%d times in the reader's zone on the admin page, want 2 (the row, the audit log)", n)
	}
}

// TestAuditDetailsInRussian: the audit log's details, stored in the
// domain's English, read in the page's language.
func TestAuditDetailsInRussian(t *testing.T) {
	tmpl, _ := newTemplates(t)
	at := time.Date(2026, 11, 27, 7, 51, 0, 0, time.UTC)
	html := render(t, tmpl, AuditPage{
		Page: Page{Lang: aistat.LocaleRussian, Zone: time.UTC, Title: "Журнал", User: NewAccount(admin, ru), Path: "/admin/audit"},
		Entries: []aistat.AuditEntry{
			{ID: 1, At: at, Action: aistat.AuditRoleChange, Detail: "Viewer → Admin"},
			{ID: 2, At: at, Action: aistat.AuditDisable, Detail: "2 sessions ended, reset link cancelled"},
			{ID: 3, At: at, Action: aistat.AuditResetLink, Detail: "valid for 60 minutes"},
		},
	})
	for _, want := range []string{"<td>Читатель → Администратор</td>", "<td>2 сеанса завершены, ссылка для сброса пароля отменена</td>", "<td>действует 60 минут</td>"} {
		if !strings.Contains(html, want) {
			t.Errorf("no %s in\n%s", want, html)
		}
	}
}

// TestSuggestedTimeZones: every zone the settings page suggests is one the
// profile accepts.
func TestSuggestedTimeZones(t *testing.T) {
	for _, zone := range suggestedTimeZones {
		if !aistat.ValidTimeZone(zone) {
			t.Errorf("%s is not a time zone the profile accepts", zone)
		}
	}
}
