package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard"
	"github.com/switchboardhq/switchboard/connectors/deskera/deskerafake"
	"github.com/switchboardhq/switchboard/connectors/vplan/vplanfake"
)

// fakeSendPath is the fake provider's own control route: a POST there makes
// the fake send a webhook to every hook registered for ?event=, the way the
// real provider does when something happens in it.
const fakeSendPath = "/_fake/send"

// Defaults of the credentials the fakes accept; any value works as long as
// the connection carries the same.
const (
	fakeDeskeraToken = "fake-deskera-access-token"
	fakeVPlanKey     = "fake-vplan-api-key"
	fakeVPlanEnv     = "fake-vplan-env"
)

// newFakeProviderCmd is `switchboard fake-provider deskera|vplan`: the
// stand-ins the end-to-end tests use, run in the foreground so anyone can try
// those connectors without a provider account. The fakes themselves are
// loopback httptest servers; this command puts a reverse proxy in front of
// one at --addr and adds the send route.
func newFakeProviderCmd() *cobra.Command {
	var addr, hubURL, token, apiKey, apiEnv string
	cmd := &cobra.Command{
		Use:   "fake-provider deskera|vplan",
		Short: "Run a fake Deskera or vPlan API locally, to try those connectors without an account",
		Long: `Run a local stand-in for a provider's webhook API (the one the end-to-end
tests use) until interrupted. Point a connection's settings.base_url at it
(an operator-only setting: use an unbound admin key) and start the hub with
--allow-private-destinations, since the fake listens on a private address.
Creating the connection registers its webhooks at the fake, as at the real
provider; then

  curl -X POST 'http://ADDR/_fake/send?event=CREATE_INVOICE'   (deskera)
  curl -X POST 'http://ADDR/_fake/send?event=card.created'     (vplan)

makes the fake send that event's sample webhook to every URL registered
for it, exactly as the provider would (no signature: neither provider
signs). The answer lists each delivery and the hub's status.`,
		Example: `  switchboard fake-provider deskera --addr 127.0.0.1:9101
  switchboard fake-provider vplan --addr 127.0.0.1:9102`,
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"deskera", "vplan"},
		RunE: func(c *cobra.Command, args []string) error {
			if hubURL == "" {
				hubURL = "http://" + envOr("SWITCHBOARD_ADDR", "127.0.0.1:8080")
			}
			var fp *fakeProvider
			switch args[0] {
			case "deskera":
				fp = newFakeDeskera(token)
			case "vplan":
				fp = newFakeVPlan(apiKey, apiEnv)
			default:
				return fmt.Errorf("fake-provider: no fake for %q (have deskera, vplan)", args[0])
			}
			defer fp.close()
			ln, err := (&net.ListenConfig{}).Listen(c.Context(), "tcp", addr)
			if err != nil {
				return fmt.Errorf("--addr %s: %w", addr, err)
			}
			srv := &http.Server{Handler: fp.handler(), ReadHeaderTimeout: 10 * time.Second}
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			fmt.Fprint(c.OutOrStdout(), fp.instructions("http://"+ln.Addr().String(), strings.TrimRight(hubURL, "/")))
			select {
			case err := <-errc:
				return fmt.Errorf("serving on %s: %w", ln.Addr(), err)
			case <-c.Context().Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:9100", "address to serve the fake API on")
	f.StringVar(&hubURL, "hub-url", "", "base URL of the hub, for the printed instructions (default http://$SWITCHBOARD_ADDR)")
	f.StringVar(&token, "access-token", fakeDeskeraToken, "deskera: the only x-access-token the fake accepts")
	f.StringVar(&apiKey, "api-key", fakeVPlanKey, "vplan: the only x-api-key the fake accepts")
	f.StringVar(&apiEnv, "api-env", fakeVPlanEnv, "vplan: the only x-api-env the fake accepts")
	return cmd
}

// fakeProvider is one running fake and what this command adds to it.
type fakeProvider struct {
	service  string
	upstream *url.URL // the fake's own loopback server
	basePath string   // the path of the API under the base URL ("/v1" for vPlan)
	send     func(ctx context.Context, event string) ([]fakeDelivery, error)
	close    func()
	// connection is the body of POST /vault/connections for this fake,
	// with BASE_URL standing for the fake's base URL.
	connection string
	example    string // an event the instructions send
}

type fakeDelivery struct {
	URL    string `json:"url"`
	Status int    `json:"status,omitempty"`
	Answer string `json:"answer,omitempty"`
	Error  string `json:"error,omitempty"`
}

func newFakeDeskera(token string) *fakeProvider {
	fake := deskerafake.New(token)
	u, _ := url.Parse(fake.URL) // httptest's own URL
	return &fakeProvider{
		service: "deskera", upstream: u, close: fake.Close, example: "CREATE_INVOICE",
		connection: fmt.Sprintf(`{"service_id": "deskera", "settings": {"base_url": "BASE_URL"}, "credentials": {"client_id": "fake-client", "client_secret": "fake-secret", "access_token": %q, "refresh_token": "fake-refresh"}}`, token),
		send: func(ctx context.Context, event string) ([]fakeDelivery, error) {
			body, err := fakeSample("deskera", event)
			if err != nil {
				return nil, err
			}
			hookType, _, _ := strings.Cut(event, "@") // CREATE_CONTACT@supplier is a CREATE_CONTACT
			var out []fakeDelivery
			for _, h := range fake.Hooks() {
				if h.EventType != hookType {
					continue
				}
				status, answer, err := deskerafake.Post(ctx, h.WebhookURL, body)
				out = append(out, deliveryOf(h.WebhookURL, status, answer, err))
			}
			if len(out) == 0 {
				return nil, fmt.Errorf("no webhook is registered for %s: create a deskera connection with this fake as base_url first", hookType)
			}
			return out, nil
		},
	}
}

func newFakeVPlan(apiKey, apiEnv string) *fakeProvider {
	fake := vplanfake.New(apiKey, apiEnv)
	u, _ := url.Parse(strings.TrimSuffix(fake.URL, vplanfake.Prefix))
	return &fakeProvider{
		service: "vplan", upstream: u, basePath: vplanfake.Prefix, close: fake.Close, example: "card.created",
		connection: fmt.Sprintf(`{"service_id": "vplan", "settings": {"base_url": "BASE_URL"}, "credentials": {"api_key": %q, "api_env": %q}}`, apiKey, apiEnv),
		send: func(ctx context.Context, event string) ([]fakeDelivery, error) {
			if _, err := switchboard.Sample("vplan", event); err != nil {
				return nil, err
			}
			ds, err := fake.Trigger(ctx, event, nil)
			if err != nil {
				return nil, err
			}
			var out []fakeDelivery
			hooks := map[string]string{}
			for _, h := range fake.Webhooks() {
				hooks[h.ID] = h.URL
			}
			for _, d := range ds {
				out = append(out, deliveryOf(hooks[d.WebhookID], d.Status, d.Answer, transportErr(d)))
			}
			if len(out) == 0 {
				return nil, fmt.Errorf("no active webhook is registered for %s: create a vplan connection with this fake as base_url first", event)
			}
			return out, nil
		},
	}
}

// transportErr keeps a delivery's error only when the hub did not answer:
// an answer's status already says the rest.
func transportErr(d vplanfake.Delivery) error {
	if d.Status != 0 {
		return nil
	}
	return d.Err
}

func deliveryOf(target string, status int, answer []byte, err error) fakeDelivery {
	d := fakeDelivery{URL: redactToken(target), Status: status, Answer: strings.TrimSpace(string(answer))}
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // *url.Error quotes the URL and its token
		}
		d.Error = err.Error()
	}
	return d
}

