// Package storetest is the conformance suite every store.Store
// implementation must pass, in the manner of River's riverdrivertest: the
// embedded SQLite store and the PostgreSQL store run the same tests, so the
// hub behaves the same on either.
//
// A driver's test calls Run with a function that opens a fresh, empty store
// whose queue was started with Workers():
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s := open(t) // a new database for this test
//			require.NoError(t, s.StartQueue(ctx, store.QueueConfig{Workers: storetest.Workers()}))
//			t.Cleanup(func() { s.StopQueue(ctx); s.Close() })
//			return s
//		})
//	}
//
// Every subtest opens its own store and runs in parallel.
//
// Beyond what the store.Store doc comments say, the suite pins down details
// the hub relies on:
//   - Lists are newest first by id; a zero Page.Limit means
//     store.DefaultPageLimit and larger limits are capped at
//     store.MaxPageLimit. A Before page holds the items right after the
//     cursor, still newest first.
//   - Times round-trip at microsecond precision in UTC (store.Time).
//   - UpdateSubscription with status disabled cancels the pending deliveries,
//     as DeleteSubscription does.
//   - Replay with a subscription id delivers only if that subscription is
//     enabled and matches the event (0, nil otherwise).
//   - RetryTarget of a delivery whose subscription was deleted returns a
//     zero Subscription (the delivery is cancelled).
//   - RecordOutcomes accepts DeliveryCancelled outcomes without attempts
//     (the worker found the subscription gone); an outcome without attempts
//     leaves the subscription's health alone. A batch with an unknown
//     delivery fails as a whole with ErrNotFound.
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/secret"
	"github.com/switchboardhq/switchboard/hub/store"
)

// waitFor bounds how long the suite waits for River to work a job. It is a
// liveness bound, not a timing assertion: jobs normally run within
// milliseconds.
const waitFor = 30 * time.Second

// Run runs the conformance suite. open must return a fresh, empty store with
// its queue started with Workers(), and register its own cleanup.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Helper()
	h := &harness{open: open}
	for _, group := range []struct {
		name  string
		tests map[string]func(*testing.T, *harness)
	}{
		{"APIKeys", apiKeyTests},
		{"Subscriptions", subscriptionTests},
		{"Events", eventTests},
		{"Deliveries", deliveryTests},
		{"Queue", queueTests},
		{"Dispatch", dispatchTests},
		{"Connections", connectionTests},
		{"Tenancy", tenancyTests},
		{"EventTypes", eventTypeTests},
		{"Retention", retentionTests},
		{"SendTest", testSendTests},
		{"Recovery", recoveryTests},
		{"Activity", activityTests},
		{"Consumers", consumerTests},
		{"Notices", noticeTests},
		{"Polls", pollTests},
	} {
		t.Run(group.name, func(t *testing.T) {
			t.Parallel()
			for _, name := range slices.Sorted(maps.Keys(group.tests)) {
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					group.tests[name](t, h)
				})
			}
		})
	}
}

type harness struct {
	open func(t *testing.T) store.Store
}

// env is one test's store and helpers bound to it.
type env struct {
	t   *testing.T
	ctx context.Context
	s   store.Store
}

func (h *harness) env(t *testing.T) *env {
	return &env{t: t, ctx: t.Context(), s: h.open(t)}
}

// subscription creates an enabled subscription to events of accounting,
// changed by mods.
func (e *env) subscription(mods ...func(*store.Subscription)) *store.Subscription {
	e.t.Helper()
	whsec, err := secret.NewWebhookSecret()
	require.NoError(e.t, err)
	sub := &store.Subscription{
		Description:    "test endpoint",
		UnifiedAPI:     "accounting",
		Status:         store.StatusEnabled,
		DisabledReason: store.DisabledNone,
		DeliveryURL:    "https://example.com/hooks",
		Events:         []string{"*"},
		Secret:         whsec,
	}
	for _, mod := range mods {
		mod(sub)
	}
	require.NoError(e.t, e.s.CreateSubscription(e.ctx, store.AllConsumers(), sub))
	return sub
}

// newEvent returns an unstored accounting.invoice.paid event of consumer
// acme from dversum, changed by mods.
func newEvent(mods ...func(*event.Event)) *event.Event {
	ev := &event.Event{
		ID:                  store.NewID(),
		EventType:           "accounting.invoice.paid",
		BaseEventType:       "accounting.invoice.updated",
		UnifiedAPI:          "accounting",
		ServiceID:           "dversum",
		ConsumerID:          "acme",
		ConnectionID:        "conn_1",
		EntityID:            "inv_abc123",
		EntityType:          "invoice",
		EntityURL:           "https://hub.example.com/accounting/invoices/inv_abc123",
		DownstreamEventType: "invoice.paid",
		EventSource:         event.SourceNative,
		OccurredAt:          store.Time(time.Date(2024, 1, 15, 10, 30, 0, 123456000, time.UTC)),
		CreatedAt:           store.Now(),
		Entity:              json.RawMessage(`{"id":"inv_abc123","total":1190.5,"currency":"EUR"}`),
	}
	for _, mod := range mods {
		mod(ev)
	}
	return ev
}

