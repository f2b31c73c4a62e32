//go:build chaos

package chaos

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// publishers is how many clients publish at once in the load scenarios.
const publishers = 16

// TestHubKilledUnderLoad publishes events with fan-out 2 at a steady rate
// and SIGKILLs the hub at random moments during the load, restarting it on
// the same data directory each time. Publishers retry on connection errors
// (and 503 while a new process starts) with the same idempotency key, so
// each event ends up answered 202 exactly once per id. Every accepted event
// must then reach both receivers with a valid signature; duplicates are
// allowed and counted.
func TestHubKilledUnderLoad(t *testing.T) {
	r := track(t, "a: hub SIGKILL under load")
	rnd := rng(t)
	h := newHub(t, t.TempDir())
	rcvs := []*receiver{newReceiver(t, "first", nil), newReceiver(t, "second", nil)}
	subs := []string{h.subscribe(rcvs[0], shortSchedule), h.subscribe(rcvs[1], shortSchedule)}
	acc := newAccepted()
	n := scale.crashEvents
	r.sent = n

	// Kill when the load has answered a random share of the events, the
	// k-th kill somewhere in the k-th of crashes+1 equal slices (its middle
	// half), so kills spread over the load and never all bunch up.
	var answered atomic.Int64
	targets := make([]int64, scale.crashes)
	slice := float64(n) / float64(scale.crashes+1)
	for k := range targets {
		targets[k] = int64(slice*float64(k+1) + (rnd.Float64()-0.5)*slice/2)
	}

	var (
		connRetries, unavailRetries atomic.Int64
		failMu                      sync.Mutex
		failures                    []string
	)
	work := make(chan int)
	var wg sync.WaitGroup
	for range publishers {
		wg.Go(func() {
			for i := range work {
				giveUp := time.Now().Add(2 * time.Minute)
				for {
					a, err := h.call(context.Background(), http.MethodPost, "/webhook/events", "", eventBody("crash", i))
					switch {
					case time.Now().After(giveUp) && (isDown(err) || a.status == http.StatusServiceUnavailable):
						failMu.Lock()
						failures = append(failures, fmt.Sprintf("event %d: hub unavailable for 2 minutes: %d %v", i, a.status, err))
						failMu.Unlock()
					case isDown(err):
						connRetries.Add(1)
						time.Sleep(20 * time.Millisecond)
						continue
					case err == nil && a.status == http.StatusServiceUnavailable:
						unavailRetries.Add(1)
						time.Sleep(50 * time.Millisecond)
						continue
					case err == nil && a.status == http.StatusAccepted:
						if err := acc.add(fmt.Sprint(i), a.str("data", "id")); err != nil {
							failMu.Lock()
							failures = append(failures, err.Error())
							failMu.Unlock()
						}
					default:
						failMu.Lock()
						failures = append(failures, fmt.Sprintf("event %d: %d %s %v", i, a.status, a.raw, err))
						failMu.Unlock()
					}
					answered.Add(1)
					break
				}
			}
		})
	}

	started := time.Now()
	killerDone := make(chan []time.Duration)
	go func() {
		var kills []time.Duration
		for k, target := range targets {
			for answered.Load() < target {
				time.Sleep(5 * time.Millisecond)
			}
			time.Sleep(time.Duration(rnd.IntN(50)) * time.Millisecond)
			at := time.Since(started)
			h.kill()
			down := time.Duration(rnd.IntN(500)) * time.Millisecond
			time.Sleep(down)
			if err := h.start(); err != nil {
				t.Errorf("restart after kill %d: %v", k+1, err)
				break
			}
			t.Logf("kill %d at %s after %d answers, down %s", k+1, at.Round(time.Millisecond), target, down)
			kills = append(kills, at.Round(100*time.Millisecond))
		}
		killerDone <- kills
	}()

	// Offer the events at the scenario's rate; while the hub is down the
	// publishers are busy retrying and the offer waits for them.
	tick := time.NewTicker(time.Duration(float64(time.Second) / scale.crashRate))
	for i := range n {
		<-tick.C
		work <- i
	}
	tick.Stop()
	close(work)
	wg.Wait()
	loadTook := time.Since(started)
	kills := <-killerDone
	require.Len(t, kills, scale.crashes)
	require.Empty(t, failures, "publishes answered neither 202 nor 503 nor a connection error")

	ids := acc.list()
	r.accepted = len(ids)
	assert.Equal(t, n, len(ids), "every event is accepted in the end: publishers retry until 202")
	waitDelivered(t, r, ids, rcvs...)
	quiet(func() int { return rcvs[0].stats().requests + rcvs[1].stats().requests }, 7*time.Second, time.Minute)
	sumReceivers(t, r, rcvs...)
	for i, sub := range subs {
		logged, err := h.logCount(sub)
		require.NoError(t, err)
		r.triesLogged += logged
		// A try is logged only after its answer came; a kill may lose the
		// log of tries made, never invent one.
		assert.LessOrEqual(t, logged, rcvs[i].stats().requests, "receiver %s: more tries logged than it saw", rcvs[i].name)
	}
	r.note = fmt.Sprintf("fan-out 2, kills at %v of a %s load; publisher retries: %d on connection errors, %d on 503",
		kills, loadTook.Round(100*time.Millisecond), connRetries.Load(), unavailRetries.Load())
}
