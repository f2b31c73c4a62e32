package delivery_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/delivery"
	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/secret"
	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/hub/store/sqlite"
)

// River's scheduler moves due retries to the queue every 5 s, so a retry
// lands up to ~5 s after its time.
const (
	waitFor = 40 * time.Second
	tick    = 50 * time.Millisecond
)

// starter opens a hub for one test: a real SQLite store with the delivery
// workers registered and River started.
type starter func(t *testing.T, cfg delivery.Config) *sqlite.Store

// bothPaths runs test twice: with first tries worked from the queue, and
// with the in-process dispatcher the hub uses (store.Dispatcher).
func bothPaths(t *testing.T, test func(t *testing.T, startHub starter)) {
	for _, path := range []struct {
		name     string
		dispatch bool
	}{{"queue", false}, {"dispatch", true}} {
		t.Run(path.name, func(t *testing.T) {
			t.Parallel()
			test(t, func(t *testing.T, cfg delivery.Config) *sqlite.Store {
				st, _ := startHub(t, cfg, path.dispatch)
				return st
			})
		})
	}
}

// startHub opens a real SQLite store in a temp dir, registers the delivery
// workers and starts River, with the service's dispatcher if dispatch.
func startHub(t *testing.T, cfg delivery.Config, dispatch bool) (*sqlite.Store, *delivery.Dispatcher) {
	t.Helper()
	st, _ := openStore(t)
	disp, _ := startQueue(t, st, cfg, dispatch, 0)
	return st, disp
}

// openStore opens a real SQLite store in a temp dir and returns its path.
func openStore(t *testing.T) (*sqlite.Store, string) {
	t.Helper()
	key := make([]byte, secret.KeySize)
	_, err := rand.Read(key)
	require.NoError(t, err)
	box, err := secret.NewBox(key)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "hub.db")
	st, err := sqlite.Open(t.Context(), sqlite.Config{Path: path, Sealer: box})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, st.Close()) })
	return st, path
}

// startQueue starts st's queue with a new delivery service's workers and,
// if dispatch, its dispatcher holding at most limit events. The returned
// stop stops both, as the hub does: dispatcher first; cleanup calls it too.
func startQueue(t *testing.T, st *sqlite.Store, cfg delivery.Config, dispatch bool, limit int) (*delivery.Dispatcher, func(ctx context.Context) error) {
	t.Helper()
	cfg.AllowPrivate = true
	svc := delivery.New(cfg, st)
	workers := river.NewWorkers()
	svc.Register(workers)
	var disp *delivery.Dispatcher
	qc := store.QueueConfig{Workers: workers}
	if dispatch {
		disp = svc.NewDispatcher(limit)
		qc.Dispatcher = disp
	}
	require.NoError(t, st.StartQueue(t.Context(), qc))
	var once sync.Once
	stop := func(ctx context.Context) (err error) {
		once.Do(func() {
			if disp != nil {
				err = disp.Stop(ctx)
			}
			err = errors.Join(err, st.StopQueue(ctx))
			svc.Close()
		})
		return err
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, stop(ctx))
	})
	return disp, stop
}

func subscribe(t *testing.T, st *sqlite.Store, url string, schedule []int) *store.Subscription {
	t.Helper()
	sub := &store.Subscription{
		UnifiedAPI:     "accounting",
		Status:         store.StatusEnabled,
		DisabledReason: store.DisabledNone,
		DeliveryURL:    url,
		Events:         []string{"*"},
		RetrySchedule:  schedule,
		Secret:         newSecret(t),
	}
	require.NoError(t, st.CreateSubscription(t.Context(), store.AllConsumers(), sub))
	return sub
}

func publish(t *testing.T, st *sqlite.Store) (*event.Event, int) {
	t.Helper()
	ev := newEvent(t)
	ev.CreatedAt = store.Now()
	res, err := st.PublishEvent(t.Context(), store.AllConsumers(), ev)
	require.NoError(t, err)
	return ev, res.Deliveries
}

