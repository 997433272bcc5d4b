package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"

	"aistat"
	"aistat/templates"
)

// requestError is a request the handlers could not decode (400, 413, 415).
// It goes through the same writer as the domain's errors.
type requestError struct {
	status  int
	message string
	// fields names the inputs the refusal is about, as the domain's
	// errors do, when it is about one (an upload too large).
	fields map[string]string
}

func (e *requestError) Error() string { return e.message }

func badRequest(status int, msg string) error { return &requestError{status: status, message: msg} }

// codeStatus maps the domain's error codes to HTTP statuses.
var codeStatus = map[string]int{
	aistat.ECONFLICT:     http.StatusConflict,
	aistat.EFORBIDDEN:    http.StatusForbidden,
	aistat.EGONE:         http.StatusGone,
	aistat.EINTERNAL:     http.StatusInternalServerError,
	aistat.EINVALID:      http.StatusUnprocessableEntity,
	aistat.ENOTFOUND:     http.StatusNotFound,
	aistat.ETOOMANY:      http.StatusTooManyRequests,
	aistat.EUNAUTHORIZED: http.StatusUnauthorized,
	aistat.EUNAVAILABLE:  http.StatusServiceUnavailable,
}

// errorBody is the JSON form of every error.
type errorBody struct {
	Error  string            `json:"error"`
	Fields map[string]string `json:"fields,omitempty"`
}

// writeError answers a failed request: JSON for the API, the error page for
// everything else. Internal errors are logged and shown only as "Internal
// error."
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		if !deadlinePassed(r.Context()) {
			// The client went away; nobody is left to answer.
			return
		}
		err = errDeadline
	}
	err = s.asUnavailable(r, err)
	status, msg, fields := http.StatusInternalServerError, aistat.ErrorMessage(err), aistat.ErrorFields(err)
	var reqErr *requestError
	if errors.As(err, &reqErr) {
		status, msg, fields = reqErr.status, reqErr.message, reqErr.fields
	} else {
		status = codeStatus[aistat.ErrorCode(err)]
	}
	if status == http.StatusInternalServerError {
		s.logger.Error("internal error", "request_id", requestIDFrom(r.Context()), "method", r.Method, "path", logPath(r.URL.Path), "err", err)
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	setRetryAfter(w, err)
	// The domain's messages are English; the reader gets theirs.
	loc := s.locale(r)
	msg, fields = loc.Domain(msg), loc.DomainFields(fields)
	if wantsJSON(r) {
		if status == http.StatusUnauthorized {
			msg = "unauthenticated"
		}
		writeJSON(w, status, errorBody{Error: msg, Fields: fields})
		return
	}
	// The heading names the status in the reader's language (status.404).
	heading := "status." + strconv.Itoa(status)
	if !loc.Has(heading) {
		heading = "status.500"
	}
	heading = loc.T(heading)
	s.render(w, r, status, templates.ErrorPage{
		Page:    s.localPage(r, loc, heading),
		Status:  status,
		Heading: heading,
		Message: msg,
	})
}

// setRetryAfter tells the client, in whole seconds rounded up, when it may
// try again after an error that says so (a throttled sign-in, an event
// stream past the limits).
func setRetryAfter(w http.ResponseWriter, err error) {
	if d := aistat.ErrorRetryAfter(err); d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
	}
}

// wantsJSON reports whether the client speaks the JSON API rather than
// browsing pages.
func wantsJSON(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/api/") ||
		(strings.Contains(r.Header.Get("Accept"), "application/json") && !strings.Contains(r.Header.Get("Accept"), "text/html"))
}

// writeJSON writes v as the JSON response body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, aistat.InternalErrorMessage, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func (s *Server) handleNotFound(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, aistat.Errorf(aistat.ENOTFOUND, "There is no page at this address."))
}

func (s *Server) handleMethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, badRequest(http.StatusMethodNotAllowed, "This address does not accept "+r.Method+" requests."))
}

func (s *Server) handleCrossOrigin(w http.ResponseWriter, r *http.Request) {
	s.writeError(w, r, aistat.Errorf(aistat.EFORBIDDEN, "Cross-origin requests are not allowed."))
}

func (s *Server) handlePanic(w http.ResponseWriter, r *http.Request, v any) {
	s.logger.Error("panic", "request_id", requestIDFrom(r.Context()), "method", r.Method, "path", logPath(r.URL.Path), "panic", v)
	s.internalError(w, r)
}

// internalError is the plain answer of a request that failed where no page
// can be rendered any more (a panic, a broken template): the domain's
// "Internal error." in the reader's language.
func (s *Server) internalError(w http.ResponseWriter, r *http.Request) {
	http.Error(w, s.locale(r).Domain(aistat.InternalErrorMessage), http.StatusInternalServerError)
}
