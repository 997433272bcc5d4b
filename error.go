package aistat

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. Each maps to one HTTP status in the handlers' error writer.
const (
	ECONFLICT     = "conflict"
	EFORBIDDEN    = "forbidden"
	EGONE         = "gone"
	EINTERNAL     = "internal"
	EINVALID      = "invalid"
	ENOTFOUND     = "not_found"
	ETOOMANY      = "too_many"
	EUNAUTHORIZED = "unauthorized"
	EUNAVAILABLE  = "unavailable"
)

// Error is a failure the application can explain to the person who caused it.
// Any other error is internal and is never shown as is.
type Error struct {
	Code    string
	Message string
	// Fields names the inputs that broke a rule, keyed by their JSON name,
	// with a message for each.
	Fields map[string]string
	// RetryAfter is how long to wait before trying again, for ETOOMANY.
	RetryAfter time.Duration
}

// Error implements the error interface.
func (e *Error) Error() string {
	return fmt.Sprintf("aistat error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode is the code of err when it is an *Error, EINTERNAL otherwise and
// "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	}
	return EINTERNAL
}

// InternalErrorMessage is all a person learns of an error the application
// cannot explain: internal details never leak.
const InternalErrorMessage = "Internal error."

// ErrorMessage is the human-readable message of err when it is an *Error and
// InternalErrorMessage for anything else.
func ErrorMessage(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Message
	}
	return InternalErrorMessage
}

// ErrorFields are the per-field messages of err when it is an *Error.
func ErrorFields(err error) map[string]string {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// ErrorRetryAfter is how long the client should wait before trying again
// when err is an *Error that says so, 0 otherwise.
func ErrorRetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