func onlyDelivery(t *testing.T, st *sqlite.Store, eventID string) *store.Delivery {
	t.Helper()
	ds, err := st.ListDeliveries(t.Context(), store.AllConsumers(), eventID)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	return ds[0]
}

// attemptsOf lists an event's attempts oldest first.
func attemptsOf(t *testing.T, st *sqlite.Store, eventID string) []*store.Attempt {
	t.Helper()
	as, err := st.ListAttempts(t.Context(), store.AllConsumers(), store.AttemptFilter{EventID: eventID}, store.Page{Limit: 200})
	require.NoError(t, err)
	for i, j := 0, len(as)-1; i < j; i, j = i+1, j-1 {
		as[i], as[j] = as[j], as[i]
	}
	return as
}

func TestEndToEndRetriesUntilDelivered(t *testing.T) {
	t.Parallel()
	bothPaths(t, func(t *testing.T, startHub starter) {
		rc := &recorder{handlers: []http.HandlerFunc{answer(500), answer(503), answer(200)}}
		srv := httptest.NewServer(rc)
		t.Cleanup(srv.Close)
		st := startHub(t, delivery.Config{})
		sub := subscribe(t, st, srv.URL+"/hook", []int{1, 1, 1})

		ev, n := publish(t, st)
		require.Equal(t, 1, n)
		require.Eventually(t, func() bool {
			return onlyDelivery(t, st, ev.ID).Status == store.DeliveryDelivered
		}, waitFor, tick, "delivered after 500, 503, 200")

		reqs := rc.requests()
		require.Len(t, reqs, 3, "each River try is exactly one HTTP try")
		for i, r := range reqs {
			assert.Equal(t, ev.ID, r.Header.Get("webhook-id"), "webhook-id is stable across retries")
			assert.Equal(t, 1, verifyIndependently(t, sub.Secret, r.Header, r.Body), "try %d is signed", i+1)
			var body struct {
				Payload struct {
					ExecutionAttempt int `json:"execution_attempt"`
				} `json:"payload"`
			}
			require.NoError(t, json.Unmarshal(r.Body, &body))
			assert.Equal(t, i+1, body.Payload.ExecutionAttempt)
		}

		d := onlyDelivery(t, st, ev.ID)
		assert.Equal(t, 3, d.Attempts)
		as := attemptsOf(t, st, ev.ID)
		require.Len(t, as, 3)
		for i, want := range []struct {
			code  int
			ok    bool
			retry bool
		}{{500, false, true}, {503, false, true}, {200, true, false}} {
			assert.Equal(t, want.code, as[i].StatusCode)
			assert.Equal(t, want.ok, as[i].Success)
			assert.Equal(t, want.retry, as[i].RetryScheduled)
			assert.Equal(t, i+1, as[i].ExecutionAttempt)
			assert.Equal(t, sub.ID, as[i].SubscriptionID)
			assert.Equal(t, srv.URL+"/hook", as[i].Endpoint)
		}

		got, err := st.GetSubscription(t.Context(), store.AllConsumers(), sub.ID)
		require.NoError(t, err)
		assert.Equal(t, store.StatusEnabled, got.Status)
		assert.Zero(t, got.FailStreak, "a success resets the streak")
		assert.NotNil(t, got.LastSucceededAt)
	})
}

func TestEndToEndGoneDisablesSubscription(t *testing.T) {
	t.Parallel()
	bothPaths(t, func(t *testing.T, startHub starter) {
		rc := &recorder{handlers: []http.HandlerFunc{answer(410)}}
		srv := httptest.NewServer(rc)
		t.Cleanup(srv.Close)
		st := startHub(t, delivery.Config{})
		sub := subscribe(t, st, srv.URL, []int{1, 1})

		ev, _ := publish(t, st)
		require.Eventually(t, func() bool {
			got, err := st.GetSubscription(t.Context(), store.AllConsumers(), sub.ID)
			require.NoError(t, err)
			return got.Status == store.StatusDisabled
		}, waitFor, tick)

		got, err := st.GetSubscription(t.Context(), store.AllConsumers(), sub.ID)
		require.NoError(t, err)
		assert.Equal(t, store.DisabledGone, got.DisabledReason)
		assert.Equal(t, store.DeliveryFailed, onlyDelivery(t, st, ev.ID).Status)
		assert.Len(t, rc.requests(), 1, "410 is final: no retry")

		_, n := publish(t, st)
		assert.Zero(t, n, "a disabled subscription gets no new deliveries")
	})
}

