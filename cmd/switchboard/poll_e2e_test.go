package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/connectors/vplan/vplanfake"
	"github.com/switchboardhq/switchboard/hub/store/postgres/pgtest"
)

const pollKey, pollEnv = "vp_poll_key_9c1e", "vp_poll_env_4b2a"

// pollSetup is a hub with a subscriber to tickets and a vPlan connection
// against a fake vPlan, polling off (the tests poll by hand or switch it
// on).
type pollSetup struct {
	hub    *hubProcess
	fake   *vplanfake.Server
	rcv    *receiver
	connID string
}

func newPollSetup(t *testing.T, hub *hubProcess, fake *vplanfake.Server) *pollSetup {
	t.Helper()
	rcv := newReceiver(t)
	rcv.up.Store(true)
	code, sub := hub.do(t, http.MethodPost, "/webhook/webhooks", map[string]any{
		"unified_api": "issue-tracking", "status": "enabled", "delivery_url": rcv.srv.URL + "/hook",
		"events": []string{"issue-tracking.ticket.created", "issue-tracking.ticket.updated"},
	})
	require.Equal(t, http.StatusCreated, code, sub)
	rcv.mu.Lock()
	rcv.secret = sub["data"].(map[string]any)["secret"].(string)
	rcv.mu.Unlock()
	code, conn := hub.doAs(t, "acme", http.MethodPost, "/vault/connections", map[string]any{
		"service_id":  "vplan",
		"settings":    pollSettings(fake, false, 10),
		"credentials": map[string]any{"api_key": pollKey, "api_env": pollEnv},
	})
	require.Equal(t, http.StatusCreated, code, conn)
	return &pollSetup{hub: hub, fake: fake, rcv: rcv, connID: conn["data"].(map[string]any)["id"].(string)}
}

func pollSettings(fake *vplanfake.Server, polling bool, interval int) map[string]any {
	return map[string]any{"base_url": fake.URL, "event_types": []string{"card.created", "card.updated"},
		"polling": polling, "poll_interval": interval}
}

// pollNow runs POST /vault/connections/{id}/poll.
func (s *pollSetup) pollNow(t *testing.T) (int, map[string]any) {
	t.Helper()
	return s.hub.doAs(t, "acme", http.MethodPost, "/vault/connections/"+s.connID+"/poll", nil)
}

// entityCounts counts the deliveries the receiver verified per entity id.
func (r *receiver) entityCounts() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for _, p := range r.payloads {
		out[fmt.Sprint(p["entity_id"])]++
	}
	return out
}

// TestVirtualWebhooksReconcileVPlan: the real binary reconciles a vPlan
// connection. A change vPlan pushes is delivered once (its polled copy is
// a duplicate), a change whose webhook vPlan forgot is delivered exactly
// once by the poll (event_source virtual), poll settings are checked, and
// the connection shows its poll state.
func TestVirtualWebhooksReconcileVPlan(t *testing.T) {
	t.Parallel()
	fake := vplanfake.New(pollKey, pollEnv)
	t.Cleanup(fake.Close)
	hub := startHub(t, t.TempDir(), freeAddr(t), "--poll-scan-interval", "200ms")

	// Below the connector's minimum: a clear 422.
	code, bad := hub.doAs(t, "acme", http.MethodPost, "/vault/connections", map[string]any{
		"service_id": "vplan", "settings": pollSettings(fake, true, 5),
		"credentials": map[string]any{"api_key": pollKey, "api_env": pollEnv},
	})
	require.Equal(t, http.StatusUnprocessableEntity, code, bad)
	assert.Contains(t, fmt.Sprint(bad), "poll_interval")
	assert.Contains(t, fmt.Sprint(bad), "minimum of 10 seconds")

	s := newPollSetup(t, hub, fake)
	code, first := s.pollNow(t)
	require.Equal(t, http.StatusOK, code, first)
	assert.EqualValues(t, 0, first["data"].(map[string]any)["events_found"], "the first poll sets the cursor")
	time.Sleep(5 * time.Millisecond) // changes come after the cursor (a lower bound)

	sent, _, err := fake.Change(t.Context(), "card.updated", func(d map[string]any) { d["id"] = "card-pushed" })
	require.NoError(t, err)
	require.Len(t, sent, 1)
	require.NoError(t, sent[0].Err)
	pushed := s.rcv.waitPayload(t, 1)
	assert.Equal(t, "native", pushed["event_source"])

	fake.Forget(1)
	sent, _, err = fake.Change(t.Context(), "card.updated", func(d map[string]any) { d["id"] = "card-forgotten" })
	require.NoError(t, err)
	require.ErrorIs(t, sent[0].Err, vplanfake.ErrForgotten)

	code, res := s.pollNow(t)
	require.Equal(t, http.StatusOK, code, res)
	data := res["data"].(map[string]any)
	assert.EqualValues(t, 2, data["events_found"])
	assert.EqualValues(t, 1, data["events_stored"], "only the forgotten change is new")
	assert.EqualValues(t, 1, data["duplicates"], "the pushed change's polled copy is a duplicate")
	polled := s.rcv.waitPayload(t, 2)
	assert.Equal(t, "virtual", polled["event_source"])
	assert.Equal(t, "card-forgotten", polled["entity_id"])
	assert.Equal(t, "issue-tracking.ticket.updated", polled["event_type"])

	// Polling again finds nothing new; after a grace period (a lower
	// bound) each change was delivered exactly once.
	code, res = s.pollNow(t)
	require.Equal(t, http.StatusOK, code, res)
	assert.EqualValues(t, 0, res["data"].(map[string]any)["events_stored"])
	time.Sleep(500 * time.Millisecond)
	assert.Equal(t, map[string]int{"card-pushed": 1, "card-forgotten": 1}, s.rcv.entityCounts())

	code, got := hub.doAs(t, "acme", http.MethodGet, "/vault/connections/"+s.connID, nil)
	require.Equal(t, http.StatusOK, code, got)
	conn := got["data"].(map[string]any)
	assert.Equal(t, false, conn["polling"])
	assert.EqualValues(t, 10, conn["poll_interval"])
	assert.Equal(t, "", conn["poll_error"])
	assert.NotEmpty(t, conn["last_polled_at"])
	assert.GreaterOrEqual(t, conn["cursor_age_seconds"], float64(0))
	assert.Nil(t, conn["next_poll_at"])
}

