package host_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/host"
)

func TestDversumThroughItsProcess(t *testing.T) {
	t.Parallel()
	m := start(t, host.Config{Builtin: map[string]host.Command{"dversum": builtin("dversum")}})

	st := status(t, m, "dversum")
	assert.Equal(t, host.StateRunning, st.State)
	assert.Equal(t, "builtin", st.Source)
	assert.Positive(t, st.PID)
	assert.NotEqual(t, os.Getpid(), st.PID, "the connector runs in its own process")
	require.NoError(t, m.Ready())

	d, err := m.Describe("dversum")
	require.NoError(t, err)
	assert.Equal(t, "dVersum", d.Name)
	assert.Len(t, d.SupportedEvents, 45)
	require.Len(t, m.Descriptions(), 1)

	res, err := m.HandleInbound(t.Context(), "dversum", dversumRequest(body))
	require.NoError(t, err)
	require.Len(t, res.Events, 1)
	assert.Equal(t, "invoice.paid", res.Events[0].Type)
	assert.Equal(t, body, string(res.Events[0].Payload))
	assert.True(t, time.Date(2024, 1, 15, 10, 30, 0, 0, time.UTC).Equal(res.Events[0].OccurredAt))

	bad := dversumRequest(body)
	bad.Headers.Set("X-Webhook-Signature", "sha256="+hex.EncodeToString(make([]byte, 32)))
	_, err = m.HandleInbound(t.Context(), "dversum", bad)
	require.ErrorIs(t, err, plugins.ErrBadSignature)
	assert.NotErrorIs(t, err, plugins.ErrUnavailable)

	_, err = m.HandleInbound(t.Context(), "dversum", dversumRequest(`{"data":{}}`))
	var me *plugins.MalformedError
	require.ErrorAs(t, err, &me)
	assert.Equal(t, `body field "event" is missing`, me.Reason)

	sub, err := m.Subscribe(t.Context(), "dversum", &plugins.SubscribeRequest{WebhookURL: "https://hub/x"})
	require.NoError(t, err)
	assert.False(t, sub.Registered)
	require.NoError(t, m.Unsubscribe(t.Context(), "dversum", &plugins.UnsubscribeRequest{}))
	_, err = m.Poll(t.Context(), "dversum", &plugins.PollRequest{})
	require.ErrorIs(t, err, plugins.ErrUnsupported)

	_, err = m.HandleInbound(t.Context(), "nope", dversumRequest(body))
	require.ErrorIs(t, err, host.ErrUnknownConnector)
	_, err = m.Describe("nope")
	require.ErrorIs(t, err, host.ErrUnknownConnector)
}

func TestCrashDuringCallIsUnavailableThenRecovers(t *testing.T) {
	t.Parallel()
	m := start(t, host.Config{Builtin: map[string]host.Command{"testkit": builtin("testkit")}})
	pid := status(t, m, "testkit").PID

	// The plugin exits in the middle of the call: the hub must not see success.
	_, err := m.HandleInbound(t.Context(), "testkit", testkitRequest("exit"))
	require.ErrorIs(t, err, plugins.ErrUnavailable)
	var ue *plugins.UnavailableError
	require.ErrorAs(t, err, &ue)
	assert.Equal(t, "testkit", ue.ID)
	assert.GreaterOrEqual(t, ue.RetryAfterSeconds(), 1)

	require.Eventually(t, func() bool {
		st := status(t, m, "testkit")
		return st.State == host.StateRunning && st.PID != pid && st.PID != 0
	}, 15*time.Second, 20*time.Millisecond)
	res, err := m.HandleInbound(t.Context(), "testkit", testkitRequest(""))
	require.NoError(t, err)
	require.Len(t, res.Events, 1)
	st := status(t, m, "testkit")
	assert.Equal(t, 1, st.Restarts)
	assert.Contains(t, st.LastError, "exited")
}

