package hub

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/secret"
	"github.com/switchboardhq/switchboard/hub/signature"
	"github.com/switchboardhq/switchboard/hub/store/postgres/pgtest"
	"github.com/switchboardhq/switchboard/plugins/host"
)

// node is one running hub process's worth of hub, in this test process.
type node struct {
	addr string
	stop func() error
}

func startNode(t *testing.T, cfg Config) *node {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h, err := Open(ctx, cfg, nil, nil)
	require.NoError(t, err)
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx, func(addr string) { ready <- addr }) }()
	n := &node{}
	select {
	case n.addr = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("node did not start: %v", err)
	}
	var once sync.Once
	var runErr error
	n.stop = func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}
	t.Cleanup(func() { _ = n.stop() })
	return n
}

// call sends a JSON request with the test's key and decodes the answer.
func (n *node) call(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, "http://"+n.addr+path, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil {
		require.NoError(t, json.Unmarshal(raw, out), "%s %s: %s", method, path, raw)
	}
	return resp.StatusCode
}

// TestNodesShareOnePostgreSQLDatabase runs two hubs on one PostgreSQL
// database, as two `switchboard serve --database-url` nodes would: what one
// node stores the other serves, events published to either are each
// delivered exactly once, correctly signed, and the shared log holds every
// try.
func TestNodesShareOnePostgreSQLDatabase(t *testing.T) {
	t.Parallel()
	db := pgtest.NewDatabase(t)
	raw := make([]byte, secret.KeySize)
	_, err := rand.Read(raw)
	require.NoError(t, err)
	key := hex.EncodeToString(raw) // SWITCHBOARD_MASTER_KEY, the same on every node
	cfg := func() Config {
		return Config{
			Addr: "127.0.0.1:0", DataDir: t.TempDir(), DatabaseURL: db, MasterKey: key,
			APIKey: testAPIKey, AllowPrivateDestinations: true,
			// No connectors: re-executing the test binary would rerun the tests.
			Connectors: map[string]host.Command{},
		}
	}
	nodes := []*node{startNode(t, cfg()), startNode(t, cfg())}

	var (
		mu      sync.Mutex
		arrived = map[string]int{}
		bad     int
		sigKey  string
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if signature.Verify(sigKey, r.Header, body, time.Minute, time.Now()) != nil {
			bad++
		}
		arrived[r.Header.Get("webhook-id")]++
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)

	var sub struct {
		Data struct{ ID, Secret string } `json:"data"`
	}
	require.Equal(t, http.StatusCreated, nodes[0].call(t, http.MethodPost, "/webhook/webhooks", map[string]any{
		"unified_api": "accounting", "status": "enabled", "delivery_url": rcv.URL, "events": []string{"*"},
	}, &sub))
	mu.Lock()
	sigKey = sub.Data.Secret
	mu.Unlock()
	var got struct {
		Data struct {
			DeliveryURL string `json:"delivery_url"`
		} `json:"data"`
	}
	require.Equal(t, http.StatusOK, nodes[1].call(t, http.MethodGet, "/webhook/webhooks/"+sub.Data.ID, nil, &got))
	assert.Equal(t, rcv.URL, got.Data.DeliveryURL, "a subscription made on one node is served by the other")

	const events = 200
	ids := make([]string, events)
	var wg sync.WaitGroup
	for i := range events {
		wg.Go(func() {
			var res struct {
				Data struct{ ID string } `json:"data"`
			}
			code := nodes[i%2].call(t, http.MethodPost, "/webhook/events", map[string]any{
				"event_type": "accounting.invoice.created", "consumer_id": "acme", "entity_id": fmt.Sprintf("inv_%d", i),
				"entity": map[string]any{"number": fmt.Sprintf("RE-%06d", i)},
			}, &res)
			assert.Equal(t, http.StatusAccepted, code)
			ids[i] = res.Data.ID
		})
	}
	wg.Wait()

	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(arrived) == events
	}, time.Minute, 20*time.Millisecond, "every event reaches the receiver")
	// Give a stray second try the time to show up before counting.
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	for _, id := range ids {
		assert.Equal(t, 1, arrived[id], "event %s delivered exactly once", id)
	}
	assert.Zero(t, bad, "every delivery verifies with the subscription's secret")
	mu.Unlock()

	// The attempt log is shared: either node lists every try once its
	// outcome is written (just after the receiver answered).
	for _, n := range nodes {
		logged := func() int {
			total := 0
			q := url.Values{"limit": {"200"}, "filter[subscription_id]": {sub.Data.ID}}
			for {
				var page struct {
					Data []struct {
						Success bool `json:"success"`
					} `json:"data"`
					Meta struct {
						Cursors struct{ Next string } `json:"cursors"`
					} `json:"meta"`
				}
				require.Equal(t, http.StatusOK, n.call(t, http.MethodGet, "/webhook/logs?"+q.Encode(), nil, &page))
				for _, e := range page.Data {
					assert.True(t, e.Success)
				}
				total += len(page.Data)
				if page.Meta.Cursors.Next == "" || len(page.Data) == 0 {
					return total
				}
				q.Set("cursor", page.Meta.Cursors.Next)
			}
		}
		require.Eventually(t, func() bool { return logged() == events }, time.Minute, 50*time.Millisecond,
			"node %s lists every try", n.addr)
	}

	for _, n := range nodes {
		require.NoError(t, n.stop())
	}
}

// TestMain drops the PostgreSQL template database the tests copied from.
func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }
