package storetest

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/store"
)

// dispatcher is a store.Dispatcher that records what it is given and tries
// nothing, so the suite can check the handover and the recovery of untried
// deliveries.
type dispatcher struct {
	mu         sync.Mutex
	refuse     bool
	reserved   int
	released   int
	dispatched map[string][]*store.Target // by event id
}

func (d *dispatcher) Reserve() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.refuse {
		return false
	}
	d.reserved++
	return true
}

func (d *dispatcher) Dispatch(ev *event.Event, targets []*store.Target) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dispatched == nil {
		d.dispatched = map[string][]*store.Target{}
	}
	d.dispatched[ev.ID] = targets
}

func (d *dispatcher) Release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.released++
}

// counts returns reservations, releases and dispatches so far.
func (d *dispatcher) counts() (reserved, released, dispatched int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reserved, d.released, len(d.dispatched)
}

// withDispatcher restarts e's queue with d as its dispatcher.
func (e *env) withDispatcher(d *dispatcher) {
	e.t.Helper()
	require.NoError(e.t, e.s.StopQueue(e.ctx))
	require.NoError(e.t, e.s.StartQueue(e.ctx, store.QueueConfig{Workers: Workers(), Dispatcher: d}))
}

// requireNoFanoutJob stops the queue (waiting for running jobs) and checks
// that no job.Fanout of eventID was ever inserted: none waits and none ran.
func (e *env) requireNoFanoutJob(eventID string) {
	e.t.Helper()
	require.NoError(e.t, e.s.StopQueue(e.ctx))
	stats, err := e.s.QueueStats(e.ctx)
	require.NoError(e.t, err)
	assert.Equal(e.t, 0, stats.Pending, "jobs waiting")
	assert.Equal(e.t, 0, FanoutsWorked(eventID), "fan-out jobs worked")
}

