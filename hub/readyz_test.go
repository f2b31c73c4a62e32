package hub

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/plugins/host"
)

// TestReadyzDoesNotDependOnConnectors: a broken connector plugin used to
// make /readyz answer 503, taking the whole hub (the API and every other
// provider's webhooks) out of its load balancer. Readiness is the store and
// the queue; connectors are listed in the body.
func TestReadyzDoesNotDependOnConnectors(t *testing.T) {
	t.Parallel()
	n := startNode(t, Config{
		Addr: "127.0.0.1:0", DataDir: t.TempDir(), APIKey: "readyz-test-key-0123456789abcdef0123",
		Connectors: map[string]host.Command{"broken": {Path: filepath.Join(t.TempDir(), "no-such-plugin")}},
	})
	resp, err := http.Get("http://" + n.addr + "/readyz")
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", raw)

	var body struct {
		Status     string `json:"status"`
		Connectors []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
		} `json:"connectors"`
	}
	require.NoError(t, json.Unmarshal(raw, &body))
	assert.Equal(t, "ok", body.Status)
	require.Len(t, body.Connectors, 1)
	assert.Equal(t, "broken", body.Connectors[0].ID)
	assert.NotEqual(t, string(host.StateRunning), body.Connectors[0].Status)
}