// redactToken shortens an inbound URL's token, a credential, for printing.
func redactToken(u string) string {
	i := strings.Index(u, "/webhook/inbound/")
	if i < 0 {
		return u
	}
	rest := u[i+len("/webhook/inbound/"):]
	service, tail, _ := strings.Cut(rest, "/")
	query := ""
	if q := strings.IndexByte(tail, '?'); q >= 0 {
		query = tail[q:]
	}
	return u[:i] + "/webhook/inbound/" + service + "/…" + query
}

// fakeSample is a provider sample with a fresh identity, so every send is a
// new provider event.
func fakeSample(service, event string) ([]byte, error) {
	body, err := switchboard.Sample(service, event)
	if err != nil {
		return nil, err
	}
	return restamp(body, time.Now().UTC())
}

func (fp *fakeProvider) handler() http.Handler {
	proxy := httputil.NewSingleHostReverseProxy(fp.upstream)
	mux := http.NewServeMux()
	mux.Handle("/", proxy)
	mux.HandleFunc(fakeSendPath, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "POST "+fakeSendPath+"?event=<native event type>", http.StatusMethodNotAllowed)
			return
		}
		event := r.URL.Query().Get("event")
		if event == "" {
			event = fp.example
		}
		ds, err := fp.send(r.Context(), event)
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(http.StatusConflict)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"event": event, "deliveries": ds})
	})
	return mux
}

func (fp *fakeProvider) instructions(base, hub string) string {
	baseURL := base + fp.basePath
	body := strings.ReplaceAll(fp.connection, "BASE_URL", baseURL)
	var b strings.Builder
	fmt.Fprintf(&b, "Fake %s API listening on %s (base_url %s)\n\n", fp.service, base, baseURL)
	fmt.Fprintf(&b, "1. Start the hub so it may call a private address:\n   switchboard serve --allow-private-destinations\n\n")
	fmt.Fprintf(&b, "2. Connect it (base_url is operator-only: use an unbound admin key):\n")
	fmt.Fprintf(&b, "   curl -s -X POST %s/vault/connections \\\n     -H \"Authorization: Bearer $SWITCHBOARD_API_KEY\" -H 'x-consumer-id: acme' -H 'content-type: application/json' \\\n     -d '%s'\n\n", hub, body)
	fmt.Fprintf(&b, "3. Make the fake send a webhook, as %s does when something changes:\n   curl -s -X POST '%s%s?event=%s'\n", fp.service, base, fakeSendPath, fp.example)
	if events, err := switchboard.SampleEvents(fp.service); err == nil {
		fmt.Fprintf(&b, "   (events with samples: %s)\n", strings.Join(events, ", "))
	}
	b.WriteString("\nStop with Ctrl-C.\n")
	return b.String()
}