// publish stores an event and returns the result.
func (e *env) publish(mods ...func(*event.Event)) *store.PublishResult {
	e.t.Helper()
	res, err := e.s.PublishEvent(e.ctx, store.AllConsumers(), newEvent(mods...))
	require.NoError(e.t, err)
	return res
}

// deliveryTo returns the delivery of eventID to subID.
func (e *env) deliveryTo(eventID, subID string) *store.Delivery {
	e.t.Helper()
	ds, err := e.s.ListDeliveries(e.ctx, store.AllConsumers(), eventID)
	require.NoError(e.t, err)
	for _, d := range ds {
		if d.SubscriptionID == subID {
			return d
		}
	}
	e.t.Fatalf("no delivery of event %s to subscription %s", eventID, subID)
	return nil
}

// attempt returns an attempt row of delivery d of ev.
func attempt(ev *event.Event, d *store.Delivery, n int, status int) store.Attempt {
	return store.Attempt{
		ID:               store.NewID(),
		DeliveryID:       d.ID,
		EventID:          ev.ID,
		EventType:        ev.EventType,
		UnifiedAPI:       ev.UnifiedAPI,
		SubscriptionID:   d.SubscriptionID,
		ConsumerID:       ev.ConsumerID,
		ServiceID:        ev.ServiceID,
		Endpoint:         "https://example.com/hooks",
		StatusCode:       status,
		Success:          status >= 200 && status < 300,
		ExecutionAttempt: n,
		Timestamp:        store.Now(),
		DurationMS:       42,
		ResponseBody:     fmt.Sprintf(`{"status":%d}`, status),
	}
}

// outcome builds the outcome of one try of d with the given HTTP status:
// 2xx delivered, otherwise pending with a retry due at next.
func outcome(ev *event.Event, d *store.Delivery, status int, next time.Time) store.Outcome {
	a := attempt(ev, d, d.Attempts+1, status)
	o := store.Outcome{
		DeliveryID:     d.ID,
		SubscriptionID: d.SubscriptionID,
		Attempts:       []store.Attempt{a},
		Status:         store.DeliveryDelivered,
		At:             a.Timestamp,
	}
	if !a.Success {
		o.Status = store.DeliveryPending
		o.NextAttemptAt = store.Time(next)
		o.Attempts[0].RetryScheduled = true
	}
	return o
}

func eventually(t *testing.T, cond func() bool, format string, args ...any) {
	t.Helper()
	require.Eventuallyf(t, cond, waitFor, 10*time.Millisecond,
		format+" (was the queue started with storetest.Workers()?)", args...)
}

func sameTime(t *testing.T, want time.Time, got *time.Time, what string) {
	t.Helper()
	require.NotNilf(t, got, "%s not set", what)
	assert.Truef(t, want.Equal(*got), "%s = %v, want %v", what, *got, want)
}

func requireUUIDv7(t *testing.T, id string) {
	t.Helper()
	u, err := uuid.Parse(id)
	require.NoErrorf(t, err, "id %q", id)
	assert.Equal(t, uuid.Version(7), u.Version(), "id %q", id)
}

func unknownID() string { return store.NewID() }

// walkPages checks a newest-first list against want (ids, newest first):
// After cursors walk it to the end without repeats, Before cursors walk back
// from the oldest item to the newest.
func walkPages(t *testing.T, want []string, list func(store.Page) ([]string, error)) {
	t.Helper()
	const limit = 3
	require.Greater(t, len(want), 2*limit, "walkPages needs more than two pages")

	var forward []string
	p := store.Page{Limit: limit}
	for range len(want) {
		page, err := list(p)
		require.NoError(t, err)
		require.LessOrEqual(t, len(page), limit)
		if len(page) == 0 {
			break
		}
		forward = append(forward, page...)
		p.After = page[len(page)-1]
	}
	assert.Equal(t, want, forward, "walking with After")

	var backward []string
	p = store.Page{Limit: limit, Before: want[len(want)-1]}
	for range len(want) {
		page, err := list(p)
		require.NoError(t, err)
		require.LessOrEqual(t, len(page), limit)
		if len(page) == 0 {
			break
		}
		require.True(t, slices.IsSortedFunc(page, func(a, b string) int { return strings.Compare(b, a) }), "page %v not newest first", page)
		backward = append(page, backward...)
		p.Before = page[0]
	}
	assert.Equal(t, want[:len(want)-1], backward, "walking with Before")

	all, err := list(store.Page{Limit: store.MaxPageLimit})
	require.NoError(t, err)
	assert.Equal(t, want, all)
	first, err := list(store.Page{})
	require.NoError(t, err)
	assert.Equal(t, want[:min(len(want), store.DefaultPageLimit)], first, "zero Limit lists a default page")
}

func ids[T any](items []T, id func(T) string) []string {
	out := make([]string, len(items))
	for i, item := range items {
		out[i] = id(item)
	}
	return out
}

func reversed(s []string) []string {
	out := slices.Clone(s)
	slices.Reverse(out)
	return out
}
