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
		{"AvatarHTTPSPortQuery", "Ok", "https://example.com:8443/a.png?x=1", "", "Ok"},
		{"AvatarHTTP", "Ok", "http://example.com/a.png", "avatarUrl", ""},
		{"AvatarStored", "Ok", "/avatars/" + strings.Repeat("0a", 32) + ".jpg", "", "Ok"},
		{"AvatarStoredUppercase", "Ok", "/avatars/" + strings.Repeat("0A", 32) + ".jpg", "avatarUrl", ""},
		{"AvatarStoredShort", "Ok", "/avatars/" + strings.Repeat("0a", 31) + ".jpg", "avatarUrl", ""},
		{"AvatarStoredPNG", "Ok", "/avatars/" + strings.Repeat("0a", 32) + ".png", "avatarUrl", ""},
		{"AvatarStoredQuery", "Ok", "/avatars/" + strings.Repeat("0a", 32) + ".jpg?size=64", "avatarUrl", ""},
		{"AvatarOtherPath", "Ok", "/avatars/../admin", "avatarUrl", ""},
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

// TestProfile_NormalizeHiddenCharacters is the name rule's line between
// what a reader cannot see and what legitimate text needs. Every string is
// written with escapes, so that this file holds no invisible character.
func TestProfile_NormalizeHiddenCharacters(t *testing.T) {
	refused := []struct{ name, in, codePoint string }{
		{"RightToLeftOverride", "admin\u202Egnp.exe", "U+202E"},
		{"ZeroWidthSpace", "ad\u200Bmin", "U+200B"},
		{"LeftToRightIsolate", "\u2066Ivan\u2069", "U+2066"},
		{"ByteOrderMark", "\uFEFFIvan", "U+FEFF"},
		{"SoftHyphen", "Iv\u00ADan", "U+00AD"},
		{"RightToLeftMark", "Ivan\u200F", "U+200F"},
		{"ArabicLetterMark", "Ivan\u061C", "U+061C"},
		{"WordJoiner", "Iv\u2060an", "U+2060"},
		{"HangulFiller", "\u3164", "U+3164"},
		{"HalfwidthHangulFiller", "Ivan\uFFA0", "U+FFA0"},
		{"CombiningGraphemeJoiner", "Iv\u034Fan", "U+034F"},
		{"JoinerBetweenLetters", "ad\u200Dmin", "U+200D"},
		{"NonJoinerBetweenLatinLetters", "ad\u200Cmin", "U+200C"},
		{"JoinerAtTheEnd", "\U0001F469\u200D", "U+200D"},
		{"EmojiSelectorAfterLetter", "admin\uFE0F", "U+FE0F"},
		{"VariationSelectorAlone", "\uFE0F", "U+FE0F"},
		{"IdeographicSelectorAfterLatin", "a\U000E0100", "U+E0100"},
		{"StrayTag", "Ivan\U000E0067", "U+E0067"},
		{"FlagTagsWithoutCancel", "\U0001F3F4\U000E0067\U000E0062", "U+E0067"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := aistat.Profile{Name: tt.in}.Normalize()
			if aistat.ErrorCode(err) != aistat.EINVALID {
				t.Fatalf("Normalize(%+q) = %v, want EINVALID", tt.in, err)
			}
			if msg := aistat.ErrorFields(err)["name"]; !strings.Contains(msg, "invisible") || !strings.Contains(msg, tt.codePoint) {
				t.Fatalf("name message %q, want one about invisible characters naming %s", msg, tt.codePoint)
			}
		})
	}
	for _, tt := range []struct{ name, in string }{
		{"LineSeparator", "Iv\u2028an"},
		{"ParagraphSeparator", "Iv\u2029an"},
		{"BrailleBlank", "\u2800\u2800"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := (aistat.Profile{Name: tt.in}).Normalize(); aistat.ErrorFields(err)["name"] == "" {
				t.Fatalf("Normalize(%+q) = %v, want EINVALID naming name", tt.in, err)
			}
		})
	}

	accepted := []struct{ name, in string }{
		{"Technologist", "\U0001F469\u200D\U0001F4BB"},
		{"Family", "\U0001F468\u200D\U0001F469\u200D\U0001F467"},
		{"SkinToneInSequence", "\U0001F9D1\U0001F3FD\u200D\U0001F4BB"},
		{"RainbowFlag", "\U0001F3F3\uFE0F\u200D\U0001F308"},
		{"RedHeart", "Ivan \u2764\uFE0F"},
		{"Keycap", "Team 1\uFE0F\u20E3"},
		{"FlagOfRussia", "\U0001F1F7\U0001F1FA Ivan"},
		{"FlagOfScotland", "\U0001F3F4\U000E0067\U000E0062\U000E0073\U000E0063\U000E0074\U000E007F"},
		{"BlackFlagAlone", "\U0001F3F4"},
		{"PersianNonJoiner", "\u0646\u06CC\u06A9\u200C\u0646\u0627\u0645"},
		{"SinhalaSri", "\u0DC1\u0DCA\u200D\u0DBB\u0DD3"},
		{"DevanagariHalfForm", "\u0915\u094D\u200C\u0937"},
		{"JapaneseNameGlyph", "\u845B\U000E0100\u98FE"},
		{"MongolianVowelSeparator", "\u182C\u1820\u1833\u1820\u180E\u1820"},
		{"WavyDashEmoji", "Ivan \u3030\uFE0F"},
		{"KissSequence", "\U0001F469\u200D\u2764\uFE0F\u200D\U0001F48B\u200D\U0001F468"},
		{"MiddleDot", "Jean \u00B7 Paul"},
		{"Arabic", "\u0645\u062D\u0645\u062F"},
		{"Hebrew", "\u05D3\u05D5\u05D3"},
		{"Cyrillic", "\u0421\u0430\u0440\u0430 \u0427\u0435\u043D"},
		{"Ligature", "\uFB01ona"},
	}
	for _, tt := range accepted {
		t.Run(tt.name, func(t *testing.T) {
			got, err := aistat.Profile{Name: tt.in}.Normalize()
			if err != nil {
				t.Fatalf("Normalize(%+q) = %v, want it accepted", tt.in, err)
			}
			if got.Name != tt.in {
				t.Fatalf("name %+q, want it kept as typed %+q", got.Name, tt.in)
			}
		})
	}

	t.Run("ComposedForm", func(t *testing.T) {
		got, err := aistat.Profile{Name: "Jose\u0301"}.Normalize()
		if err != nil || got.Name != "Jos\u00E9" {
			t.Fatalf("Normalize = %+q, %v; want the composed form", got.Name, err)
		}
	})
}