// TestVirtualWebhooksHonourRetryAfter: a 429 with Retry-After from vPlan
// is shown on the connection, and the scheduler polls again no sooner.
func TestVirtualWebhooksHonourRetryAfter(t *testing.T) {
	t.Parallel()
	fake := vplanfake.New(pollKey, pollEnv)
	t.Cleanup(fake.Close)
	hub := startHub(t, t.TempDir(), freeAddr(t), "--poll-scan-interval", "200ms")
	s := newPollSetup(t, hub, fake)
	code, res := s.pollNow(t)
	require.Equal(t, http.StatusOK, code, res)

	const retryAfter = 3 * time.Second
	fake.RateLimit(1, retryAfter)
	code, res = s.pollNow(t)
	require.Equal(t, http.StatusTooManyRequests, code, res)
	calls := fake.ListCalls()
	require.Equal(t, http.StatusTooManyRequests, calls[len(calls)-1].Status)
	limitedAt := calls[len(calls)-1].At

	code, got := hub.doAs(t, "acme", http.MethodGet, "/vault/connections/"+s.connID, nil)
	require.Equal(t, http.StatusOK, code)
	conn := got["data"].(map[string]any)
	assert.Contains(t, conn["poll_error"], "429")
	assert.NotEmpty(t, conn["next_poll_at"], "the poll is held back until the Retry-After")

	// Switch polling on: the scheduler's first poll waits for the Retry-After.
	code, upd := hub.doAs(t, "acme", http.MethodPatch, "/vault/connections/"+s.connID, map[string]any{
		"settings": pollSettings(fake, true, 10)})
	require.Equal(t, http.StatusOK, code, upd)
	require.Eventually(t, func() bool { return len(fake.ListCalls()) > len(calls) }, 30*time.Second, 20*time.Millisecond,
		"the scheduler did not poll after the Retry-After")
	next := fake.ListCalls()[len(calls)]
	assert.Equal(t, http.StatusOK, next.Status)
	assert.GreaterOrEqual(t, next.At.Sub(limitedAt), retryAfter-time.Second, // Retry-After is whole seconds, the hub's clock ms
		"polled %s after the 429, before its Retry-After of %s", next.At.Sub(limitedAt), retryAfter)
	code, got = hub.doAs(t, "acme", http.MethodGet, "/vault/connections/"+s.connID, nil)
	require.Equal(t, http.StatusOK, code)
	require.Eventually(t, func() bool {
		_, got = hub.doAs(t, "acme", http.MethodGet, "/vault/connections/"+s.connID, nil)
		return got["data"].(map[string]any)["poll_error"] == ""
	}, 10*time.Second, 50*time.Millisecond, "a successful poll clears poll_error")
}

