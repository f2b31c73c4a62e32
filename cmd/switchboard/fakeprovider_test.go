package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFakeProviderEndToEnd runs `switchboard fake-provider` in the
// foreground for each provider, connects a real hub to it with the body the
// command prints, and makes the fake send a webhook: the hub stores the
// mapped unified event, as it would from the real provider.
func TestFakeProviderEndToEnd(t *testing.T) {
	t.Parallel()
	hub := startHub(t, t.TempDir(), freeAddr(t))
	for _, tc := range []struct {
		service, event, unified string
	}{
		{"deskera", "CREATE_INVOICE", "accounting.invoice.created"},
		{"vplan", "card.created", "issue-tracking.ticket.created"},
	} {
		t.Run(tc.service, func(t *testing.T) {
			addr := freeAddr(t)
			cmd := newRootCmd()
			var out lockedBuffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs([]string{"fake-provider", tc.service, "--addr", addr, "--hub-url", "http://" + hub.addr})
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- cmd.ExecuteContext(ctx) }()
			t.Cleanup(func() {
				cancel()
				select {
				case err := <-done:
					assert.NoError(t, err)
				case <-time.After(10 * time.Second):
					t.Error("fake-provider did not stop")
				}
			})
			require.Eventually(t, func() bool { return strings.Contains(out.String(), "Stop with Ctrl-C") }, 10*time.Second, 10*time.Millisecond)
			printed := out.String()
			assert.Contains(t, printed, "--allow-private-destinations")

			// The connection body exactly as printed.
			i := strings.Index(printed, "-d '")
			require.GreaterOrEqual(t, i, 0, printed)
			body := printed[i+4:]
			body = body[:strings.Index(body, "'")]
			var conn map[string]any
			require.NoError(t, json.Unmarshal([]byte(body), &conn), body)
			code, res := hub.doAs(t, "acme", http.MethodPost, "/vault/connections", conn)
			require.Equal(t, http.StatusCreated, code, res)
			connID := res["data"].(map[string]any)["id"].(string)

			resp, err := http.Post("http://"+addr+fakeSendPath+"?event="+tc.event, "", nil)
			require.NoError(t, err)
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode, string(answer))
			assert.Contains(t, string(answer), `"status":202`)
			assert.Contains(t, string(answer), tc.unified)
			assert.NotContains(t, string(answer), strings.TrimPrefix(res["data"].(map[string]any)["webhook_url"].(string), "http://"+hub.addr+"/webhook/inbound/"+tc.service+"/"), "the inbound token is a credential")

			code, events := hub.do(t, http.MethodGet, "/webhook/events?filter[event_type]="+tc.unified, nil)
			require.Equal(t, http.StatusOK, code, events)
			found := false
			for _, e := range events["data"].([]any) {
				found = found || e.(map[string]any)["connection_id"] == connID
			}
			assert.True(t, found, "the hub stored an event of the fake's connection: %v", events)

			// An event nothing is registered for is refused with the reason.
			resp, err = http.Post("http://"+addr+fakeSendPath+"?event=no.such.event", "", bytes.NewReader(nil))
			require.NoError(t, err)
			answer, _ = io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, http.StatusConflict, resp.StatusCode)
			assert.Contains(t, string(answer), "no sample")
		})
	}
}
