package handlers

import (
	"context"
	"net/http"
	"strings"

	"aistat"
	"aistat/internal/i18n"
	"aistat/sessions"
	"aistat/templates"
)

// Sizes of the admin page's mail lists.
const (
	adminInvitationsSize = 50
	adminFailedMailSize  = 10
)

// adminMail reads what admins see of the site's mail: the pending
// invitations and the latest mails given up.
func (s *Server) adminMail(ctx context.Context, loc *i18n.Localizer, invite templates.UserForm) (templates.AdminMail, error) {
	m := templates.AdminMail{Invite: invite}
	invitations, err := s.users.Invitations(ctx, adminInvitationsSize)
	if err != nil {
		return m, err
	}
	for _, inv := range invitations {
		m.Invitations = append(m.Invitations, templates.InvitationRow{
			ID: inv.User.ID, Email: inv.User.Email, Name: inv.User.Name, Role: loc.Role(inv.User.Role), Expires: inv.Expires})
	}
	failed, err := s.outbox.Failed(ctx, adminFailedMailSize)
	if err != nil {
		return m, err
	}
	for _, f := range failed {
		kind := "mailKind." + string(f.Kind)
		label := string(f.Kind)
		if loc.Has(kind) {
			label = loc.T(kind)
		}
		m.Failed = append(m.Failed, templates.FailedMailRow{
			ID: f.ID, To: f.To, Kind: label, Attempts: f.Attempts, LastError: f.LastError, CreatedAt: f.CreatedAt})
	}
	return m, nil
}

// handleInvitationCreate invites someone by email, name and role: their
// account has no password until they choose one through the mailed link.
// Invalid input (422) or an email in use (409) shows the admin page again
// with the typed values and the messages.
func (s *Server) handleInvitationCreate(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	f := r.PostForm
	ni := aistat.NewInvite{Email: f.Get("email"), Name: f.Get("name"), Role: aistat.Role(f.Get("role"))}
	user, err := s.users.Invite(ctx, sessions.User(ctx).ID, ni)
	if code := aistat.ErrorCode(err); code == aistat.EINVALID || code == aistat.ECONFLICT {
		status, fields := http.StatusUnprocessableEntity, aistat.ErrorFields(err)
		if code == aistat.ECONFLICT {
			status, fields = http.StatusConflict, map[string]string{"email": aistat.ErrorMessage(err)}
		}
		s.renderAdminInvite(w, r, status, aistat.UserQuery{Limit: adminPageSize}, templates.UserForm{Role: aistat.RoleViewer},
			templates.UserForm{
				Email:  strings.ToValidUTF8(ni.Email, "\uFFFD"),
				Name:   strings.ToValidUTF8(ni.Name, "\uFFFD"),
				Role:   ni.Role,
				Errors: fields,
			})
		return
	} else if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.sessions.PutFlash(ctx, s.locale(r).F("flash.invited", map[string]any{"Name": user.Name, "Email": user.Email}))
	http.Redirect(w, r, "/admin", http.StatusSeeOther)
}

// handleInvitationResend mails a pending invitation again with a new link.
func (s *Server) handleInvitationResend(w http.ResponseWriter, r *http.Request) {
	s.invitationAction(w, r, s.users.ResendInvitation, "flash.inviteResent")
}

// handleInvitationWithdraw deletes a pending invitation and its account.
func (s *Server) handleInvitationWithdraw(w http.ResponseWriter, r *http.Request) {
	s.invitationAction(w, r, s.users.WithdrawInvitation, "flash.inviteWithdrawn")
}

func (s *Server) invitationAction(w http.ResponseWriter, r *http.Request,
	action func(ctx context.Context, actorID, targetID int64) (*aistat.User, error), flash string) {
	id, ok := s.targetForm(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	user, err := action(ctx, sessions.User(ctx).ID, id)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.sessions.PutFlash(ctx, s.locale(r).F(flash, map[string]any{"Email": user.Email}))
	http.Redirect(w, r, "/admin", http.StatusSeeOther)
}
