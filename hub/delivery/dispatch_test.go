package delivery_test

import (
	"context"
	"database/sql"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/delivery"
	"github.com/switchboardhq/switchboard/hub/store"
)

// fanoutJobs counts the job.Fanout rows River ever held in the database at
// path (finished jobs are kept for minutes).
func fanoutJobs(t *testing.T, path string) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.QueryRowContext(t.Context(), `SELECT count(*) FROM river_job WHERE kind = 'fanout'`).Scan(&n))
	return n
}

// hold is a receiver whose first request blocks until release is closed
// (or the request is abandoned); later requests get 204 at once.
func hold(release <-chan struct{}) *recorder {
	return &recorder{handlers: []http.HandlerFunc{
		func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
				w.WriteHeader(http.StatusNoContent)
			case <-r.Context().Done():
			}
		},
		answer(http.StatusNoContent),
	}}
}

func TestDispatcherMakesFirstTryWithoutQueueJob(t *testing.T) {
	t.Parallel()
	rc := &recorder{}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	st, path := openStore(t)
	disp, _ := startQueue(t, st, delivery.Config{}, true, 0)
	sub := subscribe(t, st, srv.URL+"/hook", nil)

	ev, n := publish(t, st)
	require.Equal(t, 1, n)
	require.Eventually(t, func() bool {
		return onlyDelivery(t, st, ev.ID).Status == store.DeliveryDelivered
	}, waitFor, tick)
	reqs := rc.requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, 1, verifyIndependently(t, sub.Secret, reqs[0].Header, reqs[0].Body))
	as := attemptsOf(t, st, ev.ID)
	require.Len(t, as, 1, "the try is in the log")
	assert.Equal(t, http.StatusNoContent, as[0].StatusCode)
	assert.Equal(t, 0, fanoutJobs(t, path), "no queue job for a first try the dispatcher made")
	require.Eventually(t, func() bool { return disp.InFlight() == 0 }, waitFor, tick)
}

func TestDispatcherFailedFirstTryRetriesThroughQueue(t *testing.T) {
	t.Parallel()
	rc := &recorder{handlers: []http.HandlerFunc{answer(500), answer(200)}}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	st, path := openStore(t)
	startQueue(t, st, delivery.Config{}, true, 0)
	subscribe(t, st, srv.URL+"/hook", []int{1})

	ev, _ := publish(t, st)
	require.Eventually(t, func() bool {
		return onlyDelivery(t, st, ev.ID).Status == store.DeliveryDelivered
	}, waitFor, tick, "delivered by the retry job")
	assert.Len(t, rc.requests(), 2)
	assert.Equal(t, 2, onlyDelivery(t, st, ev.ID).Attempts)
	assert.Equal(t, 0, fanoutJobs(t, path))
}

func TestDispatcherFullSendsEventsThroughQueue(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	rc := hold(release)
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	st, path := openStore(t)
	disp, _ := startQueue(t, st, delivery.Config{}, true, 1)
	subscribe(t, st, srv.URL+"/hook", nil)

	held, _ := publish(t, st) // takes the dispatcher's one place, and hangs
	require.Eventually(t, func() bool { return len(rc.requests()) == 1 }, waitFor, tick)
	queued, _ := publish(t, st)
	require.Eventually(t, func() bool {
		return onlyDelivery(t, st, queued.ID).Status == store.DeliveryDelivered
	}, waitFor, tick, "the second event went through the queue while the first was held")
	assert.Equal(t, 1, fanoutJobs(t, path), "one queue job: the second event's")
	assert.Equal(t, store.DeliveryPending, onlyDelivery(t, st, held.ID).Status)
	assert.Equal(t, 1, disp.InFlight())

	close(release)
	require.Eventually(t, func() bool {
		return onlyDelivery(t, st, held.ID).Status == store.DeliveryDelivered
	}, waitFor, tick)
	require.Eventually(t, func() bool { return disp.InFlight() == 0 }, waitFor, tick)
}

func TestDispatcherStopLeavesUntriedDeliveriesForTheNextStart(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	defer close(release)
	rc := hold(release)
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	st, _ := openStore(t)
	_, stop := startQueue(t, st, delivery.Config{}, true, 0)
	subscribe(t, st, srv.URL+"/hook", nil)

	ev, _ := publish(t, st)
	require.Eventually(t, func() bool { return len(rc.requests()) == 1 }, waitFor, tick)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, stop(ctx), context.DeadlineExceeded, "the held try outlives the stop timeout")
	d := onlyDelivery(t, st, ev.ID)
	assert.Equal(t, store.DeliveryPending, d.Status, "the abandoned try is not recorded")
	assert.Equal(t, 0, d.Attempts)

	// The next start queues the untried delivery; the receiver now answers.
	startQueue(t, st, delivery.Config{}, true, 0)
	require.Eventually(t, func() bool {
		return onlyDelivery(t, st, ev.ID).Status == store.DeliveryDelivered
	}, waitFor, tick, "delivered after the restart")
	assert.Len(t, rc.requests(), 2, "the abandoned try and the one after the restart")
	assert.Len(t, attemptsOf(t, st, ev.ID), 1, "only the finished try is logged")
}
