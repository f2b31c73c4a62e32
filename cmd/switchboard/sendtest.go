package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchboardhq/switchboard"
	"github.com/switchboardhq/switchboard/connectors"
	"github.com/switchboardhq/switchboard/connectors/dversum"
	"github.com/switchboardhq/switchboard/hub"
	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/netguard"
)

func newSendTestEventCmd() *cobra.Command {
	var o sendTestOptions
	cmd := &cobra.Command{
		Use:   "send-test-event",
		Short: "Send a realistic, signed provider webhook to a connection's inbound URL",
		Long: `Play the provider: post a webhook to a connection's inbound URL on a running
hub, signed the way the provider signs it, so you can watch
provider -> hub -> subscriber without a provider account.

The body is the sample of --event (the samples shipped in testdata/, with a
fresh id and time each send) or, with --file PATH, a native payload of your
own (for any connector, plugins included; its top-level timestamp/created_at
and id/event_id/eventId/message_id are renewed like a sample's unless --as-is). --list shows
a connector's samples and native event types.

The connection is looked up through the running hub when an API key is given
(--api-key or SWITCHBOARD_API_KEY, with --consumer for an unbound key), else
in the store on this machine (--data-dir / --database-url and the master
key). A signing provider's secret (dVersum) is shown only when the
connection is created: pass it with --signing-secret, or let the command read
it from the store on this machine. A plugin's own authentication headers go
in --header.`,
		Example: `  switchboard send-test-event --connection <id> --event invoice.paid
  switchboard send-test-event --connection <id> --file my-invoice.json --signing-secret <secret>
  switchboard send-test-event --connector deskera --list
  switchboard send-test-event --connection <id> --file evt.json --header 'X-Example-Token: <token>'`,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := bindEnv(c, sendTestFlagEnv); err != nil {
				return err
			}
			return o.run(c)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.connID, "connection", "", "id of the connection (from POST /vault/connections)")
	f.StringVar(&o.connector, "connector", "", "connector (service id) for --list when there is no connection yet")
	f.StringVar(&o.event, "event", "", "the provider's native event type whose sample is sent (default: invoice.paid for dversum, else the first sample)")
	f.StringVar(&o.file, "file", "", "send this file's native payload as is instead of a sample")
	f.BoolVar(&o.asIs, "as-is", false, "send --file byte for byte (default: its top-level time and event id fields are renewed, as for samples)")
	f.BoolVar(&o.list, "list", false, "list the connector's samples and native event types, send nothing")
	f.StringVar(&o.hubURL, "hub-url", "", "base URL of the running hub (env SWITCHBOARD_HUB_URL; default $SWITCHBOARD_PUBLIC_URL or http://$SWITCHBOARD_ADDR)")
	f.StringVar(&o.apiKey, "api-key", "", "API key to look the connection up through the hub (env SWITCHBOARD_API_KEY; connections:read)")
	f.StringVar(&o.consumer, "consumer", "", "consumer of the connection, sent as x-consumer-id with an unbound key (env SWITCHBOARD_CONSUMER_ID)")
	f.StringVar(&o.signingSecret, "signing-secret", "", "the connection's signing_secret, for providers that sign (env SWITCHBOARD_SIGNING_SECRET)")
	f.StringVar(&o.hmacHeader, "hmac-header", "", "sign the body into this header as sha256=<hex HMAC-SHA256(--signing-secret, body)> (dVersum's scheme and that of connectors made by connector init)")
	f.StringArrayVar(&o.headers, "header", nil, "extra request header 'Name: value' (repeatable), e.g. a plugin provider's signature")
	f.StringVar(&o.dataDir, "data-dir", "./data", "directory of the embedded store")
	f.StringVar(&o.databaseURL, "database-url", "", "postgres:// URL of a PostgreSQL store")
	f.StringVar(&o.masterKeyFile, "master-key-file", "", "file holding the master key (or SWITCHBOARD_MASTER_KEY); never created here")
	return cmd
}

// sendTestFlagEnv are the environment twins of send-test-event's flags.
var sendTestFlagEnv = map[string]string{
	"data-dir":       "SWITCHBOARD_DATA_DIR",
	"database-url":   "SWITCHBOARD_DATABASE_URL",
	"hub-url":        "SWITCHBOARD_HUB_URL",
	"api-key":        "SWITCHBOARD_API_KEY",
	"consumer":       "SWITCHBOARD_CONSUMER_ID",
	"signing-secret": "SWITCHBOARD_SIGNING_SECRET",
}

