package vplan

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-retryablehttp"

	"github.com/switchboardhq/switchboard/plugins"
)

// Headers vPlan authenticates API calls with.
const (
	HeaderAPIKey = "x-api-key"
	HeaderAPIEnv = "x-api-env"
)

const (
	userAgent = "Switchboard-vPlan-connector/" + Version
	// maxAnswer bounds how much of a vPlan answer is read.
	maxAnswer = 1 << 20
	// maxMessage bounds a provider message quoted in an error.
	maxMessage = 500
	// maxDescription is vPlan's limit on a webhook's description.
	maxDescription = 150
	// minScrub is the shortest credential value scrubbed from messages.
	minScrub = 4
	redacted = "[redacted]"
)

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

// scrub removes the credential values from text: vPlan might echo them in a
// message, and nothing the connector returns or logs may carry them.
func (c credentials) scrub(text string) string {
	for _, v := range []string{c.apiKey, c.apiEnv} {
		if len(v) >= minScrub {
			text = strings.ReplaceAll(text, v, redacted)
		}
	}
	return text
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
	api := c.api(set, creds, log)

	// The description names the connection and this registration: after a
	// settings change the previous registration has the same URL and must
	// survive a failed attempt, so cleanup matches both.
	nonce, err := registrationNonce()
	if err != nil {
		return nil, err
	}
	mine := webhookKey{url: req.WebhookURL,
		description: truncate(strings.TrimSpace("Switchboard "+req.Connection.ID)+" #"+nonce, maxDescription)}
	ans, err := api.do(ctx, http.MethodPost, "/webhook", CreateWebhook{
		URL:         mine.url,
		Description: mine.description,
		Active:      true,
		EventTypes:  set.eventTypes,
	})
	if err != nil {
		// No answer: vPlan may still have created the webhook.
		api.removeMine(ctx, mine, "")
		return nil, err
	}
	if !ans.ok() {
		if ans.status >= 500 {
			api.removeMine(ctx, mine, "")
		}
		return nil, api.refusal(ans)
	}
	hook, ok := decodeWebhook(ans.body)
	if !ok {
		api.removeMine(ctx, mine, "")
		return nil, &plugins.ProviderError{StatusCode: ans.status,
			Message: "vPlan answered POST /webhook without a webhook id"}
	}
	if ans.tries > 1 {
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
	ans, err := api.do(ctx, http.MethodDelete, "/webhook/"+url.PathEscape(st.WebhookID), nil)
	if err != nil {
		return err
	}
	switch {
	case ans.ok():
		log.LogAttrs(ctx, slog.LevelInfo, "vplan webhook deleted", slog.String("webhook_id", st.WebhookID))
		return nil
	case ans.status == http.StatusNotFound || ans.status == http.StatusGone:
		log.LogAttrs(ctx, slog.LevelInfo, "vplan webhook already gone", slog.String("webhook_id", st.WebhookID),
			slog.Int("status", ans.status))
		return nil
	}
	return api.refusal(ans)
}

// apiClient makes the calls of one Subscribe or Unsubscribe.
type apiClient struct {
	c     *Connector
	set   settings
	creds credentials
	log   *slog.Logger
}

func (c *Connector) api(set settings, creds credentials, log *slog.Logger) *apiClient {
	return &apiClient{c: c, set: set, creds: creds, log: log}
}

// answer is vPlan's answer to one call (after retries).
type answer struct {
	method, path string
	status       int
	body         []byte
	tries        int
}

func (a *answer) ok() bool { return a.status >= 200 && a.status < 300 }

// refusal is the ProviderError of a non-2xx answer, with vPlan's message
// (credentials scrubbed, in case vPlan echoes them).
func (a *apiClient) refusal(ans *answer) *plugins.ProviderError {
	return &plugins.ProviderError{StatusCode: ans.status, Message: a.creds.scrub(providerMessage(ans.status, ans.body))}
}

// do sends one call (JSON body when in is not nil) with retries on
// transport errors and 5xx. A call that gets no answer is a
// *plugins.ProviderError with StatusCode 0; any answer is returned, whatever
// its status.
func (a *apiClient) do(ctx context.Context, method, path string, in any) (*answer, error) {
	return a.doWith(ctx, method, path, in, a.c.cfg.RetryMax)
}

func (a *apiClient) doWith(ctx context.Context, method, path string, in any, retryMax int) (*answer, error) {
	var body any
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, errorf("encoding %s %s: %v", method, path, err)
		}
		body = b
	}
	req, err := retryablehttp.NewRequestWithContext(ctx, method, a.set.baseURL+path, body)
	if err != nil {
		return nil, errorf("building %s %s: %v", method, path, a.creds.scrub(err.Error()))
	}
	req.Header.Set(HeaderAPIKey, a.creds.apiKey)
	req.Header.Set(HeaderAPIEnv, a.creds.apiEnv)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", userAgent)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	ans := &answer{method: method, path: path}
	client := &retryablehttp.Client{
		HTTPClient: &http.Client{
			Transport: a.c.transport,
			Timeout:   a.c.cfg.TryTimeout,
			// A redirect would carry x-api-key to wherever it points.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		RetryWaitMin: a.c.cfg.RetryWaitMin,
		RetryWaitMax: a.c.cfg.RetryWaitMax,
		RetryMax:     retryMax,
		CheckRetry:   retryPolicy,
		Backoff:      retryablehttp.DefaultBackoff,
		ErrorHandler: retryablehttp.PassthroughErrorHandler,
		RequestLogHook: func(_ retryablehttp.Logger, r *http.Request, attempt int) {
			ans.tries = attempt + 1
			// Method and path only: never headers (credentials).
			a.log.LogAttrs(r.Context(), slog.LevelDebug, "vplan request",
				slog.String("method", method), slog.String("path", path), slog.Int("try", attempt+1))
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		if resp != nil {
			resp.Body.Close()
		}
		return nil, a.unreachable(ctx, method, path, ans.tries, err)
	}
	defer resp.Body.Close()
	ans.status = resp.StatusCode
	ans.body, err = io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, a.unreachable(ctx, method, path, ans.tries, err)
	}
	level := slog.LevelDebug
	if !ans.ok() {
		level = slog.LevelWarn
	}
	a.log.LogAttrs(ctx, level, "vplan answered", slog.String("method", method), slog.String("path", path),
		slog.Int("status", ans.status), slog.Int("tries", ans.tries))
	return ans, nil
}

