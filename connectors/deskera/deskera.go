package deskera

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/netguard"
	"github.com/switchboardhq/switchboard/plugins/provider"
)

// ID is the service id: inbound URLs, mapping file name, connection service_id.
const ID = "deskera"

// Version is the connector's version, shown in the hub's catalogue.
const Version = "1.0.0"

// DefaultBaseURL is Deskera's API, the default of the base_url setting.
const DefaultBaseURL = "https://bifrost.deskera.com"

// QueryEventType is the query parameter of the inbound URL that carries the
// native event type: each registration is for one event type, so the
// connector appends ?e=<EVENT_TYPE> to the URL it registers.
const QueryEventType = "e"

// Defaults of Config (those of plugins/provider, which makes the calls).
const (
	DefaultTimeout        = provider.DefaultTryTimeout   // 10 s
	DefaultRetries        = provider.DefaultRetries      // 2
	DefaultRetryWaitMin   = provider.DefaultRetryWaitMin // 500 ms
	DefaultRetryWaitMax   = provider.DefaultRetryWaitMax // 2 s
	DefaultCleanupTimeout = 30 * time.Second
)

// Config tunes the connector's calls to Deskera. The zero value is what
// production uses; tests shorten the timeouts to play a provider that hangs.
type Config struct {
	// Timeout bounds one HTTP try to Deskera, answer included
	// (DefaultTimeout when zero).
	Timeout time.Duration
	// Retries is how often a try that failed with a transport error, a
	// timeout or a 5xx answer is repeated (DefaultRetries when zero; a
	// negative value disables retries). A 4xx answer is never retried:
	// Deskera has decided.
	Retries int
	// RetryWaitMin and RetryWaitMax bound the exponential backoff between
	// tries (DefaultRetryWaitMin and DefaultRetryWaitMax when zero; a
	// RetryWaitMax below RetryWaitMin is raised to it); a Retry-After
	// header is honoured up to RetryWaitMax.
	RetryWaitMin, RetryWaitMax time.Duration
	// CleanupTimeout bounds undoing a failed registration. The undo runs
	// with its own deadline because the hub's may be what ran out, and a
	// half-made registration must not stay behind (DefaultCleanupTimeout
	// when zero).
	CleanupTimeout time.Duration
	// Logger receives what the connector does (never a credential nor the
	// inbound URL, whose token is the webhooks' only authentication). Nil
	// uses slog.Default() at the time of each call: plugins.Serve installs
	// a default logger that reaches the hub's log, after the connector was
	// constructed.
	Logger *slog.Logger
	// Guard is which non-public addresses the connector may reach
	// (base_url is a connection setting, so this is an SSRF guard). Nil
	// means the policy the hub passed to the plugin process; tests against
	// a local fake allow loopback here.
	Guard *netguard.Policy
}

// Connector implements plugins.Connector for Deskera. It holds no state
// between calls apart from its configuration and a pool of connections.
type Connector struct {
	cfg  Config
	http *provider.Client
}

// New returns the Deskera connector with production settings.
func New() *Connector { return NewWithConfig(Config{}) }

// NewWithConfig returns the Deskera connector with cfg's zero fields set to
// their defaults.
func NewWithConfig(cfg Config) *Connector {
	if cfg.CleanupTimeout <= 0 {
		cfg.CleanupTimeout = DefaultCleanupTimeout
	}
	// One client per connector: every call reuses connections to Deskera.
	// It applies the defaults of the other fields.
	return &Connector{cfg: cfg, http: provider.New(provider.Config{
		Name:         "Deskera",
		TryTimeout:   cfg.Timeout,
		Retries:      cfg.Retries,
		RetryWaitMin: cfg.RetryWaitMin,
		RetryWaitMax: cfg.RetryWaitMax,
		UserAgent:    "Switchboard-Deskera/" + Version,
		Guard:        cfg.Guard,
	}, nil)}
}

var _ plugins.Connector = (*Connector)(nil)

