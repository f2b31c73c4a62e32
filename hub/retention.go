package hub

import (
	"context"
	"log/slog"
	"time"

	"github.com/switchboardhq/switchboard/hub/metric"
	"github.com/switchboardhq/switchboard/hub/store"
)

// Retention purge pacing: every few minutes, batches of store.PurgeBatch
// events, each its own short transaction, with a pause between them so
// deliveries' writes get the write lock (SQLite) in between and a backlog
// after a long downtime drains without a burst.
const (
	retentionEvery = 5 * time.Minute
	retentionPause = time.Second
)

// retentionService deletes events older than the retention age, with their
// deliveries and attempts, in the background. Events with a retry still due
// are kept until it is settled (store.Retention.Purge). On PostgreSQL every
// node runs it; the store's purge lock lets one node work at a time.
type retentionService struct {
	store   store.Retention
	metrics *metric.Metrics
	logger  *slog.Logger
	age     time.Duration
	every   time.Duration
	pause   time.Duration
	batch   int
	now     func() time.Time

	cancel context.CancelFunc
	done   chan struct{}
}

func newRetentionService(st store.Retention, m *metric.Metrics, logger *slog.Logger, age time.Duration) *retentionService {
	return &retentionService{store: st, metrics: m, logger: logger, age: age,
		every: retentionEvery, pause: retentionPause, batch: store.PurgeBatch, now: time.Now}
}

func (s *retentionService) Name() string { return "retention" }

func (s *retentionService) Start(ctx context.Context) error {
	ctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(s.every)
		defer t.Stop()
		for {
			s.round(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return nil
}

// round purges batch after batch until a batch comes back short, another
// node holds the purge, or the service stops.
func (s *retentionService) round(ctx context.Context) {
	before := s.now().Add(-s.age)
	var total store.PurgeCounts
	defer func() {
		if total.Events > 0 {
			s.logger.Info("retention purge", "before", before.UTC().Format(time.RFC3339),
				"events", total.Events, "deliveries", total.Deliveries, "attempts", total.Attempts)
		}
	}()
	for {
		n, err := s.store.Purge(ctx, before, s.batch)
		if err != nil {
			if ctx.Err() == nil {
				s.logger.Warn("retention purge failed; trying again next round", "error", err)
			}
			return
		}
		s.metrics.RetentionPurged.WithLabelValues("events").Add(float64(n.Events))
		s.metrics.RetentionPurged.WithLabelValues("deliveries").Add(float64(n.Deliveries))
		s.metrics.RetentionPurged.WithLabelValues("attempts").Add(float64(n.Attempts))
		total.Events += n.Events
		total.Deliveries += n.Deliveries
		total.Attempts += n.Attempts
		if n.Busy || n.Events < s.batch {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.pause):
		}
	}
}

// Stop ends the purge; a batch in flight is rolled back by its cancelled
// context, which loses nothing (the next start purges it).
func (s *retentionService) Stop(context.Context) error {
	s.cancel()
	<-s.done
	return nil
}
