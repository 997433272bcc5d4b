package handlers

import (
	"net/http"

	"aistat"
	"aistat/sessions"
	"aistat/templates"
)

func (s *Server) handleSettingsShow(w http.ResponseWriter, r *http.Request) {
	user := sessions.User(r.Context())
	s.render(w, r, http.StatusOK, templates.SettingsPage{
		Page:      s.page(r, "Settings"),
		Name:      user.Name,
		AvatarURL: user.AvatarURL,
	})
}

// handleSettingsUpdate is the profile form without JavaScript: Post,
// Redirect, Get with a flash, or the form again with field errors.
func (s *Server) handleSettingsUpdate(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	profile := aistat.Profile{Name: r.PostForm.Get("name"), AvatarURL: r.PostForm.Get("avatar_url")}
	_, err := s.users.UpdateProfile(ctx, sessions.User(ctx).ID, profile)
	if aistat.ErrorCode(err) == aistat.EINVALID {
		fields := aistat.ErrorFields(err)
		s.render(w, r, http.StatusUnprocessableEntity, templates.SettingsPage{
			Page:      s.page(r, "Settings"),
			Name:      profile.Name,
			AvatarURL: profile.AvatarURL,
			Errors:    map[string]string{"name": fields["name"], "avatar_url": fields["avatarUrl"]},
		})
		return
	} else if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.sessions.PutFlash(ctx, "Profile saved.")
	http.Redirect(w, r, "/settings", http.StatusSeeOther)
}

// userBody is the JSON answer carrying one user.
type userBody struct {
	User *aistat.User `json:"user"`
}

// handleProfileUpdate is the settings page's JSON save.
func (s *Server) handleProfileUpdate(w http.ResponseWriter, r *http.Request) {
	values, err := decodeStrings(w, r, "name", "avatarUrl")
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	user, err := s.users.UpdateProfile(ctx, sessions.User(ctx).ID, aistat.Profile{Name: values["name"], AvatarURL: values["avatarUrl"]})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, userBody{User: user})
}
