package templates

import (
	"io"
	"time"

	"aistat"
)

// View is the data of one page. Only this package's page types are views,
// each naming the page it fills, so a page can only ever be rendered with
// the data its template was written for.
type View interface {
	// template names the page, one of pages.
	template() string
	// language is the page's language, "" for the Templates' default.
	language() aistat.Locale
}

// Render writes the page v is the data of to w, in v's language. The page
// renders into a buffer first: nothing is written when rendering fails,
// and otherwise the whole page in one Write.
func (t *Templates) Render(w io.Writer, v View) error {
	return t.execute(w, v.language(), v.template(), v)
}

// Page is what every page's data embeds: the header and the flash.
type Page struct {
	// Lang is the language of the page, which chooses its template and so
	// every word the templates hold; what the page's data holds (Title,
	// Flash, the labels) its maker puts in the same language.
	Lang aistat.Locale
	// Zone is the reader's time zone, which the page's times are shown
	// in; nil is UTC.
	Zone  *time.Location
	Title string
	// User is the signed-in user, nil when anonymous.
	User *Account
	// Flash is a one-time success message.
	Flash string
	// Path is the current path, the Sign in link's way back.
	Path string
}

// HomePage is the home page: the common part alone. It is Page itself
// rather than a struct embedding it because it is the most requested page,
// and the templates find a promoted field through reflect's search of the
// embedded structs, which allocates, on every use.
type HomePage Page

// LoginPage is the sign-in form.
type LoginPage struct {
	Page
	Email string
	Next  string
	// Error is about the attempt as a whole, such as a throttled one;
	// Errors are field messages keyed by form field name.
	Error  string
	Errors map[string]string
	// Remember is whether "Keep me signed in" is ticked.
	Remember bool
	// Notice says why the person is here, such as a password just reset.
	Notice string
	// Passkeys offers signing in with a passkey.
	Passkeys bool
}

// SettingsPage is the profile form.
type SettingsPage struct {
	Page
	Name      string
	AvatarURL string
	// Locale is the language chosen, "" to follow the browser; TimeZone
	// the time zone, "" for DefaultTimeZone, the site's.
	Locale          string
	TimeZone        string
	DefaultTimeZone string
	// Errors are field messages keyed by form field name.
	Errors map[string]string
	// Delete is the form that deletes the account.
	Delete DeleteAccountForm
	// EmailChange is the form that asks for a new email address.
	EmailChange EmailChangeForm
}

// DeleteAccountForm is the settings page's form that deletes the user's
// own account, with its messages when it was refused: Error about the
// form as a whole, Errors keyed by field name.
type DeleteAccountForm struct {
	Error  string
	Errors map[string]string
}

// EmailChangeForm is the settings page's form for a new email address:
// what was typed (never the password) and a message for each field in
// error.
type EmailChangeForm struct {
	Email  string
	Errors map[string]string
}

// EmailConfirmPage confirms a new email address through its mailed link.
type EmailConfirmPage struct {
	Page
	Token    string
	Target   *aistat.User
	NewEmail string
	// Done says the address was changed.
	Done bool
	// Error is why it could not be, such as an address taken meanwhile.
	Error string
}

// AdminPage is one page of the users, with the controls an admin has.
type AdminPage struct {
	Page
	Rows    []AdminRow
	CanEdit bool
	// Private shows what only admins see: emails, active sessions, last
	// activity and the audit log. Without it the page is the directory.
	Private bool
	// Search is the term the list is filtered by; Caption names the list.
	Search  string
	Caption string
	// PrevURL and NextURL lead to the neighbouring pages, "" when none.
	PrevURL, NextURL string
	// Back is this page's address, where an action sends the admin back to.
	Back string
	// Audit is the latest entries of the audit log.
	Audit []aistat.AuditEntry
	// New is the create-user form.
	New UserForm
	// Mail is the admins' part about mail: invitations and failed mail.
	Mail AdminMail
}

// AdminMail is what admins see of the site's mail on the admin page.
type AdminMail struct {
	// Invite is the invitation form.
	Invite UserForm
	// Invitations are the people who have not chosen a password yet.
	Invitations []InvitationRow
	// Failed are the latest mails that could not be delivered.
	Failed []FailedMailRow
}

// InvitationRow is a pending invitation, ready to show.
type InvitationRow struct {
	ID          int64
	Email, Name string
	// Role is the role's label.
	Role string
	// Expires is when its link stops working, zero when it already has.
	Expires time.Time
}

// FailedMailRow is a mail given up, ready to show.
type FailedMailRow struct {
	ID        int64
	To        string
	Kind      string
	Attempts  int
	LastError string
	CreatedAt time.Time
}

// UserForm is the admin page's form that creates a user: what was typed
// (never the password) and a message for each field in error.
type UserForm struct {
	Email  string
	Name   string
	Role   aistat.Role
	Errors map[string]string
}

// AuditPage is the whole audit log, a page at a time.
type AuditPage struct {
	Page
	Entries []aistat.AuditEntry
	// NewerURL and OlderURL lead to the neighbouring pages, "" when none.
	NewerURL, OlderURL string
}

// UserConfirmPage asks an admin to confirm an action on a user that cannot
// be taken back at once: a deletion, signing them out everywhere, or
// disabling their account.
type UserConfirmPage struct {
	Page
	// Action is what is to be confirmed, the last segment of its route.
	Action ConfirmAction
	Target *aistat.User
	Back   string
	Error  string
}

// ConfirmAction is an admin action that asks for confirmation first.
type ConfirmAction string

// The actions UserConfirmPage confirms.
const (
	ConfirmDelete  ConfirmAction = "delete"
	ConfirmRevoke  ConfirmAction = "revoke"
	ConfirmDisable ConfirmAction = "disable"
	// ConfirmResetFactors removes a user's second factors.
	ConfirmResetFactors ConfirmAction = "2fa/reset"
)

