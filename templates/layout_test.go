package templates

import (
	"strings"
	"testing"

	"aistat"
)

// TestLayout_LiveRegion: a signed-in page has one polite live region that
// holds, in the page's language, what the scripts say there of a change
// made elsewhere; an anonymous page, which follows no changes, has none.
func TestLayout_LiveRegion(t *testing.T) {
	tmpl, _ := newTemplates(t)
	for _, tt := range []struct {
		lang aistat.Locale
		want []string
	}{
		{aistat.LocaleEnglish, []string{`data-live-name="Your name was changed in another tab or on another device."`, `data-live-role-viewer="Your role is now Viewer."`}},
		{aistat.LocaleRussian, []string{`data-live-name="Ваше имя изменено в другой вкладке или на другом устройстве."`, `data-live-role-admin="Теперь ваша роль — Администратор."`}},
	} {
		loc := catalogue.Localizer(tt.lang)
		html := render(t, tmpl, HomePage{Lang: tt.lang, Title: "Home", User: NewAccount(admin, loc), Path: "/"})
		if n := strings.Count(html, `aria-live="polite"`); n != 1 {
			t.Errorf("%s: %d polite live regions, want 1", tt.lang, n)
		}
		for _, want := range tt.want {
			if !strings.Contains(html, want) {
				t.Errorf("%s: the live region lacks %s", tt.lang, want)
			}
		}
	}
	if html := render(t, tmpl, HomePage{Lang: aistat.LocaleEnglish, Title: "Home", Path: "/"}); strings.Contains(html, `id="live-region"`) {
		t.Error("an anonymous page has the live region")
	}
}