type sendTestOptions struct {
	connID, connector, event, file, hubURL, apiKey, consumer, signingSecret string
	hmacHeader                                                              string
	dataDir, databaseURL, masterKeyFile                                     string
	headers                                                                 []string
	list, asIs                                                              bool
}

// maxFileBody caps a --file payload: far above any provider's webhook and
// below what the hub accepts by default.
const maxFileBody = 1 << 20

// target is where and how one test webhook goes.
type target struct {
	serviceID, inbound, secret string
}

func (o *sendTestOptions) run(c *cobra.Command) error {
	ctx := c.Context()
	if o.hubURL == "" {
		o.hubURL = os.Getenv("SWITCHBOARD_PUBLIC_URL")
	}
	if o.hubURL == "" {
		o.hubURL = "http://" + envOr("SWITCHBOARD_ADDR", "127.0.0.1:8080")
	}
	o.hubURL = strings.TrimRight(o.hubURL, "/")
	if u, err := url.Parse(o.hubURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--hub-url must be an http(s) URL such as http://127.0.0.1:8080, got %q", o.hubURL)
	}
	headers := http.Header{}
	for _, h := range o.headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return fmt.Errorf("--header %q: want 'Name: value'", h)
		}
		headers.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	var body []byte
	if o.file != "" {
		b, err := readCapped(o.file, maxFileBody)
		if err != nil {
			return fmt.Errorf("--file: %w", err)
		}
		if len(b) == 0 {
			return fmt.Errorf("--file %s is empty", o.file)
		}
		body = b
		if !o.asIs {
			// Like a sample: a fresh time and event id, so the hub's
			// replay window and deduplication take it as a new event.
			if fresh, err := restamp(b, time.Now().UTC()); err == nil {
				body = fresh
			}
		}
	}
	if o.list {
		return o.printList(c)
	}
	if o.connID == "" {
		return errors.New("--connection is required (the id from POST /vault/connections); --list needs only --connector")
	}
	if o.connector != "" {
		return errors.New("--connector is for --list; a send takes its connector from --connection")
	}
	t, err := o.resolve(ctx)
	if err != nil {
		return err
	}
	event := o.event
	if body == nil {
		if event == "" {
			event = defaultSample(t.serviceID)
		}
		sample, err := switchboard.Sample(t.serviceID, event)
		if err != nil {
			if _, none := switchboard.SampleEvents(t.serviceID); none != nil {
				return fmt.Errorf("%s ships no sample webhooks: send one of your own with --file PATH (native event types: send-test-event --list --connection %s)", t.serviceID, o.connID)
			}
			return fmt.Errorf("--event: %w", err)
		}
		// Fresh provider ids and times make every send a new provider
		// event rather than a redelivery the hub would deduplicate.
		if body, err = restamp(sample, time.Now().UTC()); err != nil {
			return err
		}
	}
	inbound := t.inbound
	if event != "" {
		meta, err := switchboard.Meta(t.serviceID, event)
		if err != nil {
			return err
		}
		if len(meta.Query) > 0 {
			inbound = addQuery(inbound, meta.Query)
		}
		for k, v := range meta.Headers {
			if headers.Get(k) == "" {
				headers.Set(k, v)
			}
		}
	}
	if t.serviceID == dversum.ID {
		if t.secret == "" {
			return fmt.Errorf("dversum signs its webhooks: pass the connection's signing_secret with --signing-secret (it is shown when the connection is created), or run without --api-key on the hub's machine to read it from the store")
		}
		headers.Set(dversum.HeaderSignature, dversum.Sign(t.secret, body))
	}
	if o.hmacHeader != "" {
		if t.secret == "" {
			return fmt.Errorf("--hmac-header %s needs the connection's signing secret: --signing-secret", o.hmacHeader)
		}
		headers.Set(o.hmacHeader, dversum.Sign(t.secret, body))
	}
	return o.post(c, t, inbound, event, body, headers)
}