var dispatchTests = map[string]func(*testing.T, *harness){
	"HandsCommittedDeliveriesToTheDispatcher": func(t *testing.T, h *harness) {
		e := h.env(t)
		d := &dispatcher{}
		e.withDispatcher(d)
		a, b := e.subscription(), e.subscription()
		e.subscription(func(s *store.Subscription) { s.Events = []string{"accounting.customer.created"} }) // does not match
		res := e.publish()
		require.Equal(t, 2, res.Deliveries)

		reserved, released, dispatched := d.counts()
		assert.Equal(t, [3]int{1, 0, 1}, [3]int{reserved, released, dispatched}, "reserved, released, dispatched")
		targets := d.dispatched[res.Event.ID]
		require.Len(t, targets, 2)
		for _, sub := range []*store.Subscription{a, b} {
			want := e.deliveryTo(res.Event.ID, sub.ID)
			var got *store.Target
			for _, tg := range targets {
				if tg.Subscription.ID == sub.ID {
					got = tg
				}
			}
			require.NotNil(t, got, "target for subscription %s", sub.ID)
			assert.Equal(t, want.ID, got.Delivery.ID, "the committed delivery")
			assert.Equal(t, res.Event.ID, got.Delivery.EventID)
			assert.Equal(t, store.DeliveryPending, got.Delivery.Status)
			assert.Equal(t, 0, got.Delivery.Attempts)
			assert.Equal(t, sub.Secret, got.Subscription.Secret, "the secret, opened")
			assert.Equal(t, sub.DeliveryURL, got.Subscription.DeliveryURL)
			assert.Equal(t, store.StatusEnabled, got.Subscription.Status)
		}
		e.requireNoFanoutJob(res.Event.ID)
	},
	"ReleasesWhenThereIsNothingToDeliver": func(t *testing.T, h *harness) {
		e := h.env(t)
		d := &dispatcher{}
		e.withDispatcher(d)
		res := e.publish() // no subscription
		require.Equal(t, 0, res.Deliveries)
		e.subscription()
		key := func(ev *event.Event) { ev.DedupeKey = "dispatch-dup"; ev.RequestHash = "h" }
		first := e.publish(key)
		dup := e.publish(key)
		require.True(t, dup.Duplicate)
		assert.Equal(t, first.Event.ID, dup.Event.ID)
		reserved, released, dispatched := d.counts()
		assert.Equal(t, [3]int{3, 2, 1}, [3]int{reserved, released, dispatched},
			"reserved, released (no subscriber; duplicate), dispatched (the first keyed event)")
	},
	"ReleasesWhenThePublishFails": func(t *testing.T, h *harness) {
		e := h.env(t)
		d := &dispatcher{}
		e.withDispatcher(d)
		e.subscription()
		key := func(hash string) func(*event.Event) {
			return func(ev *event.Event) { ev.DedupeKey = "dispatch-conflict"; ev.RequestHash = hash }
		}
		e.publish(key("one"))
		_, err := e.s.PublishEvent(e.ctx, store.AllConsumers(), newEvent(key("two")))
		require.ErrorIs(t, err, store.ErrIdempotencyConflict)
		reserved, released, dispatched := d.counts()
		assert.Equal(t, [3]int{2, 1, 1}, [3]int{reserved, released, dispatched}, "reserved, released, dispatched")
	},
	"RefusedEventsGoThroughTheQueue": func(t *testing.T, h *harness) {
		e := h.env(t)
		d := &dispatcher{refuse: true}
		e.withDispatcher(d)
		e.subscription()
		res := e.publish()
		eventually(t, func() bool { return FanoutsWorked(res.Event.ID) == 1 }, "fan-out job of a refused event not worked")
		reserved, released, dispatched := d.counts()
		assert.Equal(t, [3]int{0, 0, 0}, [3]int{reserved, released, dispatched}, "reserved, released, dispatched")
	},
	"UntriedDeliveriesAreQueuedAtStart": func(t *testing.T, h *harness) {
		e := h.env(t)
		d := &dispatcher{}
		e.withDispatcher(d)
		e.subscription()
		// Handed to the dispatcher, which "crashes" before trying it.
		stranded := e.publish()
		require.Len(t, d.dispatched[stranded.Event.ID], 1)
		e.requireNoFanoutJob(stranded.Event.ID)
		// Published while the queue is stopped: its fan-out job waits, and
		// the start must not add a second one.
		queued := e.publish()
		// Tried already: the start must leave it alone.
		tried := e.publish()
		require.NoError(t, e.s.RecordOutcomes(e.ctx, []store.Outcome{
			outcome(tried.Event, e.onlyDelivery(tried.Event.ID), 200, store.Now()),
		}))

		require.NoError(t, e.s.StartQueue(e.ctx, store.QueueConfig{Workers: Workers()}))
		eventually(t, func() bool { return FanoutsWorked(stranded.Event.ID) == 1 }, "untried delivery not queued at start")
		eventually(t, func() bool { return FanoutsWorked(queued.Event.ID) == 1 }, "queued fan-out not worked")
		eventually(t, func() bool {
			stats, err := e.s.QueueStats(e.ctx)
			return err == nil && stats.Pending == 0
		}, "queue drained")
		require.NoError(t, e.s.StopQueue(e.ctx))
		assert.Equal(t, 1, FanoutsWorked(stranded.Event.ID), "one job for the stranded event")
		assert.Equal(t, 1, FanoutsWorked(queued.Event.ID), "no second job for an event whose job was waiting")
		assert.Equal(t, 1, FanoutsWorked(tried.Event.ID), "only its own job for an event already tried")
	},
}

// onlyDelivery returns the one delivery of eventID.
func (e *env) onlyDelivery(eventID string) *store.Delivery {
	e.t.Helper()
	ds, err := e.s.ListDeliveries(e.ctx, store.AllConsumers(), eventID)
	require.NoError(e.t, err)
	require.Len(e.t, ds, 1)
	return ds[0]
}