func (c *Connector) logger() *slog.Logger {
	if c.cfg.Logger != nil {
		return c.cfg.Logger
	}
	return slog.Default()
}

// Describe reports Deskera's catalogue entry.
func (*Connector) Describe(context.Context) (*plugins.Description, error) {
	return &plugins.Description{
		ID:                ID,
		Name:              "Deskera",
		Version:           Version,
		UnifiedAPIs:       []string{"accounting", "crm"},
		Webhook:           plugins.WebhookSupport{Mode: plugins.ModeNative, ManagedVia: plugins.ManagedAPI},
		SupportedEvents:   append([]plugins.SupportedEvent(nil), Events...),
		SettingsSchema:    settingsSchema(),
		CredentialsSchema: json.RawMessage(credentialsSchema),
		// Deskera publishes no webhook signature: authenticity rests on
		// the unguessable token of the inbound URL (see the package doc).
		ProviderSigns: false,
	}, nil
}

// settingsSchema is the JSON Schema of a connection's settings, built from
// Events so the enum cannot drift from the list.
func settingsSchema() json.RawMessage {
	types := EventTypes()
	doc := map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"title":                "Deskera connection settings",
		"type":                 "object",
		"additionalProperties": false,
		"properties": map[string]any{
			// Where the hub sends requests: the operator's to choose, never a
			// consumer's (plugins.OperatorOnly).
			"base_url": map[string]any{
				"type":               "string",
				"format":             "uri",
				"pattern":            "^[Hh][Tt][Tt][Pp][Ss]?://[^/?#]+(/[^?#]*)?$",
				"default":            DefaultBaseURL,
				plugins.OperatorOnly: true,
				"description":        "Base URL of Deskera's API (no query or fragment). The connector registers webhooks at {base_url}/v1/webhooks/register and removes them at {base_url}/v1/webhooks/delete/{hookId}. Change it only for a Deskera test environment or a local fake.",
			},
			"event_types": map[string]any{
				"type":        "array",
				"items":       map[string]any{"type": "string", "enum": types},
				"minItems":    1,
				"uniqueItems": true,
				"default":     types,
				"description": "Deskera event types to receive; one webhook is registered per type. Default: all 22.",
			},
		},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(err) // a constant document
	}
	return b
}

// credentialsSchema: what Deskera's register call demands (seed 001: all
// four are required in its body, the access token also as a header).
const credentialsSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "Deskera connection credentials",
  "type": "object",
  "required": ["client_id", "client_secret", "access_token", "refresh_token"],
  "properties": {
    "client_id": {"type": "string", "minLength": 1, "description": "OAuth client id of your Deskera app (cl_pub...)."},
    "client_secret": {"type": "string", "minLength": 1, "description": "OAuth client secret of your Deskera app (cl_priv...)."},
    "access_token": {"type": "string", "minLength": 1, "description": "Deskera access token of the account whose events to receive; sent as x-access-token."},
    "refresh_token": {"type": "string", "minLength": 1, "description": "Deskera refresh token belonging to access_token."}
  },
  "additionalProperties": false
}`

// HandleInbound turns one webhook Deskera posted into one native event (see
// the package documentation for the assumed body and what is checked).
func (c *Connector) HandleInbound(_ context.Context, req *plugins.InboundRequest) (*plugins.InboundResult, error) {
	ev, conflict, err := parseInbound(req.Query, req.Body)
	if err != nil {
		return nil, err
	}
	if conflict != "" {
		c.logger().Warn("deskera webhook: the ?e= event type and the body's eventType disagree; using ?e=",
			slog.String("connection_id", req.Connection.ID),
			slog.String("query_event_type", ev.Type),
			slog.String("body_event_type", conflict))
	}
	if !knownEvent(ev.Type) {
		c.logger().Debug("deskera webhook of an undocumented event type; it passes through unmapped",
			slog.String("connection_id", req.Connection.ID), slog.String("event_type", ev.Type))
	}
	return &plugins.InboundResult{Events: []plugins.NativeEvent{ev}}, nil
}
