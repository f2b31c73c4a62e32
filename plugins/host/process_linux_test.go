package host_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/host"
)

// gone reports whether pid no longer runs: kill(pid, 0) fails with ESRCH,
// or the process is a zombie (dead, waiting for a parent that may not be
// us to reap it).
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
	return strings.Fields(rest)[0] == "Z"
}

func TestKilledPluginIsRestarted(t *testing.T) {
	t.Parallel()
	m := start(t, host.Config{
		Builtin: map[string]host.Command{"dversum": builtin("dversum")},
		// Long enough to observe the outage; the default is 100 ms.
		MinBackoff: 500 * time.Millisecond,
	})
	old := status(t, m, "dversum").PID
	require.Positive(t, old)
	_, err := m.HandleInbound(t.Context(), "dversum", dversumRequest(body))
	require.NoError(t, err)

	require.NoError(t, syscall.Kill(old, syscall.SIGKILL))

	// Meanwhile: unavailable, with a Retry-After, never a fake success.
	require.Eventually(t, func() bool {
		_, err := m.HandleInbound(t.Context(), "dversum", dversumRequest(body))
		var ue *plugins.UnavailableError
		return errors.As(err, &ue) && ue.RetryAfterSeconds() >= 1
	}, 10*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool { return status(t, m, "dversum").State == host.StateRestarting }, 10*time.Second, 5*time.Millisecond)
	require.Error(t, m.Ready())

	// Then a new process, and calls work again.
	require.Eventually(t, func() bool {
		st := status(t, m, "dversum")
		return st.State == host.StateRunning && st.PID != old && st.PID != 0
	}, 15*time.Second, 20*time.Millisecond)
	res, err := m.HandleInbound(t.Context(), "dversum", dversumRequest(body))
	require.NoError(t, err)
	require.Len(t, res.Events, 1)
	require.NoError(t, m.Ready())

	st := status(t, m, "dversum")
	assert.Equal(t, 1, st.Restarts)
	assert.Contains(t, st.LastError, "plugin process exited")
	assert.True(t, gone(old))
	_, err = m.Describe("dversum")
	require.NoError(t, err, "the description is refreshed after the restart")
}

func TestStopEndsEveryPlugin(t *testing.T) {
	t.Parallel()
	m, err := host.New(host.Config{Builtin: map[string]host.Command{
		"dversum": builtin("dversum"),
		"testkit": builtin("testkit"),
	}})
	require.NoError(t, err)
	require.NoError(t, m.Start(t.Context()))
	var pids []int
	for _, st := range m.Status() {
		require.Equal(t, host.StateRunning, st.State)
		pids = append(pids, st.PID)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	require.NoError(t, m.Stop(ctx))
	for _, pid := range pids {
		assert.True(t, gone(pid), "pid %d still runs after Stop", pid)
	}
	for _, st := range m.Status() {
		assert.Equal(t, host.StateStopped, st.State)
		assert.Zero(t, st.PID)
	}
	_, err = m.HandleInbound(t.Context(), "dversum", dversumRequest(body))
	require.ErrorIs(t, err, plugins.ErrUnavailable)
	require.NoError(t, m.Stop(ctx), "Stop twice is fine")
}

// runHost starts testhost with args, returns it and the plugin pid it prints.
func runHost(t *testing.T, args ...string) (*exec.Cmd, int) {
	t.Helper()
	cmd := exec.Command(bin("testhost"), args...)
	// A file, not a pipe: an orphaned plugin holding a pipe open would stall
	// Wait (and go test), and the file is shown if the test fails.
	stderr, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	require.NoError(t, err)
	cmd.Stderr = stderr
	t.Cleanup(func() {
		_ = stderr.Close()
		if t.Failed() {
			b, _ := os.ReadFile(stderr.Name())
			t.Logf("testhost stderr:\n%s", b)
		}
	})
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	var pid int
	_, err = fmt.Sscanf(line, "pid %d", &pid)
	require.NoError(t, err, "testhost said %q", line)
	require.Positive(t, pid)
	t.Cleanup(func() {
		if !gone(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	return cmd, pid
}

func TestHostKilledLeavesNoPlugin(t *testing.T) {
	t.Parallel()
	hub, pid := runHost(t, "-plugin", bin("testplugin"), "-id", "dversum")
	require.False(t, gone(pid))

	require.NoError(t, hub.Process.Signal(syscall.SIGKILL))
	_ = hub.Wait()
	require.Eventually(t, func() bool { return gone(pid) }, 10*time.Second, 10*time.Millisecond,
		"plugin %d outlived its SIGKILLed host", pid)
}

// TestParentWatchWithoutDeathSignal starts the plugin without the
// parent-death signal, so only plugins.Serve's own parent watch can end it.
func TestParentWatchWithoutDeathSignal(t *testing.T) {
	t.Parallel()
	hub, pid := runHost(t, "-plugin", bin("testplugin"), "-id", "dversum", "-raw")
	require.False(t, gone(pid))

	require.NoError(t, hub.Process.Signal(syscall.SIGKILL))
	_ = hub.Wait()
	require.Eventually(t, func() bool { return gone(pid) }, 10*time.Second, 20*time.Millisecond,
		"plugin %d outlived its SIGKILLed parent", pid)
}

// TestPluginIgnoresInterrupt: a Ctrl-C reaches the whole process group; the
// plugin must keep serving while the hub drains.
func TestPluginIgnoresInterrupt(t *testing.T) {
	t.Parallel()
	m := start(t, host.Config{Builtin: map[string]host.Command{"dversum": builtin("dversum")}})
	pid := status(t, m, "dversum").PID
	require.NoError(t, syscall.Kill(pid, syscall.SIGINT))
	require.NoError(t, syscall.Kill(pid, syscall.SIGTERM))
	_, err := m.HandleInbound(t.Context(), "dversum", dversumRequest(body))
	require.NoError(t, err)
	st := status(t, m, "dversum")
	assert.Equal(t, pid, st.PID)
	assert.Zero(t, st.Restarts)
}

// An external connector runs from a sealed in-memory copy of the bytes that
// were hashed, and every relaunch hashes the file again: one replaced while
// the plugin runs is refused at the next start.
func TestExternalPluginRunsFromAVerifiedCopy(t *testing.T) {
	t.Parallel()
	dir, digest := pluginsDir(t)
	m := start(t, host.Config{PluginsDir: dir, Checksums: map[string]string{"example": digest}, MinBackoff: 10 * time.Millisecond})
	st := status(t, m, "example")
	require.Equal(t, host.StateRunning, st.State)
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", st.PID))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(exe, "/memfd:switchboard-connector"), "runs %s", exe)

	// Replaced on disk, then the process dies: the relaunch checks again.
	evil, err := os.ReadFile("/bin/false")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "switchboard-connector-example"), evil, 0o755))
	require.NoError(t, syscall.Kill(st.PID, syscall.SIGKILL))
	require.Eventually(t, func() bool { return status(t, m, "example").State == host.StateFailed }, 10*time.Second, 10*time.Millisecond)
	assert.Contains(t, status(t, m, "example").LastError, "checksums did not match")
}
