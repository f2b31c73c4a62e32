//go:build chaos

package chaos

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/switchboardhq/switchboard/hub/store/postgres/pgtest"
)

// binary is the switchboard executable TestMain builds once for every
// scenario.
var binary string

// scaleConfig sizes the scenarios. short keeps each one well under a minute
// for CI; full is the numbers.
type scaleConfig struct {
	name string

	// Hub crashes: events published with fan-out 2 while the hub is
	// SIGKILLed crashes times, at about crashRate events per second.
	crashEvents int
	crashRate   float64
	crashes     int

	// Flaky receivers: events fanned out to four misbehaving receivers.
	flakyEvents int

	// Connector crashes: signed dVersum webhooks sent at inboundRate while
	// the connector process is SIGKILLed connectorKills times.
	inboundEvents  int
	inboundRate    float64
	connectorKills int

	// Locked database and full disk: events published before and after
	// the fault.
	faultEvents int

	// Huge response headers: events published to a receiver answering
	// every try with ~10 MB of headers.
	headerEvents int

	// settle bounds how long the deliveries of a scenario may take after
	// its load ends. It is a liveness bound, not a timing: in the flaky
	// scenario an unlucky event needs ten tries and River's scheduler adds up
	// to 5 s to each retry, about 80 s in all (64 s seen in CI).
	settle time.Duration
}

var scales = map[string]scaleConfig{
	"short": {
		name:        "short",
		crashEvents: 1500, crashRate: 150, crashes: 3,
		flakyEvents:   100,
		inboundEvents: 300, inboundRate: 30, connectorKills: 5,
		faultEvents:  50,
		headerEvents: 200,
		settle:       3 * time.Minute,
	},
	"full": {
		name:        "full",
		crashEvents: 10000, crashRate: 400, crashes: 3,
		flakyEvents:   1000,
		inboundEvents: 3000, inboundRate: 75, connectorKills: 8,
		faultEvents:  500,
		headerEvents: 2000,
		settle:       5 * time.Minute,
	},
}

// scale and seed are read once from CHAOS_SCALE and CHAOS_SEED.
var (
	scale scaleConfig
	seed  uint64
)

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	name := os.Getenv("CHAOS_SCALE")
	if name == "" {
		name = "short"
	}
	var ok bool
	if scale, ok = scales[name]; !ok {
		return 0, fmt.Errorf("CHAOS_SCALE=%q: want short or full", name)
	}
	seed = uint64(time.Now().UnixNano())
	if s := os.Getenv("CHAOS_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("CHAOS_SEED=%q: %w", s, err)
		}
		seed = v
	}

	dir, err := os.MkdirTemp("", "switchboard-chaos-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "switchboard")
	args := []string{"build", "-o", binary}
	if os.Getenv("CHAOS_RACE") == "1" {
		args = append(args, "-race")
	}
	started := time.Now()
	// The test runs in hub/chaos; the binary's package is two levels up.
	out, err := exec.Command("go", append(args, "../../cmd/switchboard")...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("go build: %v\n%s", err, out)
	}
	fmt.Printf("chaos: scale %s, CHAOS_SEED=%d, binary built in %s\n", scale.name, seed, time.Since(started).Round(time.Millisecond))

	code := pgtest.Run(m)
	report.print(os.Stdout)
	return code, nil
}

// rng returns the random source of one scenario: seeded from CHAOS_SEED and
// the scenario's name, so scenarios replay independently of their order.
func rng(t *testing.T) *rand.Rand {
	var h uint64 = 14695981039346656037
	for _, c := range []byte(t.Name()) {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return rand.New(rand.NewPCG(seed, h))
}

// row is one scenario's line in the report.
type row struct {
	scenario    string
	result      string // PASS, FAIL or SKIP (a skip is not a pass)
	sent        int    // events (or inbound webhooks) the load offered
	accepted    int    // answered 202
	delivered   int    // accepted events delivered to every receiver, verified
	lost        int    // accepted events some receiver never got
	duplicates  int    // verified deliveries beyond the first of an event
	triesLogged int    // GET /webhook/logs entries
	triesSeen   int    // HTTP requests the receivers saw
	elapsed     time.Duration
	note        string
}

// table collects the rows of every scenario that ran.
type table struct {
	mu   sync.Mutex
	rows []*row
}

var report = &table{}

// track starts the row of the running scenario. The row's result and
// elapsed time are filled in when the test ends, whatever way it ends, and
// the row is logged then.
func track(t *testing.T, scenario string) *row {
	r := &row{scenario: scenario}
	started := time.Now()
	t.Cleanup(func() {
		r.elapsed = time.Since(started)
		switch {
		case t.Skipped():
			r.result = "SKIP"
		case t.Failed():
			r.result = "FAIL"
		default:
			r.result = "PASS"
		}
		t.Logf("%s: %s sent=%d accepted=%d delivered=%d lost=%d duplicates=%d tries_logged=%d tries_received=%d elapsed=%s %s",
			r.scenario, r.result, r.sent, r.accepted, r.delivered, r.lost, r.duplicates, r.triesLogged, r.triesSeen,
			r.elapsed.Round(time.Millisecond), r.note)
		report.mu.Lock()
		report.rows = append(report.rows, r)
		report.mu.Unlock()
	})
	return r
}

func (tb *table) print(w io.Writer) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if len(tb.rows) == 0 {
		return
	}
	rows := slices.Clone(tb.rows)
	slices.SortFunc(rows, func(a, b *row) int { return strings.Compare(a.scenario, b.scenario) })
	fmt.Fprintf(w, "\nchaos summary (scale %s, CHAOS_SEED=%d)\n", scale.name, seed)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tresult\tsent\taccepted\tdelivered\tlost\tduplicates\ttries logged\ttries received\telapsed\t")
	passed := 0
	for _, r := range rows {
		if r.result == "PASS" {
			passed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t\n", r.scenario, r.result, r.sent, r.accepted,
			r.delivered, r.lost, r.duplicates, r.triesLogged, r.triesSeen, r.elapsed.Round(100*time.Millisecond))
	}
	_ = tw.Flush()
	for _, r := range rows {
		if r.note != "" {
			fmt.Fprintf(w, "  %s: %s\n", r.scenario, r.note)
		}
	}
	fmt.Fprintf(w, "%d of %d scenarios passed (a skipped scenario is not a pass)\n\n", passed, len(rows))
}
