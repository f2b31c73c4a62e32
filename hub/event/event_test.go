package event

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestSubscriberMatches(t *testing.T) {
	t.Parallel()
	paid := &Event{EventType: "accounting.invoice.paid", BaseEventType: "accounting.invoice.updated",
		UnifiedAPI: "accounting", ServiceID: "dversum", ConsumerID: "acme"}
	page := &Event{EventType: "dversum.page.created", UnifiedAPI: "dversum", ServiceID: "dversum", ConsumerID: "acme"}
	ticket := &Event{EventType: "issue-tracking.ticket.created", UnifiedAPI: "issue-tracking", ServiceID: "vplan", ConsumerID: "acme"}
	failingAcme := &Event{EventType: SubscriptionFailing, UnifiedAPI: "webhook", ServiceID: "switchboard", ConsumerID: "acme",
		EntityType: "subscription", EntityID: "s1"}
	failingApp := &Event{EventType: SubscriptionFailing, UnifiedAPI: "webhook", ServiceID: "switchboard", EntityType: "subscription", EntityID: "s1"}
	exhaustedAcme := &Event{EventType: DeliveryExhausted, UnifiedAPI: "webhook", ServiceID: "switchboard", ConsumerID: "acme",
		EntityType: "delivery", EntityID: "d1", Entity: []byte(`{"id":"d1","subscription_id":"s1"}`)}

	for _, tc := range []struct {
		name string
		sub  Subscriber
		ev   *Event
		want bool
	}{
		{"exact type", Subscriber{UnifiedAPI: "accounting", Events: []string{"accounting.invoice.paid"}}, paid, true},
		{"base type receives extension", Subscriber{UnifiedAPI: "accounting", Events: []string{"accounting.invoice.updated"}}, paid, true},
		{"other type", Subscriber{UnifiedAPI: "accounting", Events: []string{"accounting.invoice.created"}}, paid, false},
		{"wildcard same api", Subscriber{UnifiedAPI: "accounting", Events: []string{"*"}}, paid, true},
		{"wildcard other api", Subscriber{UnifiedAPI: "crm", Events: []string{"*"}}, paid, false},
		{"wildcard any api", Subscriber{UnifiedAPI: "*", Events: []string{"*"}}, ticket, true},
		{"wildcard receives pass-through", Subscriber{UnifiedAPI: "accounting", Events: []string{"*"}}, page, true},
		{"pass-through named", Subscriber{UnifiedAPI: "crm", Events: []string{"dversum.page.created"}}, page, true},
		{"bound to same consumer", Subscriber{UnifiedAPI: "accounting", Events: []string{"*"}, ConsumerID: "acme"}, paid, true},
		{"bound to other consumer", Subscriber{UnifiedAPI: "accounting", Events: []string{"*"}, ConsumerID: "globex"}, paid, false},
		{"no events", Subscriber{UnifiedAPI: "accounting"}, paid, false},
		// Operational events: named only, never about the receiver itself,
		// within the consumer of the subscription they are about.
		{"ops named", Subscriber{ID: "w", UnifiedAPI: "webhook", Events: []string{SubscriptionFailing}}, failingAcme, true},
		{"ops named by an any-api subscription", Subscriber{ID: "w", UnifiedAPI: "*", Events: []string{SubscriptionFailing}}, failingAcme, true},
		{"ops never through *", Subscriber{ID: "w", UnifiedAPI: "*", Events: []string{"*"}}, failingAcme, false},
		{"ops never through * of webhook", Subscriber{ID: "w", UnifiedAPI: "webhook", Events: []string{"*"}}, failingAcme, false},
		{"ops other type named", Subscriber{ID: "w", UnifiedAPI: "webhook", Events: []string{SubscriptionDisabled}}, failingAcme, false},
		{"ops never about itself", Subscriber{ID: "s1", UnifiedAPI: "webhook", Events: []string{SubscriptionFailing}}, failingAcme, false},
		{"exhausted never about itself", Subscriber{ID: "s1", UnifiedAPI: "webhook", Events: []string{DeliveryExhausted}}, exhaustedAcme, false},
		{"exhausted about another", Subscriber{ID: "w", UnifiedAPI: "webhook", Events: []string{DeliveryExhausted}}, exhaustedAcme, true},
		{"ops same consumer", Subscriber{ID: "w", UnifiedAPI: "webhook", Events: []string{SubscriptionFailing}, ConsumerID: "acme"}, failingAcme, true},
		{"ops other consumer", Subscriber{ID: "w", UnifiedAPI: "webhook", Events: []string{SubscriptionFailing}, ConsumerID: "globex"}, failingAcme, false},
		{"application ops not for a consumer", Subscriber{ID: "w", UnifiedAPI: "webhook", Events: []string{SubscriptionFailing}, ConsumerID: "acme"}, failingApp, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.sub.Matches(tc.ev))
		})
	}
}

