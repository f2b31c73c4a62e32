package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests run the real switchboard binary as the hub (and, for the
// command, as the bench itself): the engine is measured the way it is used.

var (
	buildOnce sync.Once
	binDir    string
	binPath   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// switchboardBinary builds ./cmd/switchboard once per test binary (only
// for the tests that need it).
func switchboardBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, buildErr = os.MkdirTemp("", "switchboard-bench-bin-"); buildErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "switchboard")
		out, err := exec.Command("go", "build", "-o", binPath, "../../cmd/switchboard").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

func startHub(t *testing.T) *Hub {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the bench measures the hub through /proc")
	}
	h, err := StartHub(context.Background(), HubOptions{Binary: switchboardBinary(t)})
	require.NoError(t, err)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("hub output:\n%s", h.Output())
		}
		assert.NoError(t, h.Stop())
	})
	return h
}

// subscriptionCount counts the hub's subscriptions: a run removes its own.
func subscriptionCount(t *testing.T, h *Hub) int {
	t.Helper()
	var subs []subscription
	api := &apiClient{target: h.Target(), http: http.DefaultClient}
	require.NoError(t, api.call(context.Background(), http.MethodGet, "/webhook/webhooks?limit=200", "", nil, &subs))
	return len(subs)
}

func TestRunDeliversEverythingThroughARealHub(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode           Mode
		events, fanout int
	}{
		{ModePublish, 200, 2},
		{ModeInbound, 100, 2},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			t.Parallel()
			h := startHub(t)
			var progress []Progress
			var mu sync.Mutex
			res, err := Run(context.Background(), Config{
				Target: h.Target(), Mode: tt.mode, Events: tt.events, Fanout: tt.fanout, Concurrency: 8,
				Timeout: time.Minute, Monitor: h,
				OnProgress: func(p Progress) { mu.Lock(); progress = append(progress, p); mu.Unlock() },
			})
			require.NoError(t, err)

			assert.Equal(t, tt.mode, res.Mode)
			assert.Equal(t, int64(tt.events), res.Sent)
			assert.Equal(t, int64(tt.events), res.Accepted)
			assert.Zero(t, res.Rejected, "%v", res.Rejections)
			assert.Equal(t, int64(tt.events*tt.fanout), res.Expected)
			assert.Equal(t, int64(tt.events*tt.fanout), res.Delivered)
			assert.Zero(t, res.Lost)
			assert.Zero(t, res.BadSignatures)
			assert.Zero(t, res.Duplicates)
			assert.Zero(t, res.Unmatched)
			assert.False(t, res.TimedOut)
			assert.True(t, res.OK())
			assert.Positive(t, res.DeliveredPerSec)
			assert.Positive(t, res.MaxMS)
			assert.LessOrEqual(t, res.P50MS, res.P99MS)
			assert.LessOrEqual(t, res.P99MS, res.MaxMS)
			require.NotNil(t, res.CPUSeconds, "the hub's CPU is read from /proc")
			require.NotNil(t, res.PeakRSSMB)
			assert.Positive(t, *res.PeakRSSMB)
			require.NotNil(t, res.BenchCPUSeconds, "the bench measures itself too")

			var delivered int64
			for _, s := range res.Timeline {
				delivered += s.DeliveredPerSec
			}
			assert.Equal(t, res.Delivered, delivered, "the timeline accounts for every delivery")

			mu.Lock()
			require.NotEmpty(t, progress)
			last := progress[len(progress)-1]
			mu.Unlock()
			assert.False(t, last.Sending)
			assert.Equal(t, int64(tt.events*tt.fanout), last.Delivered)

			assert.Zero(t, subscriptionCount(t, h), "the run removes its subscriptions")
		})
	}
}

func TestRunIngestOnlyStoresEveryAcceptedEvent(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	res, err := Run(context.Background(), Config{
		Target: h.Target(), Mode: ModeInbound, Events: 60, IngestOnly: true, Concurrency: 4,
		Timeout: time.Minute, Monitor: h,
	})
	require.NoError(t, err)
	assert.Equal(t, int64(60), res.Accepted)
	assert.Zero(t, res.Fanout)
	assert.Zero(t, res.Expected)
	assert.Zero(t, res.Delivered)
	assert.Positive(t, res.AcceptedPerSec)
	assert.True(t, res.OK())
	assert.Zero(t, subscriptionCount(t, h), "no subscription was made")

	// Every 202 is a stored event; the bench's connection also has the
	// hub's own vault.connection.* events, which are not the bench's.
	var events []struct {
		ServiceID string `json:"service_id"`
		EventType string `json:"event_type"`
	}
	api := &apiClient{target: h.Target(), http: http.DefaultClient}
	require.NoError(t, api.call(context.Background(), http.MethodGet, "/webhook/events?limit=200&filter[service_id]=dversum", "", nil, &events))
	benched := 0
	for _, ev := range events {
		assert.Equal(t, "dversum", ev.ServiceID)
		if !strings.HasPrefix(ev.EventType, "vault.connection.") {
			benched++
		}
	}
	assert.Equal(t, 60, benched)

	var table bytes.Buffer
	require.NoError(t, res.WriteTable(&table))
	assert.Contains(t, table.String(), "ingest only, no subscriptions")
	assert.Contains(t, table.String(), "none: nothing was delivered")
}

