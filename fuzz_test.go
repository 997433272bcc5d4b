package aistat_test

import (
	"net/mail"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"aistat"
)

// wantInvalid checks that err is EINVALID with a message and field
// messages, all for the given fields.
func wantInvalid(t *testing.T, err error, fields ...string) {
	t.Helper()
	if aistat.ErrorCode(err) != aistat.EINVALID || aistat.ErrorMessage(err) == "" {
		t.Fatalf("error %v, want EINVALID with a message", err)
	}
	got := aistat.ErrorFields(err)
	if len(got) == 0 {
		t.Fatal("EINVALID names no field")
	}
	for k, msg := range got {
		if !slices.Contains(fields, k) || msg == "" {
			t.Fatalf("fields %v, want messages for some of %v", got, fields)
		}
	}
}

func FuzzProfileNormalize(f *testing.F) {
	for _, seed := range [][2]string{
		{"Ivan", ""},
		{"  Сара Чен \t", "https://example.com/a.png"},
		{strings.Repeat("я", 80), "HTTP://EXAMPLE.COM:8080/a?b=c#d"},
		{strings.Repeat("я", 81), "javascript:alert(1)"},
		{"a\x00b", "https:///a.png"},
		{"\xff\xfe", "https://exa mple.com/"},
		{"\u200b", "https://:443/"},
		{"e\u0301\u0301\u0301", "http://[::1]/x"},
		{"\u0085 x", "https://例え.jp/画像.png"},
		{"\U0001F469\u200D\U0001F4BB", ""},
		{"a\u202Eb\u2066c", ""},
		{"\u0646\u06CC\u200C\u0646", ""},
		{"", "//example.com/a.png"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, name, avatar string) {
		got, err := aistat.Profile{Name: name, AvatarURL: avatar}.Normalize()
		if err != nil {
			wantInvalid(t, err, "name", "avatarUrl")
			return
		}
		n := got.Name
		switch {
		case !utf8.ValidString(n):
			t.Fatalf("accepted name %q is not valid UTF-8", n)
		case n != strings.TrimSpace(n) || n != norm.NFC.String(strings.TrimSpace(name)):
			t.Fatalf("accepted name %q is not the trimmed input %q in composed form", n, name)
		case utf8.RuneCountInString(n) < 1 || utf8.RuneCountInString(n) > aistat.MaxNameLength:
			t.Fatalf("accepted name %q has %d characters", n, utf8.RuneCountInString(n))
		case strings.IndexFunc(n, unicode.IsControl) >= 0:
			t.Fatalf("accepted name %q has a control character", n)
		case strings.IndexFunc(n, func(r rune) bool { return unicode.Is(unicode.Bidi_Control, r) }) >= 0:
			t.Fatalf("accepted name %+q has a bidi control", n)
		case strings.ContainsAny(n, "\u200B\uFEFF\u00AD\u2060\u3164"):
			t.Fatalf("accepted name %+q has an invisible character", n)
		}
		if a := got.AvatarURL; a != "" {
			u, err := url.Parse(a)
			switch {
			case len(a) > aistat.MaxAvatarURLLength || !utf8.ValidString(a):
				t.Fatalf("accepted avatar %q: too long or not UTF-8", a)
			case strings.IndexFunc(a, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
				t.Fatalf("accepted avatar %q has a space or control character", a)
			case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "":
				t.Fatalf("accepted avatar %q is not an absolute http(s) URL with a host", a)
			}
		}
		again, err := got.Normalize()
		if err != nil || again != got {
			t.Fatalf("Normalize is not idempotent: %+v -> %+v, %v", got, again, err)
		}
	})
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, seed := range []string{
		"editor@example.com", " Editor@Example.COM ", "a@b", "not-an-address", "Name <a@example.com>",
		"a@example.com\r\nBcc: x@example.com", "a\x00@example.com", "\xff@example.com", "\"quoted local\"@example.com",
		"a@[127.0.0.1]", "ü@例え.jp", "ad\u200Bmin@example.com", "\u0430dmin@example.com", strings.Repeat("a", 250) + "@x.io", "(comment)a@example.com", "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := aistat.NormalizeEmail(s)
		if err != nil {
			wantInvalid(t, err, "email")
			return
		}
		switch {
		case got == "" || len(got) > aistat.MaxEmailLength || !utf8.ValidString(got):
			t.Fatalf("accepted email %q: empty, too long or not UTF-8", got)
		case got != strings.TrimSpace(s):
			t.Fatalf("accepted email %q is not the trimmed input %q", got, s)
		case strings.IndexFunc(got, unicode.IsControl) >= 0:
			t.Fatalf("accepted email %q has a control character", got)
		case strings.IndexFunc(got, func(r rune) bool { return unicode.In(r, unicode.Cf, unicode.Variation_Selector) }) >= 0:
			t.Fatalf("accepted email %+q has an invisible character", got)
		}
		addr, err := mail.ParseAddress(got)
		if err != nil || addr.Address != got || addr.Name != "" {
			t.Fatalf("accepted email %q is not a bare address: %v", got, err)
		}
		if again, err := aistat.NormalizeEmail(got); err != nil || again != got {
			t.Fatalf("NormalizeEmail is not idempotent: %q -> %q, %v", got, again, err)
		}
	})
}