// TestKilledHubMidPollLosesAndDuplicatesNothing: the hub is SIGKILLed
// while a scheduled poll waits for vPlan's answer; after a restart the
// changes of that poll are delivered, each exactly once.
func TestKilledHubMidPollLosesAndDuplicatesNothing(t *testing.T) {
	t.Parallel()
	fake := vplanfake.New(pollKey, pollEnv)
	t.Cleanup(fake.Close)
	dataDir, addr := t.TempDir(), freeAddr(t)
	args := []string{"--poll-scan-interval", "200ms", "--poll-timeout", "4s"}
	hubA := startHub(t, dataDir, addr, args...)
	s := newPollSetup(t, hubA, fake)
	code, res := s.pollNow(t)
	require.Equal(t, http.StatusOK, code, res)
	time.Sleep(5 * time.Millisecond)

	const n = 5
	fake.Forget(n)
	for i := range n {
		_, _, err := fake.Change(t.Context(), "card.updated", func(d map[string]any) { d["id"] = "card-" + strconv.Itoa(i) })
		require.NoError(t, err)
	}
	require.Equal(t, n, fake.Forgotten())

	// The scheduler's poll hangs at vPlan; the hub dies under it.
	fake.SlowLists(3 * time.Second)
	code, upd := hubA.doAs(t, "acme", http.MethodPatch, "/vault/connections/"+s.connID, map[string]any{
		"settings": pollSettings(fake, true, 10)})
	require.Equal(t, http.StatusOK, code, upd)
	require.Eventually(t, func() bool { return fake.MaxConcurrentLists() >= 1 }, 30*time.Second, 10*time.Millisecond)
	require.NoError(t, hubA.cmd.Process.Signal(syscall.SIGKILL))
	<-hubA.done
	assert.Empty(t, s.rcv.entityCounts(), "nothing was stored before the kill")

	fake.SlowLists(0)
	s.hub = startHub(t, dataDir, addr, args...)
	require.Eventually(t, func() bool { return len(s.rcv.entityCounts()) == n }, 60*time.Second, 50*time.Millisecond,
		"the changes of the poll cut off by the kill were not delivered after the restart")
	code, res = s.pollNow(t)
	require.Contains(t, []int{http.StatusOK, http.StatusConflict}, code, res)
	time.Sleep(500 * time.Millisecond) // a lower bound: late duplicates would show up here
	want := map[string]int{}
	for i := range n {
		want["card-"+strconv.Itoa(i)] = 1
	}
	assert.Equal(t, want, s.rcv.entityCounts(), "each change delivered exactly once")
}

// TestTwoPostgreSQLNodesNeverPollOneConnectionAtOnce: two hubs share one
// PostgreSQL database; their schedulers and a burst of manual polls sent to
// both never make vPlan answer two polls of the connection at once (the
// fake counts concurrent list calls), and the polls' changes are delivered
// once.
func TestTwoPostgreSQLNodesNeverPollOneConnectionAtOnce(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	raw := make([]byte, 32)
	_, err := rand.Read(raw)
	require.NoError(t, err)
	env := []string{"SWITCHBOARD_MASTER_KEY=" + hex.EncodeToString(raw)}
	args := []string{"--database-url", db, "--poll-scan-interval", "200ms"}
	nodeA := startHubEnv(t, t.TempDir(), freeAddr(t), env, args...)
	nodeB := startHubEnv(t, t.TempDir(), freeAddr(t), env, args...)
	fake := vplanfake.New(pollKey, pollEnv)
	t.Cleanup(fake.Close)
	s := newPollSetup(t, nodeA, fake)
	code, res := s.pollNow(t)
	require.Equal(t, http.StatusOK, code, res)
	time.Sleep(5 * time.Millisecond)
	fake.Forget(3)
	for i := range 3 {
		_, _, err := fake.Change(t.Context(), "card.updated", func(d map[string]any) { d["id"] = "pg-card-" + strconv.Itoa(i) })
		require.NoError(t, err)
	}

	// Both schedulers poll it, and manual polls hit both nodes at once.
	fake.SlowLists(150 * time.Millisecond)
	code, upd := nodeB.doAs(t, "acme", http.MethodPatch, "/vault/connections/"+s.connID, map[string]any{
		"settings": pollSettings(fake, true, 10)})
	require.Equal(t, http.StatusOK, code, upd)
	var (
		mu    sync.Mutex
		codes = map[int]int{}
		wg    sync.WaitGroup
	)
	for i := range 16 {
		node := []*hubProcess{nodeA, nodeB}[i%2]
		wg.Go(func() {
			code, _ := node.doAs(t, "acme", http.MethodPost, "/vault/connections/"+s.connID+"/poll", nil)
			mu.Lock()
			codes[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	assert.Positive(t, codes[http.StatusConflict], "some polls found another running: %v", codes)
	assert.Equal(t, 16, codes[http.StatusOK]+codes[http.StatusConflict], "polls answer 200 or 409: %v", codes)
	require.Eventually(t, func() bool { return len(s.rcv.entityCounts()) == 3 }, 60*time.Second, 50*time.Millisecond)
	time.Sleep(500 * time.Millisecond) // a lower bound: late duplicates would show up here
	assert.Equal(t, 1, fake.MaxConcurrentLists(), "two polls of one connection ran at once")
	assert.Equal(t, map[string]int{"pg-card-0": 1, "pg-card-1": 1, "pg-card-2": 1}, s.rcv.entityCounts())
}