func TestRunRejectsBadConfig(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no target", Config{Events: 1}, "target"},
		{"no events", Config{Target: Target{URL: "http://127.0.0.1:1"}}, "events"},
		{"bad mode", Config{Target: Target{URL: "http://127.0.0.1:1"}, Events: 1, Mode: "poll"}, "mode"},
		{"negative rate", Config{Target: Target{URL: "http://127.0.0.1:1"}, Events: 1, Rate: -1}, "rate"},
		{"huge fanout", Config{Target: Target{URL: "http://127.0.0.1:1"}, Events: 1, Fanout: 5000}, "fanout"},
		{"hub unreachable", Config{Target: Target{URL: "http://127.0.0.1:1", APIKey: "k"}, Events: 1}, "creating subscription"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Run(context.Background(), tt.cfg)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// runBench runs `switchboard bench` and returns its stdout and exit code.
func runBench(t *testing.T, args ...string) (stdout string, code int, stderr string) {
	t.Helper()
	cmd := exec.Command(switchboardBinary(t), append([]string{"bench"}, args...)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		require.NoError(t, err)
	}
	return out.String(), code, errOut.String()
}

// lastJSON parses the last line of stdout.
func lastJSON(t *testing.T, stdout string) map[string]any {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &m), "last line of stdout: %q", lines[len(lines)-1])
	return m
}

var requiredKeys = []string{
	"accepted_per_sec", "delivered_per_sec", "p50_ms", "p90_ms", "p99_ms", "max_ms", "lost", "duplicates",
	"bad_signatures", "cpu_seconds", "peak_rss_mb", "events", "fanout", "mode", "concurrency", "rate", "duration_s",
}

func TestCommandPrintsJSONAndTimeline(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("the bench measures the hub through /proc")
	}
	timeline := filepath.Join(t.TempDir(), "timeline.jsonl")
	stdout, code, stderr := runBench(t, "--mode", "publish", "--events", "200", "--fanout", "2",
		"--concurrency", "8", "--json", "--timeline", timeline)
	require.Zero(t, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)

	m := lastJSON(t, stdout)
	for _, k := range requiredKeys {
		assert.Contains(t, m, k)
	}
	assert.Equal(t, "publish", m["mode"])
	assert.Equal(t, 200.0, m["events"])
	assert.Equal(t, 2.0, m["fanout"])
	assert.Equal(t, 400.0, m["delivered"])
	assert.Equal(t, 0.0, m["lost"])
	assert.Equal(t, 0.0, m["bad_signatures"])
	assert.NotNil(t, m["cpu_seconds"], "bench started the hub, so it measured it")
	assert.NotNil(t, m["peak_rss_mb"])
	assert.NotContains(t, stderr, "sent ", "no progress bar with --json")

	f, err := os.Open(timeline)
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	var delivered float64
	lines := 0
	for sc.Scan() {
		var s map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &s), sc.Text())
		assert.Contains(t, s, "accepted_per_sec")
		assert.Contains(t, s, "p99_ms")
		delivered += s["delivered_per_sec"].(float64)
		lines++
	}
	require.NoError(t, sc.Err())
	assert.Positive(t, lines)
	assert.Equal(t, 400.0, delivered)
}

func TestCommandFailsWhenDeliveriesAreLost(t *testing.T) {
	t.Parallel()
	h := startHub(t)
	// Deliveries go to a port nobody listens on: every one is lost.
	stdout, code, stderr := runBench(t, "--target", h.URL, "--api-key", h.APIKey, "--mode", "publish",
		"--events", "5", "--fanout", "2", "--receiver-url", "http://127.0.0.1:1", "--timeout", "2s", "--json")
	assert.Equal(t, 1, code, "stdout:\n%s\nstderr:\n%s", stdout, stderr)
	m := lastJSON(t, stdout)
	assert.Equal(t, 10.0, m["lost"])
	assert.Equal(t, 5.0, m["accepted"])
	assert.Equal(t, true, m["timed_out"])
	assert.Nil(t, m["cpu_seconds"], "a hub bench did not start is not measured")
	assert.Nil(t, m["peak_rss_mb"])
	assert.Zero(t, subscriptionCount(t, h), "the failed run still removes its subscriptions")

	_, code, stderr = runBench(t, "--target", h.URL, "--events", "1")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "--api-key")
}

func TestCommandReportsAHubThatCannotStart(t *testing.T) {
	t.Parallel()
	_, code, stderr := runBench(t, "--events", "1", "--hub-flag=--sqlite-synchronous=SOMETIMES")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "the hub exited before it was ready")
	assert.Contains(t, stderr, "SOMETIMES", "the hub's own error is shown")
}
