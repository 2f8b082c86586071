package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/petrelmail/petrel/internal/delivery"
	"github.com/petrelmail/petrel/internal/directory"
	"github.com/petrelmail/petrel/internal/store"
)

// Error is an API error: an HTTP status, a stable code that programs test,
// and a message for people. It is what every failed request returns, as
// {"error": {"code": ..., "message": ...}}.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// RetryAfter, in seconds, is sent as the Retry-After header.
	RetryAfter int `json:"retry_after,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// Error codes. They are part of the API: never rename one.
const (
	CodeBadPath          = "bad_path"               // 400: the path has empty, "." or ".." segments, or a slash where none may be
	CodeInvalidJSON      = "invalid_json"           // 400: the body is not the JSON object expected
	CodeInvalid          = "invalid"                // 400: a value is not acceptable
	CodeUnauthenticated  = "unauthenticated"        // 401: no key, or a wrong, revoked or expired one
	CodeForbidden        = "forbidden"              // 403: the principal may not do this
	CodeDisabled         = "account_disabled"       // 403: the key's account is disabled
	CodeNotFound         = "not_found"              // 404
	CodeMethodNotAllowed = "method_not_allowed"     // 405
	CodeExists           = "exists"                 // 409: the name is taken
	CodeNotEmpty         = "not_empty"              // 409: a domain that still has accounts
	CodeHasChildren      = "has_children"           // 409: a folder that has subfolders
	CodeConflict         = "conflict"               // 409: the object kept changing under the request
	CodeTooLarge         = "too_large"              // 413: the body or message is over the limit
	CodeMediaType        = "unsupported_media_type" // 415
	CodeThrottled        = "throttled"              // 429: too many failed authentications
	CodeInternal         = "internal"               // 500
	CodeUnavailable      = "unavailable"            // 503: try again later
	CodeDiskReserve      = "disk_reserve"           // 503: the data folder's disk is below its reserve
	CodeOverQuota        = "over_quota"             // 507: the mailbox is over its quota
)

func errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func forbidden() *Error {
	return errorf(http.StatusForbidden, CodeForbidden, "this key may not do that")
}

func badRequest(format string, args ...any) *Error {
	return errorf(http.StatusBadRequest, CodeInvalid, format, args...)
}

// internalError is what a client sees of an error the API did not expect:
// nothing of it (it is logged).
var internalError = &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: "internal error (see the server log)"}

// apiError maps an error of the directory, the store or delivery to its API
// error. The messages of those packages' sentinel errors name only what
// the client sent (addresses, folder names), never files or internals;
// anything else becomes internalError, and known is false.
func apiError(err error) (e *Error, known bool) {
	var ae *Error
	var de *delivery.Error
	switch {
	case errors.As(err, &ae):
		return ae, true
	case errors.Is(err, directory.ErrNotFound), errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusNotFound, CodeNotFound, "%s", err), true
	case errors.Is(err, directory.ErrExists), errors.Is(err, store.ErrExists):
		return errorf(http.StatusConflict, CodeExists, "%s", err), true
	case errors.Is(err, directory.ErrInvalid), errors.Is(err, store.ErrInvalid):
		return errorf(http.StatusBadRequest, CodeInvalid, "%s", err), true
	case errors.Is(err, directory.ErrNotEmpty):
		return errorf(http.StatusConflict, CodeNotEmpty, "%s", err), true
	case errors.Is(err, store.ErrHasChildren):
		return errorf(http.StatusConflict, CodeHasChildren, "%s: delete its subfolders first", err), true
	case errors.Is(err, store.ErrOverQuota), errors.Is(err, delivery.ErrOverQuota):
		return errorf(http.StatusInsufficientStorage, CodeOverQuota, "mailbox full: over quota"), true
	case errors.Is(err, directory.ErrDisabled):
		return errorf(http.StatusForbidden, CodeDisabled, "account disabled"), true
	case errors.As(err, &de):
		switch de {
		case delivery.ErrTooLarge:
			return errorf(http.StatusRequestEntityTooLarge, CodeTooLarge, "%s", de.Message), true
		case delivery.ErrDiskReserve:
			return &Error{Status: http.StatusServiceUnavailable, Code: CodeDiskReserve, Message: de.Message, RetryAfter: 300}, true
		case delivery.ErrUnknownRecipient:
			return errorf(http.StatusNotFound, CodeNotFound, "%s", de.Message), true
		case delivery.ErrDisabled:
			return errorf(http.StatusForbidden, CodeDisabled, "%s", de.Message), true
		}
		if de.Temporary() {
			return &Error{Status: http.StatusServiceUnavailable, Code: CodeUnavailable, Message: de.Message, RetryAfter: 60}, true
		}
		return errorf(http.StatusBadRequest, CodeInvalid, "%s", de.Message), true
	}
	return internalError, false
}

// writeError writes e as the response.
func writeError(w http.ResponseWriter, e *Error) {
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	if e.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="petrel"`)
	}
	writeJSON(w, e.Status, struct {
		Error *Error `json:"error"`
	}{e})
}
