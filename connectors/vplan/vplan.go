package vplan

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"

	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/netguard"
	"github.com/switchboardhq/switchboard/plugins/provider"
)

// ID is the service id: inbound URLs, mapping file name, connection service_id.
const ID = "vplan"

// Version is the connector's version, shown in the hub's catalogue.
const Version = "1.0.0"

// DefaultBaseURL is vPlan's API, the default of settings.base_url.
const DefaultBaseURL = "https://api.vplan.com/v1"

// Credential keys of a vPlan connection: vPlan's x-api-key and x-api-env.
const (
	CredentialAPIKey = "api_key"
	CredentialAPIEnv = "api_env"
)

// Defaults of Config (those of plugins/provider, which makes the calls): a
// hung vPlan costs at most about (RetryMax+1) * TryTimeout plus backoff,
// inside the hub's own deadline.
const (
	DefaultTryTimeout = provider.DefaultTryTimeout // 10 s
	DefaultRetryMax   = provider.DefaultRetries    // 2
)

const (
	maxEventLen = 200
	maxIDLen    = 255
)

// Body fields of the assumed envelope (see the package documentation).
const (
	fieldEvent     = "event"
	fieldEventAlt  = "type"
	fieldMessageID = "message_id"
	fieldCreatedAt = "created_at"
)

// Config tunes the connector's calls to vPlan. The zero value is what the
// hub runs: tests shorten the timeouts.
type Config struct {
	// TryTimeout bounds one HTTP try, reading the answer included
	// (default DefaultTryTimeout).
	TryTimeout time.Duration
	// RetryMax is how many times a transport error or 5xx is retried
	// (default DefaultRetryMax; negative: never).
	RetryMax int
	// RetryWaitMin and RetryWaitMax bound the backoff between tries
	// (default 500 ms and 2 s; a RetryWaitMax below RetryWaitMin is raised
	// to it). A Retry-After header is honoured up to RetryWaitMax.
	RetryWaitMin, RetryWaitMax time.Duration
	// Logger receives the connector's log lines; nil means slog.Default()
	// at the time of the call, which plugins.Serve routes to the hub's log.
	// Credentials are never logged.
	Logger *slog.Logger
	// Guard is which non-public addresses the connector may reach
	// (base_url is a connection setting, so this is an SSRF guard). Nil
	// means the policy the hub passed to the plugin process; tests against
	// a local fake allow loopback here.
	Guard *netguard.Policy
}

// Connector implements plugins.Connector for vPlan. It keeps no state
// between calls besides a pool of HTTP connections.
type Connector struct {
	cfg  Config
	http *provider.Client
}

// New returns the vPlan connector with the default Config.
func New() *Connector { return NewWithConfig(Config{}) }

// NewWithConfig returns the vPlan connector tuned by cfg; the client
// applies the defaults of its zero fields.
func NewWithConfig(cfg Config) *Connector {
	return &Connector{cfg: cfg, http: provider.New(provider.Config{
		Name:         "vPlan",
		TryTimeout:   cfg.TryTimeout,
		Retries:      cfg.RetryMax,
		RetryWaitMin: cfg.RetryWaitMin,
		RetryWaitMax: cfg.RetryWaitMax,
		UserAgent:    "Switchboard-vPlan-connector/" + Version,
		Guard:        cfg.Guard,
	}, nil)}
}

var (
	_ plugins.Connector = (*Connector)(nil)
	_ plugins.Poller    = (*Connector)(nil)
)

func (c *Connector) log() *slog.Logger {
	if c.cfg.Logger != nil {
		return c.cfg.Logger
	}
	return slog.Default()
}

// settingsSchema is built from EventTypes so the enum cannot drift.
var settingsSchema = func() json.RawMessage {
	all := AllEventTypes()
	doc := map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"title":                "vPlan connection settings",
		"type":                 "object",
		"additionalProperties": false,
		"properties": map[string]any{
			// Where the hub sends requests: the operator's to choose, never a
			// consumer's (plugins.OperatorOnly).
			"base_url": map[string]any{
				"type":               "string",
				"format":             "uri",
				"pattern":            "^https?://",
				"maxLength":          2048,
				"default":            DefaultBaseURL,
				plugins.OperatorOnly: true,
				"description":        "vPlan API base URL; the webhook is registered at {base_url}/webhook. Change it only to reach a test double.",
			},
			"event_types": map[string]any{
				"type":        "array",
				"minItems":    1,
				"uniqueItems": true,
				"items":       map[string]any{"enum": all},
				"default":     all,
				"description": "vPlan webhook event types to register (default: all 36). Nested and pivot events arrive as <parent>.updated with a change object; checklists pass through as vplan.collection.checklist.*.",
			},
		},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic(err)
	}
	return b
}()