func TestCallTimeout(t *testing.T) {
	t.Parallel()
	m := start(t, host.Config{
		Builtin:     map[string]host.Command{"testkit": builtin("testkit")},
		CallTimeout: 300 * time.Millisecond,
	})
	pid := status(t, m, "testkit").PID

	_, err := m.HandleInbound(t.Context(), "testkit", testkitRequest("sleep"))
	require.ErrorIs(t, err, plugins.ErrUnavailable, "a plugin that does not answer in time is unavailable")
	assert.Contains(t, err.Error(), "no answer within 300ms")

	// A caller that gives up gets its own context error, not a 503.
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		time.Sleep(50 * time.Millisecond)
		cancel()
	}()
	_, err = m.HandleInbound(ctx, "testkit", testkitRequest("sleep"))
	require.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, plugins.ErrUnavailable)

	st := status(t, m, "testkit")
	assert.Equal(t, host.StateRunning, st.State)
	assert.Equal(t, pid, st.PID, "a slow call does not restart the plugin")
}

func TestPanicIsAnErrorNotACrash(t *testing.T) {
	t.Parallel()
	m := start(t, host.Config{Builtin: map[string]host.Command{"testkit": builtin("testkit")}})
	pid := status(t, m, "testkit").PID
	_, err := m.HandleInbound(t.Context(), "testkit", testkitRequest("panic"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "testkit panic")
	assert.NotErrorIs(t, err, plugins.ErrUnavailable)
	_, err = m.HandleInbound(t.Context(), "testkit", testkitRequest(""))
	require.NoError(t, err)
	assert.Equal(t, pid, status(t, m, "testkit").PID)
}

func TestPluginLogsReachSlog(t *testing.T) {
	t.Parallel()
	var logs logBuffer
	m := start(t, host.Config{Builtin: map[string]host.Command{"testkit": builtin("testkit")}, Logger: logs.logger()})

	_, err := m.HandleInbound(t.Context(), "testkit", testkitRequest("log"))
	require.NoError(t, err)
	_, err = m.HandleInbound(t.Context(), "testkit", testkitRequest("print"))
	require.NoError(t, err)

	require.Eventually(t, func() bool {
		return lineContaining(logs.String(), "testkit handled") != "" &&
			lineContaining(logs.String(), "testkit printed to stdout") != ""
	}, 10*time.Second, 20*time.Millisecond)
	line := lineContaining(logs.String(), "testkit handled")
	assert.Contains(t, line, `"level":"WARN"`, "the plugin's level is kept")
	assert.Contains(t, line, `"connector":"testkit"`)
	assert.Contains(t, line, `"marker":"m-42"`, "the plugin's attributes are kept")
	assert.Contains(t, line, `"credential_keys":["api_key"]`)
	assert.NotContains(t, logs.String(), "hunter2", "no secret in any log line")
	assert.Contains(t, lineContaining(logs.String(), "testkit printed to stdout"), `"stream":"stdout"`)
}

func TestInvalidDescriptionFailsForGood(t *testing.T) {
	t.Parallel()
	m, err := host.New(host.Config{Builtin: map[string]host.Command{"other": builtin("testkit")}, MinBackoff: time.Millisecond})
	require.NoError(t, err)
	err = m.Start(t.Context())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `launched as "other" but describes itself as "testkit"`)
	t.Cleanup(func() { require.NoError(t, m.Stop(context.Background())) })

	st := status(t, m, "other")
	assert.Equal(t, host.StateFailed, st.State)
	assert.Zero(t, st.Restarts)
	assert.Zero(t, st.PID)
	require.Error(t, m.Ready())
	_, err = m.HandleInbound(t.Context(), "other", testkitRequest(""))
	require.ErrorIs(t, err, plugins.ErrUnavailable)
}

func TestLaunchFailureIsRetried(t *testing.T) {
	t.Parallel()
	m, err := host.New(host.Config{
		Builtin:    map[string]host.Command{"ghost": {Path: filepath.Join(t.TempDir(), "missing")}},
		MinBackoff: 5 * time.Millisecond,
		MaxBackoff: 20 * time.Millisecond,
	})
	require.NoError(t, err)
	require.Error(t, m.Start(t.Context()))
	t.Cleanup(func() { require.NoError(t, m.Stop(context.Background())) })

	require.Eventually(t, func() bool { return status(t, m, "ghost").Restarts >= 3 }, 10*time.Second, 10*time.Millisecond)
	st := status(t, m, "ghost")
	assert.Equal(t, host.StateRestarting, st.State)
	assert.Contains(t, st.LastError, "missing")
	_, err = m.Describe("ghost")
	require.ErrorIs(t, err, plugins.ErrUnavailable)
}

