package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/store"
)

// Type names of error responses, Apideck style: clients branch on these, not
// on the message.
const (
	TypeRequestValidation  = "RequestValidationError"  // 400 malformed request, 422 invalid field
	TypeInvalidCursor      = "InvalidCursorError"      // 400 cursor not made by this API
	TypeUnauthorized       = "UnauthorizedError"       // 401 no key or a wrong or revoked one
	TypeForbidden          = "ForbiddenError"          // 403 the credential lacks the route's scope or acts for another consumer
	TypeEntityNotFound     = "EntityNotFoundError"     // 404 unknown id or route
	TypeMethodNotAllowed   = "MethodNotAllowedError"   // 405 route exists, method does not
	TypeConflict           = "ConflictError"           // 409 idempotency key reused differently
	TypeRequestTooLarge    = "RequestTooLargeError"    // 413 body over the limit
	TypeServer             = "ServerError"             // 500 anything unexpected; details only in the log
	TypeServiceUnavailable = "ServiceUnavailableError" // 503 not ready (database, job queue, a connector)
	TypeConnectorExecution = "ConnectorExecutionError" // 502 a connector, or the provider behind it, failed a call
)

// Error is an API error: everything needed to render the error envelope.
// Handlers return it (or a store sentinel) and writeError renders it, so there
// is exactly one place that decides what a client sees.
type Error struct {
	Status   int
	TypeName string
	Message  string
	Detail   any
	// RetryAfter, when positive, is sent as the Retry-After header (in
	// seconds): how long a client should wait before repeating a request
	// the hub could not serve for the time being.
	RetryAfter int
	// Err is the cause, logged but never shown to the client.
	Err error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// FieldError names one invalid field and why, as carried in the detail of
// validation errors.
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// validationDetail is the detail of a RequestValidationError: the first
// problem flattened for quick reading plus the whole list.
type validationDetail struct {
	Field  string       `json:"field"`
	Reason string       `json:"reason"`
	Errors []FieldError `json:"errors"`
}

// Invalid is a 422 for fields that parse but mean nothing valid. The message
// names every field, e.g. "delivery_url must be an absolute http(s) URL".
func Invalid(errs ...FieldError) *Error { return fieldError(http.StatusUnprocessableEntity, errs) }

// BadRequest is a 400 for a request that cannot be read as asked: malformed
// JSON, wrong JSON types, unknown fields, bad query parameters.
func BadRequest(field, reason string) *Error {
	return fieldError(http.StatusBadRequest, []FieldError{{Field: field, Reason: reason}})
}

func fieldError(status int, errs []FieldError) *Error {
	msgs := make([]string, len(errs))
	for i, fe := range errs {
		msgs[i] = fe.Field + " " + fe.Reason
		if fe.Field == "" {
			msgs[i] = fe.Reason
		}
	}
	return &Error{
		Status:   status,
		TypeName: TypeRequestValidation,
		Message:  strings.Join(msgs, "; "),
		Detail:   validationDetail{Field: errs[0].Field, Reason: errs[0].Reason, Errors: errs},
	}
}

// NotFound is a 404 for an unknown id of a kind of thing ("subscription").
func NotFound(kind, id string) *Error {
	return &Error{
		Status:   http.StatusNotFound,
		TypeName: TypeEntityNotFound,
		Message:  fmt.Sprintf("%s %s not found", kind, id),
		Detail:   map[string]string{"entity": kind, "id": id},
	}
}

// retryAfterUnavailable is the Retry-After of a store.ErrUnavailable: about
// the database's busy timeout, so a retry does not come while the lock that
// refused the request is most likely still held.
const retryAfterUnavailable = 5

// errorBody is the error envelope.
type errorBody struct {
	StatusCode int    `json:"status_code"`
	Error      string `json:"error"`
	TypeName   string `json:"type_name"`
	Message    string `json:"message"`
	Detail     any    `json:"detail"`
	// Ref links the error type's documentation, on routes that carry
	// Apideck's error shape (Config.ErrorRefs).
	Ref string `json:"ref,omitempty"`
}

// toError maps any error a handler returns to what the client sees. This is
// the single place where store sentinels and unexpected errors become
// responses; unexpected errors never reveal their text.
func toError(err error) *Error {
	var apiErr *Error
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &apiErr):
		return apiErr
	case errors.As(err, &tooLarge):
		return &Error{
			Status:   http.StatusRequestEntityTooLarge,
			TypeName: TypeRequestTooLarge,
			Message:  fmt.Sprintf("request body is larger than the limit of %d bytes", tooLarge.Limit),
			Detail:   map[string]int64{"limit_bytes": tooLarge.Limit},
			Err:      err,
		}
	case errors.Is(err, store.ErrNotFound):
		return &Error{Status: http.StatusNotFound, TypeName: TypeEntityNotFound, Message: "entity not found", Err: err}
	case errors.Is(err, store.ErrOutOfScope):
		return &Error{
			Status:   http.StatusForbidden,
			TypeName: TypeForbidden,
			Message:  "this credential acts for one consumer and cannot reach another consumer's or application-wide data",
			Err:      err,
		}
	case errors.Is(err, store.ErrIdempotencyConflict):
		return &Error{
			Status:   http.StatusConflict,
			TypeName: TypeConflict,
			Message:  "idempotency_key was already used for a different request",
			Detail:   map[string]string{"field": "idempotency_key", "reason": "reused with a different request body"},
			Err:      err,
		}
	case errors.Is(err, store.ErrExists):
		return &Error{
			Status:   http.StatusConflict,
			TypeName: TypeConflict,
			Message:  "it exists already",
			Err:      err,
		}
	case errors.Is(err, store.ErrUnavailable):
		return &Error{
			Status:     http.StatusServiceUnavailable,
			TypeName:   TypeServiceUnavailable,
			Message:    "the database cannot take writes right now (locked or full); nothing was changed, retry shortly",
			RetryAfter: retryAfterUnavailable,
			Err:        err,
		}
	case errors.Is(err, store.ErrQueueNotStarted):
		return &Error{
			Status:   http.StatusServiceUnavailable,
			TypeName: TypeServiceUnavailable,
			Message:  "the job queue is not running yet; retry shortly",
			Err:      err,
		}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{
			Status:   http.StatusServiceUnavailable,
			TypeName: TypeServiceUnavailable,
			Message:  "the request timed out; retry shortly",
			Err:      err,
		}
	default:
		return &Error{
			Status:   http.StatusInternalServerError,
			TypeName: TypeServer,
			Message:  "internal server error; the Request-Id header identifies this request in the hub's log",
			Err:      err,
		}
	}
}

// WriteError renders err in the error envelope and aborts the handler chain.
// Other packages that mount routes on this API (Config.Routes) use it so
// their errors look the same.
func WriteError(c *gin.Context, err error) {
	e := toError(err)
	if e.Err != nil || e.Status >= 500 {
		// The logging middleware reports the cause next to the request.
		_ = c.Error(err)
	}
	if e.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	body := errorBody{
		StatusCode: e.Status,
		Error:      http.StatusText(e.Status),
		TypeName:   e.TypeName,
		Message:    e.Message,
		Detail:     e.Detail,
	}
	if base := c.GetString(ctxErrorRef); base != "" {
		body.Ref = base + strings.ToLower(e.TypeName)
	}
	writeJSON(c, e.Status, body)
	c.Abort()
}
