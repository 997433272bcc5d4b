package aistat

import (
	"bufio"
	_ "embed"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Limits of the input rules.
const (
	MaxNameLength      = 80   // Unicode characters
	MaxAvatarURLLength = 2048 // bytes
	MaxEmailLength     = 254  // bytes
	MinPasswordLength  = 10   // Unicode characters
	MaxPasswordLength  = 256  // Unicode characters: 1 KiB at most, hashed by Argon2id whole
)

//go:embed common-passwords.txt
var commonPasswordList string

// commonPasswords is the shipped list, lower-cased, parsed once at start-up.
var commonPasswords = func() map[string]struct{} {
	set := make(map[string]struct{})
	sc := bufio.NewScanner(strings.NewReader(commonPasswordList))
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" && !strings.HasPrefix(line, "#") {
			set[strings.ToLower(line)] = struct{}{}
		}
	}
	return set
}()

// Profile is what a user may change about themselves.
type Profile struct {
	Name      string
	AvatarURL string
	// Locale, when not nil, is the user's new language: one of Locales, or
	// "" to follow the browser. Nil keeps the one they have.
	Locale *Locale
	// TimeZone, when not nil, is the user's new time zone: an IANA name
	// such as Europe/Moscow, or "" for the site's default. Nil keeps the
	// one they have.
	TimeZone *string
}

// Normalize trims the profile's values and checks them against the input
// rules; a broken rule is an EINVALID *Error naming each field.
func (p Profile) Normalize() (Profile, error) {
	fields := map[string]string{}
	name, msg := normalizeName(p.Name)
	if msg != "" {
		fields["name"] = msg
	}
	avatar, msg := normalizeAvatarURL(p.AvatarURL)
	if msg != "" {
		fields["avatarUrl"] = msg
	}
	if p.Locale != nil && *p.Locale != "" {
		if _, ok := ParseLocale(string(*p.Locale)); !ok {
			fields["locale"] = LocaleRule
		}
	}
	var timeZone *string
	if p.TimeZone != nil {
		tz := strings.TrimSpace(*p.TimeZone)
		if tz != "" && !ValidTimeZone(tz) {
			fields["timeZone"] = TimeZoneRule
		}
		timeZone = &tz
	}
	if len(fields) > 0 {
		return p, invalid(fields)
	}
	return Profile{Name: name, AvatarURL: avatar, Locale: p.Locale, TimeZone: timeZone}, nil
}

// The rules of a profile's language and time zone, as their messages say
// them.
const (
	LocaleRule   = "Language must be ru or en."
	TimeZoneRule = "Time zone must be an IANA name such as Europe/Moscow."
)

// maxTimeZoneLength bounds a time zone's name; the IANA database's longest
// is 32 bytes.
const maxTimeZoneLength = 64

// ValidTimeZone reports whether name is a zone of the IANA time zone
// database, such as Europe/Moscow or UTC. "Local", the zone of whatever
// machine the site runs on, is not one.
func ValidTimeZone(name string) bool {
	if name == "" || name == "Local" || len(name) > maxTimeZoneLength || !utf8.ValidString(name) {
		return false
	}
	_, err := time.LoadLocation(name)
	return err == nil
}

// invalid builds the EINVALID error for broken field rules; its message
// repeats the first field's so that clients showing one line still say what
// is wrong.
func invalid(fields map[string]string) *Error {
	msg := ""
	for _, key := range []string{"email", "name", "avatarUrl", "locale", "timeZone", "role", "password"} {
		if m, ok := fields[key]; ok {
			msg = m
			break
		}
	}
	return &Error{Code: EINVALID, Message: msg, Fields: fields}
}

// normalizeName trims a name and puts it in Unicode's composed form (NFC),
// which changes no character a reader sees but makes the same name typed on
// two systems the same text, then checks the name rule.
//
// The rule refuses what a reader cannot see or that changes the direction
// of the text around it: format characters (Unicode category Cf, which
// holds every bidi control, the zero-width space, the soft hyphen and the
// byte order mark), the other default-ignorable characters (Hangul fillers,
// the combining grapheme joiner) and variation selectors, except where
// legitimate text needs them (see hiddenRune). It is not PRECIS's Nickname
// profile (golang.org/x/text/secure/precis), because that profile refuses
// and changes names people type: it refuses every emoji ZWJ sequence (woman, ZWJ,
// laptop) and the emoji presentation selector (red heart, U+FE0F), maps by NFKC ("ﬁona"
// becomes "fiona", "Mr²" "Mr2", half-width katakana full-width), and its
// contextual rules, written for identifiers, refuse a middle dot outside
// Catalan ("Jean · Paul").
func normalizeName(s string) (string, string) {
	s, broken, r := oneLineText(s, MaxNameLength)
	switch broken {
	case textInvalidUTF8:
		return "", "Name must be valid UTF-8 text."
	case textEmpty, textInvisible:
		return "", "Name is required."
	case textTooLong:
		return "", "Name must be at most 80 characters."
	case textControl:
		return "", "Name must not contain control characters."
	case textHidden:
		return "", fmt.Sprintf("Name must not contain invisible or direction-changing characters (it has U+%04X).", r)
	}
	return s, ""
}