// credentialsSchema: vPlan's API key and environment, both required.
const credentialsSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "vPlan connection credentials",
  "type": "object",
  "required": ["api_key", "api_env"],
  "additionalProperties": false,
  "properties": {
    "api_key": {
      "type": "string",
      "minLength": 1,
      "maxLength": 1024,
      "description": "vPlan API key (sent as x-api-key), created in vPlan under Settings -> Developers."
    },
    "api_env": {
      "type": "string",
      "minLength": 1,
      "maxLength": 1024,
      "description": "vPlan environment id the key belongs to (sent as x-api-env)."
    }
  }
}`

// Describe reports vPlan's catalogue entry.
func (*Connector) Describe(context.Context) (*plugins.Description, error) {
	return &plugins.Description{
		ID:          ID,
		Name:        "vPlan",
		Version:     Version,
		UnifiedAPIs: []string{"issue-tracking", "time-registration", "file-storage"},
		Webhook: plugins.WebhookSupport{Mode: plugins.ModeNative, ManagedVia: plugins.ManagedAPI,
			VirtualWebhooks: &plugins.VirtualWebhooks{
				RequestRate: plugins.RequestRate{Rate: 60, Size: 1, Unit: "minute"}, Resources: PollResources}},
		PollIntervalMin:     PollIntervalMin,
		PollIntervalDefault: PollIntervalDefault,
		SupportedEvents:     supportedEvents(),
		SettingsSchema:      append(json.RawMessage(nil), settingsSchema...),
		CredentialsSchema:   json.RawMessage(credentialsSchema),
		ProviderSigns:       false,
	}, nil
}

// HandleInbound parses the body into one native event (see the package
// documentation). There is no signature to check: vPlan signs nothing and
// the hub has already matched the URL's token to the connection.
func (*Connector) HandleInbound(_ context.Context, req *plugins.InboundRequest) (*plugins.InboundResult, error) {
	fields, err := parseObject(req.Body)
	if err != nil {
		return nil, err
	}
	event, err := eventType(fields)
	if err != nil {
		return nil, err
	}
	return &plugins.InboundResult{Events: []plugins.NativeEvent{{
		Type:           event,
		Payload:        req.Body,
		IdempotencyKey: inboundKey(event, fields, req.Body),
		OccurredAt:     occurredAt(fields[fieldCreatedAt]),
	}}}, nil
}

// parseObject checks that body is one JSON object and returns its
// top-level members.
func parseObject(body []byte) (map[string]json.RawMessage, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, plugins.Malformed("body is empty")
	}
	if !json.Valid(body) {
		var v any
		err := json.Unmarshal(body, &v)
		if se, ok := errors.AsType[*json.SyntaxError](err); ok {
			return nil, plugins.Malformed("body is not valid JSON: %v (at byte %d)", se, se.Offset)
		}
		return nil, plugins.Malformed("body is not valid JSON")
	}
	if k := plugins.JSONKind(body); k != "an object" {
		return nil, plugins.Malformed("body must be a JSON object, got %s", k)
	}
	return plugins.ObjectFields(body)
}

// eventType reads the native event type: "event", else "type".
func eventType(fields map[string]json.RawMessage) (string, error) {
	name := fieldEvent
	raw, ok := fields[fieldEvent]
	if !ok {
		if raw, ok = fields[fieldEventAlt]; !ok {
			return "", plugins.Malformed(`body field "event" is missing`)
		}
		name = fieldEventAlt
	}
	if k := plugins.JSONKind(raw); k != "a string" {
		return "", plugins.Malformed("body field %q must be a string, got %s", name, k)
	}
	var event string
	if err := json.Unmarshal(raw, &event); err != nil {
		return "", plugins.Malformed("body field %q is not a valid string", name)
	}
	switch {
	case event == "":
		return "", plugins.Malformed("body field %q is empty", name)
	case len(event) > maxEventLen:
		return "", plugins.Malformed("body field %q is longer than %d bytes", name, maxEventLen)
	case strings.ContainsFunc(event, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == unicode.ReplacementChar
	}):
		return "", plugins.Malformed("body field %q contains whitespace, control or invalid characters", name)
	}
	return event, nil
}

// occurredAt reads "created_at": an RFC 3339 time in UTC, or zero when it is
// missing or unreadable, which is not worth refusing an event over (the hub
// then uses the time of receipt).
func occurredAt(raw json.RawMessage) time.Time {
	var s string
	if plugins.JSONKind(raw) != "a string" || json.Unmarshal(raw, &s) != nil {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(s))
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// inboundKey is the version key of a card or collection (versionKey),
// which its polled copy shares, else idempotencyKey.
func inboundKey(event string, fields map[string]json.RawMessage, body []byte) string {
	if k := versionKey(event, fields); k != "" {
		return k
	}
	return idempotencyKey(fields[fieldMessageID], body)
}

// idempotencyKey is vPlan's message id when the body carries a usable one,
// else the hex SHA-256 of the raw body: a redelivery dedupes either way.
func idempotencyKey(raw json.RawMessage, body []byte) string {
	var id string
	switch plugins.JSONKind(raw) {
	case "a string":
		_ = json.Unmarshal(raw, &id)
	case "a number":
		id = string(bytes.TrimSpace(raw))
	}
	id = strings.TrimSpace(id)
	if id != "" && len(id) <= maxIDLen && !strings.ContainsFunc(id, unicode.IsControl) {
		return id
	}
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// errorf is fmt.Errorf under the connector's name, for errors that are not
// the provider's (bad settings, unreadable state).
func errorf(format string, args ...any) error {
	return fmt.Errorf("vplan: "+format, args...)
}
