package bench

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func durations(ms ...int) []time.Duration {
	out := make([]time.Duration, len(ms))
	for i, m := range ms {
		out[i] = time.Duration(m) * time.Millisecond
	}
	return out
}

func seq(n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * time.Millisecond
	}
	return out
}

func TestPercentile(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value is every percentile", durations(7), 99, 7 * time.Millisecond},
		{"p0 is the minimum", seq(10), 0, 1 * time.Millisecond},
		{"median of 10 is the 5th", seq(10), 50, 5 * time.Millisecond},
		{"p90 of 10 is the 9th", seq(10), 90, 9 * time.Millisecond},
		{"p99 of 10 is the maximum", seq(10), 99, 10 * time.Millisecond},
		{"p100 is the maximum", seq(10), 100, 10 * time.Millisecond},
		{"p99 of 100 is the 99th, not the 100th", seq(100), 99, 99 * time.Millisecond},
		{"p99.9 of 1000 is the 999th", seq(1000), 99.9, 999 * time.Millisecond},
		{"p50 of 3 is the middle", durations(1, 2, 40), 50, 2 * time.Millisecond},
		{"p1 of 1000 is the 10th", seq(1000), 1, 10 * time.Millisecond},
		{"rank rounds up", seq(3), 34, 2 * time.Millisecond},
		{"a tail outlier only shows at the top", append(seq(99), time.Second), 99, 99 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, Percentile(tt.sorted, tt.p))
		})
	}
}

func TestAnalyzeCountsLossDuplicatesAndLatency(t *testing.T) {
	t.Parallel()
	sec := time.Second
	a := analysis{
		firstSend: 1 * sec,
		end:       4 * sec,
		fanout:    2,
		accepted: []acceptance{
			{"e1", 1*sec + 10*time.Millisecond},
			{"e2", 1*sec + 20*time.Millisecond},
			{"e3", 2*sec + 500*time.Millisecond},
		},
		arrivals: []map[string]time.Duration{
			{ // subscription 0: all three
				"e1": 1*sec + 30*time.Millisecond,  // 20 ms
				"e2": 1*sec + 15*time.Millisecond,  // arrived before its 202: 0 ms
				"e3": 2*sec + 600*time.Millisecond, // 100 ms
			},
			{ // subscription 1: e3 missing, plus one the run never accepted
				"e1": 1*sec + 50*time.Millisecond, // 40 ms
				"e2": 1*sec + 60*time.Millisecond, // 40 ms
				"zz": 2 * sec,
			},
		},
		samples: []sample{
			{at: 900 * time.Millisecond, cpu: 10, rss: 100 << 20, cur: 90 << 20},
			{at: 1500 * time.Millisecond, cpu: 10.4, rss: 150 << 20, cur: 150 << 20},
			{at: 2 * sec, cpu: 11, rss: 120 << 20, cur: 80 << 20}, // a connector restarted: lower sum
			{at: 3900 * time.Millisecond, cpu: 12.5, rss: 130 << 20, cur: 110 << 20},
		},
	}
	var r Result
	a.analyze(&r)

	assert.Equal(t, int64(3), r.Accepted)
	assert.Equal(t, int64(6), r.Expected)
	assert.Equal(t, int64(5), r.Delivered)
	assert.Equal(t, int64(1), r.Lost)
	assert.Equal(t, int64(1), r.Unmatched)
	assert.Equal(t, 40.0, r.P50MS) // 0, 20, 40, 40, 100: rank 3
	assert.Equal(t, 100.0, r.P90MS)
	assert.Equal(t, 100.0, r.P99MS)
	assert.Equal(t, 100.0, r.MaxMS)
	assert.Equal(t, 40.0, r.MeanMS)
	// Something was lost, so the run lasted until the wait gave up.
	assert.Equal(t, 3.0, r.DurationS)
	assert.Equal(t, 3/1.5, r.AcceptedPerSec)
	assert.Equal(t, round1(5/1.6), r.DeliveredPerSec)
	require.NotNil(t, r.CPUSeconds)
	require.NotNil(t, r.PeakRSSMB)
	assert.Equal(t, 2.5, *r.CPUSeconds, "from the reading before the first send to the last")
	assert.Equal(t, 150.0, *r.PeakRSSMB)

	require.Len(t, r.Timeline, 4) // seconds 0..3 after the first send
	assert.Equal(t, int64(2), r.Timeline[0].AcceptedPerSec)
	assert.Equal(t, int64(4), r.Timeline[0].DeliveredPerSec)
	assert.Equal(t, int64(1), r.Timeline[1].AcceptedPerSec)
	assert.Equal(t, int64(1), r.Timeline[1].DeliveredPerSec)
	require.NotNil(t, r.Timeline[0].P99MS)
	assert.Equal(t, 40.0, *r.Timeline[0].P99MS)
	assert.Equal(t, 100.0, *r.Timeline[1].P99MS)
	assert.Nil(t, r.Timeline[2].P99MS, "nothing arrived in second 2")
	require.NotNil(t, r.Timeline[0].CPUCores)
	assert.Equal(t, 1.0, *r.Timeline[0].CPUCores) // 10 -> 11 between 1 s and 2 s
	assert.Equal(t, 0.0, *r.Timeline[1].CPUCores)
	require.NotNil(t, r.Timeline[0].RSSMB)
	assert.Equal(t, 80.0, *r.Timeline[0].RSSMB, "the current RSS at the end of the second, not the peak")

	var buf bytes.Buffer
	require.NoError(t, r.WriteTimeline(&buf))
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	require.Len(t, lines, 4)
	var first map[string]any
	require.NoError(t, json.Unmarshal(lines[0], &first))
	for _, k := range []string{"t", "accepted_per_sec", "delivered_per_sec", "p99_ms", "cpu_cores", "rss_mb"} {
		assert.Contains(t, first, k)
	}
}