func TestEndToEndRetryAfterHonoured(t *testing.T) {
	t.Parallel()
	bothPaths(t, func(t *testing.T, startHub starter) {
		rc := &recorder{handlers: []http.HandlerFunc{
			func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Retry-After", "2")
				w.WriteHeader(http.StatusTooManyRequests)
			},
			answer(200),
		}}
		srv := httptest.NewServer(rc)
		t.Cleanup(srv.Close)
		st := startHub(t, delivery.Config{})
		subscribe(t, st, srv.URL, []int{3600}) // the schedule alone would wait an hour

		ev, _ := publish(t, st)
		var first *store.Delivery
		require.Eventually(t, func() bool {
			first = onlyDelivery(t, st, ev.ID)
			return first.Attempts == 1
		}, waitFor, tick)
		as := attemptsOf(t, st, ev.ID)
		require.Len(t, as, 1)
		assert.Equal(t, http.StatusTooManyRequests, as[0].StatusCode)
		if first.Status == store.DeliveryPending {
			require.NotNil(t, first.NextAttemptAt)
			assert.WithinDuration(t, as[0].Timestamp.Add(2*time.Second), *first.NextAttemptAt, 1500*time.Millisecond,
				"next try at Retry-After, not at the schedule's hour")
		}

		require.Eventually(t, func() bool {
			return onlyDelivery(t, st, ev.ID).Status == store.DeliveryDelivered
		}, waitFor, tick, "the second try came after Retry-After, long before the schedule's hour")
		reqs := rc.requests()
		require.Len(t, reqs, 2)
		assert.GreaterOrEqual(t, reqs[1].At.Sub(reqs[0].At), 1900*time.Millisecond, "not before Retry-After")
	})
}

func TestEndToEndExhaustedRetriesDisable(t *testing.T) {
	t.Parallel()
	bothPaths(t, func(t *testing.T, startHub starter) {
		rc := &recorder{handlers: []http.HandlerFunc{answer(500)}}
		srv := httptest.NewServer(rc)
		t.Cleanup(srv.Close)
		st := startHub(t, delivery.Config{FailureWindow: 0}) // no grace: the first exhausted delivery disables
		sub := subscribe(t, st, srv.URL, []int{1})

		ev, _ := publish(t, st)
		require.Eventually(t, func() bool {
			return onlyDelivery(t, st, ev.ID).Status == store.DeliveryFailed
		}, waitFor, tick)

		got, err := st.GetSubscription(t.Context(), store.AllConsumers(), sub.ID)
		require.NoError(t, err)
		assert.Equal(t, store.StatusDisabled, got.Status)
		assert.Equal(t, store.DisabledRetryLimit, got.DisabledReason)
		assert.Equal(t, 2, got.FailStreak)
		assert.NotNil(t, got.FailStreakStartedAt)
		assert.NotNil(t, got.LastFailedAt)
		assert.Len(t, rc.requests(), 2, "[1] is two tries")
	})
}

