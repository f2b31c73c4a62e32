package postgres_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/riverqueue/river"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/job"
	"github.com/switchboardhq/switchboard/hub/secret"
	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/hub/store/postgres"
	"github.com/switchboardhq/switchboard/hub/store/postgres/pgtest"
	"github.com/switchboardhq/switchboard/hub/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }

func newSealer(t testing.TB) *secret.Box {
	t.Helper()
	key := make([]byte, secret.KeySize)
	_, err := rand.Read(key)
	require.NoError(t, err)
	box, err := secret.NewBox(key)
	require.NoError(t, err)
	return box
}

// openAt opens the store at url without starting its queue, closing it when
// the test ends.
func openAt(t testing.TB, url string, sealer store.Sealer) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(t.Context(), postgres.Config{URL: url, Sealer: sealer})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// startQueue starts the store's queue with the conformance suite's workers
// (and d, if not nil) and stops it when the test ends.
func startQueue(t testing.TB, s *postgres.Store, d store.Dispatcher) {
	t.Helper()
	startQueueWith(t, s, store.QueueConfig{Workers: storetest.Workers(), Dispatcher: d})
}

// startQueueWith starts the store's queue with cfg and stops it when the
// test ends.
func startQueueWith(t testing.TB, s *postgres.Store, cfg store.QueueConfig) {
	t.Helper()
	require.NoError(t, s.StartQueue(t.Context(), cfg))
	t.Cleanup(func() {
		// t.Context is already cancelled in cleanups.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, s.StopQueue(ctx))
	})
}

// admin connects to url directly, past the store, closing when the test ends.
func admin(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func count(t testing.TB, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, query string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, q.QueryRow(t.Context(), query, args...).Scan(&n))
	return n
}

func newEvent(mods ...func(*event.Event)) *event.Event {
	ev := &event.Event{EventType: "accounting.invoice.paid", UnifiedAPI: "accounting", ConsumerID: "acme", OccurredAt: time.Now()}
	for _, mod := range mods {
		mod(ev)
	}
	return ev
}

func newSubscription(mods ...func(*store.Subscription)) *store.Subscription {
	sub := &store.Subscription{UnifiedAPI: "accounting", Status: store.StatusEnabled, DeliveryURL: "https://example.com/hook",
		Events: []string{"*"}, Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
	for _, mod := range mods {
		mod(sub)
	}
	return sub
}

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s := openAt(t, pgtest.NewDatabase(t), newSealer(t))
		startQueue(t, s, nil)
		return s
	})
}

// TestMasterKey runs the master key part of the suite on handles sharing
// one database, as nodes with different master keys would.
func TestMasterKey(t *testing.T) {
	t.Parallel()
	storetest.RunMasterKey(t, func(t *testing.T) storetest.Opener {
		url := pgtest.NewDatabase(t)
		return func(t *testing.T, sealer store.Sealer) store.Store {
			s := openAt(t, url, sealer)
			startQueue(t, s, nil)
			return s
		}
	})
}

// TestConcurrentOpenOfFreshDatabase starts several nodes at once against a
// database nobody migrated yet: they take turns at the migration lock, and
// every one opens.
func TestConcurrentOpenOfFreshDatabase(t *testing.T) {
	t.Parallel()
	url := pgtest.NewBareDatabase(t)
	sealer := newSealer(t)
	const nodes = 4
	stores := make([]*postgres.Store, nodes)
	errs := make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() {
			stores[i], errs[i] = postgres.Open(t.Context(), postgres.Config{URL: url, Sealer: sealer})
		})
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "node %d", i)
		t.Cleanup(func() { _ = stores[i].Close() })
	}
	conn := admin(t, url)
	assert.Equal(t, 1, count(t, conn, `SELECT count(*) FROM switchboard_migration WHERE version_id = 1 AND is_applied`), "our migration applied once")
	assert.Positive(t, count(t, conn, `SELECT count(*) FROM river_migration`))
	require.NoError(t, stores[0].CreateSubscription(t.Context(), store.AllConsumers(), newSubscription()))
	got, err := stores[nodes-1].ListSubscriptions(t.Context(), store.AllConsumers(), store.Page{})
	require.NoError(t, err)
	assert.Len(t, got, 1, "the nodes share one database")
}

func TestMigrationsIdempotent(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	sealer := newSealer(t)
	conn := admin(t, url)
	versions := func() (ours, river int) {
		return count(t, conn, `SELECT count(*) FROM switchboard_migration WHERE version_id > 0`),
			count(t, conn, `SELECT count(*) FROM river_migration`)
	}
	ours, river := versions()
	require.Positive(t, ours)
	require.Positive(t, river)

	s := openAt(t, url, sealer)
	sub := newSubscription()
	require.NoError(t, s.CreateSubscription(t.Context(), store.AllConsumers(), sub))
	require.NoError(t, s.Close())
	for range 2 {
		again := openAt(t, url, sealer)
		o, r := versions()
		assert.Equal(t, ours, o, "no migration of ours re-applied")
		assert.Equal(t, river, r, "no River migration re-applied")
		got, err := again.GetSubscription(t.Context(), store.AllConsumers(), sub.ID)
		require.NoError(t, err, "data survives reopening")
		assert.Equal(t, sub.Secret, got.Secret)
		require.NoError(t, again.Close())
	}
}