// ResetLinkPage shows an admin a reset link, the one time it exists in
// clear.
type ResetLinkPage struct {
	Page
	Target *aistat.User
	URL    string
	// Expires is when the link stops working, as far as this server's
	// clock can tell.
	Expires time.Time
	// Back is the admin page the link was issued from; its Back link
	// goes to the user's row there.
	Back string
}

// ResetPage is the form that sets a new password through a reset link.
type ResetPage struct {
	Page
	Token  string
	Target *aistat.User
	// Invited says the link is an invitation's: the account has no
	// password yet.
	Invited bool
	// Errors are field messages keyed by form field name.
	Errors map[string]string
}

// ForgotPage asks for the email to mail a reset link to. After a request
// it is the same page whether or not an account has that email.
type ForgotPage struct {
	Page
	// Email is what was typed, kept only when it was refused.
	Email string
	// Sent says a request was taken.
	Sent bool
	// Error is a message for the whole form, such as a throttle's.
	Error string
	// Errors are field messages keyed by form field name.
	Errors map[string]string
}

// SessionsPage is the user's sessions, security events and password form.
type SessionsPage struct {
	Page
	// Now is when the page is made, from which its times are told in
	// words ("2 minutes ago").
	Now      time.Time
	Sessions []SessionRow
	Events   []aistat.SecurityEvent
	// SessionsCaption and EventsCaption name the two tables, with their
	// counts in the plural form the language gives them.
	SessionsCaption, EventsCaption string
	// Errors are the password form's field messages keyed by field name.
	Errors map[string]string
	// PasswordError is about the password form as a whole, such as a
	// throttled attempt.
	PasswordError string
}

// TwoFactorPage is /settings/2fa: the authenticator app, set up or being
// set up, and the recovery codes.
type TwoFactorPage struct {
	Page
	// Enabled is whether the app is confirmed; until then Secret and URI
	// are the key to enter, in text and as the otpauth:// URI its QR code
	// (the picture at QR) holds.
	Enabled bool
	Secret  string
	URI     string
	QR      string
	// RecoveryLeft is the number of recovery codes not used yet.
	RecoveryLeft int
	// RecoveryCodes are new recovery codes, shown this once.
	RecoveryCodes []string
	// Error is about the page's forms as a whole; Errors are field
	// messages keyed by form field name.
	Error  string
	Errors map[string]string
	// Passkeys are the user's passkeys and the form that adds one.
	Passkeys PasskeysSection
}

// LoginCodePage is the sign-in's second step: a code from the
// authenticator app, or a recovery code.
type LoginCodePage struct {
	Page
	// Code asks for an authenticator app's code (or a recovery code);
	// Passkey offers the user's passkeys. At least one is set.
	Code    bool
	Passkey bool
	Error   string
	Errors  map[string]string
}

// ReauthPage asks the signed-in user for their password again before a
// dangerous action, then carries on with it.
type ReauthPage struct {
	Page
	// Next is the path of the request to carry on with; Form, for a form
	// that was posted there, its fields, URL-encoded ("" for a page).
	Next string
	Form string
	// Replay says Form is to be posted to Next once the password is
	// right; without it, Next is a page to go back to.
	Replay bool
	// NeedCode asks for a second factor's code too.
	NeedCode bool
	Error    string
	Errors   map[string]string
}

// ErrorPage says why a request failed.
type ErrorPage struct {
	Page
	Status  int
	Heading string
	Message string
}

func (p Page) language() aistat.Locale     { return p.Lang }
func (p HomePage) language() aistat.Locale { return p.Lang }

// Views are values, not pointers: the templates read the fields of a value
// in place, while every field printed from behind a pointer is first copied
// to the heap (reflect copies what is addressable when it makes an
// interface of it).
func (HomePage) template() string         { return "home" }
func (LoginPage) template() string        { return "login" }
func (SettingsPage) template() string     { return "settings" }
func (AdminPage) template() string        { return "admin" }
func (AuditPage) template() string        { return "audit" }
func (UserConfirmPage) template() string  { return "user-confirm" }
func (ResetLinkPage) template() string    { return "reset-link" }
func (ResetPage) template() string        { return "reset" }
func (ForgotPage) template() string       { return "forgot" }
func (EmailConfirmPage) template() string { return "email-confirm" }
func (SessionsPage) template() string     { return "sessions" }
func (ErrorPage) template() string        { return "error" }
func (TwoFactorPage) template() string    { return "twofactor" }
func (LoginCodePage) template() string    { return "login-code" }
func (ReauthPage) template() string       { return "reauth" }

// suggestedTimeZones are the zones the settings page offers as one types:
// Russia's eleven, from west to east, its neighbours' and a few of the
// world's. Any other IANA name may be typed.
var suggestedTimeZones = []string{
	"Europe/Kaliningrad", "Europe/Moscow", "Europe/Samara", "Asia/Yekaterinburg", "Asia/Omsk",
	"Asia/Novosibirsk", "Asia/Krasnoyarsk", "Asia/Irkutsk", "Asia/Yakutsk", "Asia/Vladivostok",
	"Asia/Magadan", "Asia/Kamchatka",
	"Europe/Minsk", "Europe/Kyiv", "Europe/Riga", "Asia/Tbilisi", "Asia/Yerevan", "Asia/Baku",
	"Asia/Almaty", "Asia/Tashkent", "Asia/Bishkek",
	"Europe/London", "Europe/Berlin", "Europe/Istanbul", "Asia/Dubai", "Asia/Shanghai",
	"America/New_York", "America/Los_Angeles", "UTC",
}
