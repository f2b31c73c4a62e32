package api

import (
	"fmt"
	"unicode/utf8"
)

// Input limits. Every string a client sends is bounded, so one request
// cannot make a stored row, a delivery header or a log line arbitrarily
// large (a 1 MB event_type used to become a 1 MB webhook header). Lengths
// are counted in characters (Unicode code points), not bytes, so a limit
// means the same thing in every script. README "Input limits and replays"
// and the maxLength values in openapi.json document the same numbers.
const (
	// MaxIDLength bounds free-form identifiers: consumer_id, entity_id,
	// idempotency_key and the like.
	MaxIDLength = 255
	// MaxEventTypeLength bounds event_type, base_event_type and each
	// name in a subscription's events.
	MaxEventTypeLength = 255
	// MaxNameLength bounds entity_type and service_id (their patterns
	// already stop at 64 characters; the limit is named for the error).
	MaxNameLength = 64
	// MaxDeliveryURLLength bounds delivery_url: 2048 is what browsers and
	// most HTTP stacks reliably carry.
	MaxDeliveryURLLength = 2048
	// MaxDescriptionLength bounds a subscription's description.
	MaxDescriptionLength = 1000
	// MaxSigningKeyLength bounds a subscription's signing_key (an Apideck
	// API key is a few hundred characters at most).
	MaxSigningKeyLength = 1024
	// DefaultMaxEventsPerSubscription is how many event names one
	// subscription may list unless Config.MaxEventsPerSubscription says
	// otherwise.
	DefaultMaxEventsPerSubscription = 200
)

// checkLength reports a string longer than limit characters, naming the
// field, the limit and the length that was sent.
func checkLength(field, v string, limit int) []FieldError {
	if len(v) <= limit { // fast path: never more characters than bytes
		return nil
	}
	if n := utf8.RuneCountInString(v); n > limit {
		return []FieldError{{field, fmt.Sprintf("must be at most %d characters, got %d", limit, n)}}
	}
	return nil
}