func TestOpenConfig(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	for name, tc := range map[string]struct {
		cfg     postgres.Config
		wantErr string
	}{
		"no URL":       {postgres.Config{Sealer: newSealer(t)}, "no database URL"},
		"not postgres": {postgres.Config{URL: "mysql://localhost/x", Sealer: newSealer(t)}, "must start with postgres://"},
		"no sealer":    {postgres.Config{URL: url}, "no sealer"},
		"negative":     {postgres.Config{URL: url, Sealer: newSealer(t), MaxConns: -1}, "MaxConns"},
		"bad URL":      {postgres.Config{URL: "postgres://x:y@127.0.0.1:5432/db?pool_max_conns=many", Sealer: newSealer(t)}, "pool_max_conns"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := postgres.Open(t.Context(), tc.cfg)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}

	for _, tc := range []struct {
		query    string
		maxConns int32
		want     int32
		lockWait string
	}{
		{"", 0, 32, "5s"},
		{"", 64, 64, "5s"},
		{"", 2, 8, "5s"},
		{"&pool_max_conns=12&lock_timeout=250ms", 0, 12, "250ms"},
		{"&pool_max_conns=12", 20, 20, "5s"},
	} {
		s, err := postgres.Open(t.Context(), postgres.Config{URL: url + tc.query, Sealer: newSealer(t), MaxConns: tc.maxConns})
		require.NoError(t, err)
		assert.Equal(t, tc.want, postgres.PoolOf(s).Config().MaxConns, "%q, MaxConns %d", tc.query, tc.maxConns)
		var lockTimeout string
		require.NoError(t, postgres.PoolOf(s).QueryRow(t.Context(), `SHOW lock_timeout`).Scan(&lockTimeout))
		assert.Equal(t, tc.lockWait, lockTimeout, "%q", tc.query)
		require.NoError(t, s.Close())
	}
}

func TestQueueNotStarted(t *testing.T) {
	t.Parallel()
	s := openAt(t, pgtest.NewDatabase(t), newSealer(t))
	ctx := t.Context()
	_, err := s.PublishEvent(ctx, store.AllConsumers(), newEvent())
	require.ErrorIs(t, err, store.ErrQueueNotStarted)
	_, err = s.Replay(ctx, store.AllConsumers(), store.NewID(), "")
	require.ErrorIs(t, err, store.ErrQueueNotStarted)
	require.ErrorIs(t, s.RecordOutcomes(ctx, nil), store.ErrQueueNotStarted)
	require.NoError(t, s.StopQueue(ctx), "stopping a queue never started is a no-op")

	require.NoError(t, s.CreateAPIKey(ctx, &store.APIKey{Name: "k", Hash: []byte("h")}))
	n, err := s.CountActiveAPIKeys(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	startQueue(t, s, nil)
	require.Error(t, s.StartQueue(ctx, store.QueueConfig{Workers: storetest.Workers()}), "starting twice")
	_, err = s.PublishEvent(ctx, store.AllConsumers(), newEvent())
	require.NoError(t, err)
}

func TestCancelledWriteStoresNothing(t *testing.T) {
	t.Parallel()
	s := openAt(t, pgtest.NewDatabase(t), newSealer(t))
	startQueue(t, s, nil)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := s.PublishEvent(ctx, store.AllConsumers(), newEvent())
	require.ErrorIs(t, err, context.Canceled)
	require.NotErrorIs(t, err, store.ErrUnavailable, "the caller gave up; the database is fine")
	list, err := s.ListEvents(t.Context(), store.AllConsumers(), store.EventFilter{}, store.Page{})
	require.NoError(t, err)
	assert.Empty(t, list)
}

// TestConcurrentPublishOfOneDedupeKey publishes one keyed event from many
// goroutines at once, as a provider retrying while its first request is
// still being answered does: one event is stored, with one set of
// deliveries and one fan-out job, and every other call says Duplicate.
func TestConcurrentPublishOfOneDedupeKey(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	s := openAt(t, url, newSealer(t))
	startQueue(t, s, nil)
	for range 2 {
		require.NoError(t, s.CreateSubscription(t.Context(), store.AllConsumers(), newSubscription()))
	}

	const n = 32
	results := make([]*store.PublishResult, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			results[i], errs[i] = s.PublishEvent(t.Context(), store.AllConsumers(), newEvent(func(ev *event.Event) {
				ev.DedupeKey, ev.RequestHash = "conn_1:evt_42", "hash"
			}))
		})
	}
	close(start)
	wg.Wait()

	var first string
	firsts := 0
	for i := range n {
		require.NoError(t, errs[i])
		if !results[i].Duplicate {
			firsts++
			first = results[i].Event.ID
		}
	}
	require.Equal(t, 1, firsts, "exactly one call stores the event")
	for i := range n {
		assert.Equal(t, first, results[i].Event.ID, "every call answers with the stored event")
		assert.Equal(t, 2, results[i].Deliveries, "every call counts its deliveries")
	}
	conn := admin(t, url)
	assert.Equal(t, 1, count(t, conn, `SELECT count(*) FROM events`))
	assert.Equal(t, 2, count(t, conn, `SELECT count(*) FROM deliveries`))
	assert.Equal(t, 1, count(t, conn, `SELECT count(*) FROM river_job WHERE kind = 'fanout'`), "one fan-out job")

	// A different request under the same key conflicts, however many ask.
	errs = make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = s.PublishEvent(t.Context(), store.AllConsumers(), newEvent(func(ev *event.Event) {
				ev.DedupeKey, ev.RequestHash = "conn_1:evt_42", "other"
			}))
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.ErrorIs(t, err, store.ErrIdempotencyConflict)
	}
	assert.Equal(t, 1, count(t, conn, `SELECT count(*) FROM events`))
}

// TestDuplicatesInOneGroup publishes events as one combined group: two with
// the key of a third, one of them a different request. The first of the
// key is stored; the same request is answered as a duplicate with the
// deliveries the group gave the first, the different one is refused, and
// the others of the group are not affected.
func TestDuplicatesInOneGroup(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	s := openAt(t, url, newSealer(t))
	startQueue(t, s, nil)
	ctx := t.Context()
	for range 2 {
		require.NoError(t, s.CreateSubscription(ctx, store.AllConsumers(), newSubscription()))
	}
	keyed := func(hash string) *event.Event {
		return newEvent(func(ev *event.Event) { ev.DedupeKey, ev.RequestHash = "order-42", hash })
	}
	results, errs := postgres.PublishTogether(ctx, s, keyed("h1"), newEvent(), keyed("h1"), keyed("h2"))

	require.NoError(t, errs[0])
	assert.False(t, results[0].Duplicate)
	assert.Equal(t, 2, results[0].Deliveries)
	require.NoError(t, errs[1])
	assert.Equal(t, 2, results[1].Deliveries, "an event without a key beside them")
	require.NoError(t, errs[2])
	assert.True(t, results[2].Duplicate)
	assert.Equal(t, results[0].Event.ID, results[2].Event.ID)
	assert.Equal(t, 2, results[2].Deliveries, "counted after the group's deliveries")
	require.ErrorIs(t, errs[3], store.ErrIdempotencyConflict)
	assert.Nil(t, results[3])
	assert.Equal(t, 2, count(t, admin(t, url), `SELECT count(*) FROM events`))
}

