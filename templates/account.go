package templates

import (
	"aistat"
	"aistat/internal/i18n"
)

// Account is the signed-in user as the pages show them, every value ready
// to print: a method called from a template costs reflective calls on every
// render, and the header is on every page.
type Account struct {
	ID        int64
	Email     string
	Name      string
	AvatarURL string
	// AvatarSmall is the picture for the header's small circle.
	AvatarSmall string
	Initials    string
	Role        aistat.Role
	RoleLabel   string
	// Staff is whether the header links the admin page.
	Staff bool
}

// NewAccount prepares u for the pages in loc's language; nil stays nil
// (anonymous).
func NewAccount(u *aistat.User, loc *i18n.Localizer) *Account {
	if u == nil {
		return nil
	}
	return &Account{
		ID:          u.ID,
		Email:       u.Email,
		Name:        u.Name,
		AvatarURL:   u.AvatarURL,
		AvatarSmall: aistat.SmallAvatarURL(u.AvatarURL),
		Initials:    u.Initials(),
		Role:        u.Role,
		RoleLabel:   loc.Role(u.Role),
		Staff:       u.IsStaff(),
	}
}
