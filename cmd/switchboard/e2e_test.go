package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/signature"
)

// These tests run the real binary as a subprocess, so a crash is a real
// SIGKILL of the process, not a cancelled context.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func switchboardBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "switchboard-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "switchboard")
		out, err := exec.Command("go", "build", "-race", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return binPath
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// hubProcess is one `switchboard serve` subprocess.
type hubProcess struct {
	cmd    *exec.Cmd
	addr   string
	key    string
	output *syncWriter
	done   chan struct{} // closed when the process has exited
	err    error         // its exit status, once done is closed
}

func startHub(t *testing.T, dataDir, addr string, extra ...string) *hubProcess {
	t.Helper()
	return startHubEnv(t, dataDir, addr, nil, extra...)
}

// startHubEnv is startHub with more environment variables.
func startHubEnv(t *testing.T, dataDir, addr string, env []string, extra ...string) *hubProcess {
	t.Helper()
	args := append([]string{"serve", "--addr", addr, "--data-dir", dataDir, "--allow-private-destinations",
		"--log-format", "text", "--log-level", "debug"}, extra...)
	cmd := exec.Command(switchboardBinary(t), args...)
	out := &bytes.Buffer{}
	w := &syncWriter{w: out}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.Env = append(append(os.Environ(), "SWITCHBOARD_API_KEY=e2e-test-key-0123456789abcdef012345"), env...)
	require.NoError(t, cmd.Start())
	p := &hubProcess{cmd: cmd, addr: addr, key: "e2e-test-key-0123456789abcdef012345", output: w, done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("hub output:\n%s", w.String())
		}
	})
	require.Eventually(t, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond, "hub did not become ready")
	return p
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.(*bytes.Buffer).String()
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

func (p *hubProcess) do(t *testing.T, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return p.doAs(t, "", method, path, body)
}

// doAs sends an API request for a consumer (x-consumer-id).
func (p *hubProcess) doAs(t *testing.T, consumer, method, path string, body any) (int, map[string]any) {
	t.Helper()
	code, raw := p.request(t, p.key, consumer, method, path, body)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out), "%s", raw)
	return code, out
}

// request sends an API request with key for a consumer (x-consumer-id,
// when not empty) and returns the status and the raw answer.
func (p *hubProcess) request(t *testing.T, key, consumer, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, "http://"+p.addr+path, rd)
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
	return resp.StatusCode, raw
}

// receiver is a subscriber endpoint that answers 503 until it is switched
// up, and verifies every signature it is sent.
type receiver struct {
	srv      *httptest.Server
	up       atomic.Bool
	tries    atomic.Int64
	mu       sync.Mutex
	secret   string
	verified []string         // webhook-ids of verified, accepted deliveries
	payloads []map[string]any // their payload objects
	badSigs  int
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.tries.Add(1)
		body, _ := io.ReadAll(req.Body)
		if !r.up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := signature.Verify(r.secret, req.Header, body, 5*time.Minute, time.Now()); err != nil {
			r.badSigs++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		r.verified = append(r.verified, req.Header.Get("webhook-id"))
		var b struct {
			Payload map[string]any `json:"payload"`
		}
		_ = json.Unmarshal(body, &b)
		r.payloads = append(r.payloads, b.Payload)
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// waitPayload waits for the n-th verified delivery and returns its payload.
func (r *receiver) waitPayload(t *testing.T, n int) map[string]any {
	t.Helper()
	require.Eventually(t, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.payloads) >= n
	}, 30*time.Second, 20*time.Millisecond, "delivery %d did not arrive", n)
	r.mu.Lock()
	defer r.mu.Unlock()
	require.Zero(t, r.badSigs, "every delivery verifies")
	return r.payloads[n-1]
}

func (r *receiver) deliveredIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.verified...)
}

func TestKilledHubDeliversAcceptedEventAfterRestart(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	addr := freeAddr(t)
	rcv := newReceiver(t)

	hubA := startHub(t, dataDir, addr)
	code, sub := hubA.do(t, http.MethodPost, "/webhook/webhooks", map[string]any{
		"unified_api": "accounting", "status": "enabled", "delivery_url": rcv.srv.URL + "/hook",
		"events": []string{"accounting.invoice.created"}, "retry_schedule": []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
	})
	require.Equal(t, http.StatusCreated, code, sub)
	rcv.mu.Lock()
	rcv.secret = sub["data"].(map[string]any)["secret"].(string)
	rcv.mu.Unlock()

	code, pub := hubA.do(t, http.MethodPost, "/webhook/events", map[string]any{
		"event_type": "accounting.invoice.created", "consumer_id": "acme", "entity_id": "inv_1",
		"entity_type": "invoice", "entity": map[string]any{"total": 1190.0, "currency": "EUR"},
	})
	require.Equal(t, http.StatusAccepted, code, pub)
	eventID := pub["data"].(map[string]any)["id"].(string)

	// The first try reaches the receiver while it is down, then the hub dies
	// without any chance to clean up.
	require.Eventually(t, func() bool { return rcv.tries.Load() >= 1 }, 20*time.Second, 20*time.Millisecond)
	require.NoError(t, hubA.cmd.Process.Signal(syscall.SIGKILL))
	<-hubA.done
	require.Empty(t, rcv.deliveredIDs())

	rcv.up.Store(true)
	startHub(t, dataDir, addr)
	require.Eventually(t, func() bool { return len(rcv.deliveredIDs()) >= 1 }, 60*time.Second, 50*time.Millisecond,
		"event accepted before the crash was not delivered after restart")
	require.Equal(t, eventID, rcv.deliveredIDs()[0], "webhook-id must be the event id")
	rcv.mu.Lock()
	require.Zero(t, rcv.badSigs)
	rcv.mu.Unlock()
}

func TestSIGTERMStopsGracefully(t *testing.T) {
	t.Parallel()
	p := startHub(t, t.TempDir(), freeAddr(t))
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.done:
		require.NoError(t, p.err, "serve must exit 0 on SIGTERM")
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s of SIGTERM")
	}
}