// TestConcurrentOutcomesKeepFailStreak records failures of two
// subscriptions from many goroutines at once, each batch naming the two in
// its own order: no update is lost and no batch deadlocks with another.
func TestConcurrentOutcomesKeepFailStreak(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	s := openAt(t, url, newSealer(t))
	startQueue(t, s, nil)
	ctx := t.Context()
	a, b := newSubscription(), newSubscription()
	require.NoError(t, s.CreateSubscription(ctx, store.AllConsumers(), a))
	require.NoError(t, s.CreateSubscription(ctx, store.AllConsumers(), b))

	const events = 40
	type pair struct{ a, b *store.Delivery }
	pairs := make([]pair, events)
	for i := range events {
		res, err := s.PublishEvent(ctx, store.AllConsumers(), newEvent())
		require.NoError(t, err)
		ds, err := s.ListDeliveries(ctx, store.AllConsumers(), res.Event.ID)
		require.NoError(t, err)
		require.Len(t, ds, 2)
		for _, d := range ds {
			if d.SubscriptionID == a.ID {
				pairs[i].a = d
			} else {
				pairs[i].b = d
			}
		}
	}
	failure := func(d *store.Delivery, at time.Time) store.Outcome {
		return store.Outcome{DeliveryID: d.ID, SubscriptionID: d.SubscriptionID, Status: store.DeliveryPending,
			NextAttemptAt: time.Now().Add(time.Hour), At: at,
			Attempts: []store.Attempt{{EventID: d.EventID, EventType: "accounting.invoice.paid", SubscriptionID: d.SubscriptionID,
				Endpoint: "https://example.com/hook", StatusCode: 503, ExecutionAttempt: 1, RetryScheduled: true}}}
	}
	started := store.Time(time.Now().Add(-time.Minute))
	errs := make([]error, events)
	begin := make(chan struct{})
	var wg sync.WaitGroup
	for i, p := range pairs {
		wg.Go(func() {
			<-begin
			at := started.Add(time.Duration(i) * time.Millisecond)
			batch := []store.Outcome{failure(p.a, at), failure(p.b, at)}
			if i%2 == 1 {
				batch[0], batch[1] = batch[1], batch[0]
			}
			errs[i] = s.RecordOutcomes(ctx, batch)
		})
	}
	close(begin)
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "batch %d", i)
	}
	for _, sub := range []*store.Subscription{a, b} {
		got, err := s.GetSubscription(ctx, store.AllConsumers(), sub.ID)
		require.NoError(t, err)
		assert.Equal(t, events, got.FailStreak, "every failure counted")
		require.NotNil(t, got.FailStreakStartedAt)
		assert.False(t, got.FailStreakStartedAt.Before(started))
		assert.Equal(t, store.StatusEnabled, got.Status)
	}
	// The publishes' fan-out jobs may still be queued too: count retries.
	assert.Equal(t, 2*events, count(t, admin(t, url), `SELECT count(*) FROM river_job WHERE kind = $1`, job.Retry{}.Kind()),
		"one retry job per failed delivery")
}

// TestConcurrentOutcomesFailAlone records outcomes from many goroutines at
// once, which share transactions, while some name a delivery that does not
// exist: those calls, and only those, fail, and every other outcome is
// written.
func TestConcurrentOutcomesFailAlone(t *testing.T) {
	t.Parallel()
	s := openAt(t, pgtest.NewDatabase(t), newSealer(t))
	startQueue(t, s, nil)
	ctx := t.Context()
	sub := newSubscription()
	require.NoError(t, s.CreateSubscription(ctx, store.AllConsumers(), sub))

	const calls = 64
	deliveries := make([]*store.Delivery, calls)
	for i := range calls {
		res, err := s.PublishEvent(ctx, store.AllConsumers(), newEvent())
		require.NoError(t, err)
		ds, err := s.ListDeliveries(ctx, store.AllConsumers(), res.Event.ID)
		require.NoError(t, err)
		require.Len(t, ds, 1)
		deliveries[i] = ds[0]
	}
	bad := func(i int) bool { return i%8 == 3 }
	errs := make([]error, calls)
	begin := make(chan struct{})
	var wg sync.WaitGroup
	for i, d := range deliveries {
		wg.Go(func() {
			<-begin
			id := d.ID
			if bad(i) {
				id = store.NewID()
			}
			errs[i] = s.RecordOutcomes(ctx, []store.Outcome{{DeliveryID: id, Status: store.DeliveryDelivered,
				Attempts: []store.Attempt{{EventID: d.EventID, StatusCode: 204, Success: true, ExecutionAttempt: 1}}}})
		})
	}
	close(begin)
	wg.Wait()
	for i, d := range deliveries {
		got, err := s.GetDelivery(ctx, store.AllConsumers(), d.ID)
		require.NoError(t, err)
		if bad(i) {
			assert.ErrorIs(t, errs[i], store.ErrNotFound, "call %d", i)
			assert.Equal(t, store.DeliveryPending, got.Status, "call %d", i)
			continue
		}
		assert.NoError(t, errs[i], "call %d", i)
		assert.Equal(t, store.DeliveryDelivered, got.Status, "call %d", i)
	}
	logged, err := s.ListAttempts(ctx, store.AllConsumers(), store.AttemptFilter{SubscriptionID: sub.ID}, store.Page{Limit: 200})
	require.NoError(t, err)
	assert.Len(t, logged, calls-calls/8, "one attempt per good call")
}

