package main

import (
	"bytes"
	"context"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/store"
)

// runKeys runs `switchboard keys args...` in this process and returns its
// standard output and error.
func runKeys(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(append([]string{"keys"}, args...))
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

func TestKeysRefuseAMissingStore(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "not-a-data-dir")
	_, err := runKeys(t, "create", "--name", "x", "--data-dir", dir)
	require.ErrorIs(t, err, hub.ErrNoStore)
	require.ErrorContains(t, err, "--data-dir")
	_, statErr := os.Stat(dir)
	assert.True(t, os.IsNotExist(statErr), "no empty store (or directory) was made")
	_, err = runKeys(t, "list", "--data-dir", dir)
	require.ErrorIs(t, err, hub.ErrNoStore)
}

func TestKeysAgainstTheStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, newStore(t, dir).Close())

	_, err := runKeys(t, "create", "--data-dir", dir)
	require.ErrorContains(t, err, "--name is required")
	_, err = runKeys(t, "create", "--name", "x", "--consumer", "acme", "--scopes", "admin", "--data-dir", dir)
	require.ErrorContains(t, err, "cannot hold the admin scope")

	out, err := runKeys(t, "create", "--name", "acme-portal", "--consumer", "acme", "--scopes", "webhooks:read", "--data-dir", dir)
	require.NoError(t, err)
	key := strings.TrimSpace(out)
	require.True(t, strings.HasPrefix(key, "sb_"), out)
	id := strings.SplitN(strings.TrimPrefix(key, "sb_"), "_", 2)[0]

	out, err = runKeys(t, "list", "--data-dir", dir)
	require.NoError(t, err)
	assert.Contains(t, out, id)
	assert.Contains(t, out, "acme")
	assert.NotContains(t, out, key)

	_, err = runKeys(t, "revoke", id, "--data-dir", dir)
	require.NoError(t, err)
	_, err = runKeys(t, "revoke", id, "--data-dir", dir)
	require.ErrorContains(t, err, "not found", "revoking twice fails")
	_, err = runKeys(t, "revoke", "0123456789abcdef", "--data-dir", dir)
	require.ErrorContains(t, err, "not found", "revoking an unknown key fails")
}

func TestKeysThroughARunningHub(t *testing.T) {
	t.Parallel()
	p := startHub(t, t.TempDir(), freeAddr(t))
	base := "http://" + p.addr
	_, err := runKeys(t, "list", "--hub-url", base)
	require.ErrorContains(t, err, "needs an admin key")

	out, err := runKeys(t, "create", "--name", "ci", "--scopes", "webhooks:read,connections:write", "--consumer", "acme", "--hub-url", base, "--api-key", p.key)
	require.NoError(t, err)
	key := strings.TrimSpace(out)
	req, err := http.NewRequest(http.MethodGet, base+"/vault/connections", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the key made through the hub works for its consumer")

	out, err = runKeys(t, "list", "--hub-url", base, "--api-key", p.key)
	require.NoError(t, err)
	id := strings.SplitN(strings.TrimPrefix(key, "sb_"), "_", 2)[0]
	assert.Contains(t, out, id)

	_, err = runKeys(t, "revoke", id, "--hub-url", base, "--api-key", p.key)
	require.NoError(t, err)
	_, err = runKeys(t, "revoke", id, "--hub-url", base, "--api-key", p.key)
	require.ErrorContains(t, err, "404")
	_, err = runKeys(t, "list", "--hub-url", base, "--api-key", key)
	require.ErrorContains(t, err, "401", "a revoked key")
}

// TestClientCommandsNeverCreateAMasterKey: keys leaves no master key behind
// (a later serve would create its own, or a node would seal with a key
// nobody shares), and on PostgreSQL it asks for the key.
func TestClientCommandsNeverCreateAMasterKey(t *testing.T) {
	// Not parallel: it sets the environment the commands read.
	t.Setenv("SWITCHBOARD_MASTER_KEY", "")
	t.Setenv("SWITCHBOARD_MASTER_KEY_FILE", "")
	t.Setenv("SWITCHBOARD_DATABASE_URL", "")
	dir := filepath.Join(t.TempDir(), "data")
	_, err := runKeys(t, "create", "--name", "ci", "--data-dir", dir)
	require.ErrorIs(t, err, hub.ErrNoStore)
	_, err = os.Stat(filepath.Join(dir, "master.key"))
	require.ErrorIs(t, err, fs.ErrNotExist, "a client command must not create the master key")

	pgDir := filepath.Join(t.TempDir(), "pg")
	_, err = runKeys(t, "list", "--data-dir", pgDir, "--database-url", "postgres://127.0.0.1:1/none")
	require.ErrorContains(t, err, "SWITCHBOARD_MASTER_KEY")
	require.ErrorContains(t, err, "--master-key-file")
	_, err = os.Stat(pgDir)
	require.ErrorIs(t, err, fs.ErrNotExist, "nothing is written for a PostgreSQL store")
}

// newStore makes the embedded store (and its master key) in dir as the
// first serve would, and hands it over open, its data directory unlocked.
func newStore(t *testing.T, dir string) store.Store {
	t.Helper()
	st, lock, err := hub.OpenStore(context.Background(), hub.StoreOptions{DataDir: dir, Serve: true})
	require.NoError(t, err)
	require.NoError(t, lock.Unlock())
	return st
}
