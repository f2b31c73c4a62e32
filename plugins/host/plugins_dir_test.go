package host_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/plugins/host"
)

// pluginsDir is a fresh plugins directory (mode 0755) holding the example
// connector as switchboard-connector-example, and the connector's digest.
func pluginsDir(t *testing.T) (dir, digest string) {
	t.Helper()
	exe, err := os.ReadFile(bin("example"))
	require.NoError(t, err)
	sum := sha256.Sum256(exe)
	dir = filepath.Join(t.TempDir(), "plugins")
	require.NoError(t, os.Mkdir(dir, 0o755))
	require.NoError(t, os.Chmod(dir, 0o755)) // whatever the umask
	require.NoError(t, os.WriteFile(filepath.Join(dir, "switchboard-connector-example"), exe, 0o755))
	return dir, hex.EncodeToString(sum[:])
}

// startErr starts a Manager that is expected to report problems.
func startErr(t *testing.T, cfg host.Config) (*host.Manager, error) {
	t.Helper()
	m, err := host.New(cfg)
	require.NoError(t, err)
	err = m.Start(t.Context())
	t.Cleanup(func() { require.NoError(t, m.Stop(context.Background())) })
	return m, err
}

func TestWorldWritablePluginsDirIsRefused(t *testing.T) {
	t.Parallel()
	dir, digest := pluginsDir(t)
	require.NoError(t, os.Chmod(dir, 0o777))
	m, err := startErr(t, host.Config{PluginsDir: dir, Checksums: map[string]string{"example": digest}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is writable by every user (mode -rwxrwxrwx): no connector in it is loaded")
	assert.Empty(t, m.Status(), "nothing from that directory is loaded")
}

func TestWorldWritablePluginFilesAreRefused(t *testing.T) {
	t.Parallel()
	t.Run("executable", func(t *testing.T) {
		t.Parallel()
		dir, digest := pluginsDir(t)
		require.NoError(t, os.Chmod(filepath.Join(dir, "switchboard-connector-example"), 0o777))
		m, err := startErr(t, host.Config{PluginsDir: dir, Checksums: map[string]string{"example": digest}})
		require.Error(t, err)
		st := status(t, m, "example")
		assert.Equal(t, host.StateFailed, st.State)
		assert.Contains(t, st.LastError, "switchboard-connector-example is writable by every user")
	})
	t.Run("checksum file", func(t *testing.T) {
		t.Parallel()
		dir, digest := pluginsDir(t)
		sumFile := filepath.Join(dir, "switchboard-connector-example.sha256")
		require.NoError(t, os.WriteFile(sumFile, []byte(digest), 0o644))
		require.NoError(t, os.Chmod(sumFile, 0o666))
		m, err := startErr(t, host.Config{PluginsDir: dir})
		require.Error(t, err)
		st := status(t, m, "example")
		assert.Equal(t, host.StateFailed, st.State)
		assert.Contains(t, st.LastError, "switchboard-connector-example.sha256 is writable by every user")
	})
}

func TestSymlinksOutOfThePluginsDirAreRefused(t *testing.T) {
	t.Parallel()
	dir, digest := pluginsDir(t)
	outside := filepath.Join(t.TempDir(), "elsewhere")
	require.NoError(t, os.Rename(filepath.Join(dir, "switchboard-connector-example"), outside))
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "switchboard-connector-example")))
	m, err := startErr(t, host.Config{PluginsDir: dir, Checksums: map[string]string{"example": digest}})
	require.Error(t, err)
	st := status(t, m, "example")
	assert.Equal(t, host.StateFailed, st.State)
	assert.Contains(t, st.LastError, "is a symlink to "+outside+", outside the plugins dir")

	// A checksum file linked from elsewhere is refused the same way.
	dir2, digest2 := pluginsDir(t)
	sumOutside := filepath.Join(t.TempDir(), "sum")
	require.NoError(t, os.WriteFile(sumOutside, []byte(digest2), 0o644))
	require.NoError(t, os.Symlink(sumOutside, filepath.Join(dir2, "switchboard-connector-example.sha256")))
	m, err = startErr(t, host.Config{PluginsDir: dir2})
	require.Error(t, err)
	assert.Contains(t, status(t, m, "example").LastError, "outside the plugins dir")

	// A symlink that stays inside the directory is fine.
	dir3, digest3 := pluginsDir(t)
	require.NoError(t, os.Rename(filepath.Join(dir3, "switchboard-connector-example"), filepath.Join(dir3, "example-v1")))
	require.NoError(t, os.Symlink("example-v1", filepath.Join(dir3, "switchboard-connector-example")))
	m = start(t, host.Config{PluginsDir: dir3, Checksums: map[string]string{"example": digest3}})
	assert.Equal(t, host.StateRunning, status(t, m, "example").State)
}

func TestPinnedDigests(t *testing.T) {
	t.Parallel()
	t.Run("pin without checksum file", func(t *testing.T) {
		t.Parallel()
		dir, digest := pluginsDir(t)
		m := start(t, host.Config{PluginsDir: dir, Checksums: map[string]string{"example": digest}})
		assert.Equal(t, host.StateRunning, status(t, m, "example").State)
	})
	t.Run("pin and file disagree", func(t *testing.T) {
		t.Parallel()
		dir, digest := pluginsDir(t)
		// The file matches the executable; the pin does not: the pin is
		// what the operator vouched for, and it is not what is there.
		require.NoError(t, os.WriteFile(filepath.Join(dir, "switchboard-connector-example.sha256"), []byte(digest), 0o644))
		other := sha256.Sum256([]byte("another build"))
		m, err := startErr(t, host.Config{PluginsDir: dir, Checksums: map[string]string{"example": hex.EncodeToString(other[:])}})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "connector example: switchboard-connector-example.sha256 says "+digest+" but --plugin-sha256 pins")
		assert.Equal(t, host.StateFailed, status(t, m, "example").State)
	})
	t.Run("pin does not match the executable", func(t *testing.T) {
		t.Parallel()
		dir, _ := pluginsDir(t)
		other := sha256.Sum256([]byte("another build"))
		m, err := startErr(t, host.Config{PluginsDir: dir, Checksums: map[string]string{"example": hex.EncodeToString(other[:])}})
		require.Error(t, err)
		st := status(t, m, "example")
		assert.Equal(t, host.StateFailed, st.State)
		assert.Contains(t, st.LastError, "checksums did not match")
	})
	t.Run("pin for a connector that is not there", func(t *testing.T) {
		t.Parallel()
		dir, digest := pluginsDir(t)
		_, err := startErr(t, host.Config{PluginsDir: dir, Checksums: map[string]string{"example": digest, "ghost": digest}})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "a SHA-256 is pinned for connector ghost, but "+dir+" has no switchboard-connector-ghost")
	})
}

func TestParseChecksums(t *testing.T) {
	t.Parallel()
	hexsum := "AB" + strings.Repeat("ab", 31)
	got, err := host.ParseChecksums([]string{"example=" + hexsum, " other-1=" + hexsum})
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"example": "ab" + hexsum[2:], "other-1": "ab" + hexsum[2:]}, got)
	for _, bad := range []string{"example", "=" + hexsum, "Bad Id=" + hexsum, "example=abcd", "example=" + hexsum + " file"} {
		_, err := host.ParseChecksums([]string{bad})
		assert.Error(t, err, bad)
	}
	_, err = host.ParseChecksums([]string{"example=" + hexsum, "example=" + hexsum[:62] + "cd"})
	assert.ErrorContains(t, err, "pinned twice")
}
