package e2e

import (
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"aistat"
	"aistat/internal/pgtest"
)

// TestLanguage_RussianBrowser: a browser in Russian gets the pages in
// Russian; its visitor switches to English with the switch in the header,
// and keeps English on the next pages.
func TestLanguage_RussianBrowser(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	tb := newBrowserIn(t, "ru", "ru").newTab("visitor")
	tb.open(s.URL + "/")
	// The site's default is Russian too: the browser must really ask for
	// it, or the test would prove nothing.
	if got := eval[string](tb, `navigator.languages.join(',')`); got != "ru" {
		t.Fatalf("the browser's languages %q, want ru", got)
	}
	if got := eval[string](tb, `document.documentElement.lang`); got != "ru" {
		t.Fatalf("a Russian browser's page: lang %q, want ru", got)
	}
	if got := eval[string](tb, `document.querySelector('h1').textContent`); got != "Добро пожаловать в ai-stat" {
		t.Errorf("heading %q", got)
	}
	tb.do("choose English", chromedp.SetValue(chromedp.CSS(`#lang-switch`), "en"))
	tb.submit(`form.lang-switch button[type=submit]`)
	if got := eval[string](tb, `location.pathname + ' ' + document.documentElement.lang`); got != "/ en" {
		t.Errorf("after the switch: %q, want the same page in English", got)
	}
	tb.open(s.URL + "/login")
	if got := eval[string](tb, `document.documentElement.lang + ' ' + document.querySelector('h1').textContent`); got != "en Sign in" {
		t.Errorf("the next page: %q, want it in English", got)
	}
}

// TestLanguage_SettingsSwitchesEveryTab: choosing English on /settings
// turns the user's other open tab English too, by the live profile event.
func TestLanguage_SettingsSwitchesEveryTab(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	s.createUser(t, "editor@example.com", "Сара Чен", aistat.RoleEditor)
	b := newBrowserIn(t, "ru", "ru")
	settings := b.newTab("settings")
	settings.signIn(s, "editor@example.com", password)
	other := b.newTab("home")
	other.open(s.URL + "/")
	s.waitStreams(t, 1)
	settings.open(s.URL + "/settings")
	for _, tb := range []*tab{settings, other} {
		if got := eval[string](tb, `document.documentElement.lang`); got != "ru" {
			t.Fatalf("%s: lang %q before the change, want ru", tb.name, got)
		}
	}
	if got := eval[string](other, `document.querySelector('header [data-user-role]').textContent`); got != "Редактор" {
		t.Errorf("role label %q, want Редактор", got)
	}
	// A mark in each page's window: a reload would lose it.
	for _, tb := range []*tab{settings, other} {
		eval[bool](tb, `window.sameDocument = true`)
	}
	settings.do("choose English", chromedp.SetValue(chromedp.CSS(`#locale`), "en"))
	settings.click("#profile-form button[type=submit]")
	for _, tb := range []*tab{settings, other} {
		tb.waitFor("the page is in English", `document.documentElement.lang === 'en' && document.querySelector('header [data-user-role]').textContent === 'Editor'`, liveWithin)
		if !eval[bool](tb, `window.sameDocument === true`) {
			t.Errorf("%s: the page was reloaded to change its language", tb.name)
		}
		if got := eval[string](tb, `document.querySelector('h1').textContent + ' | ' + document.title`); strings.ContainsAny(got, "абвгдеёжзийклмнопрстуфхцчшщъыьэюя") {
			t.Errorf("%s: Russian words left after the change: %q", tb.name, got)
		}
	}
	if got := eval[string](settings, `document.getElementById('profile-status').textContent`); got != "Profile saved." {
		t.Errorf("the settings page after saving says %q, want Profile saved.", got)
	}
	// The page put in place works as the one it replaced: a rename from it
	// is saved and shown in the other tab.
	settings.do("rename", chromedp.SetValue(chromedp.CSS(`#name`), "Sara Chen"))
	settings.click("#profile-form button[type=submit]")
	other.waitFor("the rename from the new page", `document.querySelector('header [data-user-name]').textContent === 'Sara Chen'`, liveWithin)
	if !eval[bool](settings, `window.sameDocument === true`) {
		t.Errorf("saving from the page put in place reloaded it")
	}
}

// TestLanguage_ShownOnceStays: a page that shows something once (an
// admin's fresh reset link) keeps it when the admin changes language in
// another tab: fetching it again for the new words would show the link no
// more.
func TestLanguage_ShownOnceStays(t *testing.T) {
	s := startSite(t, pgtest.URL(t))
	s.createUser(t, "admin@example.com", "Администратор", aistat.RoleAdmin)
	target := s.createUser(t, "viewer@example.com", "Вера", aistat.RoleViewer)
	b := newBrowserIn(t, "ru", "ru")
	link := b.newTab("link")
	link.signIn(s, "admin@example.com", password)
	link.postFrom(s.URL+"/admin", "/admin/users/"+strconv.FormatInt(target.ID, 10)+"/reset")
	want := eval[string](link, `document.getElementById('reset-url').value`)
	if !strings.Contains(want, "/reset/") {
		t.Fatalf("the reset link page shows %q", want)
	}
	settings := b.newTab("settings")
	settings.open(s.URL + "/settings")
	s.waitStreams(t, 1)
	// A new name with the new language: the link's tab shows it once it
	// has heard of the change.
	settings.do("choose English", chromedp.SetValue(chromedp.CSS(`#locale`), "en"))
	settings.fill("#name", "Admin")
	settings.click("#profile-form button[type=submit]")
	settings.waitFor("the settings page is in English", `document.documentElement.lang === 'en'`, liveWithin)
	link.waitFor("the new name", `document.querySelector('header [data-user-name]').textContent === 'Admin'`, liveWithin)
	if got := eval[string](link, `(document.getElementById('reset-url') || {value: ''}).value`); got != want {
		t.Errorf("after the change of language the reset link page shows %q, want the link %q", got, want)
	}
}