func TestAnalyzeWithoutMonitorLeavesResourcesUnknown(t *testing.T) {
	t.Parallel()
	a := analysis{fanout: 1, end: time.Second,
		accepted: []acceptance{{"e1", 0}}, arrivals: []map[string]time.Duration{{"e1": 5 * time.Millisecond}}}
	var r Result
	a.analyze(&r)
	assert.Nil(t, r.CPUSeconds)
	assert.Nil(t, r.PeakRSSMB)
	assert.Equal(t, int64(0), r.Lost)
	assert.Equal(t, 0.005, r.DurationS, "first send to last arrival")

	var buf bytes.Buffer
	require.NoError(t, r.WriteJSON(&buf))
	var m map[string]any
	require.NoError(t, json.Unmarshal(buf.Bytes(), &m))
	assert.Contains(t, m, "cpu_seconds")
	assert.Nil(t, m["cpu_seconds"], "unknown is null, not 0")
	assert.Nil(t, m["peak_rss_mb"])
}

func TestResultOK(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    Result
		ok   bool
	}{
		{"clean run", Result{Accepted: 10, Delivered: 10}, true},
		{"duplicates alone pass (at-least-once)", Result{Duplicates: 3}, true},
		{"lost delivery", Result{Lost: 1}, false},
		{"bad signature", Result{BadSignatures: 1}, false},
		{"rejected event", Result{Rejected: 1}, false},
		{"interrupted", Result{Interrupted: true}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.ok, tt.r.OK())
			var buf bytes.Buffer
			require.NoError(t, tt.r.WriteTable(&buf))
			if tt.ok {
				assert.Contains(t, buf.String(), "PASS")
			} else {
				assert.Contains(t, buf.String(), "FAIL")
			}
		})
	}
}

func TestTemplateFillsEveryHole(t *testing.T) {
	t.Parallel()
	tpl := compile([]byte(`{"id":"@A@","n":"RE-@A@","ts":"@B@"}`), "@A@", "@B@")
	assert.Equal(t, `{"id":"x1","n":"RE-x1","ts":"now"}`, string(tpl.fill("x1", "now")))
	assert.Equal(t, `{"id":"","n":"RE-","ts":""}`, string(tpl.fill("", "")))
	assert.Equal(t, `plain`, string(compile([]byte("plain"), "@A@").fill("x")))
}
