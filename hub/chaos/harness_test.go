//go:build chaos

package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/signature"
)

// apiKey is the SWITCHBOARD_API_KEY every hub of the suite runs with.
const apiKey = "chaos-test-key-0123456789abcdef0123"

// client talks to the hubs. Its timeout is far above anything the hub may
// take, so a hang shows up as a failed assertion on latency, not a timeout.
var client = &http.Client{
	Timeout: 60 * time.Second,
	Transport: &http.Transport{
		MaxIdleConns:        256,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     30 * time.Second,
	},
}

// hubProc is one data directory served by successive `switchboard serve`
// processes: kill stops the current one with SIGKILL, start launches the
// next on the same address and data directory.
type hubProc struct {
	t       *testing.T
	addr    string
	dataDir string
	args    []string
	env     []string // beside the API key
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when cmd has exited
	starts int
}

// newHub starts `switchboard serve` on a free port with extra flags and
// waits until /readyz answers 200.
func newHub(t *testing.T, dataDir string, extra ...string) *hubProc {
	t.Helper()
	return newHubEnv(t, dataDir, nil, extra...)
}

// newHubEnv is newHub with more environment variables for the process.
func newHubEnv(t *testing.T, dataDir string, env []string, extra ...string) *hubProc {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	h := &hubProc{
		t: t, addr: addr, dataDir: dataDir, env: env,
		args: append([]string{"serve", "--addr", addr, "--data-dir", dataDir, "--allow-private-destinations",
			"--log-format", "text", "--log-level", "info"}, extra...),
		logPath: filepath.Join(t.TempDir(), "hub.log"),
	}
	t.Cleanup(func() {
		h.kill()
		if h.logContains("WARNING: DATA RACE") {
			t.Error("the hub (built with CHAOS_RACE=1) reported a data race; see its log")
		}
		if t.Failed() {
			h.dumpLog(200)
		}
	})
	require.NoError(t, h.start())
	return h
}

