// Package aistat is the domain of the ai-stat account site: users, their
// roles, the rules their input must follow, and the SQL that stores them.
package aistat

import (
	"encoding/json"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Role is what a user may do on the site.
type Role string

// The roles, from most to least privileged.
const (
	RoleAdmin  Role = "admin"
	RoleEditor Role = "editor"
	RoleViewer Role = "viewer"
)

// Roles lists every role in the order the admin page offers them.
var Roles = []Role{RoleAdmin, RoleEditor, RoleViewer}

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool {
	switch r {
	case RoleAdmin, RoleEditor, RoleViewer:
		return true
	}
	return false
}

// Staff reports whether the role may open the admin page.
func (r Role) Staff() bool { return r == RoleAdmin || r == RoleEditor }

// Label is the role's name as people read it.
func (r Role) Label() string {
	switch r {
	case RoleAdmin:
		return "Admin"
	case RoleEditor:
		return "Editor"
	case RoleViewer:
		return "Viewer"
	}
	return string(r)
}

// Locale is a language of the site a user may choose, as its BCP 47 code.
type Locale string

// The languages of the site; Russian first, the language of its people.
const (
	LocaleRussian Locale = "ru"
	LocaleEnglish Locale = "en"
)

// Locales lists every language in the order the site offers them.
var Locales = []Locale{LocaleRussian, LocaleEnglish}

// ParseLocale returns the language s names exactly ("ru", "en"), false for
// anything else: a stored or submitted choice is one of these codes, never
// a tag to be matched.
func ParseLocale(s string) (Locale, bool) {
	for _, l := range Locales {
		if string(l) == s {
			return l, true
		}
	}
	return "", false
}

// User is a person who can sign in. Its JSON form is the one the API speaks.
type User struct {
	ID        int64     `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	AvatarURL string    `json:"avatarUrl"`
	Disabled  bool      `json:"-"`
	CreatedAt time.Time `json:"-"`
	UpdatedAt time.Time `json:"-"`
	// Locale is the language the user chose for the site, "" to follow
	// the browser.
	Locale Locale `json:"-"`
	// TimeZone is the IANA name of the user's time zone, "" for the
	// site's default.
	TimeZone string `json:"-"`
	// SecondFactor is whether the user has a second factor, which a
	// sign-in asks for after the password.
	SecondFactor bool `json:"-"`
}

// IsAdmin reports whether the user may change other users.
func (u *User) IsAdmin() bool { return u.Role == RoleAdmin }

// IsStaff reports whether the user may open the admin page (admins and
// editors; editors only read it).
func (u *User) IsStaff() bool { return u.Role.Staff() }

// Initials are the first letters of the first two words of the name, shown
// in place of a missing or broken avatar ("СЧ" for "Сара Чен").
func (u *User) Initials() string {
	words := strings.Fields(u.Name)
	var b strings.Builder
	for _, word := range words[:min(2, len(words))] {
		r, _ := utf8.DecodeRuneInString(word)
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}

// Display is what pages show of a user beside the stored fields. It is
// part of every JSON form of a user (the API's and the live events') so
// that the browser scripts show what the pages show without a copy of the
// rules that make it: the labels, the initials, who is staff.
type Display struct {
	RoleLabel string `json:"roleLabel"`
	Initials  string `json:"initials"`
	Staff     bool   `json:"staff"`
}

// Display computes what pages show of the user.
func (u *User) Display() Display {
	return Display{RoleLabel: u.Role.Label(), Initials: u.Initials(), Staff: u.IsStaff()}
}

// MarshalJSON writes the API's form of the user: the fields' own tags and
// the Display, the role named in English (Role.Label). It has a value
// receiver so that a User inside any value gets it, addressable or not.
func (u User) MarshalJSON() ([]byte, error) { return u.JSONIn(u.Role.Label()) }

// JSONIn is the user's JSON form for a reader whose language names the
// user's role roleLabel ("Редактор").
func (u User) JSONIn(roleLabel string) ([]byte, error) {
	// fields has the User's fields and tags but not MarshalJSON, which
	// json.Marshal would otherwise call again.
	type fields User
	display := u.Display()
	display.RoleLabel = roleLabel
	return json.Marshal(struct {
		fields
		Display
		preferences
	}{fields(u), display, u.preferences()})
}

// preferences are the user's choices in their JSON form: null when the
// user made none (the browser's language, the site's time zone).
type preferences struct {
	Locale   *Locale `json:"locale"`
	TimeZone *string `json:"timeZone"`
}

func (u *User) preferences() preferences {
	var p preferences
	if u.Locale != "" {
		p.Locale = &u.Locale
	}
	if u.TimeZone != "" {
		p.TimeZone = &u.TimeZone
	}
	return p
}