func TestNewRejectsBadConfig(t *testing.T) {
	t.Parallel()
	_, err := host.New(host.Config{Builtin: map[string]host.Command{"Bad Id": {Path: "/bin/true"}}})
	require.Error(t, err)
	_, err = host.New(host.Config{Builtin: map[string]host.Command{"ok": {}}})
	require.Error(t, err)
}

func TestSelfCommands(t *testing.T) {
	t.Parallel()
	cmds, err := host.SelfCommands("dversum")
	require.NoError(t, err)
	exe, err := os.Executable()
	require.NoError(t, err)
	assert.Equal(t, host.Command{Path: exe, Args: []string{"connector", "dversum"}}, cmds["dversum"])
}

func TestExternalPlugins(t *testing.T) {
	t.Parallel()
	exe, err := os.ReadFile(bin("example"))
	require.NoError(t, err)
	sum := sha256.Sum256(exe)
	good := hex.EncodeToString(sum[:])

	dir := t.TempDir()
	put := func(name string, data []byte, mode os.FileMode) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, mode))
	}
	// Verified by its checksum file, in sha256sum's format.
	put("switchboard-connector-example", exe, 0o755)
	put("switchboard-connector-example.sha256", []byte(good+"  switchboard-connector-example\n"), 0o644)
	// No checksum: never launched.
	put("switchboard-connector-nosum", exe, 0o755)
	// Checksum of something else: refused by go-plugin before it runs.
	put("switchboard-connector-tampered", exe, 0o755)
	put("switchboard-connector-tampered.sha256", []byte(hex.EncodeToString(make([]byte, 32))), 0o644)
	// Same id as a built-in: ignored.
	put("switchboard-connector-dversum", exe, 0o755)
	// Not plugins.
	put("README", []byte("hi"), 0o644)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "switchboard-connector-dir"), 0o755))

	m, err := host.New(host.Config{
		Builtin:    map[string]host.Command{"dversum": builtin("dversum")},
		PluginsDir: dir,
	})
	require.NoError(t, err)
	err = m.Start(t.Context())
	t.Cleanup(func() { require.NoError(t, m.Stop(context.Background())) })
	require.Error(t, err)
	assert.Contains(t, err.Error(), "connector nosum: no checksum: create switchboard-connector-nosum.sha256")
	assert.Contains(t, err.Error(), "connector tampered:")
	assert.Contains(t, err.Error(), "dversum is built in")

	states := map[string]host.Status{}
	for _, st := range m.Status() {
		states[st.ID] = st
	}
	require.Len(t, states, 4, "dversum, example, nosum, tampered")
	assert.Equal(t, host.StateRunning, states["dversum"].State)
	assert.Equal(t, "builtin", states["dversum"].Source)
	assert.Equal(t, host.StateRunning, states["example"].State)
	assert.Equal(t, "external", states["example"].Source)
	assert.Equal(t, host.StateFailed, states["nosum"].State)
	assert.Equal(t, host.StateFailed, states["tampered"].State)
	assert.Contains(t, states["tampered"].LastError, "checksums did not match")

	res, err := m.HandleInbound(t.Context(), "example", &plugins.InboundRequest{
		Method:     http.MethodPost,
		Headers:    http.Header{"X-Example-Token": {"0123456789abcdef"}},
		Body:       []byte(`{"events":[{"id":"evt_1","type":"invoice.paid"}]}`),
		Connection: plugins.Connection{Credentials: map[string]string{"token": "0123456789abcdef"}},
	})
	require.NoError(t, err)
	require.Len(t, res.Events, 1)
	assert.Equal(t, "evt_1", res.Events[0].IdempotencyKey)

	t.Run("checksum pinned in config", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "switchboard-connector-example"), exe, 0o755))
		m := start(t, host.Config{PluginsDir: dir, Checksums: map[string]string{"example": good}})
		assert.Equal(t, host.StateRunning, status(t, m, "example").State)
	})
}

func TestUnreadablePluginsDir(t *testing.T) {
	t.Parallel()
	m, err := host.New(host.Config{PluginsDir: filepath.Join(t.TempDir(), "nope")})
	require.NoError(t, err)
	err = m.Start(t.Context())
	require.Error(t, err)
	assert.True(t, errors.Is(err, os.ErrNotExist))
	require.NoError(t, m.Stop(context.Background()))
}