// start launches a new serve process and waits for it to be ready. Its
// output is appended to the scenario's hub log. It returns an error rather
// than failing the test so fault injectors may call it from their own
// goroutines.
func (h *hubProc) start() error {
	logFile, err := os.OpenFile(h.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	h.mu.Lock()
	h.starts++
	n := h.starts
	fmt.Fprintf(logFile, "==== chaos: start %d at %s\n", n, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(binary, h.args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(append(os.Environ(), "SWITCHBOARD_API_KEY="+apiKey), h.env...)
	if err := cmd.Start(); err != nil {
		h.mu.Unlock()
		return fmt.Errorf("hub start %d: %w", n, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	h.cmd, h.done = cmd, done
	h.mu.Unlock()

	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-done:
			return fmt.Errorf("hub start %d: the process exited before it was ready; see its log", n)
		default:
		}
		resp, err := client.Get(h.url("/readyz"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("hub start %d: not ready within 60s", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill SIGKILLs the running process, if any, and waits for it to exit.
func (h *hubProc) kill() {
	h.mu.Lock()
	cmd, done := h.cmd, h.done
	h.cmd = nil
	h.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// pid is the running process's id.
func (h *hubProc) pid() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cmd == nil {
		return 0
	}
	return h.cmd.Process.Pid
}

// exited reports whether the current process has died on its own.
func (h *hubProc) exited() bool {
	h.mu.Lock()
	done := h.done
	h.mu.Unlock()
	select {
	case <-done:
		return true
	default:
		return false
	}
}

func (h *hubProc) dumpLog(lines int) {
	raw, err := os.ReadFile(h.logPath)
	if err != nil {
		h.t.Logf("reading hub log: %v", err)
		return
	}
	all := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	h.t.Logf("last %d lines of the hub log %s:\n%s", len(all), h.logPath, strings.Join(all, "\n"))
}

// logContains reports whether the hub's log has a line containing s.
func (h *hubProc) logContains(s string) bool {
	f, err := os.Open(h.logPath)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), s) {
			return true
		}
	}
	return false
}

func (h *hubProc) url(path string) string { return "http://" + h.addr + path }

// answer is one API response.
type answer struct {
	status  int
	header  http.Header
	body    map[string]any
	raw     []byte
	elapsed time.Duration
}

func (a answer) str(path ...string) string {
	var v any = a.body
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[p]
	}
	s, _ := v.(string)
	return s
}

// call sends one API request with the suite's key. A transport error (the
// hub is down) is returned, not fatal: publishers retry on it.
func (h *hubProc) call(ctx context.Context, method, path, consumer string, body any) (answer, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return answer{}, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, h.url(path), rd)
	if err != nil {
		return answer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	if consumer != "" {
		req.Header.Set("x-consumer-id", consumer)
	}
	return do(req)
}

// do sends req with the suite's client and reads the whole answer, timing it.
func do(req *http.Request) (answer, error) {
	started := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	a := answer{status: resp.StatusCode, header: resp.Header, raw: raw, elapsed: time.Since(started)}
	if err != nil {
		return a, err
	}
	_ = json.Unmarshal(raw, &a.body)
	return a, nil
}

// must sends a request that has to succeed with status want.
func (h *hubProc) must(want int, method, path, consumer string, body any) answer {
	h.t.Helper()
	a, err := h.call(context.Background(), method, path, consumer, body)
	require.NoError(h.t, err, "%s %s", method, path)
	require.Equal(h.t, want, a.status, "%s %s: %s", method, path, a.raw)
	return a
}

// subscribe creates a subscription of every accounting event to rcv with a
// short retry schedule and gives rcv its signing secret.
func (h *hubProc) subscribe(rcv *receiver, schedule []int) string {
	h.t.Helper()
	a := h.must(http.StatusCreated, http.MethodPost, "/webhook/webhooks", "", map[string]any{
		"unified_api": "accounting", "status": "enabled", "delivery_url": rcv.url(),
		"events": []string{"*"}, "retry_schedule": schedule, "description": "chaos " + rcv.name,
	})
	rcv.setSecret(a.str("data", "secret"))
	id := a.str("data", "id")
	require.NotEmpty(h.t, id)
	return id
}

// publishPhase publishes events from..to-1 of a scenario with a few
// concurrent publishers; every one must be answered 202.
func publishPhase(t *testing.T, h *hubProc, acc *accepted, scenario string, from, to int) {
	t.Helper()
	work := make(chan int)
	errs := make(chan error, to-from)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range work {
				a, err := h.call(context.Background(), http.MethodPost, "/webhook/events", "", eventBody(scenario, i))
				switch {
				case err != nil:
					errs <- fmt.Errorf("event %d: %w", i, err)
				case a.status != http.StatusAccepted:
					errs <- fmt.Errorf("event %d: %d %s", i, a.status, a.raw)
				default:
					if err := acc.add(fmt.Sprint(i), a.str("data", "id")); err != nil {
						errs <- err
					}
				}
			}
		})
	}
	for i := from; i < to; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// faultAnswer is one publish answered while a fault was on.
type faultAnswer struct {
	status     int
	typeName   string
	retryAfter int
	elapsed    time.Duration
	err        error
}

// publishDuring publishes events numbered from `from` on with concurrent
// publishers, one request after the other, until stop is closed. It does
// not retry: every answer is returned for the scenario to judge, a 202 is
// recorded as accepted and a 503 counted in unavailable as it comes.
func publishDuring(h *hubProc, acc *accepted, scenario string, from int, stop <-chan struct{}, unavailable *atomic.Int64) []faultAnswer {
	var (
		mu   sync.Mutex
		next = from
		out  []faultAnswer
		wg   sync.WaitGroup
	)
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				a, err := h.call(context.Background(), http.MethodPost, "/webhook/events", "", eventBody(scenario, i))
				fa := faultAnswer{status: a.status, typeName: a.str("type_name"), retryAfter: retryAfter(a.header), elapsed: a.elapsed, err: err}
				switch {
				case err != nil:
				case a.status == http.StatusAccepted:
					fa.err = acc.add(fmt.Sprint(i), a.str("data", "id"))
				case a.status == http.StatusServiceUnavailable:
					unavailable.Add(1)
				}
				mu.Lock()
				out = append(out, fa)
				mu.Unlock()
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
	wg.Wait()
	return out
}

// busyTimeout is the hub's SQLite busy_timeout (hub/store/sqlite).
const busyTimeout = 5 * time.Second

// unavailableSlack is how long past the busy timeout an API answer may take
// while the database is unavailable: the store waits up to 2 s for its
// writer connection before the busy timeout starts, plus scheduling.
const unavailableSlack = 5 * time.Second

// judgeUnavailable checks the answers given while the store was
// unavailable: 202 or 503 ServiceUnavailableError with Retry-After only,
// none slower than the busy timeout plus slack, at least one 503.
func judgeUnavailable(t *testing.T, answers []faultAnswer) (unavailable, acceptedN int, slowest time.Duration) {
	t.Helper()
	for _, a := range answers {
		slowest = max(slowest, a.elapsed)
		if !assert.NoError(t, a.err, "a publish while the database was unavailable") {
			continue
		}
		switch a.status {
		case http.StatusServiceUnavailable:
			unavailable++
			assert.Equal(t, "ServiceUnavailableError", a.typeName)
			assert.Positive(t, a.retryAfter, "a 503 carries Retry-After")
		case http.StatusAccepted:
			acceptedN++
		default:
			t.Errorf("publish while the database was unavailable answered %d %s; want 503 or 202", a.status, a.typeName)
		}
	}
	assert.Positive(t, unavailable, "no publish was answered 503 while the database was unavailable")
	assert.LessOrEqual(t, slowest, busyTimeout+unavailableSlack, "an answer took longer than the busy timeout plus %s", unavailableSlack)
	return unavailable, acceptedN, slowest
}

// shortSchedule is the retry schedule of the scenarios' subscriptions:
// quick first retries, enough of them that a receiver failing half its
// tries at random still gets every event.
var shortSchedule = []int{1, 1, 1, 2, 2, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5}

// eventBody is the publish request of the i-th event of a scenario. The
// idempotency key makes a publisher's retry after a lost answer store
// nothing new, so one logical event is one event id.
func eventBody(scenario string, i int) map[string]any {
	return map[string]any{
		"event_type": "accounting.invoice.created", "consumer_id": "acme",
		"entity_id": fmt.Sprintf("inv_%s_%d", scenario, i), "entity_type": "invoice",
		"entity":          map[string]any{"number": fmt.Sprintf("RE-%06d", i), "total": 1190.0, "currency": "EUR"},
		"idempotency_key": fmt.Sprintf("chaos-%s-%d", scenario, i),
	}
}

// logCount walks every page of GET /webhook/logs for one subscription and
// counts the entries (delivery tries), checking no entry repeats. filters
// are more query parameters as name, value pairs.
func (h *hubProc) logCount(subscriptionID string, filters ...string) (int, error) {
	byEvent, err := h.logTries(subscriptionID, filters...)
	n := 0
	for _, tries := range byEvent {
		n += tries
	}
	return n, err
}

// logTries walks every page of GET /webhook/logs for one subscription and
// counts the entries (delivery tries) per event id, checking no entry
// repeats. filters are more query parameters as name, value pairs.
func (h *hubProc) logTries(subscriptionID string, filters ...string) (map[string]int, error) {
	entries, err := h.logEntries(subscriptionID, filters...)
	if err != nil {
		return nil, err
	}
	byEvent := map[string]int{}
	for _, e := range entries {
		ev, _ := e["event_id"].(string)
		byEvent[ev]++
	}
	return byEvent, nil
}

// logEntries walks every page of GET /webhook/logs for one subscription and
// returns its entries (delivery tries), checking no entry repeats. filters
// are more query parameters as name, value pairs.
func (h *hubProc) logEntries(subscriptionID string, filters ...string) ([]map[string]any, error) {
	seen := map[string]bool{}
	var entries []map[string]any
	q := url.Values{"limit": {"200"}, "filter[subscription_id]": {subscriptionID}}
	for i := 0; i+1 < len(filters); i += 2 {
		q.Set(filters[i], filters[i+1])
	}
	for {
		a, err := h.call(context.Background(), http.MethodGet, "/webhook/logs?"+q.Encode(), "", nil)
		if err != nil {
			return nil, err
		}
		if a.status != http.StatusOK {
			return nil, fmt.Errorf("GET /webhook/logs: %d %s", a.status, a.raw)
		}
		items, _ := a.body["data"].([]any)
		for _, it := range items {
			e, _ := it.(map[string]any)
			id, _ := e["id"].(string)
			if sub, _ := e["subscription_id"].(string); sub != subscriptionID {
				return nil, fmt.Errorf("log entry %s of subscription %q in a list filtered by %s", id, sub, subscriptionID)
			}
			if seen[id] {
				return nil, fmt.Errorf("log entry %s listed twice", id)
			}
			seen[id] = true
			entries = append(entries, e)
		}
		meta, _ := a.body["meta"].(map[string]any)
		cursors, _ := meta["cursors"].(map[string]any)
		next, _ := cursors["next"].(string)
		if next == "" || len(items) == 0 {
			return entries, nil
		}
		q.Set("cursor", next)
	}
}

// everyTryLogged waits until the log of subscription sub holds, event by
// event, exactly the tries rcv saw, and returns how many that is. On
// timeout it fails naming the events whose tries and log entries differ,
// which says whether a try went unlogged or a log entry has no request.
func everyTryLogged(t *testing.T, h *hubProc, sub string, rcv *receiver, timeout time.Duration) int {
	t.Helper()
	var logged int
	eventually(t, timeout, "the log of "+rcv.name+" accounts for every request it saw", func() (bool, string) {
		byEvent, err := h.logTries(sub)
		if err != nil {
			return false, err.Error()
		}
		seen := rcv.triesByEvent()
		var diffs []string
		logged = 0
		for id, n := range byEvent {
			logged += n
			if seen[id] != n {
				diffs = append(diffs, fmt.Sprintf("%s: %d logged, %d received", id, n, seen[id]))
			}
		}
		received := 0
		for id, n := range seen {
			received += n
			if _, ok := byEvent[id]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s: 0 logged, %d received", id, n))
			}
		}
		slices.Sort(diffs)
		if len(diffs) > 5 {
			diffs = append(diffs[:5], fmt.Sprintf("and %d more", len(diffs)-5))
		}
		return len(diffs) == 0, fmt.Sprintf("%d log entries, %d requests received; differing events: %s",
			logged, received, strings.Join(diffs, "; "))
	})
	return logged
}

// eventually polls cond every 100ms until it holds or timeout passes, and
// fails with cond's last explanation.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %s", what, timeout, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// quiet waits until n stops changing for the given time (at most max), so
// late retries and duplicates are counted before a scenario reports.
func quiet(n func() int, still, max time.Duration) {
	deadline := time.Now().Add(max)
	last, since := n(), time.Now()
	for time.Now().Before(deadline) && time.Since(since) < still {
		time.Sleep(100 * time.Millisecond)
		if v := n(); v != last {
			last, since = v, time.Now()
		}
	}
}

// receiver is a subscriber endpoint on 127.0.0.1. It verifies the Standard
// Webhooks signature of every request, then lets its behaviour decide the
// answer; only a 2xx answer to a verified request counts as a delivery.
type receiver struct {
	name   string
	srv    *http.Server
	ln     net.Listener
	behave func(try int) action
	// delay holds every answer this long (nanoseconds), to keep tries in
	// flight while a scenario injects a fault.
	delay atomic.Int64

	mu        sync.Mutex
	secret    string
	requests  int            // requests to the delivery path, any outcome
	tries     map[string]int // requests per webhook-id
	delivered map[string]int // verified 2xx answers per webhook-id
	badSigs   int
	stray     int // requests to any other path, e.g. a followed redirect
}

// action is what a receiver does with one try.
type action int

const (
	accept   action = iota // 204
	fail                   // 500
	slow                   // sleep past the hub's delivery timeout, then 204
	throttle               // 429 with Retry-After: 1
	redirect               // 302 to another path of the same receiver
	// hugeHeaders answers 200 behind hugeHeaderBytes of header lines,
	// written raw on the hijacked connection so they are really sent.
	hugeHeaders
)

// slowFor is how long a slow answer takes: over the 1s delivery timeout the
// flaky scenario runs the hub with.
const slowFor = 1500 * time.Millisecond

// newReceiver starts a receiver; behave gets the 1-based number of the try
// of that webhook-id (nil: accept everything).
func newReceiver(t *testing.T, name string, behave func(try int) action) *receiver {
	t.Helper()
	if behave == nil {
		behave = func(int) action { return accept }
	}
	r := &receiver{name: name, behave: behave, tries: map[string]int{}, delivered: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	r.ln = ln
	mux := http.NewServeMux()
	mux.HandleFunc("/hook", r.serveHook)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		r.mu.Lock()
		r.stray++
		r.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	})
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }()
	t.Cleanup(func() { _ = r.srv.Close() })
	return r
}

