package aistat_test

import (
	"strings"
	"testing"

	"aistat"
)

func TestProfile_Normalize(t *testing.T) {
	tests := []struct {
		name, in, avatar string
		field            string // the field named in the error, "" when valid
		wantName         string
	}{
		{"Plain", "Ivan", "", "", "Ivan"},
		{"Trimmed", "  Сара Чен \t", "", "", "Сара Чен"},
		{"Cyrillic80", strings.Repeat("я", 80), "", "", strings.Repeat("я", 80)},
		{"Cyrillic81", strings.Repeat("я", 81), "", "name", ""},
		{"Blank", "", "", "name", ""},
		{"Spaces", "   ", "", "name", ""},
		{"Bell", "a\ab", "", "name", ""},
		{"Newline", "a\nb", "", "name", ""},
		{"NUL", "a\x00b", "", "name", ""},
		{"DEL", "a\x7fb", "", "name", ""},
		{"C1", "a\u0085b", "", "name", ""},
		{"InvalidUTF8", "a\xffb", "", "name", ""},
		{"AvatarHTTPS", "Ok", "https://example.com/a.png", "", "Ok"},
		{"AvatarHTTP", "Ok", "http://example.com:8080/a.png?x=1", "", "Ok"},
		{"AvatarUppercaseScheme", "Ok", "HTTPS://example.com/a.png", "", "Ok"},
		{"AvatarJavascript", "Ok", "javascript:alert(1)", "avatarUrl", ""},
		{"AvatarData", "Ok", "data:image/png;base64,AAAA", "avatarUrl", ""},
		{"AvatarRelative", "Ok", "/a.png", "avatarUrl", ""},
		{"AvatarSchemeRelative", "Ok", "//example.com/a.png", "avatarUrl", ""},
		{"AvatarNoHost", "Ok", "https:///a.png", "avatarUrl", ""},
		{"AvatarPortOnly", "Ok", "https://:443/a.png", "avatarUrl", ""},
		{"AvatarFile", "Ok", "file:///etc/passwd", "avatarUrl", ""},
		{"AvatarTooLong", "Ok", "https://example.com/" + strings.Repeat("a", 2029), "avatarUrl", ""},
		{"AvatarLongest", "Ok", "https://example.com/" + strings.Repeat("a", 2028), "", "Ok"},
		{"AvatarNewline", "Ok", "https://example.com/a\n.png", "avatarUrl", ""},
		{"BothBroken", "", "javascript:x", "name", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := aistat.Profile{Name: tt.in, AvatarURL: tt.avatar}.Normalize()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("got error %v, want none", err)
				}
				if got.Name != tt.wantName {
					t.Fatalf("name %q, want %q", got.Name, tt.wantName)
				}
				return
			}
			if aistat.ErrorCode(err) != aistat.EINVALID {
				t.Fatalf("got %v, want EINVALID", err)
			}
			if aistat.ErrorFields(err)[tt.field] == "" {
				t.Fatalf("error fields %v do not name %q", aistat.ErrorFields(err), tt.field)
			}
			if aistat.ErrorMessage(err) == "" {
				t.Fatal("no message")
			}
		})
	}
}

func TestUser_Initials(t *testing.T) {
	tests := []struct{ name, want string }{
		{"Сара Чен", "СЧ"},
		{"ivan", "I"},
		{"Anna Maria Lopez", "AM"},
		{"  ёжик   в тумане ", "ЁВ"},
	}
	for _, tt := range tests {
		if got := (&aistat.User{Name: tt.name}).Initials(); got != tt.want {
			t.Errorf("Initials(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestError(t *testing.T) {
	if got := aistat.ErrorMessage(errPlain("secret detail")); got != "Internal error." {
		t.Fatalf("internal error message %q leaks", got)
	}
	if got := aistat.ErrorCode(errPlain("x")); got != aistat.EINTERNAL {
		t.Fatalf("code %q", got)
	}
	if got := aistat.ErrorCode(nil); got != "" {
		t.Fatalf("nil code %q", got)
	}
}

type errPlain string

func (e errPlain) Error() string { return string(e) }
