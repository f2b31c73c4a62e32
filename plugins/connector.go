package plugins

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"
)

// Connector is what a connector author implements: one provider's webhooks
// translated into native events the hub can map, store and fan out. Every
// method may be called concurrently; the hub gives each call a deadline
// through ctx.
type Connector interface {
	// Describe says who the connector is and what it supports. The hub calls
	// it after every (re)start of the plugin and caches the answer for its
	// catalogue (GET /connector/connectors) and for connection validation.
	Describe(ctx context.Context) (*Description, error)

	// HandleInbound verifies one request the provider sent to the hub's
	// inbound URL and splits it into native events. Return ErrBadSignature
	// (wrapped or not) when the request is not authentic and Malformed(...)
	// when it cannot be parsed: the hub answers 401 and 400. Any other error
	// makes the hub answer 5xx, so the provider retries.
	HandleInbound(ctx context.Context, req *InboundRequest) (*InboundResult, error)

	// Subscribe registers the hub's inbound URL at the provider for a new
	// connection (managed_via api). A provider configured by hand
	// (managed_via manual) returns a result with Registered false and a
	// Message telling the user what to do: that is not an error. Return a
	// *ProviderError when the provider refuses, so the hub can name its
	// status and message.
	Subscribe(ctx context.Context, req *SubscribeRequest) (*SubscribeResult, error)

	// Unsubscribe removes what Subscribe registered when the connection is
	// deleted. req.State is what Subscribe returned.
	Unsubscribe(ctx context.Context, req *UnsubscribeRequest) error
}

// Poller is implemented by connectors of providers that cannot push
// (virtual webhooks, Description.Webhook.Mode ModeVirtual) and of pushing
// providers the hub also reconciles by polling (ModeNative with
// Webhook.VirtualWebhooks set). The hub calls Poll on a schedule, one call
// at a time per connection, and treats the events it returns exactly like
// pushed ones: same mapping, store and fan-out, with event_source
// "virtual". The SDK reports whether a connector implements it in
// Description.Poll.
//
// Poll returns the changes since req.Cursor and the cursor that covers
// them: the hub stores the events and the new cursor in one transaction,
// so a crash repeats a poll but never skips or doubles its events. A poll
// must not invent deletions it cannot see (a list endpoint does not show
// what is gone): return only what the provider reports.
//
// Errors are those of HandleInbound plus RateLimited(retryAfter, ...) when
// the provider answered 429 (the hub polls again no sooner than
// retryAfter) and *ProviderError when it refused (the hub backs off
// exponentially and shows the message as the connection's poll_error).
type Poller interface {
	Poll(ctx context.Context, req *PollRequest) (*PollResult, error)
}

// Client is the hub's view of one running connector: every call goes over
// gRPC to the plugin. Poll returns ErrUnsupported when the connector does not
// implement Poller. The in-process harness (plugins/plugintest) hands one to
// connector tests so they exercise the same wire as production.
type Client interface {
	Connector
	Poller
}

// WebhookMode says how events reach the hub.
type WebhookMode string

const (
	// ModeNative: the provider pushes webhooks to the hub.
	ModeNative WebhookMode = "native"
	// ModeVirtual: the provider cannot push; the hub polls (see Poller).
	ModeVirtual WebhookMode = "virtual"
	// ModeNone: events neither pushed nor polled (Apideck's enum).
	ModeNone WebhookMode = "none"
)

// ManagedVia says who registers the hub's inbound URL at the provider.
type ManagedVia string

const (
	// ManagedManual: the user pastes the URL into the provider's UI.
	ManagedManual ManagedVia = "manual"
	// ManagedAPI: the connector registers it in Subscribe.
	ManagedAPI ManagedVia = "api"
)

// CredentialSigningSecret is the credentials key of the per-connection secret
// a signing provider uses (Description.ProviderSigns). The hub generates it
// when a connection is created without one and shows it once.
const CredentialSigningSecret = "signing_secret"

