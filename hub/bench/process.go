package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/plugins/netguard"
)

// HubOptions says how StartHub runs `switchboard serve`.
type HubOptions struct {
	// Binary is the switchboard executable; empty means this process's own
	// executable (the `switchboard bench` command starts its own binary).
	Binary string
	// DatabaseURL is passed to serve as --database-url when set.
	DatabaseURL string
	// Args are extra serve flags (e.g. "--workers=400"), appended last so
	// they win over the bench's defaults.
	Args []string
	// ReadyTimeout bounds the wait for /readyz; 0 means 60 s.
	ReadyTimeout time.Duration
}

// Hub is a `switchboard serve` subprocess on a temporary data directory,
// started for one run so its CPU and memory can be measured in isolation.
type Hub struct {
	// URL is the hub's base URL (http://127.0.0.1:<port>).
	URL string
	// APIKey is the all-scopes key the hub was started with.
	APIKey string

	cmd  *exec.Cmd
	dir  string
	out  *tailBuffer
	done chan struct{} // closed once the process has exited
	err  error         // its exit status, once done is closed
	stop sync.Once
}

// StartHub starts a hub on a free 127.0.0.1 port with a fresh data directory
// and waits until /readyz answers 200 (store open, connectors running). The
// hub runs in that temporary directory with the environment's SWITCHBOARD_*
// variables removed, so neither ./mappings nor a stray setting of the shell
// changes what is measured. Stop it with Stop.
func StartHub(ctx context.Context, opt HubOptions) (*Hub, error) {
	bin := opt.Binary
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("finding the switchboard executable to start a hub: %w", err)
		}
		bin = exe
	}
	dir, err := os.MkdirTemp("", "switchboard-bench-")
	if err != nil {
		return nil, fmt.Errorf("creating the hub's data directory: %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	key := "sb_bench_" + randomHex(16)
	args := []string{"serve", "--addr", addr, "--data-dir", filepath.Join(dir, "data"),
		"--allow-private-destinations", "--log-level", "warn", "--shutdown-timeout", "5s"}
	if opt.DatabaseURL != "" {
		args = append(args, "--database-url", opt.DatabaseURL)
	}
	args = append(args, opt.Args...)

	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SWITCHBOARD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "SWITCHBOARD_API_KEY="+key)
	if opt.DatabaseURL != "" {
		// PostgreSQL needs the master key from outside. The caller's is
		// passed on, so a bench database can be reused; without one a
		// fresh key serves a fresh database (a reused one then refuses it,
		// saying so).
		mk := os.Getenv("SWITCHBOARD_MASTER_KEY")
		if mk == "" {
			mk = randomHex(32)
		}
		cmd.Env = append(cmd.Env, "SWITCHBOARD_MASTER_KEY="+mk)
	}
	h := &Hub{URL: "http://" + addr, APIKey: key, cmd: cmd, dir: dir, out: &tailBuffer{max: 64 << 10}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = h.out, h.out
	configureProcess(cmd)
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("starting %s serve: %w", bin, err)
	}
	go func() { h.err = cmd.Wait(); close(h.done) }()

	wait := opt.ReadyTimeout
	if wait <= 0 {
		wait = 60 * time.Second
	}
	if err := h.waitReady(ctx, wait); err != nil {
		_ = h.Stop()
		return nil, err
	}
	return h, nil
}

func (h *Hub) waitReady(ctx context.Context, wait time.Duration) error {
	client := &http.Client{Timeout: 3 * time.Second, Transport: netguard.CappedTransport()}
	defer client.CloseIdleConnections()
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := client.Get(h.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-h.done:
			return fmt.Errorf("the hub exited before it was ready (%v):\n%s", h.err, h.Output())
		case <-deadline.C:
			return fmt.Errorf("the hub was not ready after %s:\n%s", wait, h.Output())
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Target is where a run sends its load.
func (h *Hub) Target() Target { return Target{URL: h.URL, APIKey: h.APIKey} }

// Usage measures the hub and its connector processes (Linux /proc).
func (h *Hub) Usage() (Usage, error) {
	select {
	case <-h.done:
		return Usage{}, errors.New("the hub has exited")
	default:
	}
	return processTreeUsage(h.cmd.Process.Pid)
}

// Output is the tail of what the hub wrote to stdout and stderr.
func (h *Hub) Output() string { return h.out.String() }

// Stop ends the hub gracefully (SIGTERM; killed after 15 s) and removes its
// data directory. It is safe to call more than once.
func (h *Hub) Stop() error {
	var err error
	h.stop.Do(func() {
		select {
		case <-h.done:
		default:
			_ = terminate(h.cmd.Process)
			select {
			case <-h.done:
			case <-time.After(15 * time.Second):
				_ = h.cmd.Process.Kill()
				<-h.done
				err = fmt.Errorf("the hub did not stop within 15 s and was killed")
			}
		}
		if rmErr := os.RemoveAll(h.dir); rmErr != nil && err == nil {
			err = fmt.Errorf("removing the hub's data directory: %w", rmErr)
		}
	})
	return err
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port for the hub: %w", err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// tailBuffer keeps the last max bytes written to it: enough of the hub's
// log to explain a failure without holding a long run's output.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
