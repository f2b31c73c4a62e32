//go:build browser

package browsertest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	switchboard "github.com/switchboardhq/switchboard"
)

// copyMappings makes an editable mappings directory from the repository's.
func copyMappings(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(repoRoot(), "mappings")
	entries, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644))
	}
	return dir
}

// lineOf is the 1-based line of the first occurrence of s in text.
func lineOf(text, s string) int {
	i := strings.Index(text, s)
	if i < 0 {
		return 0
	}
	return strings.Count(text[:i], "\n") + 1
}

// TestMappingStudio: edit dVersum's mapping in the studio against a sample
// webhook, see the unified event change as the draft changes, see a bad
// edit rejected at its line, save, and see the hub run the saved file.
func TestMappingStudio(t *testing.T) {
	dir := copyMappings(t)
	h := startHub(t, "--mappings-dir", dir)
	b := newBrowser(t)
	signIn(b, h)

	b.goTo("#/studio/dversum")
	b.waitText("lint-ok", "Valid mapping")
	original := b.text("studio-mapping")
	require.Contains(t, original, `"number": "invoice_number"`, "the studio loaded the mapping in force")

	// The provider's samples are offered; picking one previews it.
	b.waitJS("dVersum's samples", `!!document.querySelector('[data-testid="studio-sample"] option[value="invoice.created"]')`)
	b.choose("studio-sample", "invoice.created")
	b.waitText("preview-type", "accounting.invoice.created")

	// A pasted webhook body works the same.
	sample, err := switchboard.Sample("dversum", "invoice.paid")
	require.NoError(t, err)
	b.choose("studio-sample", "")
	b.fill("studio-payload", string(sample))
	b.waitText("preview-type", "accounting.invoice.paid")
	b.waitText("preview-json", `"number": "RE-2024-0001"`)
	b.waitText("coverage-count", "of")
	b.screenshot("studio")

	// The draft maps number from reference: the preview follows.
	draft := strings.Replace(original, `"number": "invoice_number"`, `"number": "reference"`, 1)
	b.fill("studio-mapping", draft)
	b.waitText("preview-json", `"number": "Bestellung 4711"`)

	// A broken edit: an unterminated string on the number line. The lint
	// names that line, and the gutter marks it.
	line := lineOf(draft, `"number": "reference"`)
	require.NotZero(t, line)
	bad := strings.Replace(draft, `"number": "reference"`, `"number": "reference`, 1)
	b.fill("studio-mapping", bad)
	b.waitText("lint-errors", fmt.Sprintf("line %d:", line))
	assert.Equal(t, fmt.Sprint(line), b.eval(`(document.querySelector('.gutter .ln.err') || {}).textContent || ""`), "the gutter marks the bad line")
	b.screenshot("studio-error")

	// A wrong field spec: the lint names its JSON pointer.
	wrong := strings.Replace(draft, `"number": "reference"`, `"number": 42`, 1)
	b.fill("studio-mapping", wrong)
	pointer := b.waitText("lint-pointer", "number")
	assert.Contains(t, pointer, "/entities/invoice/fields/number")
	b.waitText("lint-errors", fmt.Sprintf("line %d:", line))

	// Save the good draft: the file changes and the hub runs it.
	b.fill("studio-mapping", draft)
	b.waitText("preview-json", `"number": "Bestellung 4711"`)
	b.click("studio-save")
	b.waitText("save-ok", "Saved")
	onDisk, err := os.ReadFile(filepath.Join(dir, "dversum.json"))
	require.NoError(t, err)
	assert.Contains(t, string(onDisk), `"number": "reference"`)
	b.waitUntil(t, "the hub to run the saved mapping", func() bool {
		_, res := h.api(t, apiKey, "", "POST", "/mapping/preview", map[string]any{"service_id": "dversum", "payload": json.RawMessage(sample)})
		return strings.Contains(fmt.Sprint(res), "Bestellung 4711")
	})
	b.noProblems()
}

// TestMappingStudioBuiltinSaveExplained: on a hub running the built-in
// mappings the save is refused (409) and the studio says why and what to
// do.
func TestMappingStudioBuiltinSaveExplained(t *testing.T) {
	h := startHub(t)
	b := newBrowser(t)
	signIn(b, h)
	b.goTo("#/studio/dversum")
	b.waitText("lint-ok", "Valid mapping")
	b.click("studio-save")
	b.waitText("save-conflict", "--mappings-dir")
	b.noProblems()
}
