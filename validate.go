package aistat

import (
	"bufio"
	_ "embed"
	"net/mail"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of the input rules.
const (
	MaxNameLength      = 80   // Unicode characters
	MaxAvatarURLLength = 2048 // bytes
	MaxEmailLength     = 254  // bytes
	MinPasswordLength  = 10   // bytes
	MaxPasswordLength  = 72   // bytes: bcrypt ignores anything longer
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
	if len(fields) > 0 {
		return p, invalid(fields)
	}
	return Profile{Name: name, AvatarURL: avatar}, nil
}

// invalid builds the EINVALID error for broken field rules; its message
// repeats the first field's so that clients showing one line still say what
// is wrong.
func invalid(fields map[string]string) *Error {
	msg := ""
	for _, key := range []string{"email", "name", "avatarUrl", "role", "password"} {
		if m, ok := fields[key]; ok {
			msg = m
			break
		}
	}
	return &Error{Code: EINVALID, Message: msg, Fields: fields}
}

func normalizeName(s string) (string, string) {
	if !utf8.ValidString(s) {
		return "", "Name must be valid UTF-8 text."
	}
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", "Name is required."
	case utf8.RuneCountInString(s) > MaxNameLength:
		return "", "Name must be at most 80 characters."
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "", "Name must not contain control characters."
	}
	return s, ""
}

func normalizeAvatarURL(s string) (string, string) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", ""
	}
	if len(s) > MaxAvatarURLLength {
		return "", "Avatar URL must be at most 2048 bytes."
	}
	if !utf8.ValidString(s) || strings.IndexFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0 {
		return "", "Avatar URL must not contain spaces or control characters."
	}
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() {
		return "", "Avatar URL must be an absolute http or https URL."
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", "Avatar URL must start with http:// or https://."
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", "Avatar URL must name a host."
	}
	return s, ""
}

func normalizeEmail(s string) (string, string) {
	s = strings.TrimSpace(s)
	switch {
	case !utf8.ValidString(s) || strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "", "Email must be an address like name@example.com."
	case s == "":
		return "", "Email is required."
	case len(s) > MaxEmailLength:
		return "", "Email must be at most 254 bytes."
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Address != s || addr.Name != "" {
		return "", "Email must be an address like name@example.com."
	}
	return s, ""
}

func checkPassword(p string) string {
	switch {
	case len(p) < MinPasswordLength:
		return "Password must be at least 10 bytes."
	case len(p) > MaxPasswordLength:
		return "Password must be at most 72 bytes."
	}
	if _, common := commonPasswords[strings.ToLower(p)]; common {
		return "Password is too common; choose another."
	}
	return ""
}
