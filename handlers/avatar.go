package handlers

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/julienschmidt/httprouter"

	"aistat"
	"aistat/sessions"
)

// maxAvatarBody bounds an upload's body: the picture and the multipart
// framing around it.
const maxAvatarBody = aistat.MaxAvatarBytes + 64<<10

// avatarReadTimeout replaces the server's read timeout for an upload's
// body: 10 MB from a phone on a slow line takes longer than a form.
const avatarReadTimeout = 2 * time.Minute

// avatarCache is how long a stored avatar may be kept anywhere: forever,
// since its address names its content.
const avatarCache = "public, max-age=31536000, immutable"

// avatarField names the upload's field in every error about it.
const avatarField = "avatar"

// handleAvatarShow serves a stored avatar, /avatars/<hash>.jpg, the small
// one with ?size=64. It runs outside the session middleware: a picture is
// the same for everyone, so it costs one query and no session lookup, and
// a revalidation none.
func (s *Server) handleAvatarShow(w http.ResponseWriter, r *http.Request) {
	hash, ok := aistat.ParseAvatarName(httprouter.ParamsFromContext(r.Context()).ByName("file"))
	query := r.URL.Query()
	size := query.Get("size")
	small := size == strconv.Itoa(aistat.AvatarSmallSize)
	if !ok || (query.Has("size") && !small) {
		s.handleNotFound(w, r)
		return
	}
	etag := `"` + hash + `"`
	if small {
		etag = `"` + hash + "-" + size + `"`
	}
	h := w.Header()
	h.Set("Cache-Control", avatarCache)
	h.Set("ETag", etag)
	// The content never changes under its name: a client that has the tag
	// has the picture, and needs no query to be told so.
	if etagMatches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	img, err := s.users.AvatarImage(r.Context(), hash, small)
	if err != nil {
		h.Del("ETag")
		h.Set("Cache-Control", "no-store")
		s.writeError(w, r, err)
		return
	}
	h.Set("Content-Type", "image/jpeg")
	h.Set("Content-Length", strconv.Itoa(len(img)))
	_, _ = w.Write(img)
}

// etagMatches reports whether an If-None-Match header names etag, weakly
// compared as RFC 9110 says for it.
func etagMatches(header, etag string) bool {
	for tag := range strings.SplitSeq(header, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == etag || tag == "*" {
			return true
		}
	}
	return false
}

// handleAvatarUpdate takes a picture from the settings page: the file in
// the multipart field "avatar". The script asks for JSON and gets the user;
// the form without it is Post/Redirect/Get with a flash, or the settings
// page again with the field's error.
func (s *Server) handleAvatarUpdate(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	user := sessions.User(ctx)
	data, err := s.readAvatar(w, r)
	var avatar *aistat.Avatar
	if err == nil {
		avatar, err = s.makeAvatar(r, data)
	}
	var saved *aistat.User
	if err == nil {
		saved, err = s.users.SetAvatar(ctx, user.ID, avatar)
	}
	if err != nil {
		s.avatarError(w, r, err)
		return
	}
	s.avatarSaved(w, r, saved, "settings.uploaded")
}

// handleAvatarRemove takes the user's avatar away: initials again.
func (s *Server) handleAvatarRemove(w http.ResponseWriter, r *http.Request) {
	if err := parseForm(w, r); err != nil {
		s.writeError(w, r, err)
		return
	}
	ctx := r.Context()
	saved, err := s.users.RemoveAvatar(ctx, sessions.User(ctx).ID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.avatarSaved(w, r, saved, "settings.removed")
}

// avatarSaved answers a change of avatar: the user for the script, a flash
// and the settings page for the form.
func (s *Server) avatarSaved(w http.ResponseWriter, r *http.Request, saved *aistat.User, flash string) {
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, userBody{User: s.localUser(r, saved)})
		return
	}
	s.sessions.PutFlash(r.Context(), s.localeFor(r, saved).T(flash))
	http.Redirect(w, r, "/settings", http.StatusSeeOther)
}

// readAvatar reads the file of the field "avatar" from a multipart body of
// at most maxAvatarBody bytes, without buffering anything else of it and
// without writing it to disk, as ParseMultipartForm would.
func (s *Server) readAvatar(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		return nil, &requestError{status: http.StatusUnsupportedMediaType, message: "Send the picture as multipart/form-data.",
			fields: map[string]string{avatarField: "Send the picture as multipart/form-data."}}
	}
	tooLarge := &requestError{status: http.StatusRequestEntityTooLarge, message: aistat.AvatarTooLargeRule,
		fields: map[string]string{avatarField: aistat.AvatarTooLargeRule}}
	if r.ContentLength > maxAvatarBody {
		return nil, tooLarge
	}
	// The upload is the client's time, not the database's.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(avatarReadTimeout))
	defer pauseDeadline(r)()
	r.Body = http.MaxBytesReader(w, r.Body, maxAvatarBody)
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, badRequest(http.StatusBadRequest, "The form could not be read.")
	}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, invalidField(avatarField, aistat.AvatarMissingRule)
		} else if err != nil {
			return nil, multipartError(err, tooLarge)
		}
		if part.FormName() != avatarField {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(part, aistat.MaxAvatarBytes+1))
		if err != nil {
			return nil, multipartError(err, tooLarge)
		}
		if len(data) > aistat.MaxAvatarBytes {
			return nil, tooLarge
		}
		return data, nil
	}
}

// multipartError tells a body past its bound from a malformed one.
func multipartError(err, tooLarge error) error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return tooLarge
	}
	return badRequest(http.StatusBadRequest, "The form could not be read.")
}

// makeAvatar decodes the upload once one of the decoding slots is free:
// a picture of 40 megapixels takes 160 MB to decode, so the slots bound the
// memory that uploads at once can take. Neither the wait nor the decoding
// counts towards the database deadline.
func (s *Server) makeAvatar(r *http.Request, data []byte) (*aistat.Avatar, error) {
	defer pauseDeadline(r)()
	select {
	case s.avatarSlots <- struct{}{}:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	defer func() { <-s.avatarSlots }()
	return aistat.MakeAvatar(data)
}

// pauseDeadline stops the request's database deadline until the returned
// function runs.
func pauseDeadline(r *http.Request) func() {
	if info := infoFrom(r.Context()); info != nil {
		return info.Pause()
	}
	return func() {}
}

// avatarError answers a refused upload: JSON for the script, the settings
// page with the field's message for the form, so the person sees why next
// to the field. Only errors that name the field get the page.
func (s *Server) avatarError(w http.ResponseWriter, r *http.Request, err error) {
	var reqErr *requestError
	status := codeStatus[aistat.ErrorCode(err)]
	msg := aistat.ErrorFields(err)[avatarField]
	if errors.As(err, &reqErr) {
		status, msg = reqErr.status, reqErr.fields[avatarField]
	}
	if wantsJSON(r) || msg == "" {
		s.writeError(w, r, err)
		return
	}
	page := s.settingsPage(r, sessions.User(r.Context()))
	page.Errors = map[string]string{avatarField: s.locale(r).Domain(msg)}
	s.render(w, r, status, page)
}
