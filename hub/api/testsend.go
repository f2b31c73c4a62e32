package api

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/store"
)

// TestConsumerID is the consumer of the test events sent to an
// application-wide subscription (one with no consumer_id). Such a
// subscription takes every consumer's events, so any consumer would do; a
// fixed name that is nobody's real consumer keeps test events out of real
// consumers' event lists and logs, and a receiver can recognise it.
const TestConsumerID = "switchboard-test"

type testSendRequest struct {
	EventType string `json:"event_type"`
}

type testSendView struct {
	EventID    string       `json:"event_id"`
	EventType  string       `json:"event_type"`
	ConsumerID string       `json:"consumer_id"`
	Delivery   deliveryView `json:"delivery"`
}

// testSubscription sends the catalogue example of one event type the
// subscription takes to that subscription alone (POST
// /webhook/webhooks/{id}/test). The example is stored as an event with
// event_source "test", so its delivery shows in the logs and can be
// replayed like any other.
func (s *server) testSubscription(c *gin.Context) {
	ctx := c.Request.Context()
	sub, err := s.loadSubscription(c, c.Param("id"))
	if err != nil {
		WriteError(c, err)
		return
	}
	var req testSendRequest
	if _, err := decodeOptionalJSON(c, &req); err != nil {
		WriteError(c, err)
		return
	}
	if sub.Status != store.StatusEnabled {
		WriteError(c, disabledError(sub))
		return
	}
	voc, err := s.vocabulary(ctx)
	if err != nil {
		WriteError(c, err)
		return
	}
	consumer := sub.ConsumerID
	if consumer == "" {
		consumer = TestConsumerID
	}
	t, err := testType(voc, sub, consumer, req.EventType)
	if err != nil {
		WriteError(c, err)
		return
	}
	ev := ExampleEvent(t, DefaultServiceID, s.publicURL)
	now := s.now().UTC()
	ev.ID, ev.ConsumerID, ev.EventSource = store.NewID(), consumer, event.SourceTest
	ev.OccurredAt, ev.CreatedAt = now, now
	d, err := s.store.SendTest(ctx, ScopeOf(c), sub.ID, ev)
	switch {
	case errors.Is(err, store.ErrNotFound):
		WriteError(c, NotFound("subscription", sub.ID))
		return
	case errors.Is(err, store.ErrSubscriptionDisabled):
		WriteError(c, disabledError(sub))
		return
	case err != nil:
		WriteError(c, fmt.Errorf("sending a test event to subscription %s: %w", sub.ID, err))
		return
	}
	s.log.InfoContext(ctx, "test event sent", "subscription_id", sub.ID, "event_id", ev.ID,
		"event_type", ev.EventType, "delivery_id", d.ID)
	Respond(c, http.StatusAccepted, testSendView{
		EventID: ev.ID, EventType: ev.EventType, ConsumerID: ev.ConsumerID,
		Delivery: deliveryView{ID: d.ID, SubscriptionID: d.SubscriptionID, Status: d.Status,
			Attempts: d.Attempts, CreatedAt: formatTime(d.CreatedAt), UpdatedAt: formatTime(d.UpdatedAt)},
	})
}

func disabledError(sub *store.Subscription) *Error {
	return &Error{
		Status: http.StatusConflict, TypeName: TypeConflict,
		Message: fmt.Sprintf("subscription %s is disabled (reason %s); set its status to enabled first", sub.ID, sub.DisabledReason),
		Detail:  map[string]string{"field": "status", "reason": "is disabled"},
	}
}

// testType picks the event type of a test send: name if the subscription
// takes it, else (name empty) the first type named in its events list that
// has an example, else the first type of the vocabulary it takes (a "*"
// subscription). Pass-through names have no catalogue example.
func testType(voc event.Vocabulary, sub *store.Subscription, consumer, name string) (*event.Type, error) {
	takes := func(t *event.Type) bool {
		return sub.Subscriber().Matches(&event.Event{EventType: t.Name, BaseEventType: t.BaseEventType,
			UnifiedAPI: t.UnifiedAPI, ConsumerID: consumer})
	}
	var taken []*event.Type
	for _, t := range voc.Catalog.Types() {
		if takes(t) {
			taken = append(taken, t)
		}
	}
	for _, n := range slices.Sorted(maps.Keys(voc.Registered)) {
		if t := voc.Registered[n]; takes(t) {
			taken = append(taken, t)
		}
	}
	names := make([]string, len(taken))
	for i, t := range taken {
		names[i] = t.Name
	}
	if name != "" {
		if t, ok := voc.Lookup(name); ok && takes(t) {
			return t, nil
		}
		reason := fmt.Sprintf("subscription %s does not take %q", sub.ID, name)
		if _, ok := voc.Lookup(name); !ok && voc.IsPassThrough(name) {
			reason = fmt.Sprintf("%q is a pass-through event and has no catalogue example to send", name)
		}
		if near := event.Suggest(name, names, 3); len(near) > 0 {
			reason += "; closest it takes: " + strings.Join(near, ", ")
		}
		return nil, Invalid(FieldError{"event_type", reason})
	}
	for _, n := range sub.Events {
		if t, ok := voc.Lookup(n); ok && takes(t) {
			return t, nil
		}
	}
	if len(taken) == 0 {
		return nil, Invalid(FieldError{"event_type", fmt.Sprintf("subscription %s takes no event type with a catalogue example (only pass-through events)", sub.ID)})
	}
	return taken[0], nil
}