func defaultSample(serviceID string) string {
	if serviceID == dversum.ID {
		return "invoice.paid"
	}
	if events, _ := switchboard.SampleEvents(serviceID); len(events) > 0 {
		return events[0]
	}
	return ""
}

// addQuery adds q to u's query (Deskera's ?e= on a variant sample), keeping
// what u already has.
func addQuery(u string, q map[string][]string) string {
	base, raw, _ := strings.Cut(u, "?")
	vals, _ := url.ParseQuery(raw)
	for k, vs := range q {
		if vals.Get(k) == "" {
			vals[k] = vs
		}
	}
	return base + "?" + vals.Encode()
}

// resolve finds the connection's inbound URL and signing secret: through
// the hub when there is an API key, else in the store.
func (o *sendTestOptions) resolve(ctx context.Context) (*target, error) {
	if o.apiKey == "" {
		return o.resolveFromStore(ctx)
	}
	h := &hubKeys{base: o.hubURL, key: o.apiKey, consumer: o.consumer, client: &http.Client{Timeout: 30 * time.Second}}
	var conn struct {
		ServiceID  string `json:"service_id"`
		WebhookURL string `json:"webhook_url"`
	}
	if err := h.call(ctx, http.MethodGet, "/vault/connections/"+url.PathEscape(o.connID), nil, &conn); err != nil {
		if strings.Contains(err.Error(), "x-consumer-id") && o.consumer == "" {
			// An unbound key that named no consumer: the store on this
			// machine, if there is one, knows the connection anyway.
			if t, serr := o.resolveFromStore(ctx); serr == nil {
				return t, nil
			}
			return nil, fmt.Errorf("--connection %s: %w (an unbound key names the connection's consumer with --consumer)", o.connID, err)
		}
		return nil, fmt.Errorf("--connection %s: %w (is the hub running? --hub-url)", o.connID, err)
	}
	if conn.WebhookURL == "" {
		return nil, fmt.Errorf("--connection %s: the hub's answer has no webhook_url", o.connID)
	}
	t := &target{serviceID: conn.ServiceID, secret: o.signingSecret}
	// The hub hands out its public URL; a test send goes to the hub named
	// by --hub-url (the public one may be a tunnel this machine cannot use).
	t.inbound = o.hubURL + "/webhook/inbound/" + conn.ServiceID + "/" + path.Base(strings.SplitN(conn.WebhookURL, "?", 2)[0])
	if q := strings.SplitN(conn.WebhookURL, "?", 2); len(q) == 2 {
		t.inbound += "?" + q[1]
	}
	if t.secret == "" && (conn.ServiceID == dversum.ID || o.hmacHeader != "") {
		// Best effort: the store on this machine holds it.
		if st, err := o.resolveFromStore(ctx); err == nil {
			t.secret = st.secret
		}
	}
	return t, nil
}

func (o *sendTestOptions) resolveFromStore(ctx context.Context) (*target, error) {
	st, _, err := hub.OpenStore(ctx, hub.StoreOptions{
		DataDir: o.dataDir, DatabaseURL: o.databaseURL, Existing: true,
		MasterKey: os.Getenv("SWITCHBOARD_MASTER_KEY"), MasterKeyFile: o.masterKeyFile,
	})
	if err != nil {
		return nil, fmt.Errorf("%w (or look the connection up through the hub: --api-key / SWITCHBOARD_API_KEY)", err)
	}
	// The operator holds the store itself: every consumer's connections
	// are theirs to test.
	conn, err := st.GetConnection(ctx, store.AllConsumers(), o.connID)
	st.Close()
	if err != nil {
		return nil, fmt.Errorf("--connection %s: %w", o.connID, err)
	}
	secret := o.signingSecret
	if secret == "" {
		secret = conn.Credentials[plugins.CredentialSigningSecret]
	}
	return &target{
		serviceID: conn.ServiceID, secret: secret,
		inbound: o.hubURL + "/webhook/inbound/" + conn.ServiceID + "/" + conn.Token,
	}, nil
}

