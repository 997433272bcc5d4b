package handlers

import (
	"net/http"

	"aistat"
	"aistat/sessions"
	"aistat/templates"
)

func (s *Server) handleSettingsShow(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, s.settingsPage(r, sessions.User(r.Context())))
}

// settingsPage is the settings page with the user's profile in its form.
func (s *Server) settingsPage(r *http.Request, user *aistat.User) templates.SettingsPage {
	loc := s.locale(r)
	return templates.SettingsPage{
		Page:            s.localPage(r, loc, loc.T("settings.title")),
		Name:            user.Name,
		AvatarURL:       user.AvatarURL,
		Locale:          string(user.Locale),
		TimeZone:        user.TimeZone,
		DefaultTimeZone: s.timeZone.String(),
	}
}

// renderSettings shows the settings page again with the messages of the
// form that deletes the account, which was refused.
func (s *Server) renderSettings(w http.ResponseWriter, r *http.Request, status int, deleteForm templates.DeleteAccountForm) {
	page := s.settingsPage(r, sessions.User(r.Context()))
	page.Delete = deleteForm
	s.render(w, r, status, page)
}

// handleAccountDelete deletes the user's own account: confirmed (confirm=yes)
// and with their current password, which counts under the sign-in
// throttle. Then every session of theirs has ended, this one too, and the
// sign-in page says the account is gone. A refusal shows the settings page
// again with the message (422, 429 when throttled) and deletes nothing.
func (s *Server) handleAccountDelete(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	loc := s.locale(r)
	if len(r.PostForm["confirm"]) != 1 || r.PostForm.Get("confirm") != "yes" {
		s.renderSettings(w, r, http.StatusUnprocessableEntity, templates.DeleteAccountForm{
			Errors: map[string]string{"confirm": loc.T("settings.deleteUnconfirmed")},
		})
		return
	}
	err := s.users.DeleteOwnAccount(ctx, sessions.User(ctx).ID, r.PostForm.Get("current_password"), sessions.Client(ctx))
	switch aistat.ErrorCode(err) {
	case "":
	case aistat.EINVALID:
		s.renderSettings(w, r, http.StatusUnprocessableEntity, templates.DeleteAccountForm{
			Error:  loc.Domain(wholeFormMessage(err)),
			Errors: loc.DomainFields(aistat.ErrorFields(err)),
		})
		return
	case aistat.ETOOMANY:
		setRetryAfter(w, err)
		s.renderSettings(w, r, http.StatusTooManyRequests, templates.DeleteAccountForm{Error: loc.Domain(aistat.ErrorMessage(err))})
		return
	default:
		s.writeError(w, r, err)
		return
	}
	// The row is gone with the account; this expires the cookie too.
	if err := s.sessions.Logout(ctx); err != nil {
		s.writeError(w, r, err)
		return
	}
	// The sign-in page says why, as it does to the account's other
	// devices, whose open pages the deletion sends there live.
	http.Redirect(w, r, "/login?signed_out="+string(aistat.EndDeleted), http.StatusSeeOther)
}

// wholeFormMessage is the message of a refusal that names no field, ""
// for one that does: that one is said at its field.
func wholeFormMessage(err error) string {
	if len(aistat.ErrorFields(err)) > 0 {
		return ""
	}
	return aistat.ErrorMessage(err)
}

// formPreferences reads the settings form's language and time zone: a
// field the form did not send keeps the user's value (nil).
func formPreferences(r *http.Request) (*aistat.Locale, *string) {
	var locale *aistat.Locale
	var timeZone *string
	if r.PostForm.Has("locale") {
		l := aistat.Locale(r.PostForm.Get("locale"))
		locale = &l
	}
	if r.PostForm.Has("time_zone") {
		tz := r.PostForm.Get("time_zone")
		timeZone = &tz
	}
	return locale, timeZone
}

// handleSettingsUpdate is the profile form without JavaScript: Post,
// Redirect, Get with a flash, or the form again with field errors.
func (s *Server) handleSettingsUpdate(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	user := sessions.User(ctx)
	profile := aistat.Profile{Name: r.PostForm.Get("name"), AvatarURL: r.PostForm.Get("avatar_url")}
	profile.Locale, profile.TimeZone = formPreferences(r)
	saved, err := s.users.UpdateProfile(ctx, user.ID, profile)
	if aistat.ErrorCode(err) == aistat.EINVALID {
		fields := aistat.ErrorFields(err)
		loc := s.locale(r)
		page := s.settingsPage(r, user)
		page.Name, page.AvatarURL = profile.Name, profile.AvatarURL
		page.Errors = map[string]string{"name": loc.Domain(fields["name"]), "avatar_url": loc.Domain(fields["avatarUrl"])}
		// The rules of the two choices have words in the catalogue.
		if fields["locale"] != "" {
			page.Errors["locale"] = loc.T("error.locale")
		}
		if fields["timeZone"] != "" {
			page.Errors["time_zone"] = loc.T("error.timeZone")
		}
		if profile.Locale != nil {
			page.Locale = string(*profile.Locale)
		}
		if profile.TimeZone != nil {
			page.TimeZone = *profile.TimeZone
		}
		s.render(w, r, http.StatusUnprocessableEntity, page)
		return
	} else if err != nil {
		s.writeError(w, r, err)
		return
	}
	// The next page is in the language just saved.
	s.sessions.PutFlash(ctx, s.localeFor(r, saved).T("settings.saved"))
	http.Redirect(w, r, "/settings", http.StatusSeeOther)
}

// invalidField is the 422 of one field that breaks its rule.
func invalidField(field, rule string) error {
	return &aistat.Error{Code: aistat.EINVALID, Message: rule, Fields: map[string]string{field: rule}}
}

// userBody is the JSON answer carrying one user.
type userBody struct {
	User localUser `json:"user"`
}

// handleProfileUpdate is the settings page's JSON save. name and avatarUrl
// are required; locale and timeZone may be left out (kept as they are) or
// null (the browser's language, the site's time zone).
func (s *Server) handleProfileUpdate(w http.ResponseWriter, r *http.Request) {
	values, err := decodeJSON(w, r, []string{"name", "avatarUrl"}, []string{"locale", "timeZone"})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	profile := aistat.Profile{Name: *values["name"], AvatarURL: *values["avatarUrl"]}
	if v, ok := values["locale"]; ok {
		locale := aistat.Locale("")
		if v != nil {
			if *v == "" {
				// "" would store "follow the browser", which the API
				// spells null: anything but "ru", "en" or null is wrong.
				s.writeError(w, r, invalidField("locale", aistat.LocaleRule))
				return
			}
			locale = aistat.Locale(*v)
		}
		profile.Locale = &locale
	}
	if v, ok := values["timeZone"]; ok {
		timeZone := ""
		if v != nil {
			if *v == "" {
				s.writeError(w, r, invalidField("timeZone", aistat.TimeZoneRule))
				return
			}
			timeZone = *v
		}
		profile.TimeZone = &timeZone
	}
	ctx := r.Context()
	user, err := s.users.UpdateProfile(ctx, sessions.User(ctx).ID, profile)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, userBody{User: s.localUser(r, user)})
}
