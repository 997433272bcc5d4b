package templates

import (
	"time"

	"aistat"
	"aistat/internal/i18n"
)

// AdminRow is one user of the admin table with every value ready to print:
// a page of fifty rows spent most of its time in the templates' reflective
// calls of methods and functions.
type AdminRow struct {
	ID        int64
	Name      string
	Email     string
	Initials  string
	AvatarURL string
	// AvatarSmall is the picture for the table's small circle.
	AvatarSmall string
	Role        aistat.Role
	RoleLabel   string
	Disabled    bool
	// SecondFactor is whether the user has a second factor an admin can
	// reset.
	SecondFactor   bool
	Self           bool
	ActiveSessions int
	// LastActiveISO and LastActiveText are "" when no session is active.
	LastActiveISO  string
	LastActiveText string
}

// NewAdminRows prepares the users of a page for the table in loc's
// language, times in zone; self is the signed-in admin, who gets no
// actions on their own row.
func NewAdminRows(users []aistat.UserSummary, self int64, loc *i18n.Localizer, zone *time.Location) []AdminRow {
	rows := make([]AdminRow, len(users))
	for i, sum := range users {
		u := &sum.User
		row := AdminRow{
			ID:             u.ID,
			Name:           u.Name,
			Email:          u.Email,
			Initials:       u.Initials(),
			AvatarURL:      u.AvatarURL,
			AvatarSmall:    aistat.SmallAvatarURL(u.AvatarURL),
			Role:           u.Role,
			RoleLabel:      loc.Role(u.Role),
			Disabled:       u.Disabled,
			SecondFactor:   u.SecondFactor,
			Self:           u.ID == self,
			ActiveSessions: sum.ActiveSessions,
		}
		if !sum.LastActive.IsZero() {
			row.LastActiveISO = isoTime(sum.LastActive)
			row.LastActiveText = loc.Time(sum.LastActive, zone)
		}
		rows[i] = row
	}
	return rows
}

// SessionRow is one active session of the sessions page; Current marks the
// one the page was requested with. NameValue is what its name field holds:
// the name, or what was typed when the name was refused (NameError).
type SessionRow struct {
	aistat.ActiveSession
	Current   bool
	NameValue string
	NameError string
}

// NameForm is a refused device name: the session's id, what was typed and
// why it was refused.
type NameForm struct {
	ID    int64
	Value string
	Error string
}

// NewSessionRows prepares the user's sessions for the table; current is the
// id of the request's own session, refused a device name just refused.
func NewSessionRows(list []aistat.ActiveSession, current int64, refused NameForm) []SessionRow {
	rows := make([]SessionRow, len(list))
	for i, a := range list {
		rows[i] = SessionRow{ActiveSession: a, Current: a.ID == current, NameValue: a.Name}
		if refused.ID == a.ID && refused.Error != "" {
			rows[i].NameValue, rows[i].NameError = refused.Value, refused.Error
		}
	}
	return rows
}
