package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// offlineGo runs the go command in dir with the module proxy off, so only
// the generated go.mod, go.sum and the local module cache can satisfy it.
func offlineGo(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOWORK=off", "GOFLAGS=-mod=readonly")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go %s in the generated module:\n%s", strings.Join(args, " "), out)
	return string(out)
}

// TestConnectorInitBuildsOfflineAndLoads: `connector init` writes a module
// that passes its own tests and builds with GOPROXY=off as generated; the
// built plugin loads in a real hub from --plugins-dir, and a sample signed
// as its provider signs (send-test-event --file --hmac-header) is mapped to
// the unified event its mapping names.
func TestConnectorInitBuildsOfflineAndLoads(t *testing.T) {
	t.Parallel()
	sdk, err := filepath.Abs("../..")
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "acmebooks")
	out, err := runCLI(t, "connector", "init", "acmebooks", "--dir", dir, "--sdk", sdk)
	require.NoError(t, err, out)
	for _, f := range []string{"go.mod", "go.sum", "main.go", "main_test.go", "mappings/acmebooks.json", "testdata/invoice.paid.json", "README.md"} {
		assert.FileExists(t, filepath.Join(dir, f))
	}
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	require.NoError(t, err)
	assert.Contains(t, string(gomod), "replace github.com/switchboardhq/switchboard => "+sdk)

	// A second init into the same directory writes nothing.
	_, err = runCLI(t, "connector", "init", "acmebooks", "--dir", dir, "--sdk", sdk)
	require.ErrorContains(t, err, "not empty")

	testOut := offlineGo(t, dir, "test", "-count=1", "./...")
	assert.Contains(t, testOut, "ok ")
	plugins := filepath.Join(t.TempDir(), "plugins.d")
	require.NoError(t, os.Mkdir(plugins, 0o755))
	bin := filepath.Join(plugins, "switchboard-connector-acmebooks")
	offlineGo(t, dir, "build", "-o", bin, ".")
	exe, err := os.ReadFile(bin)
	require.NoError(t, err)
	sum := sha256.Sum256(exe)
	require.NoError(t, os.WriteFile(bin+".sha256", []byte(hex.EncodeToString(sum[:])+"  switchboard-connector-acmebooks\n"), 0o644))

	// The hub's mappings: the built-in ones plus the new connector's.
	maps := t.TempDir()
	for _, src := range []string{"../../mappings/dversum.json", "../../mappings/deskera.json", "../../mappings/vplan.json", filepath.Join(dir, "mappings/acmebooks.json")} {
		b, err := os.ReadFile(src)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(maps, filepath.Base(src)), b, 0o644))
	}
	hub := startHub(t, t.TempDir(), freeAddr(t), "--plugins-dir", plugins, "--mappings-dir", maps)
	code, conn := hub.doAs(t, "acme", http.MethodPost, "/vault/connections", map[string]any{"service_id": "acmebooks"})
	require.Equal(t, http.StatusCreated, code, conn)
	data := conn["data"].(map[string]any)
	connID, secret := data["id"].(string), data["signing_secret"].(string)

	base := []string{"send-test-event", "--connection", connID, "--hub-url", "http://" + hub.addr, "--api-key", hub.key,
		"--consumer", "acme", "--file", filepath.Join(dir, "testdata/invoice.paid.json"), "--hmac-header", "X-Acmebooks-Signature"}
	out, err = runCLI(t, append(base, "--signing-secret", "wrong-secret-0123456789")...)
	require.Error(t, err, out)
	assert.Contains(t, out, "401", "the plugin checks the signature")
	out, err = runCLI(t, append(base, "--signing-secret", secret)...)
	require.NoError(t, err, out)
	assert.Contains(t, out, "accounting.invoice.paid")

	code, events := hub.do(t, http.MethodGet, "/webhook/events?filter[event_type]=accounting.invoice.paid", nil)
	require.Equal(t, http.StatusOK, code)
	assert.Contains(t, fmt.Sprint(events["data"]), "inv_1001")

	out, err = runCLI(t, "send-test-event", "--connector", "acmebooks", "--list", "--hub-url", "http://"+hub.addr, "--api-key", hub.key)
	require.NoError(t, err, out)
	assert.Contains(t, out, "ships no samples")
	assert.Regexp(t, `invoice\.paid\s+accounting\.invoice\.paid`, out)
}