func (o *sendTestOptions) post(c *cobra.Command, t *target, inbound, event string, body []byte, headers http.Header) error {
	req, err := http.NewRequestWithContext(c.Context(), http.MethodPost, inbound, bytes.NewReader(body))
	if err != nil {
		return errors.New("building the request to the inbound URL failed") // the URL holds the token
	}
	req.Header.Set("Content-Type", "application/json")
	for k, vs := range headers {
		req.Header[k] = vs
	}
	resp, err := sendClient.Do(req)
	if err != nil {
		// *url.Error quotes the URL, and the URL holds the
		// connection's token: keep only the cause.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return fmt.Errorf("posting to the hub at %s (is it running? --hub-url): %w", o.hubURL, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	what := "event " + event
	if o.file != "" {
		what = "file " + o.file
	}
	fmt.Fprintf(c.OutOrStdout(), "POST %s/webhook/inbound/%s/… %s %s\n-> %s\n%s\n",
		o.hubURL, t.serviceID, t.serviceID, what, resp.Status, answer)
	if resp.StatusCode >= 300 {
		return exitError{code: 1}
	}
	return nil
}

// printList shows what can be sent for a connector: the bundled samples and
// the native event types it maps (from the built-in connector, or from the
// hub's catalogue for a plugin).
func (o *sendTestOptions) printList(c *cobra.Command) error {
	ctx := c.Context()
	service := o.connector
	if service == "" {
		if o.connID == "" {
			return errors.New("--list needs --connector ID (dversum, deskera, vplan or a plugin's id) or --connection")
		}
		t, err := o.resolve(ctx)
		if err != nil {
			return err
		}
		service = t.serviceID
	}
	out := c.OutOrStdout()
	samples, _ := switchboard.SampleEvents(service)
	var supported []plugins.SupportedEvent
	if newConnector, ok := connectors.Builtin()[service]; ok {
		d, err := newConnector().Describe(ctx)
		if err != nil {
			return err
		}
		supported = d.SupportedEvents
	} else if o.apiKey != "" {
		h := &hubKeys{base: o.hubURL, key: o.apiKey, consumer: o.consumer, client: &http.Client{Timeout: 30 * time.Second}}
		var d plugins.Description
		if err := h.call(ctx, http.MethodGet, "/connector/connectors/"+url.PathEscape(service), nil, &d); err != nil {
			return fmt.Errorf("--connector %s: %w", service, err)
		}
		supported = d.SupportedEvents
	} else if len(samples) == 0 {
		return fmt.Errorf("%s is not a built-in connector (%s): give --api-key (or SWITCHBOARD_API_KEY) to ask the hub about a plugin",
			service, strings.Join(slices.Sorted(maps.Keys(connectors.Builtin())), ", "))
	}
	if len(samples) > 0 {
		fmt.Fprintf(out, "Samples of %s (send with --event NAME):\n", service)
		for _, s := range samples {
			fmt.Fprintf(out, "  %s\n", s)
		}
	} else {
		fmt.Fprintf(out, "%s ships no samples: send a native payload with --file PATH.\n", service)
	}
	if len(supported) > 0 {
		fmt.Fprintf(out, "Native event types of %s -> unified event types:\n", service)
		tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
		for _, e := range supported {
			fmt.Fprintf(tw, "  %s\t%s\n", e.DownstreamEventType, e.EventType)
		}
		_ = tw.Flush()
	}
	return nil
}

// readCapped reads a file, refusing one larger than limit.
func readCapped(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, limit)
	}
	return b, nil
}

// restamp gives a sample a fresh identity: the top-level time fields the
// providers' samples carry become now and their event ids become new, so
// the hub sees a new provider event each time.
func restamp(body []byte, now time.Time) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, fmt.Errorf("sample is not a JSON object: %w", err)
	}
	ts, _ := json.Marshal(now.Format(time.RFC3339))
	for _, k := range []string{"timestamp", "created_at"} {
		if _, ok := m[k]; ok {
			m[k] = ts
		}
	}
	if _, ok := m["timestamp"]; !ok {
		if _, ok := m["created_at"]; !ok {
			m["timestamp"] = ts
		}
	}
	for _, k := range []string{"message_id", "eventId", "event_id", "id"} {
		if _, ok := m[k]; ok {
			id, _ := json.Marshal(store.NewID())
			m[k] = id
		}
	}
	return json.MarshalIndent(m, "", "  ")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// sendClient posts the samples; the hub's answer headers are capped like
// every outbound call of this binary.
var sendClient = &http.Client{Transport: netguard.CappedTransport(), Timeout: time.Minute}
