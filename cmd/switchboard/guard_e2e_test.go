package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Without --allow-private-destinations, a connection whose base_url points
// into the hub's own network is refused when the connector dials it: the
// internal server sees nothing, and nothing it would say reaches the answer
// or the log.
func TestProviderCallsToPrivateAddressesAreRefused(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("db_password=hunter2 internal admin console"))
	}))
	t.Cleanup(internal.Close)
	// The hub itself listens on loopback and must be reachable by the test;
	// the flag given last wins.
	hub := startHub(t, t.TempDir(), freeAddr(t), "--allow-private-destinations=false")

	code, body := hub.doAs(t, "acme", http.MethodPost, "/vault/connections", deskeraConnection(internal.URL, "CREATE_INVOICE"))
	require.Equal(t, http.StatusBadGateway, code, body)
	assert.Equal(t, "ConnectorExecutionError", body["type_name"])
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	detail := string(raw)
	assert.Contains(t, detail, "is a loopback address", body)
	assert.NotContains(t, detail, "hunter2")
	assert.Zero(t, hits.Load(), "the internal server was never reached")
	assert.NotContains(t, hub.output.String(), "hunter2")
	assertNoDeskeraSecrets(t, hub.output.String(), "the hub log")
}

func TestServeRefusesABadPluginDigest(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		env  string
		want string
	}{
		{args: []string{"--plugin-sha256", "example=abcd"},
			want: `--plugin-sha256 "example=abcd": the digest must be 64 hex digits`},
		{env: "SWITCHBOARD_PLUGIN_SHA256=example=" + strings.Repeat("ab", 32) + ",Bad Id=" + strings.Repeat("ab", 32),
			want: `--plugin-sha256 "Bad Id=` + strings.Repeat("ab", 32) + `": want id=HEX`},
	} {
		dir := filepath.Join(t.TempDir(), "data")
		bin := switchboardBinary(t) // built before the clock starts: a -race build can take long
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		cmd := exec.CommandContext(ctx, bin, append([]string{"serve", "--addr", freeAddr(t), "--data-dir", dir}, tc.args...)...)
		if tc.env != "" {
			cmd.Env = append(cmd.Environ(), tc.env)
		}
		out, err := cmd.CombinedOutput()
		cancel()
		require.Error(t, err, "%s", out)
		assert.Contains(t, string(out), tc.want)
		assert.NoDirExists(t, dir, "nothing is created before the flags are valid")
	}
}
