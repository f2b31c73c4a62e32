package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/connectors/dversum"
)

// childPIDs lists the processes whose parent is pid, from /proc.
func childPIDs(t *testing.T, pid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var out []int
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at its ")".
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// connectorPID returns the pid of the hub's plugin process for connector id,
// recognised by its command line (`switchboard connector <id>`).
func connectorPID(t *testing.T, hubPID int, id string) int {
	t.Helper()
	var found []int
	for _, pid := range childPIDs(t, hubPID) {
		cmdline, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if len(args) >= 3 && args[len(args)-2] == "connector" && args[len(args)-1] == id {
			found = append(found, pid)
		}
	}
	require.Len(t, found, 1, "one %s connector process under the hub", id)
	return found[0]
}

func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	// A zombie is dead for our purposes.
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}

// postSigned sends a dVersum webhook to an inbound URL.
func postSigned(t *testing.T, url, signingSecret string, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Webhook-Signature", dversum.Sign(signingSecret, body))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// dversumSample is a dVersum webhook body from the golden inputs, with its
// entity id replaced so each sample is a distinct provider event and its
// timestamp set to now (the hub refuses signed bodies older than its replay
// window, and the samples are from 2024).
func dversumSample(t *testing.T, event, id string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "testdata", "dversum", event+".input.json"))
	require.NoError(t, err)
	var body map[string]any
	require.NoError(t, json.Unmarshal(raw, &body))
	body["data"].(map[string]any)["id"] = id
	body["timestamp"] = time.Now().UTC().Format(time.RFC3339)
	out, err := json.Marshal(body)
	require.NoError(t, err)
	return out
}

func TestDVersumWebhookReachesSubscriberThroughPluginProcess(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	rcv.up.Store(true)
	hub := startHub(t, t.TempDir(), freeAddr(t))

	code, sub := hub.do(t, http.MethodPost, "/webhook/webhooks", map[string]any{
		"unified_api": "accounting", "status": "enabled", "delivery_url": rcv.srv.URL + "/hook",
		"events": []string{"accounting.invoice.updated"},
	})
	require.Equal(t, http.StatusCreated, code, sub)
	rcv.mu.Lock()
	rcv.secret = sub["data"].(map[string]any)["secret"].(string)
	rcv.mu.Unlock()

	code, conn := hub.doAs(t, "acme", http.MethodPost, "/vault/connections", map[string]any{"service_id": "dversum"})
	require.Equal(t, http.StatusCreated, code, conn)
	data := conn["data"].(map[string]any)
	webhookURL, signing := data["webhook_url"].(string), data["signing_secret"].(string)
	require.True(t, strings.HasPrefix(webhookURL, "http://"+hub.addr+"/webhook/inbound/dversum/"), webhookURL)

	// One signed dVersum "invoice.paid" in, one verified unified event out.
	code, res := postSigned(t, webhookURL, signing, dversumSample(t, "invoice.paid", "inv_e2e_1"))
	require.Equal(t, http.StatusAccepted, code, res)
	payload := rcv.waitPayload(t, 1)
	require.Equal(t, "accounting.invoice.paid", payload["event_type"])
	require.Equal(t, "accounting.invoice.updated", payload["base_event_type"])
	require.Equal(t, "inv_e2e_1", payload["entity_id"])
	require.Equal(t, "acme", payload["consumer_id"])
	require.Equal(t, data["id"], payload["connection_id"])
	entity := payload["entity"].(map[string]any)
	require.NotNil(t, entity["total"])
	require.Equal(t, "EUR", entity["currency"])

	// kill -9 the connector: inbound answers 503 (never 2xx) until it is
	// restarted, then the next event goes all the way through.
	plugin := connectorPID(t, hub.cmd.Process.Pid, "dversum")
	require.NoError(t, syscall.Kill(plugin, syscall.SIGKILL))
	accepted := false
	require.Eventually(t, func() bool {
		code, _ := postSigned(t, webhookURL, signing, dversumSample(t, "invoice.paid", "inv_e2e_2"))
		require.Contains(t, []int{http.StatusAccepted, http.StatusServiceUnavailable}, code)
		accepted = code == http.StatusAccepted
		return accepted
	}, 20*time.Second, 20*time.Millisecond, "the connector was not restarted")
	restarted := connectorPID(t, hub.cmd.Process.Pid, "dversum")
	require.NotEqual(t, plugin, restarted, "a new connector process")
	second := rcv.waitPayload(t, 2)
	require.Equal(t, "inv_e2e_2", second["entity_id"])

	// Operators see the crash in the metrics.
	resp, err := http.Get("http://" + hub.addr + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(metrics), `switchboard_connector_restarts_total{connector="dversum"} 1`)
	require.Contains(t, string(metrics), `switchboard_connector_up{connector="dversum",state="running"} 1`)
	require.Contains(t, string(metrics), `switchboard_inbound_requests_total{result="accepted",service="dversum"}`)

	// kill -9 the hub: its connector processes die with it.
	children := childPIDs(t, hub.cmd.Process.Pid)
	require.NotEmpty(t, children)
	require.NoError(t, hub.cmd.Process.Signal(syscall.SIGKILL))
	<-hub.done
	for _, pid := range children {
		require.Eventually(t, func() bool { return !alive(pid) }, 10*time.Second, 20*time.Millisecond,
			"connector process %d outlived the killed hub", pid)
	}
}

func TestSendTestEventPlaysTheProvider(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t)
	rcv.up.Store(true)
	dataDir := t.TempDir()
	hub := startHub(t, dataDir, freeAddr(t))

	code, sub := hub.do(t, http.MethodPost, "/webhook/webhooks", map[string]any{
		"unified_api": "accounting", "status": "enabled", "delivery_url": rcv.srv.URL, "events": []string{"*"},
	})
	require.Equal(t, http.StatusCreated, code, sub)
	rcv.mu.Lock()
	rcv.secret = sub["data"].(map[string]any)["secret"].(string)
	rcv.mu.Unlock()
	code, conn := hub.doAs(t, "acme", http.MethodPost, "/vault/connections", map[string]any{"service_id": "dversum"})
	require.Equal(t, http.StatusCreated, code, conn)
	connID := conn["data"].(map[string]any)["id"].(string)

	for i, event := range []string{"invoice.created", "invoice.created"} {
		out, err := exec.Command(switchboardBinary(t), "send-test-event", "--connection", connID, "--event", event,
			"--data-dir", dataDir, "--hub-url", "http://"+hub.addr).CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Contains(t, string(out), "202 Accepted")
		payload := rcv.waitPayload(t, i+1)
		require.Equal(t, "accounting.invoice.created", payload["event_type"])
		require.Equal(t, "acme", payload["consumer_id"])
	}

	out, err := exec.Command(switchboardBinary(t), "send-test-event", "--connection", connID, "--event", "invoice.nope",
		"--data-dir", dataDir, "--hub-url", "http://"+hub.addr).CombinedOutput()
	require.Error(t, err)
	require.Contains(t, string(out), "invoice.paid", "the error lists the events that have samples")
}
