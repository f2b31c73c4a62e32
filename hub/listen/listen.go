// Package listen is the receiver behind `switchboard listen`: a developer
// points a subscription's delivery_url at it and watches each delivery
// arrive, with its Standard Webhooks signature checked and its payload
// pretty-printed. It answers like a well-behaved subscriber would (204 on a
// verified delivery, 401 on a bad signature), so the hub's retry and logging
// behaviour can be watched end to end.
//
// With ForwardTo set it also relays each verified delivery (the same body and
// the same webhook-* headers) to the developer's own application and answers
// the hub with that application's status, so the hub's retries follow what
// the application does.
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
	"net/url"
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
	// ForwardTo, when set, is the http(s) URL each verified delivery is
	// relayed to; the hub is then answered with its status (502 when it
	// cannot be reached).
	ForwardTo string
	// Events, when not empty, are the event types shown and forwarded;
	// deliveries of other types are answered 204 and dropped.
	Events []string
	// JSON prints one JSON object per line per delivery instead of a block.
	JSON bool
	// Client sends the forwards (default: a client with a 30 s timeout).
	Client *http.Client
	// OnListen, when set, is called with the bound address once the
	// listener accepts connections, before the first delivery is served.
	OnListen func(addr net.Addr)
}

// Validate rejects a configuration the receiver cannot work with, naming the
// flag at fault.
func (c *Config) Validate() error {
	if c.Secret != "" && !strings.HasPrefix(c.Secret, signature.SecretPrefix) {
		// The hub hands out whsec_ secrets only; anything else is usually
		// an API key or a connection's provider secret pasted by mistake.
		return fmt.Errorf("--secret: a subscription secret starts with %q (it is shown when the subscription is created or its secret rotated)", signature.SecretPrefix)
	}
	if c.Secret != "" {
		if _, err := signature.DecodeSecret(c.Secret); err != nil {
			return fmt.Errorf("--secret: %w", err)
		}
	}
	if c.ForwardTo != "" {
		u, err := url.Parse(c.ForwardTo)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--forward-to: %q is not an http(s) URL", c.ForwardTo)
		}
	}
	for _, e := range c.Events {
		if strings.TrimSpace(e) == "" {
			return errors.New("--events: empty event type in the list")
		}
	}
	return nil
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
	if c.Client == nil {
		c.Client = &http.Client{Timeout: forwardTimeout}
	}
}

// forwardTimeout bounds one forward, below the hub's own delivery timeout
// so the hub sees the receiver's 504 rather than its own timeout.
const forwardTimeout = 25 * time.Second

// maxForwardBody caps what of the application's answer is kept and relayed.
const maxForwardBody = 4 << 10

// Run serves the receiver on cfg.Addr until ctx is done, then lets
// in-flight deliveries finish (up to 5 s) and returns nil.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
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
	// The listener is bound (connections queue in its backlog until Serve
	// accepts them), so whoever waits for "Listening on" can send now.
	if cfg.OnListen != nil {
		cfg.OnListen(ln.Addr())
	}
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

	d := &seen{at: received, r: r, body: body, verified: verified, reason: reason}
	d.parse()
	if !h.wanted(d.eventType) {
		// Not one the developer asked for: acknowledged so the hub does
		// not retry it, and kept off the screen.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if h.cfg.Secret != "" && !verified {
		h.print(d)
		http.Error(w, "signature verification failed: "+reason, http.StatusUnauthorized)
		return
	}
	if h.cfg.ForwardTo == "" {
		h.print(d)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	status, answer := h.forward(r, body, d)
	h.print(d)
	if answer.contentType != "" {
		w.Header().Set("Content-Type", answer.contentType)
	}
	w.WriteHeader(status)
	_, _ = w.Write(answer.body)
}

func (h *handler) wanted(eventType string) bool {
	if len(h.cfg.Events) == 0 {
		return true
	}
	for _, e := range h.cfg.Events {
		if strings.TrimSpace(e) == eventType {
			return true
		}
	}
	return false
}

type answer struct {
	contentType string
	body        []byte
}

// forward relays the delivery to ForwardTo and returns the status to answer
// the hub with: the application's, or 502 (unreachable) / 504 (timed out).
func (h *handler) forward(in *http.Request, body []byte, d *seen) (int, answer) {
	d.forwarded = true
	req, err := http.NewRequestWithContext(in.Context(), http.MethodPost, h.cfg.ForwardTo, bytes.NewReader(body))
	if err != nil {
		d.forwardErr = err.Error()
		return http.StatusBadGateway, answer{body: []byte("forwarding: " + err.Error())}
	}
	for name, vals := range in.Header {
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, "webhook-") || lower == "content-type" || lower == "x-event-type" || lower == "user-agent" {
			req.Header[name] = vals
		}
	}
	resp, err := h.cfg.Client.Do(req)
	if err != nil {
		d.forwardErr = err.Error()
		status := http.StatusBadGateway
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			status = http.StatusGatewayTimeout
		}
		return status, answer{body: []byte("forwarding to " + h.cfg.ForwardTo + ": " + err.Error())}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxForwardBody)) // a short read still relays the status
	d.forwardStatus = resp.StatusCode
	d.forwardAnswer = b
	return resp.StatusCode, answer{contentType: resp.Header.Get("Content-Type"), body: b}
}

