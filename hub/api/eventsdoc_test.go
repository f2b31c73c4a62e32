package api_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/mapping"
	"github.com/switchboardhq/switchboard/mappings"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite docs/events.md from the catalogue")

// TestEventsDocIsCurrent: docs/events.md is what the catalogue and the
// built-in mappings generate; change the catalogue, then run with
// -update-docs and commit the page.
func TestEventsDocIsCurrent(t *testing.T) {
	t.Parallel()
	set, err := mapping.LoadDir(mappings.FS)
	require.NoError(t, err)
	got := api.EventsMarkdown(set)
	path := filepath.Join("..", "..", "docs", "events.md")
	if *updateDocs {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./hub/api -run TestEventsDocIsCurrent -update-docs")
	require.Equal(t, string(want), string(got), "docs/events.md is stale: run go test ./hub/api -run TestEventsDocIsCurrent -update-docs")
}