func (r *receiver) url() string { return "http://" + r.ln.Addr().String() + "/hook" }

func (r *receiver) setSecret(s string) {
	r.mu.Lock()
	r.secret = s
	r.mu.Unlock()
}

func (r *receiver) serveHook(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if d := r.delay.Load(); d > 0 {
		time.Sleep(time.Duration(d))
	}
	id := req.Header.Get("webhook-id")
	r.mu.Lock()
	r.requests++
	r.tries[id]++
	try := r.tries[id]
	verr := err
	if verr == nil {
		verr = signature.Verify(r.secret, req.Header, body, 5*time.Minute, time.Now())
	}
	if verr != nil {
		r.badSigs++
		r.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	act := r.behave(try)
	if act == accept {
		r.delivered[id]++
	}
	r.mu.Unlock()

	switch act {
	case accept:
		w.WriteHeader(http.StatusNoContent)
	case fail:
		w.WriteHeader(http.StatusInternalServerError)
	case slow:
		time.Sleep(slowFor)
		w.WriteHeader(http.StatusNoContent)
	case throttle:
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
	case redirect:
		http.Redirect(w, req, "/moved", http.StatusFound)
	case hugeHeaders:
		writeHugeHeaders(w)
	}
}

// hugeHeaderBytes is about how many bytes of response headers a hugeHeaders
// answer carries: the ~10 MB of issue 12, kept under Go's own default cap
// (10 MiB when http.Transport.MaxResponseHeaderBytes is zero) so that a hub
// without its own cap reads them all.
const hugeHeaderBytes = 10_000_000

// hugeHeaderBlock is the raw answer of hugeHeaders, built once: a 200 status
// line, 1 KB header lines up to hugeHeaderBytes, an empty body. A status
// line of success makes the point that the hub must not trust it.
var hugeHeaderBlock = sync.OnceValue(func() []byte {
	var b bytes.Buffer
	b.Grow(hugeHeaderBytes + 4096)
	b.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n")
	value := strings.Repeat("x", 1000)
	for i := 0; b.Len() < hugeHeaderBytes; i++ {
		fmt.Fprintf(&b, "X-Pad-%05d: %s\r\n", i, value)
	}
	b.WriteString("\r\n")
	return b.Bytes()
})

// writeHugeHeaders hijacks the connection and writes hugeHeaderBlock on it.
// The hub hangs up after its cap; the failed write that follows is expected.
func writeHugeHeaders(w http.ResponseWriter) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "hijack: "+err.Error(), http.StatusInternalServerError)
		return
	}
	defer conn.Close()
	_ = conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	if _, err := buf.Write(hugeHeaderBlock()); err == nil {
		_ = buf.Flush()
	}
}