// TestPublishRacingDeleteLeavesNoPendingOrphan publishes while the matching
// subscriptions are deleted or disabled: whichever commits first, no
// delivery is left pending for a subscription that is gone or disabled.
func TestPublishRacingDeleteLeavesNoPendingOrphan(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	s := openAt(t, url, newSealer(t))
	startQueue(t, s, nil)
	ctx := t.Context()
	const rounds, publishers = 10, 8
	for round := range rounds {
		sub := newSubscription()
		require.NoError(t, s.CreateSubscription(ctx, store.AllConsumers(), sub))
		// One publish surely before, for the cancel to find.
		_, err := s.PublishEvent(ctx, store.AllConsumers(), newEvent())
		require.NoError(t, err)
		var wg sync.WaitGroup
		begin := make(chan struct{})
		for range publishers {
			wg.Go(func() {
				<-begin
				_, err := s.PublishEvent(ctx, store.AllConsumers(), newEvent())
				assert.NoError(t, err)
			})
		}
		wg.Go(func() {
			<-begin
			if round%2 == 0 {
				assert.NoError(t, s.DeleteSubscription(ctx, store.AllConsumers(), sub.ID))
				return
			}
			sub.Status, sub.DisabledReason = store.StatusDisabled, store.DisabledManual
			assert.NoError(t, s.UpdateSubscription(ctx, store.AllConsumers(), sub))
		})
		close(begin)
		wg.Wait()
	}
	conn := admin(t, url)
	assert.Zero(t, count(t, conn, `SELECT count(*) FROM deliveries d LEFT JOIN subscriptions s ON s.id = d.subscription_id
		WHERE d.status = 'pending' AND (s.id IS NULL OR s.status <> 'enabled')`), "pending deliveries of deleted or disabled subscriptions")
	assert.GreaterOrEqual(t, count(t, conn, `SELECT count(*) FROM deliveries WHERE status = 'cancelled'`), rounds,
		"the deliveries of the publishes before are cancelled")
}

// TestOutcomesRacingDeleteDoNotDeadlock records successful outcomes, many
// deliveries to one subscription per batch, while the subscription is
// deleted or disabled: every call goes through. Deliveries inserted by one
// statement are stored in no particular id order, and a cancel that locked
// them in storage order crossed a batch locking them in id order.
func TestOutcomesRacingDeleteDoNotDeadlock(t *testing.T) {
	t.Parallel()
	s := openAt(t, pgtest.NewDatabase(t), newSealer(t))
	startQueue(t, s, nil)
	ctx := t.Context()
	const rounds, events, batch = 10, 200, 8
	for round := range rounds {
		sub := newSubscription()
		require.NoError(t, s.CreateSubscription(ctx, store.AllConsumers(), sub))
		var (
			deliveries []*store.Delivery
			mu         sync.Mutex
			wg         sync.WaitGroup
		)
		for range events {
			wg.Go(func() {
				res, err := s.PublishEvent(ctx, store.AllConsumers(), newEvent())
				if !assert.NoError(t, err) {
					return
				}
				ds, err := s.ListDeliveries(ctx, store.AllConsumers(), res.Event.ID)
				assert.NoError(t, err)
				mu.Lock()
				defer mu.Unlock()
				deliveries = append(deliveries, ds...)
			})
		}
		wg.Wait()
		begin := make(chan struct{})
		for i := 0; i < len(deliveries); i += batch {
			chunk := deliveries[i:min(i+batch, len(deliveries))]
			wg.Go(func() {
				<-begin
				var outcomes []store.Outcome
				for _, d := range chunk {
					outcomes = append(outcomes, store.Outcome{DeliveryID: d.ID, SubscriptionID: d.SubscriptionID,
						Status: store.DeliveryDelivered, Attempts: []store.Attempt{{EventID: d.EventID, StatusCode: 204,
							Success: true, ExecutionAttempt: 1}}})
				}
				assert.NoError(t, s.RecordOutcomes(ctx, outcomes), "round %d", round)
			})
		}
		wg.Go(func() {
			<-begin
			if round%2 == 0 {
				assert.NoError(t, s.DeleteSubscription(ctx, store.AllConsumers(), sub.ID), "round %d", round)
				return
			}
			sub.Status, sub.DisabledReason = store.StatusDisabled, store.DisabledManual
			assert.NoError(t, s.UpdateSubscription(ctx, store.AllConsumers(), sub), "round %d", round)
		})
		close(begin)
		wg.Wait()
	}
}

// recorder is a dispatcher that takes every event and never tries it: a
// node that is alive, or one that died with the event in hand.
type recorder struct {
	mu         sync.Mutex
	dispatched []string
}

func (r *recorder) Reserve() bool { return true }
func (r *recorder) Release()      {}
func (r *recorder) Dispatch(ev *event.Event, _ []*store.Target) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dispatched = append(r.dispatched, ev.ID)
}

// TestSweepLeavesLiveNodesDeliveriesAlone runs several nodes on one
// database: a node starting does not queue the first tries another live
// node's dispatcher holds, and once that node is gone, nodes starting
// together queue each of its stranded events once.
func TestSweepLeavesLiveNodesDeliveriesAlone(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	ctx := t.Context()
	conn := admin(t, url)
	fanoutJobs := func(eventID string) int {
		return count(t, conn, `SELECT count(*) FROM river_job WHERE kind = 'fanout' AND args->>'event_id' = $1`, eventID)
	}

	sealer := newSealer(t)
	a := openAt(t, url, sealer)
	d := &recorder{}
	require.NoError(t, a.StartQueue(ctx, store.QueueConfig{Workers: storetest.Workers(), Dispatcher: d}))
	require.NotZero(t, postgres.DispatcherNode(a))
	b := openAt(t, url, sealer)
	require.NoError(t, b.CreateSubscription(ctx, store.AllConsumers(), newSubscription()))
	held, err := a.PublishEvent(ctx, store.AllConsumers(), newEvent())
	require.NoError(t, err)
	require.Equal(t, []string{held.Event.ID}, d.dispatched)

	// b starts while a holds the event.
	require.NoError(t, b.StartQueue(ctx, store.QueueConfig{Workers: storetest.Workers()}))
	require.NoError(t, b.StopQueue(ctx))
	assert.Zero(t, fanoutJobs(held.Event.ID), "a live node's first try is not queued")

	// a stops (or dies) before trying it; two nodes start at once.
	require.NoError(t, a.StopQueue(ctx))
	c := openAt(t, url, sealer)
	var wg sync.WaitGroup
	for _, s := range []*postgres.Store{b, c} {
		wg.Go(func() { assert.NoError(t, s.StartQueue(ctx, store.QueueConfig{Workers: storetest.Workers()})) })
	}
	wg.Wait()
	t.Cleanup(func() {
		stop, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, b.StopQueue(stop))
		assert.NoError(t, c.StopQueue(stop))
	})
	// The sweeps take turns, so the second finds the first's job live and
	// queues nothing, unless the first node's queue has already worked the
	// job by then: the suite's workers record no outcome, so the delivery is
	// still untried and a second job is right. So: queued, and at most twice.
	require.Eventually(t, func() bool { return storetest.FanoutsWorked(held.Event.ID) >= 1 }, 30*time.Second, 10*time.Millisecond,
		"the stranded event is queued and worked")
	n := fanoutJobs(held.Event.ID)
	assert.True(t, n == 1 || n == 2 && storetest.FanoutsWorked(held.Event.ID) >= 1, "%d fan-out jobs for one stranded event", n)
}

