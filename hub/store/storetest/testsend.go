package storetest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/store"
)

var testSendTests = map[string]func(*testing.T, *harness){
	"OnlyThatSubscription": func(t *testing.T, h *harness) {
		e := h.env(t)
		a := e.subscription()
		b := e.subscription(func(s *store.Subscription) { s.ConsumerID = "acme" })
		ev := newEvent(func(ev *event.Event) { ev.EventSource = event.SourceTest })

		d, err := e.s.SendTest(e.ctx, store.Consumer("acme"), b.ID, ev)
		require.NoError(t, err)
		assert.Equal(t, b.ID, d.SubscriptionID)
		assert.Equal(t, ev.ID, d.EventID)
		assert.Equal(t, store.DeliveryPending, d.Status)

		// a matches the event too, yet only b gets it.
		ds, err := e.s.ListDeliveries(e.ctx, store.AllConsumers(), ev.ID)
		require.NoError(t, err)
		require.Len(t, ds, 1)
		assert.Equal(t, d.ID, ds[0].ID)
		assert.NotEqual(t, a.ID, ds[0].SubscriptionID)
		got, err := e.s.GetEvent(e.ctx, store.Consumer("acme"), ev.ID)
		require.NoError(t, err)
		assert.Equal(t, event.SourceTest, got.EventSource)
		eventually(t, func() bool { return FanoutsWorked(ev.ID) == 1 }, "test send's fan-out job not worked")
	},
	"Refusals": func(t *testing.T, h *harness) {
		e := h.env(t)
		acme := e.subscription(func(s *store.Subscription) { s.ConsumerID = "acme" })
		appWide := e.subscription()
		narrow := e.subscription(func(s *store.Subscription) { s.Events = []string{"accounting.invoice.created"} })
		off := e.subscription(func(s *store.Subscription) {
			s.Status, s.DisabledReason = store.StatusDisabled, store.DisabledManual
		})

		cases := []struct {
			name  string
			sc    store.Scope
			sub   string
			event func(*event.Event)
			want  error
		}{
			{"another consumer's subscription", store.Consumer("globex"), acme.ID, func(ev *event.Event) { ev.ConsumerID = "globex" }, store.ErrNotFound},
			{"application-wide subscription, consumer scope", store.Consumer("acme"), appWide.ID, nil, store.ErrNotFound},
			{"event outside the scope", store.Consumer("acme"), acme.ID, func(ev *event.Event) { ev.ConsumerID = "globex" }, store.ErrOutOfScope},
			{"unknown subscription", store.AllConsumers(), unknownID(), nil, store.ErrNotFound},
			{"disabled subscription", store.AllConsumers(), off.ID, nil, store.ErrSubscriptionDisabled},
			{"zero scope", store.Scope{}, acme.ID, nil, store.ErrOutOfScope},
		}
		for _, tc := range cases {
			var mods []func(*event.Event)
			if tc.event != nil {
				mods = append(mods, tc.event)
			}
			ev := newEvent(mods...)
			_, err := e.s.SendTest(e.ctx, tc.sc, tc.sub, ev)
			require.ErrorIs(t, err, tc.want, tc.name)
			_, err = e.s.GetEvent(e.ctx, store.AllConsumers(), ev.ID)
			require.ErrorIs(t, err, store.ErrNotFound, "%s: nothing is stored", tc.name)
		}

		// An event the subscription does not take is refused, and not stored.
		ev := newEvent()
		_, err := e.s.SendTest(e.ctx, store.AllConsumers(), narrow.ID, ev)
		require.Error(t, err)
		_, err = e.s.GetEvent(e.ctx, store.AllConsumers(), ev.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
	},
}
