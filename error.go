package ward

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to one HTTP status and one OperationOutcome issue
// code in package http; nothing else decides a status.
const (
	EINVALID       = "invalid"             // 400
	ESTRUCTURE     = "structure"           // 400, issue code structure (invalid references)
	EUNAUTHORIZED  = "unauthorized"        // 401
	EFORBIDDEN     = "forbidden"           // 403
	ENOTFOUND      = "not-found"           // 404
	ENOTALLOWED    = "not-allowed"         // 405
	ECONFLICT      = "conflict"            // 409
	EGONE          = "gone"                // 410
	EPRECONDITION  = "precondition-failed" // 412
	EMULTIPLE      = "multiple-matches"    // 412
	ETOOLARGE      = "too-large"           // 413
	EUNSUPPORTED   = "unsupported"         // 415
	EUNPROCESSABLE = "unprocessable"       // 422
	ETOOMANY       = "too-many-requests"   // 429
	EINTERNAL      = "internal"            // 500
)

// Error is the one error type that crosses package boundaries. Message is
// shown to the caller; errors of other types are internal and never shown.
type Error struct {
	Code       string
	Message    string
	Expression []string // FHIRPath or parameter names the error is about
}

func (e *Error) Error() string {
	return fmt.Sprintf("ward error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an *Error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, EINTERNAL for foreign errors and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the caller-visible message of err.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal server error"
}
