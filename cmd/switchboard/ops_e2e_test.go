package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestTestSendAndRecoverE2E runs a test send and a bulk recovery through
// the real binary, its River workers and a real receiver: the receiver
// gets the test event, then exactly the events it missed while its
// subscription was disabled, and never again the one it had received.
func TestTestSendAndRecoverE2E(t *testing.T) {
	t.Parallel()
	var (
		mu   sync.Mutex
		got  = map[string]int{} // webhook-id -> deliveries received
		kind = map[string]string{}
	)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev struct {
			Payload struct {
				EventSource string `json:"event_source"`
			} `json:"payload"`
		}
		_ = json.Unmarshal(body, &ev)
		mu.Lock()
		got[r.Header.Get("webhook-id")]++
		kind[r.Header.Get("webhook-id")] = ev.Payload.EventSource
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rcv.Close)
	received := func(id string) int {
		mu.Lock()
		defer mu.Unlock()
		return got[id]
	}

	p := startHub(t, t.TempDir(), freeAddr(t))
	since := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)
	code, res := p.do(t, "POST", "/webhook/webhooks", map[string]any{"unified_api": "accounting", "status": "enabled",
		"events": []string{"accounting.invoice.created"}, "delivery_url": rcv.URL, "consumer_id": "acme"})
	require.Equal(t, http.StatusCreated, code, "%v", res)
	sub := res["data"].(map[string]any)["id"].(string)
	publish := func() string {
		code, res := p.do(t, "POST", "/webhook/events", map[string]any{"event_type": "accounting.invoice.created",
			"consumer_id": "acme", "entity_id": "inv_1"})
		require.Equal(t, http.StatusAccepted, code, "%v", res)
		return res["data"].(map[string]any)["id"].(string)
	}
	first := publish()
	require.Eventually(t, func() bool { return received(first) == 1 }, 20*time.Second, 20*time.Millisecond, "first event not delivered")

	code, res = p.do(t, "POST", "/webhook/webhooks/"+sub+"/test", nil)
	require.Equal(t, http.StatusAccepted, code, "%v", res)
	testEv := res["data"].(map[string]any)["event_id"].(string)
	require.Eventually(t, func() bool { return received(testEv) == 1 }, 20*time.Second, 20*time.Millisecond, "test event not delivered")
	mu.Lock()
	assert.Equal(t, "test", kind[testEv])
	mu.Unlock()

	// Missed while disabled: no delivery to the subscription at all.
	code, res = p.do(t, "PATCH", "/webhook/webhooks/"+sub, map[string]any{"status": "disabled"})
	require.Equal(t, http.StatusOK, code, "%v", res)
	missed := []string{publish(), publish(), publish()}
	code, res = p.do(t, "PATCH", "/webhook/webhooks/"+sub, map[string]any{"status": "enabled"})
	require.Equal(t, http.StatusOK, code, "%v", res)

	code, res = p.do(t, "POST", "/webhook/webhooks/"+sub+"/recover", map[string]any{"since": since, "dry_run": true})
	require.Equal(t, http.StatusOK, code, "%v", res)
	assert.Equal(t, 3.0, res["data"].(map[string]any)["count"], "the missed events only (not the delivered one, not the test send)")
	code, res = p.do(t, "POST", "/webhook/webhooks/"+sub+"/recover", map[string]any{"since": since})
	require.Equal(t, http.StatusAccepted, code, "%v", res)
	rec := res["data"].(map[string]any)["id"].(string)
	require.Eventually(t, func() bool {
		_, res := p.do(t, "GET", "/webhook/recoveries/"+rec, nil)
		return res["data"].(map[string]any)["status"] == "completed"
	}, 20*time.Second, 20*time.Millisecond, "recovery did not complete")
	_, res = p.do(t, "GET", "/webhook/recoveries/"+rec, nil)
	assert.Equal(t, 3.0, res["data"].(map[string]any)["done"])
	require.Eventually(t, func() bool {
		for _, id := range missed {
			if received(id) != 1 {
				return false
			}
		}
		return true
	}, 20*time.Second, 20*time.Millisecond, "missed events not delivered")
	time.Sleep(200 * time.Millisecond) // room for a wrong extra delivery to land
	assert.Equal(t, 1, received(first), "the delivered event was not sent again")
	assert.Equal(t, 1, received(testEv), "the test send was not recovered")
	assert.Contains(t, p.output.String(), "recovery completed")
}
