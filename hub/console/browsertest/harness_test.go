//go:build browser

package browsertest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"
)

const apiKey = "browser-test-key-0123456789abcdef0123"

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// repoRoot is the module root, from this file's location.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

func switchboardBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "switchboard-browser-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "switchboard")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/switchboard")
		cmd.Dir = repoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

// chromium finds the browser, or skips (fails with
// SWITCHBOARD_REQUIRE_BROWSER set).
func chromium(t *testing.T) string {
	t.Helper()
	candidates := []string{os.Getenv("SWITCHBOARD_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"}
	for _, c := range candidates {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	if os.Getenv("SWITCHBOARD_REQUIRE_BROWSER") != "" {
		t.Fatal("no chromium found and SWITCHBOARD_REQUIRE_BROWSER is set (apt-get install chromium, or set SWITCHBOARD_CHROMIUM)")
	}
	t.Skip("no chromium found; the browser tests need Debian's chromium (set SWITCHBOARD_REQUIRE_BROWSER to fail instead)")
	return ""
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// hub is one `switchboard serve` subprocess.
type hub struct {
	base string
}

func startHub(t *testing.T, extra ...string) *hub {
	t.Helper()
	addr := freeAddr(t)
	args := append([]string{"serve", "--addr", addr, "--data-dir", t.TempDir(), "--allow-private-destinations",
		"--retry-schedule", "1s,1s", "--min-retry-delay", "0", "--log-format", "text"}, extra...)
	cmd := exec.Command(switchboardBinary(t), args...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append(os.Environ(), "SWITCHBOARD_API_KEY="+apiKey)
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("hub output:\n%s", out.String())
		}
	})
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond, "hub did not become ready:\n%s", out.String())
	return &hub{base: "http://" + addr}
}

// api calls the hub's API with the test key (or key) and returns the status
// and decoded envelope.
func (h *hub) api(t *testing.T, key, consumer, method, path string, body any) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.base+path, rd)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	if consumer != "" {
		req.Header.Set("x-consumer-id", consumer)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var out map[string]any
	if len(raw) > 0 {
		require.NoError(t, json.Unmarshal(raw, &out), "%s %s: %s", method, path, raw)
	}
	return resp.StatusCode, out
}

// browser is one headless Chromium tab.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	exe := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.WindowSize(1360, 900),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// Start the browser now, without a deadline on this first run (a
	// deadline here would bound the browser's whole life).
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("about:blank")))
	return &browser{t: t, ctx: ctx}
}

func tid(id string) chromedp.CSS { return chromedp.CSS(`[data-testid="` + id + `"]`) }

// do runs steps with a time limit.
func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	require.NoError(b.t, chromedp.Do(ctx, steps...))
}

func (b *browser) eval(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr, chromedp.EvalAwaitPromise))
	require.NoError(b.t, err, "evaluating %s", expr)
	return v
}

// goTo switches the console's page (a hash route) without reloading.
func (b *browser) goTo(hash string) {
	b.t.Helper()
	b.eval(fmt.Sprintf(`(location.hash = %q, "")`, hash))
}

func (b *browser) click(id string) {
	b.t.Helper()
	b.do(chromedp.WaitVisible(tid(id)), chromedp.Click(tid(id)))
}

// fill sets an input's or textarea's value and fires input, as typing does.
func (b *browser) fill(id, value string) {
	b.t.Helper()
	b.do(chromedp.WaitVisible(tid(id)))
	js, _ := json.Marshal(value)
	b.eval(fmt.Sprintf(`(() => { const el = document.querySelector('[data-testid=%q]'); el.value = %s; el.dispatchEvent(new Event('input', {bubbles: true})); return ""; })()`, id, js))
}

// choose picks a select's option by value and fires change.
func (b *browser) choose(id, value string) {
	b.t.Helper()
	b.do(chromedp.WaitVisible(tid(id)))
	js, _ := json.Marshal(value)
	b.eval(fmt.Sprintf(`(() => { const el = document.querySelector('[data-testid=%q]'); el.value = %s; el.dispatchEvent(new Event('change', {bubbles: true})); return el.value; })()`, id, js))
}

// text is an element's text (an input's value).
func (b *browser) text(id string) string {
	b.t.Helper()
	b.do(chromedp.WaitVisible(tid(id)))
	return b.eval(fmt.Sprintf(`(() => { const el = document.querySelector('[data-testid=%q]'); return el.value !== undefined && el.tagName !== 'BUTTON' ? el.value : el.textContent; })()`, id))
}

// waitText waits until the element with test id has text containing want.
func (b *browser) waitText(id, want string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	js, _ := json.Marshal(want)
	expr := fmt.Sprintf(`(() => { const els = document.querySelectorAll('[data-testid=%q]'); for (const el of els) { const t = (el.value !== undefined && el.tagName !== 'BUTTON' ? el.value : el.textContent) || ''; if (t.includes(%s)) return t; } return null; })()`, id, js)
	v, err := chromedp.Run(ctx, chromedp.Poll[string](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(40*time.Second)))
	if err != nil {
		b.t.Fatalf("waiting for %q in [data-testid=%s]: %v\npage text:\n%s", want, id, err, b.eval(`document.body.innerText.slice(0, 4000)`))
	}
	return v
}

// waitJS waits until a JavaScript expression is truthy.
func (b *browser) waitJS(what, expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 45*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(40*time.Second))); err != nil {
		b.t.Fatalf("waiting for %s: %v\npage text:\n%s", what, err, b.eval(`document.body.innerText.slice(0, 4000)`))
	}
}

// waitUntil polls a JavaScript predicate, reloading the page's data with
// refresh (a JS expression) between polls when given.
func (b *browser) waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s\npage text:\n%s", what, b.eval(`document.body.innerText.slice(0, 4000)`))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// problems are the CSP violations and script errors the page recorded.
func (b *browser) noProblems() {
	b.t.Helper()
	v := b.eval(`JSON.stringify(window.switchboardProblems || ["console script did not run"])`)
	require.Equal(b.t, "[]", v, "the console met CSP violations or script errors")
}

// screenshot writes docs/console/<name>.png when SWITCHBOARD_SCREENSHOTS
// is set; CI never sets it, so the committed images change only on purpose.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	if os.Getenv("SWITCHBOARD_SCREENSHOTS") == "" {
		return
	}
	b.eval(`(document.querySelectorAll('.toast').forEach(el => el.classList.remove('show')), "")`)
	time.Sleep(400 * time.Millisecond) // let the toast fade and the layout settle
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	require.NoError(b.t, err)
	dir := filepath.Join(repoRoot(), "docs", "console")
	require.NoError(b.t, os.MkdirAll(dir, 0o755))
	require.NoError(b.t, os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644))
	b.t.Logf("wrote docs/console/%s.png (%d KB)", name, len(png)/1024)
}