// nodes is a database shared by a dispatching node and a sweeping one
// whose fan-out jobs make the first try as the hub's do: every untried
// delivery gets a successful attempt, so a later sweep has nothing to
// queue again.
type nodes struct {
	url             string
	conn            *pgx.Conn
	holder, sweeper *postgres.Store
	held            *recorder // the holder's dispatcher: it takes and never tries
	fanouts         sync.Map  // event id -> *atomic.Int32
	subscriptionID  string
}

// sweepEvery is the sweepers' interval in these tests.
const sweepEvery = 50 * time.Millisecond

func newNodes(t *testing.T, holderCfg, sweeperCfg postgres.Config) *nodes {
	t.Helper()
	ctx := t.Context()
	n := &nodes{url: pgtest.NewDatabase(t), held: &recorder{}}
	n.conn = admin(t, n.url)
	sealer := newSealer(t)
	open := func(cfg postgres.Config) *postgres.Store {
		cfg.URL, cfg.Sealer = n.url, sealer
		s, err := postgres.Open(ctx, cfg)
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	n.holder, n.sweeper = open(holderCfg), open(sweeperCfg)
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, j *river.Job[job.Fanout]) error {
		c, _ := n.fanouts.LoadOrStore(j.Args.EventID, new(atomic.Int32))
		c.(*atomic.Int32).Add(1)
		_, targets, err := n.sweeper.FanoutTargets(ctx, j.Args.EventID)
		if err != nil {
			return err
		}
		var outcomes []store.Outcome
		for _, tg := range targets {
			outcomes = append(outcomes, store.Outcome{DeliveryID: tg.Delivery.ID, SubscriptionID: tg.Subscription.ID,
				Status: store.DeliveryDelivered, Attempts: []store.Attempt{{EventID: j.Args.EventID, StatusCode: 204,
					Success: true, ExecutionAttempt: 1, Endpoint: tg.Subscription.DeliveryURL}}})
		}
		return n.sweeper.RecordOutcomes(ctx, outcomes)
	}))
	startQueueWith(t, n.holder, store.QueueConfig{Workers: workers, Dispatcher: n.held})
	startQueueWith(t, n.sweeper, store.QueueConfig{Workers: workers})
	sub := newSubscription()
	require.NoError(t, n.sweeper.CreateSubscription(ctx, store.AllConsumers(), sub))
	n.subscriptionID = sub.ID
	return n
}

// publishHeld publishes an event the holder's dispatcher takes.
func (n *nodes) publishHeld(t *testing.T) string {
	t.Helper()
	res, err := n.holder.PublishEvent(t.Context(), store.AllConsumers(), newEvent())
	require.NoError(t, err)
	n.held.mu.Lock()
	defer n.held.mu.Unlock()
	require.Contains(t, n.held.dispatched, res.Event.ID)
	return res.Event.ID
}

func (n *nodes) fanoutsOf(eventID string) int32 {
	c, ok := n.fanouts.Load(eventID)
	if !ok {
		return 0
	}
	return c.(*atomic.Int32).Load()
}

func (n *nodes) delivered(t *testing.T, eventID string) bool {
	return count(t, n.conn, `SELECT count(*) FROM deliveries WHERE event_id = $1 AND status = 'delivered'`, eventID) == 1
}

// killLock ends the session holding the holder's dispatcher lock and
// returns how many sessions it ended.
func (n *nodes) killLock(t *testing.T) int {
	return count(t, n.conn, `SELECT count(pg_terminate_backend(pid)) FROM pg_locks
		WHERE locktype = 'advisory' AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 2`,
		int64(postgres.DispatchLockClass), int64(postgres.DispatcherNode(n.holder)))
}

// TestSweepQueuesDeadNodesDeliveriesWhileRunning kills the session of a
// node holding an event's first try, as a crash of its process or host
// does (its own sweep never runs, so it does not take its lock again): a
// node that keeps running queues the stranded event at its next periodic
// sweep, not only when some node starts, never while the holder lived, and
// once.
func TestSweepQueuesDeadNodesDeliveriesWhileRunning(t *testing.T) {
	t.Parallel()
	n := newNodes(t, postgres.Config{SweepInterval: time.Hour}, postgres.Config{SweepInterval: sweepEvery})
	eventID := n.publishHeld(t)

	time.Sleep(20 * sweepEvery)
	assert.Zero(t, n.fanoutsOf(eventID), "a live node's first try is not queued")

	require.Equal(t, 1, n.killLock(t), "the holder's lock session")
	require.Eventually(t, func() bool { return n.delivered(t, eventID) }, 30*time.Second, 10*time.Millisecond,
		"the stranded event is queued by a running node's sweep and delivered")
	time.Sleep(10 * sweepEvery)
	assert.Equal(t, int32(1), n.fanoutsOf(eventID), "one first try for the sweeps")
}

