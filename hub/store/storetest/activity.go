package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/store"
)

var activityTests = map[string]func(*testing.T, *harness){
	"CountsPerMinuteInScope": func(t *testing.T, h *harness) {
		e := h.env(t)
		start := time.Now().Add(-time.Minute)
		tt := e.twoTenants()
		failed := outcome(tt.evA, tt.dA, 503, time.Now().Add(time.Hour))
		failed.Attempts[0].SubscriptionConsumerID = "acme"
		require.NoError(t, e.s.RecordOutcomes(e.ctx, []store.Outcome{failed}))

		total := func(sc store.Scope, since time.Time) store.MinuteActivity {
			t.Helper()
			mins, err := e.s.Activity(e.ctx, sc, since)
			require.NoError(t, err)
			var sum store.MinuteActivity
			for i, m := range mins {
				if i > 0 {
					assert.True(t, mins[i-1].Minute.Before(m.Minute), "minutes oldest first, each once")
				}
				assert.Equal(t, m.Minute, m.Minute.Truncate(time.Minute), "a minute starts on the minute")
				sum.Events += m.Events
				sum.Deliveries += m.Deliveries
				sum.Failures += m.Failures
			}
			return sum
		}
		assert.Equal(t, store.MinuteActivity{Events: 2, Deliveries: 4, Failures: 1}, total(store.AllConsumers(), start),
			"the application sees both consumers' events and every try")
		assert.Equal(t, store.MinuteActivity{Events: 1, Deliveries: 2, Failures: 1}, total(store.Consumer("acme"), start),
			"acme sees its event and its own subscription's tries, not the application's")
		assert.Equal(t, store.MinuteActivity{Events: 1, Deliveries: 1}, total(store.Consumer("globex"), start))
		assert.Equal(t, store.MinuteActivity{}, total(store.Scope{}, start), "the zero scope sees nothing")
		assert.Equal(t, store.MinuteActivity{}, total(store.AllConsumers(), time.Now().Add(time.Minute)),
			"nothing before since is counted")
	},
}
