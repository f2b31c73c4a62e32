package delivery

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/signature"
	"github.com/switchboardhq/switchboard/hub/store"
)

// apideckPayload is the body Apideck delivers ({"payload": {...}}), with
// the fields of its WebhookEvent and, where the event has one, the entity
// (ConnectionEvent's). Our own additions (event_source, connection_id,
// base_event_type, ...) are left out: receivers written for Apideck see
// Apideck's shape.
type apideckPayload struct {
	EventType        string          `json:"event_type"`
	UnifiedAPI       string          `json:"unified_api"`
	ServiceID        string          `json:"service_id"`
	ConsumerID       string          `json:"consumer_id"`
	EventID          string          `json:"event_id"`
	EntityID         string          `json:"entity_id"`
	EntityURL        string          `json:"entity_url"`
	EntityType       string          `json:"entity_type"`
	OccurredAt       string          `json:"occurred_at"`
	ExecutionAttempt int             `json:"execution_attempt"`
	Entity           json.RawMessage `json:"entity,omitempty"`
}

// apideckBody renders the Apideck-format body of one try in the canonical
// form its signature covers (signature.ApideckCanonical): what is sent is
// exactly what is signed.
func apideckBody(ev *event.Event, attempt int) ([]byte, error) {
	p := apideckPayload{
		EventType:        ev.EventType,
		UnifiedAPI:       ev.UnifiedAPI,
		ServiceID:        ev.ServiceID,
		ConsumerID:       ev.ConsumerID,
		EventID:          ev.ID,
		EntityID:         ev.EntityID,
		EntityURL:        ev.EntityURL,
		EntityType:       ev.EntityType,
		OccurredAt:       ev.OccurredAt.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		ExecutionAttempt: attempt,
		Entity:           ev.Entity,
	}
	b, err := json.Marshal(struct {
		Payload apideckPayload `json:"payload"`
	}{p})
	if err != nil {
		return nil, fmt.Errorf("encoding apideck payload of event %s: %w", ev.ID, err)
	}
	canon, err := signature.ApideckCanonical(b)
	if err != nil {
		return nil, fmt.Errorf("encoding apideck payload of event %s: %w", ev.ID, err)
	}
	return canon, nil
}

// bodyKey tells the bodies of one run apart: one per attempt number and
// delivery format, shared by every delivery that needs it.
type bodyKey struct {
	attempt int
	format  string
}

func renderBody(ev *event.Event, k bodyKey) ([]byte, error) {
	if k.format == store.FormatApideck {
		return apideckBody(ev, k.attempt)
	}
	return ev.Body(k.attempt)
}

// signApideck sets Apideck's headers: the event type, the event id as the
// idempotency key, and the hex HMAC-SHA256 of the (canonical) body keyed
// with the subscription's signing key. It needs no timestamp, so a retried
// request carries the same signature.
func signApideck(h http.Header, m *message) error {
	sig, err := signature.ApideckSignCanonical(m.signingKey, m.body)
	if err != nil {
		return fmt.Errorf("signing: %w", err)
	}
	h.Set(signature.HeaderApideckEventType, m.eventType)
	h.Set(signature.HeaderApideckIdempotencyKey, m.id)
	h.Set(signature.HeaderApideckSignature, sig)
	return nil
}