func TestBodyRendersContractPayload(t *testing.T) {
	t.Parallel()
	ev := &Event{ID: "evt_1", EventType: "accounting.invoice.paid", BaseEventType: "accounting.invoice.updated",
		UnifiedAPI: "accounting", ServiceID: "dversum", ConsumerID: "acme", ConnectionID: "conn_1",
		EntityID: "inv_abc123", EntityType: "invoice", EntityURL: "http://hub/accounting/invoices/inv_abc123",
		DownstreamEventType: "invoice.paid", EventSource: SourceNative,
		OccurredAt: time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC),
		Entity:     json.RawMessage(`{"id":"inv_abc123","total":1190.00}`)}
	b, err := ev.Body(3)
	require.NoError(t, err)
	require.JSONEq(t, `{"payload":{"event_id":"evt_1","event_type":"accounting.invoice.paid",
		"base_event_type":"accounting.invoice.updated","unified_api":"accounting","service_id":"dversum",
		"consumer_id":"acme","connection_id":"conn_1","entity_id":"inv_abc123","entity_type":"invoice",
		"entity_url":"http://hub/accounting/invoices/inv_abc123","downstream_event_type":"invoice.paid",
		"event_source":"native","execution_attempt":3,"occurred_at":"2024-01-15T10:30:00Z",
		"entity":{"id":"inv_abc123","total":1190.00}}}`, string(b))

	bare := &Event{ID: "evt_2", EventType: "accounting.invoice.created", UnifiedAPI: "accounting", EventSource: SourceAPI}
	b, err = bare.Body(1)
	require.NoError(t, err)
	var got struct{ Payload map[string]any }
	require.NoError(t, json.Unmarshal(b, &got))
	require.Nil(t, got.Payload["base_event_type"], "absent base type is null, not empty string")
	require.Equal(t, map[string]any{}, got.Payload["entity"])
}

func TestNames(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"accounting.invoice.paid":                  true,
		"issue-tracking.ticket.created":            true,
		"dversum.page.created":                     true,
		"hris.time-off-request.created":            true,
		"vplan.collection.checklist.item.attached": true,
		"a.b.c.d.e.f":                              false,
		"accounting":                               false,
		"Accounting.invoice.paid":                  false,
		"accounting..paid":                         false,
		"accounting.invoice.paid ":                 false,
		"*":                                        false,
	} {
		require.Equal(t, want, ValidType(name), name)
	}
	require.Equal(t, "accounting.invoice.updated", BaseOf("accounting.invoice.paid"))
	require.Equal(t, "issue-tracking.ticket.updated", BaseOf("issue-tracking.ticket.merged"))
	require.Empty(t, BaseOf("accounting.invoice.created"))
	require.Equal(t, "issue-tracking", UnifiedAPIOf("issue-tracking.ticket.created"))
}

func TestEntityURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ api, entity, want string }{
		{"accounting", "invoice", "http://h/accounting/invoices/x"},
		{"crm", "opportunity", "http://h/crm/opportunities/x"},
		{"time-registration", "time_entry", "http://h/time-registration/time_entries/x"},
		{"accounting", "invoice_item", "http://h/accounting/invoice_items/x"},
		{"hris", "time-off-request", "http://h/hris/time-off-requests/x"},
	} {
		require.Equal(t, tc.want, EntityURL("http://h/", tc.api, tc.entity, "x"))
	}
	require.Empty(t, EntityURL("http://h", "accounting", "", "x"))
}
