// Package marketing owns the domain of the marketing backend: the types that
// move between the HTTP layer, the ingest pipeline and the stores, the Store
// contract both databases implement, and the error codes every layer speaks.
package marketing

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to exactly one HTTP status in internal/httpapi.
const (
	EINVALID      = "invalid"      // the caller sent something wrong
	EUNAUTHORIZED = "unauthorized" // no valid credentials
	EFORBIDDEN    = "forbidden"    // valid credentials without the right
	ENOTFOUND     = "not_found"    // the thing asked for does not exist
	ECONFLICT     = "conflict"     // the request contradicts the stored state
	EUNAVAILABLE  = "unavailable"  // a dependency is down or the queue is full; retry later
	EINTERNAL     = "internal"     // a bug or an unexpected failure
)

// Error is a domain error: a code a program can act on and a message a
// person can read. Detail never leaves the process.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("marketing: %s: %s", e.Code, e.Message) }

// Errorf builds an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL
// for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	var v *ValidationError
	if errors.As(err, &v) {
		return EINVALID
	}
	return EINTERNAL
}

// ErrorMessage returns the human message of the first *Error in err's chain,
// or a generic text for anything else, so internal detail never escapes.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
