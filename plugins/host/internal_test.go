package host

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/netguard"
)

func TestLineWriter(t *testing.T) {
	t.Parallel()
	var lines []string
	w := newLineWriter(func(l string) { lines = append(lines, l) })
	for _, chunk := range []string{"fir", "st\nsecond\r\nthi", "rd"} {
		n, err := w.Write([]byte(chunk))
		require.NoError(t, err)
		require.Equal(t, len(chunk), n)
	}
	assert.Equal(t, []string{"first", "second"}, lines, "an unfinished line waits")
	_, _ = w.Write([]byte("\n" + strings.Repeat("x", maxLine+1)))
	require.Len(t, lines, 4)
	assert.Equal(t, "third", lines[2])
	assert.Len(t, lines[3], maxLine+1, "an endless line is flushed, not buffered forever")
}

func TestHCLogAdapter(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := newHCLog(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	assert.Equal(t, hclog.Debug, l.GetLevel())
	assert.False(t, l.IsTrace())
	assert.True(t, l.IsDebug())

	l.Trace("dropped")
	l.Named("plugin").Named("dversum").With("pid", 7).Warn("hello", "k", "v")
	out := buf.String()
	assert.NotContains(t, out, "dropped")
	assert.Contains(t, out, `"level":"WARN"`)
	assert.Contains(t, out, `"msg":"hello"`)
	assert.Contains(t, out, `"logger":"plugin.dversum"`)
	assert.Contains(t, out, `"pid":7`)
	assert.Contains(t, out, `"k":"v"`)
}

func TestChecksumFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	exe := filepath.Join(dir, "switchboard-connector-x")
	hexsum := strings.Repeat("ab", 32)
	tests := []struct {
		name, file, pinned, wantErr string
	}{
		{name: "bare hex", file: hexsum + "\n"},
		{name: "sha256sum format", file: strings.ToUpper(hexsum) + "  switchboard-connector-x\n"},
		{name: "pinned without a file", pinned: hexsum},
		{name: "pinned and the file agree", file: hexsum + "  switchboard-connector-x\n", pinned: strings.ToUpper(hexsum)},
		{name: "pinned and the file disagree", file: strings.Repeat("cd", 32), pinned: hexsum,
			wantErr: "switchboard-connector-x.sha256 says cdcd"},
		{name: "pinned and a garbage file", file: "garbage", pinned: hexsum, wantErr: "does not start with a hex SHA-256 digest"},
		{name: "pin not a digest", pinned: "abcd", wantErr: "the digest pinned by --plugin-sha256 does not start with a hex SHA-256 digest"},
		{name: "missing", wantErr: "no checksum: create switchboard-connector-x.sha256"},
		{name: "empty", file: "\n", wantErr: "is empty"},
		{name: "short", file: "abcd", wantErr: "does not start with a hex SHA-256 digest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_ = os.Remove(exe + ChecksumSuffix)
			if tt.file != "" {
				require.NoError(t, os.WriteFile(exe+ChecksumSuffix, []byte(tt.file), 0o644))
			}
			sum, err := checksum(dir, filepath.Base(exe), tt.pinned)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, bytes.Repeat([]byte{0xab}, 32), sum)
		})
	}
}

func TestPluginEnvKeepsSecretsOut(t *testing.T) {
	t.Setenv("SWITCHBOARD_API_KEY", "sk_live_secret")
	t.Setenv("SWITCHBOARD_DATABASE_URL", "postgres://u:p@db/x")
	t.Setenv("HTTPS_PROXY", "http://proxy:3128")
	env := strings.Join(pluginEnv([]string{"EXTRA=1"}, netguard.Policy{}, slog.New(slog.DiscardHandler)), "\n")
	assert.NotContains(t, env, "sk_live_secret")
	assert.NotContains(t, env, "postgres://")
	assert.Contains(t, env, "HTTPS_PROXY=http://proxy:3128")
	assert.Contains(t, env, "EXTRA=1")
	assert.Contains(t, env, plugins.EnvParentPID+"="+strconv.Itoa(os.Getpid()))
	assert.Contains(t, env, plugins.EnvLogLevel+"=error", "a discarding logger asks for errors only")
}
