package mappings_test

import (
	"encoding/json"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/switchboardhq/switchboard/hub/mapping"
	"github.com/switchboardhq/switchboard/mappings"
)

// The built-in copies are what a binary without a mappings directory runs
// on: every one must load cleanly.
func TestEmbeddedMappingsAreValid(t *testing.T) {
	t.Parallel()
	names, err := fs.Glob(mappings.FS, "*.json")
	require.NoError(t, err)
	require.Contains(t, names, "dversum.json")
	require.Contains(t, names, "mapping.schema.json")
	require.Empty(t, mapping.Lint(mappings.FS))

	set, err := mapping.LoadDir(mappings.FS)
	require.NoError(t, err)
	require.Contains(t, set.Services(), "dversum")
}

func TestSchemaIsTheEmbeddedFile(t *testing.T) {
	t.Parallel()
	fromFS, err := mappings.FS.ReadFile("mapping.schema.json")
	require.NoError(t, err)
	require.Equal(t, fromFS, mappings.Schema)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(mappings.Schema, &doc))
	require.Equal(t, "https://json-schema.org/draft/2020-12/schema", doc["$schema"])
}

// TestReadmeListsEveryMapping keeps mappings/README.md current: every file
// of this directory has a row in its table, and every row names a file that
// exists.
func TestReadmeListsEveryMapping(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	names, err := fs.Glob(mappings.FS, "*.json")
	require.NoError(t, err)
	for _, name := range append(names, "embed.go") {
		require.Contains(t, string(readme), "| `"+name+"` |", "mappings/README.md has no row for %s", name)
	}
	rows := regexp.MustCompile("(?m)^\\| `([^`]+)` \\|").FindAllStringSubmatch(string(readme), -1)
	for _, r := range rows {
		if strings.HasSuffix(r[1], ".json") || strings.HasSuffix(r[1], ".go") {
			_, err := os.Stat(r[1])
			require.NoError(t, err, "mappings/README.md lists %s, which does not exist", r[1])
		}
	}
}
