//go:build chaos

package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/store/postgres/pgtest"
)

// TestNodeKilledUnderLoad runs two hubs on one PostgreSQL database and
// publishes to both, with fan-out 2, while the first is SIGKILLed; it is
// started again only after the load was delivered. Each node makes the
// first tries of what it accepted, in process, so the killed node may leave
// committed deliveries nobody is trying: the live node's periodic sweep
// must queue them (the killed node's advisory lock ends with its session). Publishers that find their node
// down retry the same event, with the same idempotency key, on the other
// node. Every accepted event must reach both receivers with a valid
// signature; duplicates are allowed and counted.
func TestNodeKilledUnderLoad(t *testing.T) {
	r := track(t, "f: PostgreSQL node SIGKILL under load")
	rnd := rng(t)
	url := pgtest.NewDatabase(t)
	key := make([]byte, 32)
	_, err := rand.Read(key)
	require.NoError(t, err)
	env := []string{"SWITCHBOARD_MASTER_KEY=" + hex.EncodeToString(key)}
	nodes := []*hubProc{
		newHubEnv(t, t.TempDir(), env, "--database-url", url),
		newHubEnv(t, t.TempDir(), env, "--database-url", url),
	}
	rcvs := []*receiver{newReceiver(t, "first", nil), newReceiver(t, "second", nil)}
	// Answers that take a while keep first tries in flight, for the kill to
	// cut off.
	for _, rcv := range rcvs {
		rcv.delay.Store(int64(300 * time.Millisecond))
	}
	subs := []string{nodes[1].subscribe(rcvs[0], shortSchedule), nodes[1].subscribe(rcvs[1], shortSchedule)}
	acc := newAccepted()
	n := scale.crashEvents
	r.sent = n

	var (
		answered, failovers atomic.Int64
		failMu              sync.Mutex
		failures            []string
	)
	fail := func(format string, args ...any) {
		failMu.Lock()
		defer failMu.Unlock()
		failures = append(failures, fmt.Sprintf(format, args...))
	}
	work := make(chan int)
	var wg sync.WaitGroup
	for range publishers {
		wg.Go(func() {
			for i := range work {
				giveUp := time.Now().Add(2 * time.Minute)
				for try := 0; ; try++ {
					h := nodes[(i+try)%2]
					a, err := h.call(context.Background(), http.MethodPost, "/webhook/events", "", eventBody("nodes", i))
					switch {
					case time.Now().After(giveUp):
						fail("event %d: no node accepted it for 2 minutes: %d %v", i, a.status, err)
					case isDown(err) || err == nil && a.status == http.StatusServiceUnavailable:
						failovers.Add(1)
						time.Sleep(20 * time.Millisecond)
						continue
					case err == nil && a.status == http.StatusAccepted:
						if err := acc.add(fmt.Sprint(i), a.str("data", "id")); err != nil {
							fail("%v", err)
						}
					default:
						fail("event %d: %d %s %v", i, a.status, a.raw, err)
					}
					answered.Add(1)
					break
				}
			}
		})
	}

	// Kill the first node somewhere in the second quarter of the load. It
	// stays down until its accepted events were delivered: by the other
	// node, whose sweep finds the deliveries it left (every 15 s).
	started := time.Now()
	killAt := int64(float64(n) * (0.25 + rnd.Float64()/4))
	killed := make(chan struct{})
	go func() {
		defer close(killed)
		for answered.Load() < killAt {
			time.Sleep(5 * time.Millisecond)
		}
		nodes[0].kill()
		t.Logf("node 1 killed at %s after %d answers", time.Since(started).Round(time.Millisecond), killAt)
	}()

	tick := time.NewTicker(time.Duration(float64(time.Second) / scale.crashRate))
	for i := range n {
		<-tick.C
		work <- i
	}
	tick.Stop()
	close(work)
	wg.Wait()
	<-killed
	require.Empty(t, failures, "publishes answered neither 202 nor 503 nor a connection error")

	ids := acc.list()
	r.accepted = len(ids)
	assert.Equal(t, n, len(ids), "every event is accepted in the end: publishers retry until 202")
	waitDelivered(t, r, ids, rcvs...)
	// The tries the kill cut off reached the receivers (they are slow, not
	// lost) but were never recorded: those deliveries are still untried in
	// the dead node's name, and the live node's sweep queues them again.
	eventually(t, time.Minute, "the live node's sweep queues the dead node's untried deliveries", func() (bool, string) {
		return nodes[1].logContains("queued the first try of deliveries a stopped node left untried"), "not in node 2's log"
	})
	require.NoError(t, nodes[0].start(), "the killed node starts again")
	quiet(func() int { return rcvs[0].stats().requests + rcvs[1].stats().requests }, 7*time.Second, time.Minute)
	sumReceivers(t, r, rcvs...)
	for i, sub := range subs {
		logged, err := nodes[1].logCount(sub)
		require.NoError(t, err)
		r.triesLogged += logged
		// A try is logged only after its answer came; a kill may lose the
		// log of tries made, never invent one.
		assert.LessOrEqual(t, logged, rcvs[i].stats().requests, "receiver %s: more tries logged than it saw", rcvs[i].name)
	}
	r.note = fmt.Sprintf("two nodes, fan-out 2, receivers answer in 300 ms; node 1 killed after %d answers, its untried deliveries queued by node 2's sweep, node 1 started after that; %d publishes retried on the other node",
		killAt, failovers.Load())
}