// seen is one delivery as the receiver saw and handled it.
type seen struct {
	at       time.Time
	r        *http.Request
	body     []byte
	verified bool
	reason   string

	isJSON    bool
	eventType string
	attempt   int

	forwarded     bool
	forwardStatus int
	forwardErr    string
	forwardAnswer []byte // what the application answered (capped)
}

func (d *seen) parse() {
	var payload struct {
		Payload struct {
			EventType        string `json:"event_type"`
			ExecutionAttempt int    `json:"execution_attempt"`
		} `json:"payload"`
	}
	d.isJSON = json.Valid(d.body)
	if d.isJSON {
		_ = json.Unmarshal(d.body, &payload) // best effort: any JSON is printed
	}
	d.eventType = d.r.Header.Get("X-Event-Type")
	if d.eventType == "" {
		d.eventType = payload.Payload.EventType
	}
	d.attempt = payload.Payload.ExecutionAttempt
}

// jsonLine is the --json form of one delivery.
type jsonLine struct {
	ReceivedAt    time.Time       `json:"received_at"`
	WebhookID     string          `json:"webhook_id"`
	EventType     string          `json:"event_type"`
	Attempt       int             `json:"attempt,omitempty"`
	Verified      bool            `json:"verified"`
	Reason        string          `json:"verify_error,omitempty"`
	ForwardedTo   string          `json:"forwarded_to,omitempty"`
	ForwardStatus int             `json:"forward_status,omitempty"`
	ForwardError  string          `json:"forward_error,omitempty"`
	ForwardAnswer string          `json:"forward_answer,omitempty"`
	Payload       json.RawMessage `json:"payload,omitempty"`
	Body          string          `json:"body,omitempty"` // when not JSON
}

// print writes one delivery as a readable block, or one JSON line.
func (h *handler) print(d *seen) {
	var b strings.Builder
	if h.cfg.JSON {
		line := jsonLine{
			ReceivedAt: d.at.UTC(), WebhookID: d.r.Header.Get(signature.HeaderID), EventType: d.eventType,
			Attempt: d.attempt, Verified: d.verified, Reason: d.reason,
			ForwardStatus: d.forwardStatus, ForwardError: d.forwardErr,
			ForwardAnswer: strings.ToValidUTF8(string(d.forwardAnswer), "\uFFFD"),
		}
		if d.forwarded {
			line.ForwardedTo = h.cfg.ForwardTo
		}
		if d.isJSON {
			var compact bytes.Buffer
			_ = json.Compact(&compact, d.body) // valid JSON always compacts
			line.Payload = compact.Bytes()
		} else if len(d.body) > 0 {
			line.Body = strings.ToValidUTF8(string(d.body), "\uFFFD")
		}
		enc, _ := json.Marshal(line) // only marshalable fields
		b.Write(enc)
		b.WriteByte('\n')
	} else {
		fmt.Fprintf(&b, "── %s %s\n", d.at.Format("2006-01-02 15:04:05.000 MST"), strings.Repeat("─", 40))
		fmt.Fprintf(&b, "event:      %s\n", orDash(d.eventType))
		fmt.Fprintf(&b, "webhook-id: %s\n", orDash(d.r.Header.Get(signature.HeaderID)))
		if d.attempt > 0 {
			fmt.Fprintf(&b, "attempt:    %d\n", d.attempt)
		}
		if d.verified {
			b.WriteString("verified:   yes\n")
		} else {
			fmt.Fprintf(&b, "verified:   no (%s)\n", d.reason)
		}
		if d.forwarded {
			if d.forwardErr != "" {
				fmt.Fprintf(&b, "forwarded:  %s -> failed: %s\n", h.cfg.ForwardTo, d.forwardErr)
			} else {
				fmt.Fprintf(&b, "forwarded:  %s -> %d %s\n", h.cfg.ForwardTo, d.forwardStatus, http.StatusText(d.forwardStatus))
				if a := answerLine(d.forwardAnswer); a != "" {
					fmt.Fprintf(&b, "answer:     %s\n", a)
				}
			}
		}
		var pretty bytes.Buffer
		switch {
		case len(d.body) == 0:
			b.WriteString("(empty body)\n")
		case d.isJSON:
			_ = json.Indent(&pretty, d.body, "", "  ") // valid JSON always indents
			b.Write(pretty.Bytes())
			b.WriteByte('\n')
		default:
			fmt.Fprintf(&b, "(not JSON, %d bytes)\n%s\n", len(d.body), strings.ToValidUTF8(string(d.body), "\uFFFD"))
		}
		b.WriteByte('\n')
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	_, _ = io.WriteString(h.cfg.Out, b.String())
}

// answerLine is the application's answer on one line, cut at 200
// characters: enough to read an error message without flooding the screen.
func answerLine(b []byte) string {
	s := strings.Join(strings.Fields(strings.ToValidUTF8(string(b), "\uFFFD")), " ")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
