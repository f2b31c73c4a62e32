package hub

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/mapping"
	"github.com/switchboardhq/switchboard/mappings"
	"github.com/switchboardhq/switchboard/plugins/host"
)

// TestOpenRefusesBadFlagsBeforeAnySideEffect: every flag is checked before
// the data directory, the store or a first admin key is made, and the
// error names the flag.
func TestOpenRefusesBadFlagsBeforeAnySideEffect(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "a-file")
	require.NoError(t, os.WriteFile(file, nil, 0o600))
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"port only", func(c *Config) { c.Addr = "9000" }, `addr "9000" must be host:port such as 127.0.0.1:8080 (did you mean 127.0.0.1:9000, or :9000 for every interface?)`},
		{"bad port", func(c *Config) { c.Addr = "127.0.0.1:http80" }, `addr "127.0.0.1:http80": port must be a number`},
		{"port out of range", func(c *Config) { c.Addr = "127.0.0.1:70000" }, `port must be a number from 0 to 65535`},
		{"debug addr", func(c *Config) { c.DebugAddr = "6060" }, `debug-addr "6060" must be host:port`},
		{"public url relative", func(c *Config) { c.PublicURL = "hub.example.com" }, `public-url "hub.example.com" must be an absolute http:// or https:// URL`},
		{"public url scheme", func(c *Config) { c.PublicURL = "ftp://hub.example.com" }, `must be an absolute http:// or https:// URL`},
		{"public url no host", func(c *Config) { c.PublicURL = "https://" }, `has no host`},
		{"public url query", func(c *Config) { c.PublicURL = "https://hub.example.com/?a=1" }, `must not have a query or fragment`},
		{"public url fragment", func(c *Config) { c.PublicURL = "https://hub.example.com/#x" }, `must not have a query or fragment`},
		{"public url garbage", func(c *Config) { c.PublicURL = "::not a url" }, `public-url "::not a url"`},
		{"workers negative", func(c *Config) { c.Workers = -3 }, `workers must be between 1 and 10000, got -3`},
		{"workers huge", func(c *Config) { c.Workers = 1_000_000 }, `workers must be between 1 and 10000, got 1000000`},
		{"body negative", func(c *Config) { c.MaxBodyBytes = -1 }, `max-body-bytes must be between 1 and 67108864 (64 MiB), got -1`},
		{"body huge", func(c *Config) { c.MaxBodyBytes = 1 << 40 }, `max-body-bytes must be between 1 and 67108864`},
		{"plugins dir missing", func(c *Config) { c.PluginsDir = filepath.Join(t.TempDir(), "nope") }, `plugins-dir `},
		{"plugins dir a file", func(c *Config) { c.PluginsDir = file }, `is not a directory`},
		{"mappings dir missing", func(c *Config) { c.MappingsDir = filepath.Join(t.TempDir(), "nope") }, `mappings-dir `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "data")
			cfg := Config{DataDir: dir}
			tc.mod(&cfg)
			var keyOut bytes.Buffer
			_, err := Open(context.Background(), cfg, nil, &keyOut)
			require.ErrorContains(t, err, tc.want)
			assert.Empty(t, keyOut.String(), "no admin key is printed")
			_, statErr := os.Stat(dir)
			assert.ErrorIs(t, statErr, os.ErrNotExist, "no data directory (or store) is made")
		})
	}
	t.Run("broken mapping file", func(t *testing.T) {
		t.Parallel()
		maps := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(maps, "acme.json"), []byte(`{`), 0o644))
		dir := filepath.Join(t.TempDir(), "data")
		var keyOut bytes.Buffer
		_, err := Open(context.Background(), Config{DataDir: dir, MappingsDir: maps}, nil, &keyOut)
		require.ErrorContains(t, err, "loading mappings")
		assert.Empty(t, keyOut.String(), "no admin key is printed")
		_, statErr := os.Stat(dir)
		assert.ErrorIs(t, statErr, os.ErrNotExist, "no data directory (or store) is made")
	})
	t.Run("missing dir says does not exist", func(t *testing.T) {
		t.Parallel()
		missing := filepath.Join(t.TempDir(), "plugins")
		_, err := Open(context.Background(), Config{DataDir: t.TempDir(), PluginsDir: missing}, nil, nil)
		require.EqualError(t, err, "plugins-dir "+missing+" does not exist")
	})
}

func TestDefaultPublicURLOfEveryInterface(t *testing.T) {
	t.Parallel()
	c := Config{Addr: ":9000"}
	c.setDefaults()
	require.NoError(t, c.validate())
	assert.Equal(t, "http://localhost:9000", c.PublicURL)
}

// TestConnectorWithoutMappingIsWarned: a connector (a plugin) with no
// mapping is named in a warning at start.
func TestConnectorWithoutMappingIsWarned(t *testing.T) {
	t.Parallel()
	m, err := host.New(host.Config{Builtin: map[string]host.Command{
		"acme":    {Path: "/bin/true"},
		"dversum": {Path: "/bin/true"},
	}})
	require.NoError(t, err)
	set, err := mapping.LoadDir(mappings.FS)
	require.NoError(t, err)
	var logs bytes.Buffer
	s := &connectorService{manager: m, logger: slog.New(slog.NewTextHandler(&logs, nil)),
		mappings: func() *mapping.Set { return set }}
	s.warnUnmapped()
	assert.Contains(t, logs.String(), "level=WARN")
	assert.Contains(t, logs.String(), "connector=acme")
	assert.Contains(t, logs.String(), "add acme.json to --mappings-dir")
	assert.NotContains(t, logs.String(), "connector=dversum", "a mapped connector is not warned about")
}