func TestEndToEndFanout(t *testing.T) {
	t.Parallel()
	bothPaths(t, func(t *testing.T, startHub starter) {
		rc := &recorder{}
		srv := httptest.NewServer(rc)
		t.Cleanup(srv.Close)
		// Small chunks: the fan-out continues over several runs of its job.
		st := startHub(t, delivery.Config{FanoutChunkSize: 7, FanoutConcurrency: 4})
		const subs = 30
		secrets := map[string]string{}
		for i := range subs {
			sub := subscribe(t, st, fmt.Sprintf("%s/sub/%d", srv.URL, i), nil)
			secrets[sub.DeliveryURL] = sub.Secret
		}

		ev, n := publish(t, st)
		require.Equal(t, subs, n)
		require.Eventually(t, func() bool {
			ds, err := st.ListDeliveries(t.Context(), store.AllConsumers(), ev.ID)
			require.NoError(t, err)
			for _, d := range ds {
				if d.Status != store.DeliveryDelivered {
					return false
				}
			}
			return len(ds) == subs
		}, waitFor, tick)

		reqs := rc.requests()
		require.Len(t, reqs, subs, "every subscriber once")
		for _, r := range reqs[1:] {
			assert.Equal(t, string(reqs[0].Body), string(r.Body), "one body for the whole fan-out")
		}
		as := attemptsOf(t, st, ev.ID)
		require.Len(t, as, subs)
		seen := map[string]bool{}
		for _, a := range as {
			assert.True(t, a.Success)
			seen[a.Endpoint] = true
		}
		assert.Len(t, seen, subs)
		// Each subscriber's signature verifies under its own secret.
		matched := 0
		for _, r := range reqs {
			for _, s := range secrets {
				matched += verifyIndependently(t, s, r.Header, r.Body)
			}
		}
		assert.Equal(t, subs, matched)
	})
}

func TestEndToEndDeletedSubscriptionGetsNoRetry(t *testing.T) {
	t.Parallel()
	bothPaths(t, func(t *testing.T, startHub starter) {
		rc := &recorder{handlers: []http.HandlerFunc{answer(500)}}
		srv := httptest.NewServer(rc)
		t.Cleanup(srv.Close)
		st := startHub(t, delivery.Config{})
		sub := subscribe(t, st, srv.URL, []int{2, 2})

		ev, _ := publish(t, st)
		require.Eventually(t, func() bool { return onlyDelivery(t, st, ev.ID).Attempts == 1 }, waitFor, tick)
		require.NoError(t, st.DeleteSubscription(t.Context(), store.AllConsumers(), sub.ID))

		// The retry job still runs, finds the delivery cancelled, and sends nothing.
		require.Eventually(t, func() bool {
			qs, err := st.QueueStats(t.Context())
			require.NoError(t, err)
			return qs.Pending == 0
		}, waitFor, tick)
		assert.Equal(t, store.DeliveryCancelled, onlyDelivery(t, st, ev.ID).Status)
		assert.Len(t, rc.requests(), 1)
	})
}

// A receiver answering megabytes of headers (here 1 MiB; Go's own limit is
// 10 MB per response) gets a failed try, recorded and retried like any
// other, instead of the hub buffering every byte of it.
func TestEndToEndHugeResponseHeadersAreAFailedTry(t *testing.T) {
	t.Parallel()
	bothPaths(t, func(t *testing.T, startHub starter) {
		pad := strings.Repeat("x", 8<<10)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			for i := range 128 {
				w.Header().Set(fmt.Sprintf("X-Pad-%d", i), pad)
			}
			w.WriteHeader(http.StatusOK)
		}))
		t.Cleanup(srv.Close)
		st := startHub(t, delivery.Config{})
		subscribe(t, st, srv.URL, []int{3600})

		ev, n := publish(t, st)
		require.Equal(t, 1, n)
		require.Eventually(t, func() bool {
			return len(attemptsOf(t, st, ev.ID)) == 1
		}, waitFor, tick, "the try is recorded")

		a := attemptsOf(t, st, ev.ID)[0]
		assert.False(t, a.Success, "a 200 whose headers exceed the cap is no success")
		assert.Zero(t, a.StatusCode, "the answer was cut off before its status was accepted")
		assert.Contains(t, a.Error, "response headers exceeded")
		assert.True(t, a.RetryScheduled)
		assert.Equal(t, store.DeliveryPending, onlyDelivery(t, st, ev.ID).Status)
	})
}