// OperatorOnly is the JSON Schema keyword that marks a setting only the
// hub's operator may set ("x-switchboard-operator-only": true on a property
// of SettingsSchema): one that aims the hub at a network address, such as a
// provider's base_url. Keys and sessions bound to a consumer get 403 when
// they set it, and the consumer portal hides it.
const OperatorOnly = "x-switchboard-operator-only"

// Description is a connector's self-description. The JSON names are the ones
// the hub's API uses, so the hub can embed it in its catalogue as is.
type Description struct {
	// ID is the service id in URLs and mapping file names (dversum); it must
	// match the id the hub launched the connector under.
	ID string `json:"id"`
	// Name is the provider's display name (dVersum).
	Name string `json:"name"`
	// Version is the connector's own version, for operators.
	Version string `json:"version"`
	// UnifiedAPIs lists the unified APIs the connector's events feed.
	UnifiedAPIs []string `json:"unified_apis"`
	// Webhook says how events arrive and who registers the inbound URL.
	Webhook WebhookSupport `json:"webhook_support"`
	// SupportedEvents pairs each native event with its unified name, so
	// applications can see what a provider will send before connecting it.
	SupportedEvents []SupportedEvent `json:"supported_events"`
	// SettingsSchema and CredentialsSchema are JSON Schema documents the hub
	// validates a connection's settings and credentials against.
	SettingsSchema    json.RawMessage `json:"settings_schema,omitempty"`
	CredentialsSchema json.RawMessage `json:"credentials_schema,omitempty"`
	// ProviderSigns says the provider signs its webhooks with a
	// per-connection secret in credentials["signing_secret"].
	ProviderSigns bool `json:"provider_signs"`
	// Poll is set by the SDK when the connector implements Poller; what the
	// author puts here is ignored.
	Poll bool `json:"poll"`
	// PollIntervalMin is the shortest poll interval a connection may set
	// (its settings.poll_interval); PollIntervalDefault is the interval
	// when it sets none. Zero takes the hub's DefaultPollIntervalMin and
	// DefaultPollInterval. Only meaningful for a Poller.
	PollIntervalMin     time.Duration `json:"-"`
	PollIntervalDefault time.Duration `json:"-"`
}

// Poll interval defaults for connectors that do not set their own.
const (
	DefaultPollIntervalMin = 10 * time.Second
	DefaultPollInterval    = 5 * time.Minute
)

// WebhookSupport is the webhook_support object of the hub's catalogue
// (Apideck's shape).
type WebhookSupport struct {
	Mode       WebhookMode `json:"mode"`
	ManagedVia ManagedVia  `json:"managed_via"`
	// VirtualWebhooks is set by a native connector that the hub also
	// reconciles by polling: how fast the provider may be polled and which
	// resources a poll covers.
	VirtualWebhooks *VirtualWebhooks `json:"virtual_webhooks,omitempty"`
}

// VirtualWebhooks is Apideck's webhook_support.virtual_webhooks.
type VirtualWebhooks struct {
	RequestRate RequestRate `json:"request_rate"`
	Resources   []string    `json:"resources"`
}

// RequestRate is a provider's rate limit: Rate requests per Size Units.
type RequestRate struct {
	Rate int    `json:"rate"`
	Size int    `json:"size"`
	Unit string `json:"unit"` // second, minute, hour or day
}

// Window is the length of the rate window (Size Units); zero for an
// unknown unit.
func (r RequestRate) Window() time.Duration {
	unit := map[string]time.Duration{"second": time.Second, "minute": time.Minute, "hour": time.Hour, "day": 24 * time.Hour}[r.Unit]
	return time.Duration(max(r.Size, 1)) * unit
}

// SupportedEvent pairs a native event type with the unified one it becomes.
type SupportedEvent struct {
	EventType           string `json:"event_type"`
	DownstreamEventType string `json:"downstream_event_type"`
}

// Connection is the hub's connection a call is made for. Credentials are
// plaintext and sent with every call, so a plugin keeps no secrets at rest;
// LogValue keeps them out of logs.
type Connection struct {
	ID          string
	ConsumerID  string
	Settings    json.RawMessage
	Credentials map[string]string
}

