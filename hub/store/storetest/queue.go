package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/store"
)

var queueTests = map[string]func(*testing.T, *harness){
	"OneFanoutJobPerEvent": func(t *testing.T, h *harness) {
		e := h.env(t)
		for range 3 {
			e.subscription()
		}
		var events []string
		for range 5 {
			res := e.publish()
			require.Equal(t, 3, res.Deliveries)
			events = append(events, res.Event.ID)
		}
		for _, id := range events {
			eventually(t, func() bool { return FanoutsWorked(id) > 0 }, "fan-out job of event %s not worked", id)
		}
		eventually(t, func() bool {
			stats, err := e.s.QueueStats(e.ctx)
			return err == nil && stats.Pending == 0
		}, "queue drained")
		for _, id := range events {
			assert.Equal(t, 1, FanoutsWorked(id), "one fan-out job per event, whatever the fan-out")
		}
	},
	"StatsCountWaitingJobs": func(t *testing.T, h *harness) {
		e := h.env(t)
		e.subscription()
		// With the queue stopped, published events' jobs wait.
		require.NoError(t, e.s.StopQueue(e.ctx))
		e.publish()
		e.publish()
		stats, err := e.s.QueueStats(e.ctx)
		require.NoError(t, err)
		assert.Equal(t, 2, stats.Pending)
		assert.GreaterOrEqual(t, stats.OldestPending, time.Duration(0))
	},
	"StatsOfEmptyQueue": func(t *testing.T, h *harness) {
		e := h.env(t)
		stats, err := e.s.QueueStats(e.ctx)
		require.NoError(t, err)
		assert.Equal(t, store.QueueStats{}, stats)
		require.NoError(t, e.s.Ping(e.ctx))
	},
}
