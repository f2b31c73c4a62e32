package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

// Result is what one run measured. Its JSON form is the machine-readable
// report (`switchboard bench --json`), so field names are a contract:
// scripts and CI compare runs by them.
type Result struct {
	Mode        Mode    `json:"mode"`
	Events      int     `json:"events"`
	Fanout      int     `json:"fanout"`
	Concurrency int     `json:"concurrency"`
	Rate        float64 `json:"rate"` // events/s asked for; 0 = as fast as possible

	Sent     int64 `json:"sent"`     // requests made
	Accepted int64 `json:"accepted"` // events the hub answered 202 for
	Rejected int64 `json:"rejected"` // requests that got no 202 (or a duplicate)
	// Rejections counts rejected requests by reason: HTTP status, "transport"
	// or "duplicate", so a failing run says why without the hub's log.
	Rejections map[string]int64 `json:"rejections,omitempty"`

	Expected   int64 `json:"expected"`   // deliveries owed: accepted × fanout
	Delivered  int64 `json:"delivered"`  // unique (event, subscription) arrivals of accepted events
	Lost       int64 `json:"lost"`       // expected − delivered
	Duplicates int64 `json:"duplicates"` // arrivals of an event at a subscription beyond the first
	// BadSignatures counts deliveries whose Standard Webhooks signature did
	// not verify (they are answered 401 and not counted as delivered).
	BadSignatures int64 `json:"bad_signatures"`
	// Unmatched counts verified arrivals the run cannot attribute to an
	// accepted event: a 202 the client never saw (timeout) or a stray path.
	Unmatched   int64 `json:"unmatched"`
	TimedOut    bool  `json:"timed_out"`   // the wait for deliveries hit --timeout
	Interrupted bool  `json:"interrupted"` // the run was interrupted (SIGINT)

	DurationS       float64 `json:"duration_s"`        // first send -> last arrival
	AcceptedPerSec  float64 `json:"accepted_per_sec"`  // accepted / (first send -> last 202)
	DeliveredPerSec float64 `json:"delivered_per_sec"` // delivered / (first send -> last arrival)
	P50MS           float64 `json:"p50_ms"`            // latency: 202 received -> arrival at the receiver
	P90MS           float64 `json:"p90_ms"`
	P99MS           float64 `json:"p99_ms"`
	MaxMS           float64 `json:"max_ms"`
	MeanMS          float64 `json:"mean_ms"`

	// CPUSeconds is the CPU the hub and its connector processes used from the
	// first send to the end of the wait; PeakRSSMB the largest sum of their
	// peak resident set sizes. Both are null for a hub the run did not start.
	CPUSeconds *float64 `json:"cpu_seconds"`
	PeakRSSMB  *float64 `json:"peak_rss_mb"`
	// BenchCPUSeconds is the CPU the bench process itself (senders and
	// receiver) used over the same span: when hub and bench share a machine,
	// a large value means they competed for it.
	BenchCPUSeconds *float64 `json:"bench_cpu_seconds"`

	// Timeline has one entry per second since the first send (--timeline).
	Timeline []Second `json:"-"`
}

// Second is one line of the timeline file: what happened in one second of
// the run, for plotting throughput and tail latency over time.
type Second struct {
	T               int      `json:"t"` // seconds since the first send
	AcceptedPerSec  int64    `json:"accepted_per_sec"`
	DeliveredPerSec int64    `json:"delivered_per_sec"`
	P99MS           *float64 `json:"p99_ms"`    // of the deliveries that arrived in this second; null if none
	CPUCores        *float64 `json:"cpu_cores"` // hub CPU seconds used in this second; null when unknown
	RSSMB           *float64 `json:"rss_mb"`    // resident memory (VmRSS, summed) at the end of this second; null when unknown
}

// OK reports whether the run passed: every accepted event reached every
// subscription, every signature verified and the hub accepted every event.
// `switchboard bench` exits non-zero otherwise, so it can gate CI.
func (r *Result) OK() bool {
	return r.Lost == 0 && r.BadSignatures == 0 && r.Rejected == 0 && !r.Interrupted
}

// WriteJSON writes the result as one line of JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	return json.NewEncoder(w).Encode(r)
}

// WriteTimeline writes the timeline as JSON lines, one per second.
func (r *Result) WriteTimeline(w io.Writer) error {
	enc := json.NewEncoder(w)
	for _, s := range r.Timeline {
		if err := enc.Encode(s); err != nil {
			return err
		}
	}
	return nil
}

// WriteTable writes the human report.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	rate := "as fast as possible"
	if r.Rate > 0 {
		rate = fmt.Sprintf("%g events/s", r.Rate)
	}
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	fanout := fmt.Sprintf("fan-out %d", r.Fanout)
	if r.Fanout == 0 {
		fanout = "ingest only, no subscriptions"
	}
	row("mode", "%s (%d events, %s, concurrency %d, rate %s)", r.Mode, r.Events, fanout, r.Concurrency, rate)
	row("events", "sent %d, accepted %d, rejected %d%s", r.Sent, r.Accepted, r.Rejected, rejections(r.Rejections))
	row("accepted/s", "%.1f", r.AcceptedPerSec)
	row("deliveries", "%d of %d in %.2f s (first send -> last arrival)", r.Delivered, r.Expected, r.DurationS)
	row("delivered/s", "%.1f", r.DeliveredPerSec)
	if r.Delivered > 0 {
		row("latency ms", "p50 %.1f  p90 %.1f  p99 %.1f  max %.1f  (202 -> arrival)", r.P50MS, r.P90MS, r.P99MS, r.MaxMS)
	} else {
		row("latency ms", "none: nothing was delivered")
	}
	lost := fmt.Sprint(r.Lost)
	if r.TimedOut {
		lost += " (timed out waiting)"
	}
	if r.Interrupted {
		lost += " (interrupted)"
	}
	row("lost", "%s", lost)
	row("duplicates", "%d", r.Duplicates)
	row("bad signatures", "%d", r.BadSignatures)
	if r.Unmatched > 0 {
		row("unmatched", "%d (arrivals of events whose 202 the client never saw)", r.Unmatched)
	}
	if r.CPUSeconds != nil && r.DurationS > 0 {
		row("hub CPU", "%.2f s (%.2f cores, hub + connectors)", *r.CPUSeconds, *r.CPUSeconds/r.DurationS)
	} else {
		row("hub CPU", "unknown (hub not started by bench)")
	}
	if r.PeakRSSMB != nil {
		row("peak RSS", "%.1f MB (hub + connectors)", *r.PeakRSSMB)
	} else {
		row("peak RSS", "unknown (hub not started by bench)")
	}
	if r.BenchCPUSeconds != nil && r.DurationS > 0 {
		row("bench CPU", "%.2f s (%.2f cores, senders + receiver)", *r.BenchCPUSeconds, *r.BenchCPUSeconds/r.DurationS)
	}
	verdict := "PASS"
	if !r.OK() {
		verdict = "FAIL"
	}
	row("result", "%s", verdict)
	return tw.Flush()
}

func rejections(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
