// Package listen is the receiver behind `switchboard listen`: a developer
// points a subscription's delivery_url at it and watches each delivery
// arrive, with its Standard Webhooks signature checked and its payload
// pretty-printed. It answers like a well-behaved subscriber would (204 on a
// verified delivery, 401 on a bad signature), so the hub's retry and logging
// behaviour can be watched end to end.
package listen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/switchboardhq/switchboard/hub/signature"
)

// DefaultAddr is where the receiver listens unless told otherwise: loopback
// only, since it accepts anything.
const DefaultAddr = "127.0.0.1:4000"

// maxBody caps what one delivery may send; the hub's payloads are far smaller.
const maxBody = 5 << 20

// Config tunes the receiver.
type Config struct {
	// Addr is host:port to listen on (default 127.0.0.1:4000).
	Addr string
	// Secret is the subscription's whsec_ secret. Set, every delivery's
	// signature is checked and a failing one is answered 401; empty, nothing
	// is checked and every delivery is accepted.
	Secret string
	// Out receives one block per delivery (default os.Stdout).
	Out io.Writer
	// Tolerance is how far webhook-timestamp may be from this clock
	// (default 5m, the Standard Webhooks recommendation).
	Tolerance time.Duration
}

func (c *Config) setDefaults() {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.Out == nil {
		c.Out = os.Stdout
	}
	if c.Tolerance <= 0 {
		c.Tolerance = signature.DefaultTolerance
	}
}

// Run serves the receiver on cfg.Addr until ctx is done, then lets
// in-flight deliveries finish (up to 5 s) and returns nil.
func Run(ctx context.Context, cfg Config) error {
	cfg.setDefaults()
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	return serve(ctx, ln, cfg)
}

func serve(ctx context.Context, ln net.Listener, cfg Config) error {
	srv := &http.Server{
		Handler:           Handler(cfg),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("stopping receiver: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
	}
	return nil
}

// Handler is the receiver without a listener, for tests and embedding.
func Handler(cfg Config) http.Handler {
	cfg.setDefaults()
	return &handler{cfg: cfg}
}

type handler struct {
	cfg Config
	mu  sync.Mutex // one block at a time on Out
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "webhook deliveries are POSTed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "reading body: "+err.Error(), http.StatusBadRequest)
		return
	}
	received := time.Now()

	verified, reason := true, ""
	if h.cfg.Secret == "" {
		verified, reason = false, "not checked: no --secret given"
	} else if err := signature.Verify(h.cfg.Secret, r.Header, body, h.cfg.Tolerance, received); err != nil {
		verified, reason = false, err.Error()
	}

	h.print(received, r, body, verified, reason)

	if h.cfg.Secret != "" && !verified {
		http.Error(w, "signature verification failed: "+reason, http.StatusUnauthorized)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// print writes one delivery as a readable block.
func (h *handler) print(at time.Time, r *http.Request, body []byte, verified bool, reason string) {
	var payload struct {
		Payload struct {
			EventType        string `json:"event_type"`
			ExecutionAttempt int    `json:"execution_attempt"`
		} `json:"payload"`
	}
	isJSON := json.Valid(body)
	if isJSON {
		_ = json.Unmarshal(body, &payload) // best effort: any JSON is printed
	}

	eventType := r.Header.Get("X-Event-Type")
	if eventType == "" {
		eventType = payload.Payload.EventType
	}
	var b strings.Builder
	fmt.Fprintf(&b, "── %s %s\n", at.Format("2006-01-02 15:04:05.000 MST"), strings.Repeat("─", 40))
	fmt.Fprintf(&b, "event:      %s\n", orDash(eventType))
	fmt.Fprintf(&b, "webhook-id: %s\n", orDash(r.Header.Get(signature.HeaderID)))
	if payload.Payload.ExecutionAttempt > 0 {
		fmt.Fprintf(&b, "attempt:    %d\n", payload.Payload.ExecutionAttempt)
	}
	if verified {
		b.WriteString("verified:   yes\n")
	} else {
		fmt.Fprintf(&b, "verified:   no (%s)\n", reason)
	}
	var pretty bytes.Buffer
	switch {
	case len(body) == 0:
		b.WriteString("(empty body)\n")
	case isJSON:
		_ = json.Indent(&pretty, body, "", "  ") // valid JSON always indents
		b.Write(pretty.Bytes())
		b.WriteByte('\n')
	default:
		fmt.Fprintf(&b, "(not JSON, %d bytes)\n%s\n", len(body), strings.ToValidUTF8(string(body), "\uFFFD"))
	}
	b.WriteByte('\n')

	h.mu.Lock()
	defer h.mu.Unlock()
	_, _ = io.WriteString(h.cfg.Out, b.String())
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
