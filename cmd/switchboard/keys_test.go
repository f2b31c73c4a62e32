package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// runCLI runs the root command in process and returns its output.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	cmd.SetArgs(args)
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	err := cmd.ExecuteContext(t.Context())
	return out.String(), err
}

// TestClientCommandsNeverCreateAMasterKey: keys works before the first
// serve without leaving a master key behind (a later serve would create
// its own, or a node would seal with a key nobody shares), and on
// PostgreSQL it asks for the key.
func TestClientCommandsNeverCreateAMasterKey(t *testing.T) {
	// Not parallel: it sets the environment the commands read.
	t.Setenv("SWITCHBOARD_MASTER_KEY", "")
	t.Setenv("SWITCHBOARD_MASTER_KEY_FILE", "")
	t.Setenv("SWITCHBOARD_DATABASE_URL", "")
	dir := filepath.Join(t.TempDir(), "data")
	_, err := runCLI(t, "keys", "create", "--name", "ci", "--data-dir", dir)
	require.NoError(t, err)
	out, err := runCLI(t, "keys", "list", "--data-dir", dir)
	require.NoError(t, err)
	require.Contains(t, out, "ci")
	_, err = os.Stat(filepath.Join(dir, "master.key"))
	require.ErrorIs(t, err, fs.ErrNotExist, "a client command must not create the master key")

	pgDir := filepath.Join(t.TempDir(), "pg")
	_, err = runCLI(t, "keys", "list", "--data-dir", pgDir, "--database-url", "postgres://127.0.0.1:1/none")
	require.ErrorContains(t, err, "SWITCHBOARD_MASTER_KEY")
	require.ErrorContains(t, err, "--master-key-file")
	_, err = os.Stat(pgDir)
	require.ErrorIs(t, err, fs.ErrNotExist, "nothing is written for a PostgreSQL store")
}