// retryPolicy retries transport errors (as retryablehttp's default does)
// and 5xx answers, never a 4xx: a refusal does not change by repeating it.
func retryPolicy(ctx context.Context, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	if err != nil {
		return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
	}
	return resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented, nil
}

// unreachable words a call that got no answer as a ProviderError with
// status 0, naming what timed out or failed but never a credential.
func (a *apiClient) unreachable(ctx context.Context, method, path string, tries int, err error) error {
	after := ""
	if tries > 1 {
		after = fmt.Sprintf(" (%d tries)", tries)
	}
	var msg string
	var netErr net.Error
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		msg = fmt.Sprintf("vPlan did not answer %s %s before the hub's deadline%s", method, path, after)
	case ctx.Err() != nil:
		msg = fmt.Sprintf("the call %s %s to vPlan was cancelled%s", method, path, after)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		msg = fmt.Sprintf("vPlan did not answer %s %s within %s%s", method, path, a.c.cfg.TryTimeout, after)
	default:
		cause := err
		if ue, ok := errors.AsType[*url.Error](err); ok {
			cause = ue.Err
		}
		msg = fmt.Sprintf("cannot reach vPlan at %s for %s %s%s: %v", a.set.baseURL, method, path, after, cause)
	}
	msg = a.creds.scrub(msg)
	a.log.LogAttrs(ctx, slog.LevelWarn, "vplan call failed", slog.String("method", method), slog.String("path", path),
		slog.String("error", msg))
	return &plugins.ProviderError{StatusCode: 0, Message: msg}
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
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*a.c.cfg.TryTimeout)
	defer cancel()
	ans, err := a.doWith(ctx, http.MethodGet, "/webhook", nil, 0)
	if err != nil || !ans.ok() {
		a.log.LogAttrs(ctx, slog.LevelWarn, "vplan: could not list webhooks to remove a failed registration; check vPlan under Settings -> Developers",
			slog.String("description", key.description))
		return
	}
	for _, h := range decodeWebhooks(ans.body) {
		if h.URL != key.url || h.Description != key.description || h.ID == "" || h.ID == keepID {
			continue
		}
		del, err := a.doWith(ctx, http.MethodDelete, "/webhook/"+url.PathEscape(h.ID), nil, 0)
		if err != nil || !(del.ok() || del.status == http.StatusNotFound) {
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

// providerMessage extracts vPlan's error message from an answer: "message"
// (Laravel's shape, also with "errors"), "error" as a string or
// {"message"}, "errors" as a list of strings or {"message"}; else the body
// as text; else the status text.
func providerMessage(status int, body []byte) string {
	var doc map[string]json.RawMessage
	msg := ""
	if json.Unmarshal(body, &doc) == nil {
		msg = firstMessage(doc["message"], doc["error"], doc["errors"], doc["detail"], doc["title"])
	}
	if msg == "" && !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) && !bytes.HasPrefix(bytes.TrimSpace(body), []byte("<")) {
		msg = string(body)
	}
	msg = strings.Join(strings.Fields(msg), " ")
	if msg == "" {
		msg = http.StatusText(status)
	}
	if msg == "" {
		msg = "no message"
	}
	return truncate(msg, maxMessage)
}

// firstMessage returns the first readable message among candidates: a
// string, an object's "message", or the messages of an array (joined), or
// of an object of arrays (Laravel's validation errors).
func firstMessage(candidates ...json.RawMessage) string {
	for _, raw := range candidates {
		switch plugins.JSONKind(raw) {
		case "a string":
			var s string
			if json.Unmarshal(raw, &s) == nil && strings.TrimSpace(s) != "" {
				return s
			}
		case "an object":
			var obj map[string]json.RawMessage
			if json.Unmarshal(raw, &obj) != nil {
				continue
			}
			if m := firstMessage(obj["message"]); m != "" {
				return m
			}
			keys := make([]string, 0, len(obj))
			for k := range obj {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			var parts []string
			for _, k := range keys {
				if m := firstMessage(obj[k]); m != "" {
					parts = append(parts, m)
				}
			}
			if len(parts) > 0 {
				return strings.Join(parts, "; ")
			}
		case "an array":
			var list []json.RawMessage
			if json.Unmarshal(raw, &list) != nil {
				continue
			}
			var parts []string
			for _, item := range list {
				if m := firstMessage(item); m != "" {
					parts = append(parts, m)
				}
			}
			if len(parts) > 0 {
				return strings.Join(parts, "; ")
			}
		}
	}
	return ""
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
