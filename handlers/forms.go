package handlers

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"unicode/utf8"

	"aistat"
)

// maxBody bounds every request body.
const maxBody = 64 << 10

// parseForm reads a urlencoded form body of at most maxBody bytes.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return badRequest(http.StatusUnsupportedMediaType, "Send the form as application/x-www-form-urlencoded.")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		return decodeError(err, "The form could not be read.")
	}
	return nil
}

// decodeError tells a body that is too large from one that is malformed.
func decodeError(err error, malformed string) error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return badRequest(http.StatusRequestEntityTooLarge, "The request body must be at most 64 KiB.")
	}
	return badRequest(http.StatusBadRequest, malformed)
}

// decodeStrings reads a JSON body that must be exactly one object whose
// members are all among fields and all strings. Every field is required: a
// missing one is EINVALID naming it (422); anything malformed is 400, a
// body that is not JSON 415, one that is too large 413.
func decodeStrings(w http.ResponseWriter, r *http.Request, fields ...string) (map[string]string, error) {
	values, err := decodeJSON(w, r, fields, nil)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(values))
	for key, v := range values {
		out[key] = *v
	}
	return out, nil
}

// decodeJSON reads a JSON body like decodeStrings, whose members are among
// required and optional. A required field must be a string; an optional
// one may be missing (not in the map), a string, or null (a nil value).
func decodeJSON(w http.ResponseWriter, r *http.Request, required, optional []string) (map[string]*string, error) {
	raw, err := decodeObject(w, r, required, optional)
	if err != nil {
		return nil, err
	}
	values := make(map[string]*string, len(required)+len(optional))
	for key, v := range raw {
		isOptional := slices.Contains(optional, key)
		// encoding/json would quietly replace invalid UTF-8 with U+FFFD:
		// what was sent would not be what is stored.
		if !utf8.Valid(v) {
			return nil, badRequest(http.StatusBadRequest, fmt.Sprintf("Field %q must be valid UTF-8.", key))
		}
		if string(v) == "null" && isOptional {
			values[key] = nil
			continue
		}
		var s string
		if string(v) == "null" || json.Unmarshal(v, &s) != nil {
			if isOptional {
				return nil, badRequest(http.StatusBadRequest, fmt.Sprintf("Field %q must be a string or null.", key))
			}
			return nil, badRequest(http.StatusBadRequest, fmt.Sprintf("Field %q must be a string.", key))
		}
		values[key] = &s
	}
	if err := missingFields(required, func(key string) bool { _, ok := values[key]; return ok }); err != nil {
		return nil, err
	}
	return values, nil
}

// decodeObject reads a JSON body that must be exactly one object whose
// members are all among required and optional, and leaves each member's
// value undecoded: anything malformed or an unknown member is 400, a body
// that is not JSON 415, one that is too large 413.
func decodeObject(w http.ResponseWriter, r *http.Request, required, optional []string) (map[string]json.RawMessage, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/json" {
		return nil, badRequest(http.StatusUnsupportedMediaType, "Send the body as application/json.")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, decodeError(err, "The body must be one JSON object.")
	}
	if raw == nil {
		return nil, badRequest(http.StatusBadRequest, "The body must be one JSON object.")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, decodeError(err, "The body must contain nothing after the JSON object.")
	}
	for key := range raw {
		if !slices.Contains(optional, key) && !slices.Contains(required, key) {
			return nil, badRequest(http.StatusBadRequest, fmt.Sprintf("Unknown field %q.", key))
		}
	}
	return raw, nil
}

// missingFields is EINVALID naming each of required that has reports
// missing (422), nil when none is.
func missingFields(required []string, has func(string) bool) error {
	missing := map[string]string{}
	var keys []string
	for _, key := range required {
		if !has(key) {
			missing[key] = fmt.Sprintf("Field %q is required.", key)
			keys = append(keys, key)
		}
	}
	if len(missing) > 0 {
		return &aistat.Error{Code: aistat.EINVALID, Message: "Missing " + strings.Join(keys, ", ") + ".", Fields: missing}
	}
	return nil
}
