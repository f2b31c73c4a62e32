//go:build chaos

package chaos

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/connectors/dversum"
)

// connectorPID finds the dVersum connector process under the hub from
// /proc: a live child of the hub started as `connector dversum`.
func connectorPID(hubPID int) int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at its ")".
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(hubPID) || fields[0] == "Z" {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if bytes.Contains(cmdline, []byte("connector\x00dversum")) {
			return pid
		}
	}
	return 0
}

// postDVersum plays dVersum: it signs body with the connection's signing
// secret and posts it to the connection's inbound URL.
func postDVersum(url, secret string, body []byte) (answer, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Webhook-Signature", dversum.Sign(secret, body))
	return do(req)
}

// storedIDs lists the event ids of an inbound answer {data: {events: [{id}]}}.
func storedIDs(a answer) []string {
	data, _ := a.body["data"].(map[string]any)
	events, _ := data["events"].([]any)
	var ids []string
	for _, e := range events {
		ev, _ := e.(map[string]any)
		if id, _ := ev["id"].(string); id != "" {
			ids = append(ids, id)
		}
	}
	return ids
}

// TestConnectorKilledUnderInbound sends signed dVersum webhooks at a steady
// rate while the connector process (a child of the hub) is SIGKILLed again
// and again. Every answer must be 202, after which the event must be
// delivered, or 503 (the connector is restarting), which the sender retries
// like a provider would; no other status, and nothing answered 202 may go
// missing.
func TestConnectorKilledUnderInbound(t *testing.T) {
	r := track(t, "c: connector SIGKILL under inbound load")
	rnd := rng(t)
	h := newHub(t, t.TempDir())
	rcv := newReceiver(t, "steady", nil)
	sub := h.subscribe(rcv, shortSchedule)
	conn := h.must(http.StatusCreated, http.MethodPost, "/vault/connections", "acme", map[string]any{"service_id": "dversum"})
	webhookURL, signing := conn.str("data", "webhook_url"), conn.str("data", "signing_secret")
	require.NotEmpty(t, webhookURL)
	require.NotEmpty(t, signing)

	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "dversum", "invoice.paid.input.json"))
	require.NoError(t, err)
	var sample map[string]any
	require.NoError(t, json.Unmarshal(raw, &sample))
	body := func(i int) []byte {
		// A distinct invoice per event, so each is a distinct provider event.
		sample["data"].(map[string]any)["id"] = fmt.Sprintf("inv_chaos_%d", i)
		// Fresh: the hub refuses signed bodies older than its replay window.
		sample["timestamp"] = time.Now().UTC().Format(time.RFC3339)
		b, err := json.Marshal(sample)
		require.NoError(t, err)
		return b
	}

	acc := newAccepted()
	n := scale.inboundEvents
	r.sent = n
	var (
		unavailable atomic.Int64
		failMu      sync.Mutex
		failures    []string
	)
	type job struct {
		i    int
		body []byte
	}
	work := make(chan job)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for j := range work {
				giveUp := time.Now().Add(2 * time.Minute)
				for {
					a, err := postDVersum(webhookURL, signing, j.body)
					if err == nil && a.status == http.StatusServiceUnavailable && time.Now().Before(giveUp) {
						// A provider would wait Retry-After (5 s); retry sooner to
						// keep the load on the restarting connector.
						unavailable.Add(1)
						if retryAfter(a.header) <= 0 {
							failMu.Lock()
							failures = append(failures, fmt.Sprintf("event %d: 503 without Retry-After", j.i))
							failMu.Unlock()
						}
						time.Sleep(100 * time.Millisecond)
						continue
					}
					if ids := storedIDs(a); err == nil && a.status == http.StatusAccepted && len(ids) == 1 {
						if err := acc.add(fmt.Sprint(j.i), ids[0]); err != nil {
							failMu.Lock()
							failures = append(failures, err.Error())
							failMu.Unlock()
						}
						break
					}
					failMu.Lock()
					failures = append(failures, fmt.Sprintf("event %d: %d %s %v; want 202 with one event or 503", j.i, a.status, a.raw, err))
					failMu.Unlock()
					break
				}
			}
		})
	}

	// Kill the connector whenever it runs again, after a random while; the
	// hub relaunches it with a doubling backoff.
	var loadDone atomic.Bool
	killerDone := make(chan []time.Duration)
	started := time.Now()
	go func() {
		var kills []time.Duration
		for len(kills) < scale.connectorKills && !loadDone.Load() {
			pid := 0
			for pid == 0 && !loadDone.Load() {
				pid = connectorPID(h.pid())
				time.Sleep(10 * time.Millisecond)
			}
			if pid == 0 {
				break
			}
			time.Sleep(time.Duration(200+rnd.IntN(800)) * time.Millisecond)
			if loadDone.Load() {
				break
			}
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				kills = append(kills, time.Since(started).Round(100*time.Millisecond))
			}
			for connectorPID(h.pid()) == pid {
				time.Sleep(5 * time.Millisecond)
			}
		}
		killerDone <- kills
	}()

	tick := time.NewTicker(time.Duration(float64(time.Second) / scale.inboundRate))
	for i := range n {
		b := body(i)
		<-tick.C
		work <- job{i: i, body: b}
	}
	tick.Stop()
	close(work)
	wg.Wait()
	loadDone.Store(true)
	loadTook := time.Since(started)
	kills := <-killerDone
	require.Empty(t, failures)
	require.Len(t, kills, scale.connectorKills, "every kill lands during the load")
	require.False(t, h.exited(), "the hub died with its connector")

	ids := acc.list()
	r.accepted = len(ids)
	assert.Equal(t, n, len(ids), "every webhook is accepted in the end")
	waitDelivered(t, r, ids, rcv)
	quiet(func() int { return rcv.stats().requests }, 3*time.Second, 30*time.Second)
	sumReceivers(t, r, rcv)
	r.triesLogged, err = h.logCount(sub)
	require.NoError(t, err)
	r.note = fmt.Sprintf("%d connector kills at %v of a %s load; %d answers were 503 (retried), none other than 202/503",
		len(kills), kills, loadTook.Round(100*time.Millisecond), unavailable.Load())
}