// textRule is a rule of one-line text that oneLineText found broken.
type textRule int

const (
	textOK textRule = iota
	textInvalidUTF8
	textEmpty
	textTooLong
	textControl
	// textHidden: a character a reader cannot see or that turns the text
	// around it (see hiddenRune).
	textHidden
	// textInvisible: characters, but none that leaves a mark.
	textInvisible
)

// oneLineText trims s and composes it (NFC), then checks the rules of a
// name, at most max characters: it returns the text, the rule broken
// (textOK when none) and, for textHidden, the character that breaks it.
func oneLineText(s string, max int) (string, textRule, rune) {
	if !utf8.ValidString(s) {
		return "", textInvalidUTF8, 0
	}
	s = norm.NFC.String(strings.TrimSpace(s))
	switch {
	case s == "":
		return "", textEmpty, 0
	case utf8.RuneCountInString(s) > max:
		return "", textTooLong, 0
	case strings.IndexFunc(s, isLineControl) >= 0:
		return "", textControl, 0
	}
	if r, ok := hiddenRune([]rune(s), true); ok {
		return "", textHidden, r
	}
	if strings.IndexFunc(s, isVisible) < 0 {
		return "", textInvisible, 0
	}
	return s, textOK, 0
}

// isLineControl reports a control character or a line or paragraph
// separator: none belongs in a one-line value.
func isLineControl(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Zl, unicode.Zp)
}

// isVisible reports a character that leaves a mark: a letter, digit,
// punctuation or symbol, but not the blank Braille pattern, which is a
// symbol that shows nothing.
func isVisible(r rune) bool {
	return r != '\u2800' && unicode.In(r, unicode.L, unicode.N, unicode.P, unicode.S)
}

// Characters that hiddenRune lets through in context.
const (
	zwnj          = '\u200C'
	zwj           = '\u200D'
	textStyle     = '\uFE0E'
	emojiStyle    = '\uFE0F'
	keycap        = '\u20E3'
	blackFlag     = '\U0001F3F4'
	cancelTag     = '\U000E007F'
	firstTag      = '\U000E0020'
	lastTag       = '\U000E007E'
	firstModifier = '\U0001F3FB' // emoji skin tones
	lastModifier  = '\U0001F3FF'
)

// hidden reports a character that shows nothing by itself or changes the
// direction of its neighbours: Unicode's default-ignorable code points
// (format characters, variation selectors and the few others) and the
// bidi controls, which are all format characters. The prepended
// concatenation marks are format characters that show, so they pass.
func hidden(r rune) bool {
	if r < 0x80 {
		return false
	}
	return unicode.In(r, unicode.Cf, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector, unicode.Bidi_Control) &&
		!unicode.Is(unicode.Prepended_Concatenation_Mark, r)
}

// joiningScripts are the scripts whose letters join, where a zero-width
// non-joiner between two letters is spelling (in Persian words), not a
// trick.
var joiningScripts = []*unicode.RangeTable{
	unicode.Arabic, unicode.Syriac, unicode.Nko, unicode.Mongolian, unicode.Mandaic,
	unicode.Manichaean, unicode.Psalter_Pahlavi, unicode.Adlam, unicode.Hanifi_Rohingya, unicode.Sogdian,
}

// hiddenRune returns the first hidden character of rs that no legitimate
// text needs where it stands. With inContext, these pass:
//   - a zero-width joiner after a virama (Sinhala "Sri", Malayalam chillu
//     forms) or between two pictographs of an emoji sequence (technologist,
//     family, rainbow flag, a skin tone before the joiner);
//   - a zero-width non-joiner after a virama or between two letters of a
//     joining script (Persian, Arabic);
//   - the text and emoji presentation selectors after a symbol (red heart)
//     or in a keycap (digit one, U+FE0F, U+20E3);
//   - an ideographic variation selector after a Han character (the glyph of
//     a Japanese family name), a Mongolian one or the Mongolian vowel
//     separator after a Mongolian letter;
//   - the tags of a subdivision flag (the flag of Scotland).
//
// Regional indicator pairs (🇷🇺) and skin tones are visible symbols and pass
// anyway. Without inContext every hidden character is refused.
func hiddenRune(rs []rune, inContext bool) (rune, bool) {
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		if inContext && r == blackFlag {
			i = skipTagSequence(rs, i)
			continue
		}
		if !hidden(r) {
			continue
		}
		if !inContext || !allowedInContext(rs, i) {
			return r, true
		}
	}
	return 0, false
}

