package handlers

import (
	"net/http"
	"net/url"
	"strconv"

	"aistat"
	"aistat/templates"
)

// auditPageSize is how many entries a page of the audit log shows.
const auditPageSize = 50

// handleAuditShow lists what admins did, newest first. It is for admins
// only: the entries name every account's email.
func (s *Server) handleAuditShow(w http.ResponseWriter, r *http.Request) {
	cursor, err := cursorQuery(r.URL.Query())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	page, err := s.users.AuditLog(r.Context(), aistat.AuditQuery{Cursor: cursor, Limit: auditPageSize})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	loc := s.locale(r)
	s.render(w, r, http.StatusOK, templates.AuditPage{
		Page:     s.localPage(r, loc, loc.T("audit.label")),
		Entries:  page.Entries,
		NewerURL: auditURL(page.Newer),
		OlderURL: auditURL(page.Older),
	})
}

// auditURL is the address of a page of the audit log; "" for a nil cursor.
func auditURL(c *aistat.Cursor) string {
	if c == nil {
		return ""
	}
	v := url.Values{}
	if c.After > 0 {
		v.Set("after", strconv.FormatInt(c.After, 10))
	}
	if c.Before > 0 {
		v.Set("before", strconv.FormatInt(c.Before, 10))
	}
	if len(v) == 0 {
		return "/admin/audit"
	}
	return "/admin/audit?" + v.Encode()
}
