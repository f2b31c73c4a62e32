package vplan

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/switchboardhq/switchboard/plugins"
	"github.com/switchboardhq/switchboard/plugins/provider"
)

// Headers vPlan authenticates API calls with.
const (
	HeaderAPIKey = "x-api-key"
	HeaderAPIEnv = "x-api-env"
)

// maxDescription is vPlan's limit on a webhook's description.
const maxDescription = 150

// Webhook is vPlan's webhook object (seed 004). Subscribe reads the id of
// the one it created and logs vPlan's delivery health fields; vplanfake
// answers with it.
type Webhook struct {
	ID          string   `json:"id"`
	URL         string   `json:"url"`
	Description string   `json:"description"`
	Active      bool     `json:"active"`
	EventTypes  []string `json:"event_types"`
	// APIKeyID or DeveloperClientID name what created the webhook;
	// ThirdParty is true for both (created through the API).
	APIKeyID          *string `json:"api_key_id"`
	DeveloperClientID *string `json:"developer_client_id"`
	ThirdParty        bool    `json:"third_party"`
	// FailStreak counts consecutive failed deliveries; vPlan suspends a
	// webhook that fails too long (CanSend false, DisabledUntil).
	FailStreak          *int64     `json:"fail_streak"`
	FailStreakStartedAt *time.Time `json:"fail_streak_started_at"`
	LastFailedAt        *time.Time `json:"last_failed_at"`
	MailedWarningAt     *time.Time `json:"mailed_warning_at"`
	MailedDisabledAt    *time.Time `json:"mailed_disabled_at"`
	DisabledUntil       *time.Time `json:"disabled_until"`
	CanSend             *bool      `json:"can_send"`
	CreatedAt           *time.Time `json:"created_at"`
	UpdatedAt           *time.Time `json:"updated_at"`
}

// CreateWebhook is the body of POST /webhook.
type CreateWebhook struct {
	URL         string   `json:"url"`
	Description string   `json:"description"`
	Active      bool     `json:"active"`
	EventTypes  []string `json:"event_types"`
}

// State is what Subscribe stores with the connection and Unsubscribe reads.
type State struct {
	WebhookID string `json:"webhook_id"`
}

// settings are a connection's settings with their defaults applied.
type settings struct {
	baseURL    string // no trailing slash
	eventTypes []string
}