// triesByEvent is how many requests the receiver saw per webhook-id (event id).
func (r *receiver) triesByEvent() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.tries)
}

// stats is a consistent snapshot of what a receiver saw.
type stats struct {
	requests, badSigs, stray int
	unique, duplicates       int
}

func (r *receiver) stats() stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := stats{requests: r.requests, badSigs: r.badSigs, stray: r.stray, unique: len(r.delivered)}
	for _, n := range r.delivered {
		s.duplicates += n - 1
	}
	return s
}

// missing lists the ids of ids that r has not had delivered.
func (r *receiver) missing(ids []string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, id := range ids {
		if r.delivered[id] == 0 {
			out = append(out, id)
		}
	}
	return out
}

// accepted is the set of event ids the hub answered 202 for, by logical
// event (its idempotency key or provider id).
type accepted struct {
	mu  sync.Mutex
	ids map[string]string // logical key -> event id
}

func newAccepted() *accepted { return &accepted{ids: map[string]string{}} }

// add records an accepted event. The same logical event must always get
// the same event id: a publisher's retry is deduplicated.
func (a *accepted) add(key, id string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if prev, ok := a.ids[key]; ok && prev != id {
		return fmt.Errorf("%s accepted twice with different event ids %s and %s", key, prev, id)
	}
	a.ids[key] = id
	return nil
}