// LogValue lets a Connection be logged without its credentials.
func (c Connection) LogValue() slog.Value {
	keys := make([]string, 0, len(c.Credentials))
	for k := range c.Credentials {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return slog.GroupValue(
		slog.String("id", c.ID),
		slog.String("consumer_id", c.ConsumerID),
		slog.Any("credential_keys", keys),
	)
}

// InboundRequest is one HTTP request a provider sent to the hub, as received.
// Body is the exact bytes: signatures are computed over them.
type InboundRequest struct {
	Method     string
	Path       string
	Headers    http.Header
	Query      url.Values
	Body       []byte
	Connection Connection
}

// InboundResult is what a request turned into. With no events and no
// Response the hub simply acknowledges the request.
type InboundResult struct {
	Events []NativeEvent
	// Response, when set, is sent to the provider instead of the hub's own
	// acknowledgement (after any events are stored): URL verification
	// handshakes and challenges need exact answers.
	Response *DirectResponse
}

// NativeEvent is one provider event, before mapping.
type NativeEvent struct {
	// Type is the native event type (invoice.paid). Empty lets the mapping
	// file find it in the payload, a header or a query parameter.
	Type string
	// Payload is the raw JSON of this one event (for a single-event provider
	// the whole body); the mapping reads its fields from it.
	Payload json.RawMessage
	// IdempotencyKey identifies the event at the provider (its event id, or
	// a hash of the raw event) so a redelivery is stored once.
	IdempotencyKey string
	// OccurredAt is when the provider says it happened; zero when unknown.
	OccurredAt time.Time
}

// DirectResponse is an exact HTTP answer for the provider. It goes out from
// the hub's origin, so the hub passes on only the headers Content-Type,
// Cache-Control, Retry-After and X-Hook-Secret (others are dropped and
// logged), adds nosniff and a sandboxing Content-Security-Policy, and
// answers 502 for a Status outside 200-599 (0 means 200).
type DirectResponse struct {
	Status  int
	Headers http.Header
	Body    []byte
}

// SubscribeRequest asks a connector to register the hub's inbound URL.
type SubscribeRequest struct {
	Connection Connection
	// WebhookURL is the connection's full inbound URL.
	WebhookURL string
}

// SubscribeResult reports what was registered at the provider.
type SubscribeResult struct {
	// Registered is false when nothing was registered (managed_via manual).
	Registered bool
	// State is opaque to the hub (e.g. the provider's hook ids as JSON); it
	// is stored with the connection and handed back to Unsubscribe.
	State []byte
	// Message is shown to the user, e.g. where to paste the URL.
	Message string
}

// UnsubscribeRequest asks a connector to remove its registration.
type UnsubscribeRequest struct {
	Connection Connection
	State      []byte
}

// PollRequest asks a Poller for changes since Cursor.
type PollRequest struct {
	Connection Connection
	// Cursor is what the previous Poll returned; empty on the first poll.
	Cursor string
}

// PollResult is one poll's changes.
type PollResult struct {
	// Events are the changes, oldest first. Give each an IdempotencyKey
	// that a pushed copy of the same change would also get (the entity's
	// id and the provider's updated_at, see EntityVersionKey), so a change
	// that arrives both ways is delivered once.
	Events []NativeEvent
	// Cursor is handed to the next Poll; it is stored in the same
	// transaction as Events. Empty keeps the previous cursor.
	Cursor string
	// More says changes beyond Cursor are waiting (the provider paged):
	// the hub polls again without waiting for the interval.
	More bool
	// NextPollAfter is the earliest the hub may poll again (the
	// provider's Retry-After or rate limit); zero lets the hub use the
	// connection's interval.
	NextPollAfter time.Duration
}

// EntityVersionKey is the idempotency key of one version of a provider
// entity: the pushed and the polled copy of one change share it when both
// are built with the same kind, id and updated_at. updatedAt is normalised
// to UTC so "10:15:01+01:00" and "09:15:01Z" are one version.
func EntityVersionKey(kind, id string, updatedAt time.Time) string {
	return kind + ":" + id + "@" + updatedAt.UTC().Format(time.RFC3339Nano)
}
