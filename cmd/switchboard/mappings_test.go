package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func runMappingsLint(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newRootCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(append([]string{"mappings", "lint"}, args...))
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// TestMappingsLintDir: the DIR argument is the directory linted (it used
// to be ignored, so a broken directory was reported "ok" from ./mappings),
// and a missing one is named.
func TestMappingsLintDir(t *testing.T) {
	t.Parallel()
	broken := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(broken, "acme.json"), []byte(`{"service_id": "acme"`), 0o644))
	out, err := runMappingsLint(t, broken)
	require.Error(t, err, "a broken directory fails: %s", out)
	assert.Contains(t, out, "FAIL acme.json")
	assert.NotContains(t, out, "ok   ")

	good := t.TempDir()
	builtin, err := os.ReadFile(filepath.Join("..", "..", "mappings", "vplan.json"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(good, "vplan.json"), builtin, 0o644))
	out, err = runMappingsLint(t, good)
	require.NoError(t, err, out)
	assert.Contains(t, out, "ok   vplan.json")
	assert.NotContains(t, out, "dversum", "only DIR is linted")

	missing := filepath.Join(t.TempDir(), "nope")
	out, err = runMappingsLint(t, missing)
	require.Error(t, err)
	assert.Contains(t, out, "mappings directory "+missing+" does not exist")
	assert.NotContains(t, out, "open .")

	_, err = runMappingsLint(t, good, "--mappings-dir", broken)
	require.ErrorContains(t, err, "give the directory once")
}
