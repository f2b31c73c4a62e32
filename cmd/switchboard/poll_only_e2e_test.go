package main

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/examples/polling/tasklistfake"
)

// TestPollOnlyConnectorEndToEnd: a provider without webhooks (the
// examples/polling connector, built and run as a real plugin process)
// works like a pushing one: tasks changed at the fake Tasklist reach a
// subscriber as signed deliveries with event_source "virtual", through the
// hub's own schedule.
func TestPollOnlyConnectorEndToEnd(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	exe := filepath.Join(dir, "switchboard-connector-tasklist")
	out, err := exec.Command("go", "build", "-o", exe, "../../examples/polling").CombinedOutput()
	require.NoError(t, err, "%s", out)
	bin, err := os.ReadFile(exe)
	require.NoError(t, err)
	sum := sha256.Sum256(bin)
	require.NoError(t, os.WriteFile(exe+".sha256", []byte(hex.EncodeToString(sum[:])+"  switchboard-connector-tasklist\n"), 0o644))

	// The hub's mappings plus the example's own (--mappings-dir replaces
	// the built-in set).
	maps := t.TempDir()
	files, err := filepath.Glob("../../mappings/*.json")
	require.NoError(t, err)
	for _, f := range append(files, "../../examples/polling/tasklist.json") {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(maps, filepath.Base(f)), b, 0o644))
	}

	fake := tasklistfake.New("tl-token-1")
	t.Cleanup(fake.Close)
	rcv := newReceiver(t)
	rcv.up.Store(true)
	hub := startHub(t, t.TempDir(), freeAddr(t), "--plugins-dir", dir, "--mappings-dir", maps, "--poll-scan-interval", "200ms")

	code, cat := hub.do(t, http.MethodGet, "/connector/connectors/tasklist", nil)
	require.Equal(t, http.StatusOK, code, cat)
	assert.Equal(t, "virtual", cat["data"].(map[string]any)["webhook_support"].(map[string]any)["mode"])

	code, sub := hub.do(t, http.MethodPost, "/webhook/webhooks", map[string]any{
		"unified_api": "issue-tracking", "status": "enabled", "delivery_url": rcv.srv.URL + "/hook",
		"events": []string{"issue-tracking.ticket.created", "issue-tracking.ticket.updated"},
	})
	require.Equal(t, http.StatusCreated, code, sub)
	rcv.mu.Lock()
	rcv.secret = sub["data"].(map[string]any)["secret"].(string)
	rcv.mu.Unlock()

	code, conn := hub.doAs(t, "acme", http.MethodPost, "/vault/connections", map[string]any{
		"service_id": "tasklist", "settings": map[string]any{"base_url": fake.URL, "poll_interval": 1},
		"credentials": map[string]any{"token": "tl-token-1"},
	})
	require.Equal(t, http.StatusCreated, code, conn)
	connID := conn["data"].(map[string]any)["id"].(string)
	// The scheduler's first poll sets the cursor; changes after it arrive.
	require.Eventually(t, func() bool {
		_, got := hub.doAs(t, "acme", http.MethodGet, "/vault/connections/"+connID, nil)
		return got["data"].(map[string]any)["last_polled_at"] != nil
	}, 30*time.Second, 50*time.Millisecond, "the scheduler never polled the connection")
	time.Sleep(5 * time.Millisecond)

	fake.Set("t1", "Call the customer back", false)
	created := rcv.waitPayload(t, 1)
	assert.Equal(t, "issue-tracking.ticket.created", created["event_type"])
	assert.Equal(t, "task.created", created["downstream_event_type"])
	assert.Equal(t, "tasklist", created["service_id"])
	assert.Equal(t, "virtual", created["event_source"])
	assert.Equal(t, "t1", created["entity_id"])
	assert.Equal(t, connID, created["connection_id"])
	time.Sleep(5 * time.Millisecond)
	fake.Set("t1", "Call the customer back", true)
	updated := rcv.waitPayload(t, 2)
	assert.Equal(t, "issue-tracking.ticket.updated", updated["event_type"])
	assert.Equal(t, "Call the customer back", updated["entity"].(map[string]any)["subject"])
	assert.Equal(t, "closed", updated["entity"].(map[string]any)["status"])
	time.Sleep(1500 * time.Millisecond) // more scheduled polls (a lower bound): no repeats
	assert.Equal(t, map[string]int{"t1": 2}, rcv.entityCounts())
	assert.GreaterOrEqual(t, fake.Lists(), 3)
}
