package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// compatDir is the Node package (compat/) holding the third-party clients
// the compatibility tests drive: Apideck's SDKs, Standard Webhooks, Redocly
// and Ajv. `npm ci` in it (.ci/run does) installs them.
func compatDir(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "compat")
}

// requireNode returns the node binary and the compat package directory, or
// skips the test when node or the installed packages are missing, unless
// SWITCHBOARD_REQUIRE_NODE is set: then their absence fails it.
func requireNode(t *testing.T) (node, dir string) {
	t.Helper()
	dir = compatDir(t)
	node, err := exec.LookPath("node")
	missing := ""
	switch {
	case err != nil:
		missing = "node is not on PATH"
	default:
		if _, statErr := os.Stat(filepath.Join(dir, "node_modules")); statErr != nil {
			missing = "compat/node_modules is missing (run `npm ci` in compat/)"
		}
	}
	if missing != "" {
		if os.Getenv("SWITCHBOARD_REQUIRE_NODE") != "" {
			t.Fatalf("SWITCHBOARD_REQUIRE_NODE is set but %s", missing)
		}
		t.Skipf("%s; set SWITCHBOARD_REQUIRE_NODE=1 to make this a failure", missing)
	}
	return node, dir
}

// runNode runs one node --test file of compat/ with env added, and fails
// the Go test with node's output when any of its tests fails.
func runNode(t *testing.T, script string, env ...string) string {
	t.Helper()
	node, dir := requireNode(t)
	cmd := exec.Command(node, "--test", "--test-reporter=spec", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node --test %s: %v\n%s", script, err, out)
	}
	t.Logf("node --test %s:\n%s", script, out)
	return string(out)
}