// TestNodeTakesItsLockAgain ends the session of a live node's dispatcher
// lock: the node notices at its next sweep and takes the same number again,
// and the first tries it holds then are not queued by other nodes.
func TestNodeTakesItsLockAgain(t *testing.T) {
	t.Parallel()
	n := newNodes(t, postgres.Config{SweepInterval: sweepEvery}, postgres.Config{SweepInterval: sweepEvery})
	node := postgres.DispatcherNode(n.holder)
	require.NotZero(t, node)
	// The session holding the lock, 0 for none.
	holder := func() int {
		var pid int
		err := n.conn.QueryRow(t.Context(), `SELECT coalesce(max(pid), 0) FROM pg_locks WHERE locktype = 'advisory' AND granted
			AND classid::bigint = $1 AND objid::bigint = $2 AND objsubid = 2`, int64(postgres.DispatchLockClass), int64(node)).Scan(&pid)
		require.NoError(t, err)
		return pid
	}
	first := holder()
	require.NotZero(t, first)

	require.Equal(t, 1, n.killLock(t))
	require.Eventually(t, func() bool { pid := holder(); return pid != 0 && pid != first }, 30*time.Second, 10*time.Millisecond,
		"the node takes its lock again, in a new session")
	assert.Equal(t, node, postgres.DispatcherNode(n.holder), "the same number")

	eventID := n.publishHeld(t)
	time.Sleep(20 * sweepEvery)
	assert.Zero(t, n.fanoutsOf(eventID), "the first try it holds is not queued")
}

// TestSweepTakesStrandedDeliveries: a delivery a live node's dispatcher
// holds but never tried is queued once StrandedAfter has passed.
func TestSweepTakesStrandedDeliveries(t *testing.T) {
	t.Parallel()
	n := newNodes(t, postgres.Config{SweepInterval: time.Hour},
		postgres.Config{SweepInterval: sweepEvery, StrandedAfter: 40 * sweepEvery})
	eventID := n.publishHeld(t)
	time.Sleep(5 * sweepEvery)
	assert.Zero(t, n.fanoutsOf(eventID), "not before StrandedAfter")
	require.Eventually(t, func() bool { return n.delivered(t, eventID) }, 30*time.Second, 10*time.Millisecond,
		"the stranded delivery is queued and delivered while its node lives")
	assert.NotZero(t, postgres.DispatcherNode(n.holder), "the holder still holds its lock")
}