func (a *accepted) list() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]string, 0, len(a.ids))
	for _, id := range a.ids {
		out = append(out, id)
	}
	return out
}

// waitDelivered waits until every accepted id has reached every receiver,
// at most scale.settle, and fills the row's delivered and lost columns.
func waitDelivered(t *testing.T, r *row, ids []string, rcvs ...*receiver) {
	t.Helper()
	started := time.Now()
	var lost []string
	deadline := time.Now().Add(scale.settle)
	for {
		lost = lost[:0]
		seen := map[string]bool{}
		for _, rcv := range rcvs {
			for _, id := range rcv.missing(ids) {
				if !seen[id] {
					seen[id] = true
					lost = append(lost, id)
				}
			}
		}
		if len(lost) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.delivered, r.lost = len(ids)-len(lost), len(lost)
	if len(lost) > 0 {
		t.Errorf("%d of %d accepted events not delivered to every receiver within %s after the load, e.g. %v",
			len(lost), len(ids), scale.settle, lost[:min(5, len(lost))])
		return
	}
	t.Logf("all %d accepted events delivered to %d receivers %s after the load", len(ids), len(rcvs),
		time.Since(started).Round(time.Millisecond))
}

// sumReceivers adds up the receivers' requests and duplicates into the row
// and fails on any bad signature or followed redirect.
func sumReceivers(t *testing.T, r *row, rcvs ...*receiver) {
	t.Helper()
	r.triesSeen, r.duplicates = 0, 0
	for _, rcv := range rcvs {
		s := rcv.stats()
		r.triesSeen += s.requests
		r.duplicates += s.duplicates
		if s.badSigs > 0 {
			t.Errorf("receiver %s: %d requests with a bad signature", rcv.name, s.badSigs)
		}
		if s.stray > 0 {
			t.Errorf("receiver %s: %d requests off the delivery path (a redirect was followed?)", rcv.name, s.stray)
		}
	}
}

// isDown tells a request that failed because the hub is down or died
// mid-answer (refused, reset, EOF) from one that hung until the client's
// timeout, which no fault excuses.
func isDown(err error) bool {
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// retryAfter reads a Retry-After header in seconds (0 when absent).
func retryAfter(h http.Header) int {
	n, _ := strconv.Atoi(h.Get("Retry-After"))
	return n
}