func FuzzValidatePassword(f *testing.F) {
	for _, seed := range []string{
		"correct horse battery", "short", "password123", "PASSWORD123", "1qaz2wsx3edc4rfv",
		strings.Repeat("x", 256), strings.Repeat("x", 257), strings.Repeat("я", 256), strings.Repeat("\U0001F600", 257), "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
		"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6", "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p string) {
		err := aistat.ValidatePassword(p, "")
		if err != nil {
			wantInvalid(t, err, "password")
		} else if n := utf8.RuneCountInString(p); n < aistat.MinPasswordLength || n > aistat.MaxPasswordLength || !utf8.ValidString(p) {
			t.Fatalf("accepted a password of %d characters", n)
		}
		if isASCII(p) && aistat.ValidatePassword(p, strings.ToUpper(p)) == nil && strings.TrimSpace(p) != "" {
			t.Fatalf("accepted a password equal to the email")
		}
		// The common list is compared without regard to case; ASCII case
		// changes keep the length, so the verdict must not change.
		if up := strings.ToUpper(p); isASCII(p) && (aistat.ValidatePassword(up, "") == nil) != (err == nil) {
			t.Fatalf("ValidatePassword(%q) and ValidatePassword(%q) disagree", p, up)
		}
	})
}

func isASCII(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool { return r >= utf8.RuneSelf }) < 0
}

// deviceName is what ParseUserAgent may call a browser.
var deviceName = regexp.MustCompile(`^(Chrome|Firefox|Safari|Edge|Opera|Yandex Browser|Samsung Internet)( [0-9]{1,4})?$`)

func FuzzParseUserAgent(f *testing.F) {
	for _, seed := range []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
		"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
		"Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.68",
		"Opera/9.80 (X11; Linux x86_64) Presto/2.12.388 Version/12.16",
		"Chrome/", "Version/Safari/AppleWebKit/", "Edg/99999999", "\xff\xfeFirefox/1\x00", "", "curl/8.5.0",
	} {
		f.Add(seed)
	}
	systems := []string{"Windows", "macOS", "iOS", "Android", "Linux", "ChromeOS", aistat.UnknownSystem}
	f.Fuzz(func(t *testing.T, ua string) {
		d := aistat.ParseUserAgent(ua)
		if d.Browser != aistat.UnknownBrowser && !deviceName.MatchString(d.Browser) {
			t.Fatalf("browser %q from %q", d.Browser, ua)
		}
		if !slices.Contains(systems, d.System) {
			t.Fatalf("system %q from %q", d.System, ua)
		}
		if d.String() != d.Browser+" on "+d.System {
			t.Fatalf("String() = %q", d.String())
		}
	})
}