func parseSettings(raw json.RawMessage) (settings, error) {
	s := settings{baseURL: DefaultBaseURL, eventTypes: AllEventTypes()}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return s, nil
	}
	var doc struct {
		BaseURL    *string  `json:"base_url"`
		EventTypes []string `json:"event_types"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return s, errorf("settings are not a valid object: %v", err)
	}
	if doc.BaseURL != nil {
		u, err := url.Parse(strings.TrimSpace(*doc.BaseURL))
		switch {
		case err != nil:
			return s, errorf("settings.base_url is not a URL")
		case u.Scheme != "http" && u.Scheme != "https", u.Host == "":
			return s, errorf("settings.base_url must be an absolute http(s) URL")
		case u.User != nil:
			return s, errorf("settings.base_url must not carry credentials; use credentials.api_key")
		case u.RawQuery != "" || u.Fragment != "":
			return s, errorf("settings.base_url must not have a query or fragment")
		}
		s.baseURL = strings.TrimRight(u.String(), "/")
	}
	if doc.EventTypes != nil {
		if len(doc.EventTypes) == 0 {
			return s, errorf("settings.event_types is empty; leave it out to register all %d", len(EventTypes))
		}
		s.eventTypes = s.eventTypes[:0]
		for _, e := range doc.EventTypes {
			if !knownEvent(e) {
				return s, errorf("settings.event_types: %q is not a vPlan webhook event type", e)
			}
			if !slices.Contains(s.eventTypes, e) {
				s.eventTypes = append(s.eventTypes, e)
			}
		}
	}
	return s, nil
}

// credentials are vPlan's API key and environment.
type credentials struct{ apiKey, apiEnv string }

func parseCredentials(m map[string]string) (credentials, error) {
	c := credentials{apiKey: m[CredentialAPIKey], apiEnv: m[CredentialAPIEnv]}
	switch {
	case strings.TrimSpace(c.apiKey) == "":
		return c, errorf("credentials.api_key is missing")
	case strings.TrimSpace(c.apiEnv) == "":
		return c, errorf("credentials.api_env is missing")
	}
	return c, nil
}

// Subscribe registers one vPlan webhook for the connection's inbound URL
// (see the package documentation) and returns {"webhook_id"} as state.
func (c *Connector) Subscribe(ctx context.Context, req *plugins.SubscribeRequest) (*plugins.SubscribeResult, error) {
	set, err := parseSettings(req.Connection.Settings)
	if err != nil {
		return nil, err
	}
	creds, err := parseCredentials(req.Connection.Credentials)
	if err != nil {
		return nil, err
	}
	if req.WebhookURL == "" {
		return nil, errorf("the hub gave no webhook URL to register")
	}
	log := c.log().With(slog.String("connection_id", req.Connection.ID))
	api := c.api(set, creds, log, req.WebhookURL)

	// The description names the connection and this registration: after a
	// settings change the previous registration has the same URL and must
	// survive a failed attempt, so cleanup matches both.
	nonce, err := registrationNonce()
	if err != nil {
		return nil, err
	}
	mine := webhookKey{url: req.WebhookURL,
		description: provider.Truncate(strings.TrimSpace("Switchboard "+req.Connection.ID)+" #"+nonce, maxDescription)}
	ans, err := api.Call(ctx, http.MethodPost, "/webhook", CreateWebhook{
		URL:         mine.url,
		Description: mine.description,
		Active:      true,
		EventTypes:  set.eventTypes,
	})
	if err != nil {
		if _, noAnswer := errors.AsType[*plugins.ProviderError](err); noAnswer {
			// vPlan may still have created the webhook.
			api.removeMine(ctx, mine, "")
		}
		return nil, err
	}
	if !ans.OK() {
		if ans.Status >= 500 {
			api.removeMine(ctx, mine, "")
		}
		return nil, api.Refusal(ans)
	}
	hook, ok := decodeWebhook(ans.Body)
	if !ok {
		api.removeMine(ctx, mine, "")
		return nil, &plugins.ProviderError{StatusCode: ans.Status,
			Message: "vPlan answered POST /webhook without a webhook id"}
	}
	if ans.Tries > 1 {
		// An earlier try may have created a webhook whose answer was lost.
		api.removeMine(ctx, mine, hook.ID)
	}
	state, err := json.Marshal(State{WebhookID: hook.ID})
	if err != nil {
		return nil, errorf("encoding state: %v", err)
	}
	attrs := []slog.Attr{slog.String("webhook_id", hook.ID), slog.Int("event_types", len(set.eventTypes)),
		slog.Bool("active", hook.Active)}
	if hook.CanSend != nil {
		attrs = append(attrs, slog.Bool("can_send", *hook.CanSend))
	}
	if hook.FailStreak != nil {
		attrs = append(attrs, slog.Int64("fail_streak", *hook.FailStreak))
	}
	log.LogAttrs(ctx, slog.LevelInfo, "vplan webhook registered", attrs...)

	msg := fmt.Sprintf("Registered vPlan webhook %s for %d event types.", hook.ID, len(set.eventTypes))
	if hook.CanSend != nil && !*hook.CanSend {
		msg += " vPlan reports it cannot send yet (can_send false); check the webhook under Settings -> Developers."
	}
	return &plugins.SubscribeResult{Registered: true, State: state, Message: msg}, nil
}

// Unsubscribe deletes the webhook Subscribe registered. One that is
// already gone (404, 410) is success.
func (c *Connector) Unsubscribe(ctx context.Context, req *plugins.UnsubscribeRequest) error {
	if len(bytes.TrimSpace(req.State)) == 0 {
		return nil // nothing was registered
	}
	var st State
	if err := json.Unmarshal(req.State, &st); err != nil || st.WebhookID == "" {
		return errorf(`the stored registration is not {"webhook_id": "<id>"}`)
	}
	set, err := parseSettings(req.Connection.Settings)
	if err != nil {
		return err
	}
	creds, err := parseCredentials(req.Connection.Credentials)
	if err != nil {
		return err
	}
	log := c.log().With(slog.String("connection_id", req.Connection.ID))
	api := c.api(set, creds, log)
	ans, err := api.Call(ctx, http.MethodDelete, "/webhook/"+url.PathEscape(st.WebhookID), nil)
	if err != nil {
		return err
	}
	switch {
	case ans.OK():
		log.LogAttrs(ctx, slog.LevelInfo, "vplan webhook deleted", slog.String("webhook_id", st.WebhookID))
		return nil
	case ans.Status == http.StatusNotFound || ans.Status == http.StatusGone:
		log.LogAttrs(ctx, slog.LevelInfo, "vplan webhook already gone", slog.String("webhook_id", st.WebhookID),
			slog.Int("status", ans.Status))
		return nil
	}
	return api.Refusal(ans)
}

// apiClient makes the calls of one Subscribe or Unsubscribe: retries,
// timeouts, scrubbing and vPlan's error messages are plugins/provider's.
type apiClient struct {
	*provider.Session
	log        *slog.Logger
	tryTimeout time.Duration
}

// api is a session with the connection's credentials, which are scrubbed
// from every message and log line (vPlan might echo them), as are the
// secrets given: the inbound webhook URL, whose token is the webhooks' only
// authentication.
func (c *Connector) api(set settings, creds credentials, log *slog.Logger, secrets ...string) *apiClient {
	h := http.Header{}
	h.Set(HeaderAPIKey, creds.apiKey)
	h.Set(HeaderAPIEnv, creds.apiEnv)
	return &apiClient{Session: c.http.Session(set.baseURL, h, secrets, log), log: log, tryTimeout: c.http.Config().TryTimeout}
}

// webhookKey identifies the webhooks one Subscribe call may have created:
// its URL (which holds the connection's unguessable token) and its
// description (which holds the call's nonce).
type webhookKey struct{ url, description string }

// registrationNonce tells one Subscribe call's webhooks from another's.
func registrationNonce() (string, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", errorf("generating a registration nonce: %v", err)
	}
	return hex.EncodeToString(b), nil
}

// removeMine deletes every vPlan webhook matching key except keepID: what a
// failed or retried Subscribe may have left. Nobody else's webhook matches,
// not even the connection's previous registration during a settings
// change. It is best effort with its own short deadline (the caller's may
// be spent); failures are logged, since the caller is already answering.
func (a *apiClient) removeMine(ctx context.Context, key webhookKey, keepID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*a.tryTimeout)
	defer cancel()
	ans, err := a.CallOnce(ctx, http.MethodGet, "/webhook", nil)
	if err != nil || !ans.OK() {
		a.log.LogAttrs(ctx, slog.LevelWarn, "vplan: could not list webhooks to remove a failed registration; check vPlan under Settings -> Developers",
			slog.String("description", key.description))
		return
	}
	for _, h := range decodeWebhooks(ans.Body) {
		if h.URL != key.url || h.Description != key.description || h.ID == "" || h.ID == keepID {
			continue
		}
		del, err := a.CallOnce(ctx, http.MethodDelete, "/webhook/"+url.PathEscape(h.ID), nil)
		if err != nil || !(del.OK() || del.Status == http.StatusNotFound) {
			a.log.LogAttrs(ctx, slog.LevelWarn, "vplan: could not remove a registration left by a failed or retried registration",
				slog.String("webhook_id", h.ID))
			continue
		}
		a.log.LogAttrs(ctx, slog.LevelInfo, "vplan: removed a registration left by a failed or retried registration",
			slog.String("webhook_id", h.ID))
	}
}

// decodeWebhook reads the webhook object of a create answer, bare or
// wrapped as {"data": {...}}. Only the id must be readable; the other
// fields are informational, so a type vPlan words differently is ignored.
func decodeWebhook(body []byte) (*Webhook, bool) {
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	obj := body
	if json.Unmarshal(body, &env) == nil && plugins.JSONKind(env.Data) == "an object" {
		obj = env.Data
	}
	var idOnly struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(obj, &idOnly) != nil {
		return nil, false
	}
	id := idString(idOnly.ID)
	if id == "" {
		return nil, false
	}
	var h Webhook
	_ = json.Unmarshal(obj, &h) // best effort
	h.ID = id
	return &h, true
}

// decodeWebhooks reads a list answer: an array, or {"data": [...]}.
func decodeWebhooks(body []byte) []Webhook {
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	list := body
	if json.Unmarshal(body, &env) == nil && plugins.JSONKind(env.Data) == "an array" {
		list = env.Data
	}
	var raws []json.RawMessage
	if json.Unmarshal(list, &raws) != nil {
		return nil
	}
	out := make([]Webhook, 0, len(raws))
	for _, r := range raws {
		var h struct {
			ID          json.RawMessage `json:"id"`
			URL         string          `json:"url"`
			Description string          `json:"description"`
		}
		if json.Unmarshal(r, &h) == nil {
			out = append(out, Webhook{ID: idString(h.ID), URL: h.URL, Description: h.Description})
		}
	}
	return out
}

// idString reads an id that is a JSON string or number.
func idString(raw json.RawMessage) string {
	switch plugins.JSONKind(raw) {
	case "a string":
		var s string
		_ = json.Unmarshal(raw, &s)
		return strings.TrimSpace(s)
	case "a number":
		return string(bytes.TrimSpace(raw))
	}
	return ""
}