// allowedInContext reports whether the hidden character rs[i] is one that
// its neighbours need (see hiddenRune).
func allowedInContext(rs []rune, i int) bool {
	r := rs[i]
	var prev, next rune = -1, -1
	if i > 0 {
		prev = rs[i-1]
	}
	if i+1 < len(rs) {
		next = rs[i+1]
	}
	switch {
	case r == zwj:
		return isVirama(prev) || (emojiBefore(prev) && isPictograph(next))
	case r == zwnj:
		return isVirama(prev) || betweenJoiningLetters(rs, i)
	case r == textStyle || r == emojiStyle:
		return unicode.In(prev, unicode.So, unicode.Sm) || strings.ContainsRune("\u203C\u2049\u3030\u303D", prev) ||
			(strings.ContainsRune("#*0123456789", prev) && next == keycap)
	case r >= '\uFE00' && r <= '\uFE0D', r >= '\U000E0100' && r <= '\U000E01EF':
		return unicode.Is(unicode.Han, prev)
	case r >= '\u180B' && r <= '\u180F':
		// Free variation selectors and the vowel separator of Mongolian.
		return unicode.Is(unicode.Mongolian, prev) && unicode.IsLetter(prev)
	}
	return false
}

// skipTagSequence returns the index of the last character of the
// subdivision flag that starts with the black flag at rs[i]: its tags and
// the cancel tag that ends them. A black flag without a whole tag sequence
// is only itself, and any stray tag after it is refused.
func skipTagSequence(rs []rune, i int) int {
	j := i + 1
	for j < len(rs) && rs[j] >= firstTag && rs[j] <= lastTag {
		j++
	}
	if j > i+1 && j < len(rs) && rs[j] == cancelTag {
		return j
	}
	return i
}

// isVirama reports a character of canonical combining class 9, the virama
// of the Indic scripts, after which a joiner or non-joiner chooses the
// form of a conjunct.
func isVirama(r rune) bool {
	return r > 0 && norm.NFC.PropertiesString(string(r)).CCC() == 9
}

// isPictograph reports a character that can stand in an emoji ZWJ
// sequence. Go's tables have no Extended_Pictographic property; emoji are
// other symbols (So), which is close enough to tell a sequence from a
// joiner slipped between letters.
func isPictograph(r rune) bool { return unicode.Is(unicode.So, r) }

// emojiBefore reports what may end the emoji before a joiner: a
// pictograph, a skin tone, the emoji presentation selector or the end of a
// tag sequence.
func emojiBefore(r rune) bool {
	return isPictograph(r) || (r >= firstModifier && r <= lastModifier) || r == emojiStyle || r == cancelTag
}

// betweenJoiningLetters reports whether rs[i] stands between two letters of
// one joining script, marks on the first one aside.
func betweenJoiningLetters(rs []rune, i int) bool {
	j := i - 1
	for j >= 0 && unicode.Is(unicode.Mn, rs[j]) {
		j--
	}
	if j < 0 || i+1 >= len(rs) {
		return false
	}
	before, after := rs[j], rs[i+1]
	if !unicode.IsLetter(before) || !unicode.IsLetter(after) {
		return false
	}
	for _, script := range joiningScripts {
		if unicode.Is(script, before) && unicode.Is(script, after) {
			return true
		}
	}
	return false
}

// normalizeAvatarURL accepts an https URL, whose site every reader's browser
// then asks for the picture, or the path of a picture stored here. Plain
// http is refused: the page is served over https, and a picture fetched in
// the clear tells the whole network who looked at whom.
func normalizeAvatarURL(s string) (string, string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", ""
	}
	if _, ok := ParseAvatarPath(s); ok {
		return s, ""
	}
	if len(s) > MaxAvatarURLLength {
		return "", "Avatar URL must be at most 2048 bytes."
	}
	if !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0 {
		return "", "Avatar URL must not contain spaces or control characters."
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() {
		return "", "Avatar URL must be an absolute https URL."
	}
	if u.Scheme != "https" {
		return "", "Avatar URL must start with https://."
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", "Avatar URL must name a host."
	}
	return s, ""
}

func normalizeEmail(s string) (string, string) {
	s = strings.TrimSpace(s)
	switch {
	case !utf8.ValidString(s) || strings.IndexFunc(s, isLineControl) >= 0:
		return "", "Email must be an address like name@example.com."
	case s == "":
		return "", "Email is required."
	case len(s) > MaxEmailLength:
		return "", "Email must be at most 254 bytes."
	}
	if _, ok := hiddenRune([]rune(s), false); ok {
		return "", "Email must not contain invisible or direction-changing characters."
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return "", "Email must be an address like name@example.com."
	}
	return s, ""
}

// checkPassword is the password rule for a password being set on the
// account of email: valid UTF-8 text of MinPasswordLength to
// MaxPasswordLength characters, neither the email itself (ignoring case and
// surrounding spaces) nor in the shipped list of common passwords (ignoring
// case). It returns the broken rule's message, "" when none is.
func checkPassword(p, email string) string {
	switch n := utf8.RuneCountInString(p); {
	case !utf8.ValidString(p):
		return "Password must be valid UTF-8 text."
	case n < MinPasswordLength:
		return fmt.Sprintf("Password must be at least %d characters.", MinPasswordLength)
	case n > MaxPasswordLength:
		return fmt.Sprintf("Password must be at most %d characters.", MaxPasswordLength)
	}
	if email = strings.TrimSpace(email); email != "" && strings.EqualFold(strings.TrimSpace(p), email) {
		return "Password must not be your email address."
	}
	if _, common := commonPasswords[strings.ToLower(p)]; common {
		return "Password is too common; choose another."
	}
	return ""
}
