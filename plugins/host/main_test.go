package host_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/connectors/dversum"
	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/host"
)

// binDir holds the real plugin and host executables the tests run, built
// once in TestMain: testplugin (stands in for `switchboard connector <id>`),
// testhost (a hub that can be SIGKILLed) and example (an external plugin).
var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "switchboard-host-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	const mod = "github.com/switchboardhq/switchboard/plugins/"
	build := exec.Command("go", "build", "-o", dir+string(filepath.Separator),
		mod+"internal/testplugin", mod+"internal/testhost", mod+"example")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building test plugins:", err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func bin(name string) string { return filepath.Join(binDir, name) }

// builtin is how the hub would run connector id, with testplugin standing in
// for the hub's own binary.
func builtin(id string) host.Command {
	return host.Command{Path: bin("testplugin"), Args: []string{"connector", id}}
}

// start runs a Manager for the test and stops it at the end.
func start(t *testing.T, cfg host.Config) *host.Manager {
	t.Helper()
	m, err := host.New(cfg)
	require.NoError(t, err)
	require.NoError(t, m.Start(t.Context()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		require.NoError(t, m.Stop(ctx))
	})
	return m
}

func status(t *testing.T, m *host.Manager, id string) host.Status {
	t.Helper()
	for _, st := range m.Status() {
		if st.ID == id {
			return st
		}
	}
	t.Fatalf("no status for %s", id)
	return host.Status{}
}

const secret = "host-test-secret"

const body = `{"event":"invoice.paid","timestamp":"2024-01-15T10:30:00Z","data":{"id":"inv_1"}}`

func dversumRequest(b string) *plugins.InboundRequest {
	return &plugins.InboundRequest{
		Method:     http.MethodPost,
		Path:       "/webhook/inbound/dversum/tok",
		Headers:    http.Header{dversum.HeaderSignature: {dversum.Sign(secret, []byte(b))}},
		Body:       []byte(b),
		Connection: plugins.Connection{ID: "c1", ConsumerID: "acme", Credentials: map[string]string{plugins.CredentialSigningSecret: secret}},
	}
}

func testkitRequest(behaviour string) *plugins.InboundRequest {
	return &plugins.InboundRequest{
		Method:     http.MethodPost,
		Headers:    http.Header{"X-Testkit": {behaviour}},
		Body:       []byte(`{"n":1}`),
		Connection: plugins.Connection{ID: "c1", Credentials: map[string]string{"api_key": "hunter2"}},
	}
}

// logBuffer collects a Manager's JSON log lines for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// lineContaining returns the first log line containing every part.
func lineContaining(s string, parts ...string) string {
	for line := range strings.SplitSeq(s, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return line
		}
	}
	return ""
}
