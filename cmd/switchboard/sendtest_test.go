package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/plugins/netguard"
)

func TestRestampGivesSamplesAFreshIdentity(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, in     string
		changed      []string // keys that must differ from the input
		unchanged    []string
		wantStampKey string
	}{
		{"dversum", `{"event":"invoice.paid","timestamp":"2024-01-15T10:30:00Z","data":{"id":"inv_1"}}`,
			[]string{"timestamp"}, []string{"event", "data"}, "timestamp"},
		{"vplan", `{"message_id":"m-1","event":"card.created","created_at":"2024-03-04T10:15:01+01:00","data":{}}`,
			[]string{"message_id", "created_at"}, []string{"event", "data"}, "created_at"},
		{"deskera", `{"eventType":"CREATE_INVOICE","eventId":"e-1","timestamp":"2024-01-15T10:30:00Z","data":{}}`,
			[]string{"eventId", "timestamp"}, []string{"eventType", "data"}, "timestamp"},
		{"connector init", `{"id":"evt_1","type":"invoice.paid","created_at":"2024-01-15T10:30:00Z","data":{}}`,
			[]string{"id", "created_at"}, []string{"type", "data"}, "created_at"},
		{"no time field", `{"event":"x"}`, nil, []string{"event"}, "timestamp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := restamp([]byte(tc.in), now)
			require.NoError(t, err)
			var before, after map[string]any
			require.NoError(t, json.Unmarshal([]byte(tc.in), &before))
			require.NoError(t, json.Unmarshal(out, &after))
			for _, k := range tc.changed {
				require.NotEqual(t, before[k], after[k], k)
			}
			for _, k := range tc.unchanged {
				require.Equal(t, before[k], after[k], k)
			}
			require.Equal(t, "2026-11-23T12:00:00Z", after[tc.wantStampKey])
		})
	}
	_, err := restamp([]byte(`[1]`), now)
	require.ErrorContains(t, err, "not a JSON object")
}

func TestSendTestEventKeepsTheTokenOutOfErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ctx := context.Background()
	st := newStore(t, dir)
	token := "tok_" + strings.Repeat("s", 40)
	sum := sha256.Sum256([]byte(token))
	conn := &store.Connection{ConsumerID: "acme", ServiceID: "dversum", Status: store.ConnectionActive,
		Credentials: map[string]string{"signing_secret": "whsec"}, Token: token, TokenHash: sum[:]}
	require.NoError(t, st.CreateConnection(ctx, store.AllConsumers(), conn))
	require.NoError(t, st.Close())

	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	// Nothing listens there: the POST fails before any answer.
	cmd.SetArgs([]string{"send-test-event", "--connection", conn.ID, "--data-dir", dir, "--hub-url", "http://" + freeAddr(t), "--api-key", ""})
	err := cmd.ExecuteContext(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is it running?")
	assert.NotContains(t, err.Error()+out.String(), token, "the inbound token is a credential")
}

func TestSendClientCapsResponseHeaders(t *testing.T) {
	t.Parallel()
	tr, ok := sendClient.Transport.(*http.Transport)
	require.True(t, ok)
	require.Equal(t, int64(netguard.MaxResponseHeaderBytes), tr.MaxResponseHeaderBytes)
}

// runCLI runs one command of the binary in process and returns its output.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

// TestSendTestEventThroughTheHubAPI: with an API key, send-test-event finds
// the connection through the running hub (no store on this machine), sends
// a native payload from --file signed with --signing-secret as dVersum
// signs, and the hub stores the event the file describes. Without the
// secret it says how to get one; with a wrong one the hub's 401 is the exit.
func TestSendTestEventThroughTheHubAPI(t *testing.T) {
	t.Parallel()
	hub := startHub(t, t.TempDir(), freeAddr(t))
	code, res := hub.doAs(t, "acme", http.MethodPost, "/vault/connections", map[string]any{"service_id": "dversum"})
	require.Equal(t, http.StatusCreated, code, res)
	data := res["data"].(map[string]any)
	connID, secret := data["id"].(string), data["signing_secret"].(string)

	file := filepath.Join(t.TempDir(), "paid.json")
	body := `{"event": "invoice.paid", "timestamp": "` + time.Now().UTC().Format(time.RFC3339) + `",
	  "data": {"id": "inv_from_file_77", "number": "RE-77", "total": 12.5, "currency": "EUR", "status": "paid", "client": {"id": "cli_1"}}}`
	require.NoError(t, os.WriteFile(file, []byte(body), 0o600))
	noStore := filepath.Join(t.TempDir(), "no-store-here")
	base := []string{"send-test-event", "--connection", connID, "--hub-url", "http://" + hub.addr,
		"--api-key", hub.key, "--consumer", "acme", "--data-dir", noStore, "--file", file}

	out, err := runCLI(t, append(base, "--signing-secret", secret)...)
	require.NoError(t, err, out)
	assert.Contains(t, out, "202 Accepted")
	assert.Contains(t, out, "file "+file)
	code, events := hub.do(t, http.MethodGet, "/webhook/events?filter[event_type]=accounting.invoice.paid", nil)
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, fmt.Sprint(events["data"]), "inv_from_file_77", "the file's invoice was stored")

	out, err = runCLI(t, base...)
	require.Error(t, err, out)
	assert.Contains(t, err.Error(), "--signing-secret")

	out, err = runCLI(t, append(base, "--signing-secret", "not-the-secret")...)
	require.Error(t, err, out)
	assert.Contains(t, out, "401")

	// An unbound key naming no consumer, and no store here to fall back on.
	_, err = runCLI(t, "send-test-event", "--connection", connID, "--hub-url", "http://"+hub.addr, "--api-key", hub.key,
		"--data-dir", noStore, "--file", file, "--signing-secret", secret)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--consumer")

	out, err = runCLI(t, "send-test-event", "--connection", connID, "--hub-url", "http://"+hub.addr, "--api-key", hub.key, "--list", "--consumer", "acme")
	require.NoError(t, err, out)
	assert.Contains(t, out, "invoice.paid")
	assert.Contains(t, out, "accounting.invoice.paid")
}

// TestSendTestEventList: --list names a built-in connector's samples and
// native -> unified event types with no hub and no store; an unknown
// connector without a key says how to ask the hub.
func TestSendTestEventList(t *testing.T) {
	t.Parallel()
	out, err := runCLI(t, "send-test-event", "--connector", "deskera", "--list")
	require.NoError(t, err, out)
	assert.Contains(t, out, "Samples of deskera")
	assert.Contains(t, out, "CREATE_CONTACT@supplier")
	assert.Regexp(t, `CREATE_INVOICE\s+accounting\.invoice\.created`, out)

	_, err = runCLI(t, "send-test-event", "--connector", "acme-crm", "--list", "--api-key", "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not a built-in connector")

	_, err = runCLI(t, "send-test-event", "--connection", "x", "--file", filepath.Join(t.TempDir(), "missing.json"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--file")
}
