package hub

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/metric"
	"github.com/switchboardhq/switchboard/hub/secret"
	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/hub/store/sqlite"
	"github.com/switchboardhq/switchboard/hub/store/storetest"
)

func openRetentionStore(t *testing.T) *sqlite.Store {
	t.Helper()
	key := make([]byte, secret.KeySize)
	box, err := secret.NewBox(key)
	require.NoError(t, err)
	st, err := sqlite.Open(t.Context(), sqlite.Config{Path: filepath.Join(t.TempDir(), "switchboard.db"), Sealer: box})
	require.NoError(t, err)
	require.NoError(t, st.StartQueue(t.Context(), store.QueueConfig{Workers: storetest.Workers()}))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, st.StopQueue(ctx))
		assert.NoError(t, st.Close())
	})
	return st
}

func publishAt(t *testing.T, st store.Store, unifiedAPI string, at time.Time) string {
	t.Helper()
	ev := &event.Event{ID: store.NewIDAt(at), EventType: unifiedAPI + ".thing.created", UnifiedAPI: unifiedAPI,
		ConsumerID: "acme", ServiceID: "dversum", EntityID: "e1", OccurredAt: store.Time(at), CreatedAt: store.Time(at)}
	_, err := st.PublishEvent(t.Context(), store.AllConsumers(), ev)
	require.NoError(t, err)
	return ev.ID
}

// TestRetentionServicePurgesInBatches runs the service against a real
// SQLite store: old events go in batches until a short one, an old event
// with a delivery still pending and a young one stay, and the metric counts
// the rows.
func TestRetentionServicePurgesInBatches(t *testing.T) {
	t.Parallel()
	st := openRetentionStore(t)
	whsec, err := secret.NewWebhookSecret()
	require.NoError(t, err)
	require.NoError(t, st.CreateSubscription(t.Context(), store.AllConsumers(), &store.Subscription{UnifiedAPI: "crm",
		Status: store.StatusEnabled, DisabledReason: store.DisabledNone, DeliveryURL: "https://example.com/h",
		Events: []string{"*"}, Secret: whsec}))

	old := time.Now().Add(-30 * 24 * time.Hour)
	for range 5 {
		publishAt(t, st, "accounting", old) // no subscription: nothing pending
	}
	pending := publishAt(t, st, "crm", old) // its delivery is still due
	young := publishAt(t, st, "accounting", time.Now())

	m := metric.New()
	svc := newRetentionService(st, m, slog.New(slog.DiscardHandler), 24*time.Hour)
	svc.batch, svc.pause, svc.every = 2, time.Millisecond, time.Hour
	require.NoError(t, svc.Start(t.Context()))
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(m.RetentionPurged.WithLabelValues("events")) == 5
	}, 10*time.Second, 10*time.Millisecond)
	require.NoError(t, svc.Stop(t.Context()))

	list, err := st.ListEvents(t.Context(), store.AllConsumers(), store.EventFilter{}, store.Page{})
	require.NoError(t, err)
	var left []string
	for _, ev := range list {
		left = append(left, ev.ID)
	}
	assert.ElementsMatch(t, []string{pending, young}, left)
	assert.Equal(t, 5.0, testutil.ToFloat64(m.RetentionPurged.WithLabelValues("events")), "counted once")
}

// TestRetentionServiceStopsPromptly: Stop returns quickly even mid-round
// and repeated start/stop leaves nothing running (River's Stress shape).
func TestRetentionServiceStopsPromptly(t *testing.T) {
	t.Parallel()
	st := openRetentionStore(t)
	old := time.Now().Add(-30 * 24 * time.Hour)
	for range 20 {
		publishAt(t, st, "accounting", old)
	}
	m := metric.New()
	svc := newRetentionService(st, m, slog.New(slog.DiscardHandler), 24*time.Hour)
	svc.batch, svc.pause = 1, time.Hour // would take a day without Stop
	for range 5 {
		require.NoError(t, svc.Start(t.Context()))
		start := time.Now()
		require.NoError(t, svc.Stop(t.Context()))
		assert.Less(t, time.Since(start), 5*time.Second)
	}
	assert.LessOrEqual(t, testutil.ToFloat64(m.RetentionPurged.WithLabelValues("events")), 5.0, "one batch per start at most")
}