func TestNormalizeEmail_HiddenCharacters(t *testing.T) {
	for _, email := range []string{"ad\u200Bmin@ai-stat.ru", "admin\u202E@ai-stat.ru", "\uFEFFadmin@ai-stat.ru", "admin@ai\u00AD-stat.ru", "a\u200Dd@ai-stat.ru"} {
		_, err := aistat.NormalizeEmail(email)
		if msg := aistat.ErrorFields(err)["email"]; !strings.Contains(msg, "invisible") {
			t.Errorf("NormalizeEmail(%+q) = %v, want EINVALID about invisible characters", email, err)
		}
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

// TestProfile_NormalizePreferences: a profile's language is one of the
// site's or "" (the browser's), its time zone a zone of the IANA database
// or "" (the site's); nil keeps either as it is.
func TestProfile_NormalizePreferences(t *testing.T) {
	str := func(s string) *string { return &s }
	loc := func(s string) *aistat.Locale { l := aistat.Locale(s); return &l }
	for _, tt := range []struct {
		name   string
		p      aistat.Profile
		fields []string
	}{
		{"neither", aistat.Profile{Name: "A"}, nil},
		{"both", aistat.Profile{Name: "A", Locale: loc("ru"), TimeZone: str("Europe/Moscow")}, nil},
		{"cleared", aistat.Profile{Name: "A", Locale: loc(""), TimeZone: str("")}, nil},
		{"UTC", aistat.Profile{Name: "A", TimeZone: str("UTC")}, nil},
		{"spaces around a zone", aistat.Profile{Name: "A", TimeZone: str(" Asia/Tokyo ")}, nil},
		{"German", aistat.Profile{Name: "A", Locale: loc("de")}, []string{"locale"}},
		{"a tag", aistat.Profile{Name: "A", Locale: loc("ru-RU")}, []string{"locale"}},
		{"upper case", aistat.Profile{Name: "A", Locale: loc("EN")}, []string{"locale"}},
		{"no such zone", aistat.Profile{Name: "A", TimeZone: str("Mars/Olympus")}, []string{"timeZone"}},
		{"the machine's zone", aistat.Profile{Name: "A", TimeZone: str("Local")}, []string{"timeZone"}},
		{"a path", aistat.Profile{Name: "A", TimeZone: str("../../etc/passwd")}, []string{"timeZone"}},
		{"an absolute path", aistat.Profile{Name: "A", TimeZone: str("/etc/localtime")}, []string{"timeZone"}},
		{"both wrong", aistat.Profile{Name: "A", Locale: loc("xx"), TimeZone: str("Nowhere")}, []string{"locale", "timeZone"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.p.Normalize()
			fields := aistat.ErrorFields(err)
			if len(fields) != len(tt.fields) {
				t.Fatalf("fields %v, want %v", fields, tt.fields)
			}
			for _, f := range tt.fields {
				if fields[f] == "" {
					t.Errorf("no message for %s: %v", f, fields)
				}
			}
			if err == nil && tt.p.TimeZone != nil && *got.TimeZone != strings.TrimSpace(*tt.p.TimeZone) {
				t.Errorf("time zone %q", *got.TimeZone)
			}
		})
	}
}
