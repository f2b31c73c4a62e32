package plugins

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Errors a connector returns (wrapped or not) so the hub can answer the
// provider precisely. They survive the trip over gRPC: on the hub's side
// errors.Is and errors.As work as they did in the plugin.
var (
	// ErrBadSignature: the request is not authentic (signature missing,
	// wrong or not computable). The hub answers 401.
	ErrBadSignature = errors.New("bad signature")

	// ErrMalformed: the request cannot be parsed. Return it through
	// Malformed so the hub can tell the provider what is wrong (400).
	ErrMalformed = errors.New("malformed request")

	// ErrUnsupported: the connector does not implement the call (Poll on a
	// connector without Poller).
	ErrUnsupported = errors.New("not supported by this connector")

	// ErrUnavailable: the connector's process is down, restarting or not
	// answering in time. The hub answers 503 with Retry-After so the provider
	// retries; nothing is acknowledged. See UnavailableError.
	ErrUnavailable = errors.New("connector unavailable")

	// ErrRateLimited: the provider rate-limited the connector (HTTP 429).
	// Return it through RateLimited so the hub knows how long to wait.
	ErrRateLimited = errors.New("rate limited by the provider")
)

// RateLimitedError says the provider refused a call for its rate limit and
// when to call again. It matches ErrRateLimited with errors.Is and survives
// the trip over gRPC with its RetryAfter.
type RateLimitedError struct {
	// RetryAfter is the provider's Retry-After (zero when it sent none: the
	// hub then backs off on its own).
	RetryAfter time.Duration
	// Message is what the provider said, without secrets.
	Message string
}

// RateLimited returns a *RateLimitedError.
func RateLimited(retryAfter time.Duration, format string, args ...any) error {
	return &RateLimitedError{RetryAfter: retryAfter, Message: fmt.Sprintf(format, args...)}
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("rate limited by the provider (retry after %s): %s", e.RetryAfter, e.Message)
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitedError) Is(target error) bool { return target == ErrRateLimited }

// MalformedError says what is wrong with an inbound request. It matches
// ErrMalformed with errors.Is.
type MalformedError struct {
	// Reason is shown to the provider, e.g. `body field "event" is missing`.
	Reason string
}

// Malformed returns a *MalformedError with a formatted reason.
func Malformed(format string, args ...any) error {
	return &MalformedError{Reason: fmt.Sprintf(format, args...)}
}

func (e *MalformedError) Error() string { return "malformed request: " + e.Reason }

// Is makes errors.Is(err, ErrMalformed) true.
func (e *MalformedError) Is(target error) bool { return target == ErrMalformed }

// ProviderError reports that the provider refused a call a connector made
// (registration in Subscribe, typically). The hub answers 502 with a
// ConnectorExecutionError naming the provider's status and message.
type ProviderError struct {
	// StatusCode is the provider's HTTP status (0 when it did not answer).
	StatusCode int
	// Message is the provider's error message, or what went wrong.
	Message string
}

func (e *ProviderError) Error() string {
	if e.StatusCode == 0 {
		return "provider error: " + e.Message
	}
	return fmt.Sprintf("provider answered %d: %s", e.StatusCode, e.Message)
}

// UnavailableError is the ErrUnavailable the hub's manager returns: which
// connector is down and when to try again.
type UnavailableError struct {
	// ID is the connector's id.
	ID string
	// RetryAfter is a hint for the Retry-After header (at least 1 s).
	RetryAfter time.Duration
	// Err is the cause (process exited, timeout, ...), if known.
	Err error
}

func (e *UnavailableError) Error() string {
	msg := fmt.Sprintf("connector %s unavailable", e.ID)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is makes errors.Is(err, ErrUnavailable) true.
func (e *UnavailableError) Is(target error) bool { return target == ErrUnavailable }

// Unwrap returns the cause.
func (e *UnavailableError) Unwrap() error { return e.Err }

// RetryAfterSeconds is RetryAfter rounded up to whole seconds, at least 1:
// the value of a Retry-After header.
func (e *UnavailableError) RetryAfterSeconds() int {
	s := int(math.Ceil(e.RetryAfter.Seconds()))
	return max(s, 1)
}

// remoteError is an error that came back over gRPC: its text is the plugin's
// and it matches the SDK sentinel the status code stood for.
type remoteError struct {
	msg  string
	kind error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.kind }