// TestUnavailable provokes real transient failures and checks they are
// reported as store.ErrUnavailable, and that the caller's own cancellation
// and errors in the request are not.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	ctx := t.Context()
	newKey := func() *store.APIKey { return &store.APIKey{Name: "k", Hash: []byte(store.NewID())} }

	// lockTable holds api_keys locked from another session until the
	// returned function is called.
	lockTable := func(t *testing.T) func() {
		t.Helper()
		conn := admin(t, url)
		tx, err := conn.Begin(ctx)
		require.NoError(t, err)
		_, err = tx.Exec(ctx, `LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE`)
		require.NoError(t, err)
		return func() { require.NoError(t, tx.Rollback(context.Background())) }
	}

	t.Run("connection refused", func(t *testing.T) {
		_, err := postgres.Open(ctx, postgres.Config{URL: "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=5", Sealer: newSealer(t)})
		require.ErrorIs(t, err, store.ErrUnavailable)
	})
	t.Run("unknown database is not transient", func(t *testing.T) {
		_, err := postgres.Open(ctx, postgres.Config{URL: strings.Replace(url, "switchboard_test_", "switchboard_nope_", 1), Sealer: newSealer(t)})
		require.Error(t, err)
		require.NotErrorIs(t, err, store.ErrUnavailable)
	})
	t.Run("lock timeout", func(t *testing.T) {
		s := openAt(t, url+"&lock_timeout=100ms", newSealer(t))
		unlock := lockTable(t)
		err := s.CreateAPIKey(ctx, newKey())
		require.ErrorIs(t, err, store.ErrUnavailable)
		requireCode(t, err, "55P03")
		_, err = s.ListAPIKeys(ctx)
		require.ErrorIs(t, err, store.ErrUnavailable, "reads too")
		unlock()
		require.NoError(t, s.CreateAPIKey(ctx, newKey()), "works again once the lock is gone")
	})
	t.Run("statement timeout", func(t *testing.T) {
		// A second, not 100ms: opening runs the migrator's checks under the
		// same timeout, and a loaded CI machine can take longer than 100ms.
		s := openAt(t, url+"&lock_timeout=0&statement_timeout=1s", newSealer(t))
		startQueue(t, s, nil)
		require.NoError(t, s.CreateSubscription(ctx, store.AllConsumers(), newSubscription()))
		unlock := lockTable(t)
		defer unlock()
		_, err := s.CountActiveAPIKeys(ctx)
		require.ErrorIs(t, err, store.ErrUnavailable)
		requireCode(t, err, "57014")
	})
	t.Run("caller cancels", func(t *testing.T) {
		s := openAt(t, url, newSealer(t))
		unlock := lockTable(t)
		defer unlock()
		short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		_, err := s.ListAPIKeys(short)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NotErrorIs(t, err, store.ErrUnavailable)
	})
	t.Run("backend terminated", func(t *testing.T) {
		s := openAt(t, url+"&application_name=terminate-me", newSealer(t))
		startQueue(t, s, nil)
		unlock := lockTable(t)
		done := make(chan error, 1)
		go func() {
			_, err := s.PublishEvent(ctx, store.AllConsumers(), newEvent())
			if err == nil {
				err = s.CreateAPIKey(ctx, newKey())
			}
			done <- err
		}()
		conn := admin(t, url)
		require.Eventually(t, func() bool {
			var n int
			err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE application_name = 'terminate-me' AND wait_event_type = 'Lock'`).Scan(&n)
			return err == nil && n > 0
		}, 10*time.Second, 10*time.Millisecond, "the store's session waits for the lock")
		err := <-done
		require.ErrorIs(t, err, store.ErrUnavailable)
		requireCode(t, err, "57P01")
		unlock()
		require.NoError(t, s.CreateAPIKey(ctx, newKey()), "the pool replaces the lost connection")
	})
	t.Run("request errors are not transient", func(t *testing.T) {
		s := openAt(t, url, newSealer(t))
		k := newKey()
		require.NoError(t, s.CreateAPIKey(ctx, k))
		dup := newKey()
		dup.Hash = k.Hash
		err := s.CreateAPIKey(ctx, dup)
		require.Error(t, err)
		require.NotErrorIs(t, err, store.ErrUnavailable)
		requireCode(t, err, "23505")
	})
	t.Run("classification", func(t *testing.T) {
		for code, want := range map[string]bool{
			"57P01": true, "57P03": true, "53300": true, "53100": true, "53000": true, "55P03": true, "57014": true,
			"40P01": true, "40001": true, "23505": false, "28P01": false, "42P01": false, "3D000": false,
		} {
			pgErr := &pgconn.PgError{Code: code}
			err := postgres.Unavailable(fmt.Errorf("doing something: %w", pgErr))
			assert.Equal(t, want, errors.Is(err, store.ErrUnavailable), "SQLSTATE %s", code)
			assert.ErrorIs(t, err, pgErr, "the cause stays in the chain")
		}
		assert.NoError(t, postgres.Unavailable(nil))
		assert.NotErrorIs(t, postgres.Unavailable(context.Canceled), store.ErrUnavailable)
	})
}

func requireCode(t *testing.T, err error, code string) {
	t.Helper()
	var pgErr *pgconn.PgError
	require.ErrorAs(t, err, &pgErr)
	assert.Equal(t, code, pgErr.Code, "%v", err)
}

func TestQueueStatsAgeOfOldestJob(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	s := openAt(t, url, newSealer(t))
	conn := admin(t, url)
	for _, job := range []struct{ state, age string }{
		{"available", "-90 seconds"}, {"available", "-10 seconds"}, {"scheduled", "1 hour"},
		{"retryable", "1 minute"}, {"completed", "-1 hour"}, {"running", "-2 hours"},
	} {
		_, err := conn.Exec(t.Context(), `
			INSERT INTO river_job (args, kind, state, scheduled_at, finalized_at, attempted_at, max_attempts)
			VALUES ('{}', 'fanout', $1::river_job_state, now() + $2::interval,
				CASE WHEN $1 = 'completed' THEN now() END, CASE WHEN $1 = 'running' THEN now() END, 25)`, job.state, job.age)
		require.NoError(t, err)
	}
	stats, err := s.QueueStats(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 4, stats.Pending, "available, scheduled and retryable jobs")
	assert.GreaterOrEqual(t, stats.OldestPending, 90*time.Second)
	assert.Less(t, stats.OldestPending, time.Hour)
}

func TestSecretsAreNotStoredInPlaintext(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	sealer := newSealer(t)
	s := openAt(t, url, sealer)
	ctx := t.Context()

	current, err := secret.NewWebhookSecret()
	require.NoError(t, err)
	previous, err := secret.NewWebhookSecret()
	require.NoError(t, err)
	expires := store.Now().Add(time.Hour)
	sub := newSubscription(func(s *store.Subscription) {
		s.Secret, s.PreviousSecret, s.PreviousSecretExpiresAt = current, previous, &expires
	})
	require.NoError(t, s.CreateSubscription(ctx, store.AllConsumers(), sub))
	clientSecret, err := secret.Token(32)
	require.NoError(t, err)
	inboundToken, err := secret.Token(32)
	require.NoError(t, err)
	c := &store.Connection{ConsumerID: "acme", ServiceID: "deskera", Status: store.ConnectionActive,
		Credentials: map[string]string{"client_secret": clientSecret}, Token: inboundToken, TokenHash: []byte(store.NewID())}
	require.NoError(t, s.CreateConnection(ctx, store.AllConsumers(), c))

	// Every text and bytea value of both rows, as PostgreSQL holds them.
	conn := admin(t, url)
	var rows [][]byte
	for _, q := range []string{
		`SELECT convert_to(row_to_json(s)::text, 'UTF8') FROM subscriptions s`,
		`SELECT convert_to(row_to_json(c)::text, 'UTF8') FROM connections c`,
		`SELECT secret_sealed || previous_secret_sealed FROM subscriptions`,
		`SELECT credentials_sealed || token_sealed FROM connections`,
	} {
		var raw []byte
		require.NoError(t, conn.QueryRow(ctx, q).Scan(&raw))
		rows = append(rows, raw)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(current, secret.WebhookSecretPrefix))
	require.NoError(t, err)
	for _, raw := range rows {
		for _, plain := range [][]byte{[]byte(current), []byte(previous), key, []byte(clientSecret), []byte(inboundToken)} {
			assert.False(t, bytes.Contains(raw, plain), "a secret in plaintext")
		}
	}

	wrongKey := openAt(t, url, newSealer(t))
	// Another key does not open them: the subscription reads back without
	// them, marked, rather than failing (it must stay listable and deletable).
	unread, err := wrongKey.GetSubscription(ctx, store.AllConsumers(), sub.ID)
	require.NoError(t, err)
	assert.True(t, unread.SecretUnreadable)
	assert.Empty(t, unread.Secret)
	assert.Empty(t, unread.PreviousSecret)
	got, err := s.GetConnection(ctx, store.Consumer("acme"), c.ID)
	require.NoError(t, err)
	assert.Equal(t, clientSecret, got.Credentials["client_secret"])
	assert.Equal(t, inboundToken, got.Token)
}

// TestTextPostgreSQLRefuses stores what PostgreSQL's text and jsonb types
// would refuse: a NUL byte in an endpoint's answer, \u0000 in an entity.
func TestTextPostgreSQLRefuses(t *testing.T) {
	t.Parallel()
	s := openAt(t, pgtest.NewDatabase(t), newSealer(t))
	startQueue(t, s, nil)
	ctx := t.Context()
	sub := newSubscription()
	require.NoError(t, s.CreateSubscription(ctx, store.AllConsumers(), sub))
	entity := json.RawMessage(`{"note":"nul \u0000 here","b":1,"a":2}`)
	res, err := s.PublishEvent(ctx, store.AllConsumers(), newEvent(func(ev *event.Event) { ev.Entity = entity }))
	require.NoError(t, err)
	got, err := s.GetEvent(ctx, store.AllConsumers(), res.Event.ID)
	require.NoError(t, err)
	assert.Equal(t, string(entity), string(got.Entity), "the entity is kept byte for byte")

	ds, err := s.ListDeliveries(ctx, store.AllConsumers(), res.Event.ID)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	require.NoError(t, s.RecordOutcomes(ctx, []store.Outcome{{
		DeliveryID: ds[0].ID, SubscriptionID: sub.ID, Status: store.DeliveryDelivered,
		Attempts: []store.Attempt{{EventID: res.Event.ID, EventType: res.Event.EventType, SubscriptionID: sub.ID,
			Endpoint: sub.DeliveryURL, StatusCode: 200, Success: true, ExecutionAttempt: 1, ResponseBody: "ok\x00binary"}},
	}}))
	logged, err := s.ListAttempts(ctx, store.AllConsumers(), store.AttemptFilter{EventID: res.Event.ID}, store.Page{})
	require.NoError(t, err)
	require.Len(t, logged, 1)
	assert.Equal(t, "ok\uFFFDbinary", logged[0].ResponseBody)
}

// TestPurgeSkipsWhileAnotherNodePurges: a node whose purge finds another
// node's purge running deletes nothing and says Busy, so two nodes never
// work the same rows.
func TestPurgeSkipsWhileAnotherNodePurges(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	s := openAt(t, url, newSealer(t))
	startQueue(t, s, nil)
	_, err := s.PublishEvent(t.Context(), store.AllConsumers(), newEvent(func(ev *event.Event) {
		at := time.Now().Add(-48 * time.Hour)
		ev.ID, ev.CreatedAt = store.NewIDAt(at), store.Time(at)
	}))
	require.NoError(t, err)

	other := admin(t, url)
	tx, err := other.Begin(t.Context())
	require.NoError(t, err)
	_, err = tx.Exec(t.Context(), `SELECT pg_advisory_xact_lock($1)`, postgres.PurgeLockKey)
	require.NoError(t, err)

	cutoff := time.Now().Add(-time.Hour)
	got, err := s.Purge(t.Context(), cutoff, 0)
	require.NoError(t, err)
	assert.Equal(t, store.PurgeCounts{Busy: true}, got)

	require.NoError(t, tx.Rollback(t.Context()))
	got, err = s.Purge(t.Context(), cutoff, 0)
	require.NoError(t, err)
	assert.Equal(t, store.PurgeCounts{Events: 1}, got)
}

// TestTwoNodesSayFailingOnce: two nodes (two stores on one database)
// record failures of one subscription at once, both asking for its
// failing event: exactly one is published, and a success then publishes
// exactly one recovered.
func TestTwoNodesSayFailingOnce(t *testing.T) {
	t.Parallel()
	url := pgtest.NewDatabase(t)
	nodes := []*postgres.Store{openAt(t, url, newSealer(t)), openAt(t, url, newSealer(t))}
	for _, s := range nodes {
		startQueue(t, s, nil)
	}
	ctx := t.Context()
	sub := newSubscription()
	require.NoError(t, nodes[0].CreateSubscription(ctx, store.AllConsumers(), sub))

	const events = 20
	var ds []*store.Delivery
	for range events {
		res, err := nodes[0].PublishEvent(ctx, store.AllConsumers(), newEvent())
		require.NoError(t, err)
		got, err := nodes[0].ListDeliveries(ctx, store.AllConsumers(), res.Event.ID)
		require.NoError(t, err)
		require.Len(t, got, 1)
		ds = append(ds, got[0])
	}
	try := func(d *store.Delivery, status int) store.Outcome {
		o := store.Outcome{DeliveryID: d.ID, SubscriptionID: d.SubscriptionID, Status: store.DeliveryPending,
			NextAttemptAt: time.Now().Add(time.Hour), Notify: true, FailingSince: time.Now().Add(time.Hour),
			Attempts: []store.Attempt{{EventID: d.EventID, EventType: "accounting.invoice.paid", SubscriptionID: d.SubscriptionID,
				Endpoint: "https://example.com/hook", StatusCode: status, ExecutionAttempt: 1, RetryScheduled: true}}}
		if status < 300 {
			o.Status, o.NextAttemptAt, o.FailingSince, o.CheckRecovered = store.DeliveryDelivered, time.Time{}, time.Time{}, true
			o.Attempts[0].Success, o.Attempts[0].RetryScheduled = true, false
		}
		return o
	}
	published := func(typ string) int {
		return count(t, admin(t, url), `SELECT count(*) FROM events WHERE event_type = $1`, typ)
	}
	begin := make(chan struct{})
	var wg sync.WaitGroup
	errs := make([]error, events)
	outs := make([][]store.Outcome, events)
	for i, d := range ds {
		wg.Go(func() {
			<-begin
			outs[i] = []store.Outcome{try(d, 503)}
			errs[i] = nodes[i%2].RecordOutcomes(ctx, outs[i])
		})
	}
	close(begin)
	wg.Wait()
	told := 0
	for i, err := range errs {
		require.NoError(t, err, "outcome %d", i)
		told += len(outs[i][0].Published)
	}
	assert.Equal(t, 1, published(event.SubscriptionFailing))
	assert.Equal(t, 1, told, "the one call that published it is told so, also in a combined transaction")

	begin = make(chan struct{})
	for i, d := range ds[:4] {
		wg.Go(func() {
			<-begin
			errs[i] = nodes[i%2].RecordOutcomes(ctx, []store.Outcome{try(d, 200)})
		})
	}
	close(begin)
	wg.Wait()
	for _, err := range errs[:4] {
		require.NoError(t, err)
	}
	assert.Equal(t, 1, published(event.SubscriptionRecovered))
}
