package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/job"
	"github.com/switchboardhq/switchboard/hub/store"
)

// benchCallersPerCPU sets how many goroutines per CPU publish at once, as
// concurrent HTTP requests would.
const benchCallersPerCPU = 8

func benchEvent() *event.Event {
	return &event.Event{
		EventType:     "accounting.invoice.paid",
		BaseEventType: "accounting.invoice.updated",
		UnifiedAPI:    "accounting",
		ServiceID:     "dversum",
		ConsumerID:    "acme",
		EntityID:      "inv_abc123",
		EntityType:    "invoice",
		EventSource:   event.SourceNative,
		OccurredAt:    time.Now(),
		Entity:        json.RawMessage(`{"id":"inv_abc123","number":"RE-2024-0001","total":1190.00,"currency":"EUR","status":"paid"}`),
	}
}

// benchStore opens a store with one matching subscription and its queue
// started with workers.
func benchStore(b *testing.B, workers func(s *Store) *river.Workers) *Store {
	b.Helper()
	s := openAt(b, filepath.Join(b.TempDir(), "bench.db"), newSealer(b))
	require.NoError(b, s.StartQueue(b.Context(), store.QueueConfig{Workers: workers(s)}))
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = s.StopQueue(ctx)
	})
	require.NoError(b, s.CreateSubscription(b.Context(), store.AllConsumers(), &store.Subscription{
		UnifiedAPI: "accounting", Status: store.StatusEnabled, DeliveryURL: "https://example.com/hook",
		Events: []string{"accounting.invoice.paid"}, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
	}))
	return s
}

func noopWorkers(*Store) *river.Workers {
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(context.Context, *river.Job[job.Fanout]) error { return nil }))
	river.AddWorker(workers, river.WorkFunc(func(context.Context, *river.Job[job.Retry]) error { return nil }))
	return workers
}

// BenchmarkPublishEvent measures storing events with one matching
// subscription (event, delivery and fan-out job in one transaction) while
// River works the fan-out jobs with no-op workers on the same writer. The
// callers sub-benchmarks publish from that many goroutines per CPU, as
// concurrent HTTP requests do; more callers share more commits.
func BenchmarkPublishEvent(b *testing.B) {
	for _, perCPU := range []int{1, benchCallersPerCPU} {
		b.Run(fmt.Sprintf("callers=%d", perCPU*runtime.GOMAXPROCS(0)), func(b *testing.B) {
			s := benchStore(b, noopWorkers)
			b.ReportAllocs()
			b.SetParallelism(perCPU)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					res, err := s.PublishEvent(context.Background(), store.AllConsumers(), benchEvent())
					if err != nil || res.Deliveries != 1 {
						b.Errorf("publishing: %v (%+v)", err, res)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkDeliveryCycle measures the store's whole share of a delivery:
// publish, the fan-out job (FanoutTargets, then RecordOutcomes as if the
// endpoint answered 2xx) and River's own job bookkeeping, all on the one
// SQLite writer. HTTP is left out; this is the store's ceiling.
func BenchmarkDeliveryCycle(b *testing.B) {
	var done atomic.Int64
	s := benchStore(b, func(s *Store) *river.Workers {
		workers := river.NewWorkers()
		river.AddWorker(workers, river.WorkFunc(func(context.Context, *river.Job[job.Retry]) error { return nil }))
		river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, j *river.Job[job.Fanout]) error {
			ev, targets, err := s.FanoutTargets(ctx, j.Args.EventID)
			if err != nil {
				return err
			}
			outcomes := make([]store.Outcome, 0, len(targets))
			for _, tg := range targets {
				now := time.Now()
				outcomes = append(outcomes, store.Outcome{
					DeliveryID: tg.Delivery.ID, SubscriptionID: tg.Subscription.ID, Status: store.DeliveryDelivered, At: now,
					Attempts: []store.Attempt{{
						EventID: ev.ID, EventType: ev.EventType, UnifiedAPI: ev.UnifiedAPI, ConsumerID: ev.ConsumerID,
						ServiceID: ev.ServiceID, Endpoint: tg.Subscription.DeliveryURL, StatusCode: 204, Success: true,
						ExecutionAttempt: 1, Timestamp: now, DurationMS: 1,
					}},
				})
			}
			if err := s.RecordOutcomes(ctx, outcomes); err != nil {
				return err
			}
			done.Add(int64(len(outcomes)))
			return nil
		}))
		return workers
	})
	b.SetParallelism(benchCallersPerCPU)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.PublishEvent(context.Background(), store.AllConsumers(), benchEvent()); err != nil {
				b.Errorf("publishing: %v", err)
				return
			}
		}
	})
	for done.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}
