package deskera

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/switchboardhq/switchboard/plugins"
)

// Deskera's webhook management routes (seed 001), relative to base_url.
const (
	PathRegister = "/v1/webhooks/register"
	PathDelete   = "/v1/webhooks/delete/" // + hookId
	PathList     = "/v1/webhooks"
	// HeaderAccessToken carries the access token on every call.
	HeaderAccessToken = "x-access-token"
)

// Credential keys of a Deskera connection.
const (
	CredentialClientID     = "client_id"
	CredentialClientSecret = "client_secret"
	CredentialAccessToken  = "access_token"
	CredentialRefreshToken = "refresh_token"
)

// Registration is one webhook registered at Deskera. Subscribe's State is
// the JSON array of a connection's registrations, e.g.
// [{"event_type":"CREATE_INVOICE","hook_id":4}], which Unsubscribe removes.
type Registration struct {
	EventType string `json:"event_type"`
	HookID    int64  `json:"hook_id"`
}

// Hook is a webhook as Deskera describes it in its answers.
type Hook struct {
	HookID     int64  `json:"hookId"`
	EventType  string `json:"eventType"`
	WebhookURL string `json:"webhookUrl"`
	Deleted    bool   `json:"deleted"`
}

// UnmarshalJSON reads hookId as a number (Deskera documents a long) or as
// a numeric string.
func (h *Hook) UnmarshalJSON(b []byte) error {
	var doc struct {
		HookID     json.RawMessage `json:"hookId"`
		EventType  string          `json:"eventType"`
		WebhookURL string          `json:"webhookUrl"`
		Deleted    bool            `json:"deleted"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return err
	}
	*h = Hook{EventType: doc.EventType, WebhookURL: doc.WebhookURL, Deleted: doc.Deleted}
	if len(doc.HookID) == 0 || string(doc.HookID) == "null" {
		return nil
	}
	raw := doc.HookID
	var s string
	if json.Unmarshal(raw, &s) == nil {
		raw = json.RawMessage(strings.TrimSpace(s))
	}
	id, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return fmt.Errorf("hookId %s is not an integer", doc.HookID)
	}
	h.HookID = id
	return nil
}

// registerBody is the body of POST /v1/webhooks/register, exactly as seed
// 001 shows it.
type registerBody struct {
	ClientID     string `json:"clientId"`
	ClientSecret string `json:"clientSecret"`
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	EventType    string `json:"eventType"`
	WebhookURL   string `json:"webhookUrl"`
}

// settings is a connection's settings document after defaults.
type settings struct {
	base       *url.URL
	eventTypes []string
}

func parseSettings(raw json.RawMessage) (*settings, error) {
	var doc struct {
		BaseURL    *string  `json:"base_url"`
		EventTypes []string `json:"event_types"`
	}
	if t := bytes.TrimSpace(raw); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		if err := json.Unmarshal(t, &doc); err != nil {
			return nil, fmt.Errorf("settings: %w", err)
		}
	}
	s := &settings{}
	base := DefaultBaseURL
	if doc.BaseURL != nil {
		base = strings.TrimSpace(*doc.BaseURL)
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, errors.New("settings.base_url must be an http(s) URL without credentials, query or fragment, such as " + DefaultBaseURL)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	s.base = u

	if doc.EventTypes == nil {
		s.eventTypes = EventTypes()
		return s, nil
	}
	if len(doc.EventTypes) == 0 {
		return nil, errors.New("settings.event_types must name at least one event type")
	}
	for _, t := range doc.EventTypes {
		if !knownEvent(t) {
			return nil, fmt.Errorf("settings.event_types: %q is not a Deskera event type (%s)", t, strings.Join(EventTypes(), ", "))
		}
		if !slices.Contains(s.eventTypes, t) {
			s.eventTypes = append(s.eventTypes, t)
		}
	}
	return s, nil
}

// requireCredentials returns the named credentials or an error naming the
// missing ones (never a value).
func requireCredentials(creds map[string]string, keys ...string) error {
	var missing []string
	for _, k := range keys {
		if strings.TrimSpace(creds[k]) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("credentials %s are required", strings.Join(missing, ", "))
	}
	return nil
}

// withEventType is the URL registered for one event type: the connection's
// inbound URL with ?e=<EVENT_TYPE>.
func withEventType(webhookURL, eventType string) string {
	sep := "?"
	if strings.Contains(webhookURL, "?") {
		sep = "&"
	}
	return webhookURL + sep + QueryEventType + "=" + url.QueryEscape(eventType)
}

// isOurs reports whether a listed hook points at webhookURL (with any ?e=).
func isOurs(hookURL, webhookURL string) bool {
	rest, ok := strings.CutPrefix(hookURL, webhookURL)
	return ok && (strings.HasPrefix(rest, "?"+QueryEventType+"=") || strings.HasPrefix(rest, "&"+QueryEventType+"="))
}

// Subscribe registers one Deskera webhook per selected event type. When one
// registration fails, the ones made before are deleted (and, when the
// outcome of a call is unknown, any hook it may have made) before the
// provider's refusal is returned as a *plugins.ProviderError.
func (c *Connector) Subscribe(ctx context.Context, req *plugins.SubscribeRequest) (*plugins.SubscribeResult, error) {
	set, err := parseSettings(req.Connection.Settings)
	if err != nil {
		return nil, err
	}
	creds := req.Connection.Credentials
	if err := requireCredentials(creds, CredentialClientID, CredentialClientSecret, CredentialAccessToken, CredentialRefreshToken); err != nil {
		return nil, err
	}
	if req.WebhookURL == "" {
		return nil, errors.New("the hub sent no webhook URL to register")
	}
	log := c.logger().With(slog.String("connection_id", req.Connection.ID), slog.String("service_id", ID))
	a := c.client(set.base, creds[CredentialAccessToken], log, secretsOf(creds, req.WebhookURL))

	// Hooks already pointing at this URL (a re-registration after a
	// settings change) are not this call's to clean up.
	run := &subscription{webhookURL: req.WebhookURL, existing: map[int64]bool{}, snapshot: true}
	hooks, perr := a.list(ctx)
	switch {
	case perr == nil:
		for _, h := range hooks {
			if isOurs(h.WebhookURL, req.WebhookURL) {
				run.existing[h.HookID] = true
			}
		}
	case perr.StatusCode == http.StatusUnauthorized || perr.StatusCode == http.StatusForbidden:
		perr.Message += " (listing the account's webhooks before registering; nothing was registered)"
		return nil, perr
	default:
		run.snapshot = false
		log.Warn("could not list the account's Deskera webhooks before registering; "+
			"should a registration fail with an unknown outcome, only hooks with a known id can be removed",
			slog.Int("provider_status", perr.StatusCode), slog.String("error", perr.Message))
	}

	for i, et := range set.eventTypes {
		reg, perr, unknown := a.register(ctx, creds, et, withEventType(req.WebhookURL, et))
		if perr != nil {
			note := c.undo(ctx, a, run, unknown || a.Retried(), log)
			perr.Message = fmt.Sprintf("%s (registering %s, webhook %d of %d; %s)", perr.Message, et, i+1, len(set.eventTypes), note)
			return nil, perr
		}
		log.Debug("deskera webhook registered", slog.String("event_type", et), slog.Int64("hook_id", reg.HookID))
		run.made = append(run.made, reg)
	}
	if a.Retried() && run.snapshot {
		// A retried registration may have been made twice (the first
		// answer got lost): remove what is ours but not recorded.
		cctx, cancel := c.cleanupContext(ctx)
		if _, failed, listed := c.sweep(cctx, a, run, run.keep(), log); len(failed) > 0 || !listed {
			log.Warn("a Deskera registration was retried and possible duplicates could not all be removed; check the account's webhooks in Deskera",
				slog.Any("hook_ids", failed))
		}
		cancel()
	}
	state, err := json.Marshal(run.made)
	if err != nil {
		return nil, err
	}
	return &plugins.SubscribeResult{
		Registered: true,
		State:      state,
		Message:    fmt.Sprintf("Registered %d Deskera webhooks, one per event type: %s.", len(run.made), strings.Join(set.eventTypes, ", ")),
	}, nil
}

// subscription is what one Subscribe call knows while it registers.
type subscription struct {
	webhookURL string
	// existing are the hooks of webhookURL that were there before; valid
	// only with snapshot (the list before registering worked).
	existing map[int64]bool
	snapshot bool
	// made are the registrations made so far.
	made []Registration
}

// keep is the set of hooks a sweep must leave alone: the earlier ones and
// those made now.
func (s *subscription) keep() map[int64]bool {
	keep := make(map[int64]bool, len(s.existing)+len(s.made))
	for id := range s.existing {
		keep[id] = true
	}
	for _, r := range s.made {
		keep[r.HookID] = true
	}
	return keep
}

// cleanupContext is a deadline of its own for undoing work: the caller's
// may be what ran out.
func (c *Connector) cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), c.cfg.CleanupTimeout)
}

// undo deletes the hooks a failed Subscribe made. With unknown (a call's
// outcome is unknown: its answer never came, was a 5xx, or was retried) it
// also deletes every other hook of the URL that was not there before. It
// returns a note for the error message.
func (c *Connector) undo(ctx context.Context, a *client, run *subscription, unknown bool, log *slog.Logger) string {
	ctx, cancel := c.cleanupContext(ctx)
	defer cancel()
	var failed []int64
	keep := run.keep() // a hook that failed to delete is reported once
	for _, r := range slices.Backward(run.made) {
		if perr := a.delete(ctx, r.HookID); perr != nil {
			failed = append(failed, r.HookID)
			log.Warn("could not remove a Deskera webhook of a failed registration",
				slog.String("event_type", r.EventType), slog.Int64("hook_id", r.HookID),
				slog.Int("provider_status", perr.StatusCode), slog.String("error", perr.Message))
		}
	}
	madeFailed := len(failed)
	swept, checked := 0, !unknown
	if unknown && run.snapshot {
		var more []int64
		swept, more, checked = c.sweep(ctx, a, run, keep, log)
		failed = append(failed, more...)
	}

	var notes []string
	switch removed := len(run.made) - madeFailed; {
	case len(run.made) == 0:
	case removed == 1:
		notes = append(notes, "the 1 webhook registered before was removed")
	case removed > 1:
		notes = append(notes, fmt.Sprintf("the %d webhooks registered before were removed", removed))
	}
	if swept > 0 {
		notes = append(notes, fmt.Sprintf("%d made by calls whose answer was lost were removed too", swept))
	}
	if len(failed) > 0 {
		slices.Sort(failed)
		ids := make([]string, len(failed))
		for i, id := range failed {
			ids[i] = strconv.FormatInt(id, 10)
		}
		notes = append(notes, "could not remove the Deskera webhooks "+strings.Join(ids, ", ")+" made for this connection; delete them in Deskera")
	}
	if !checked {
		notes = append(notes, "Deskera may hold a webhook made by the call that failed; check the account's webhooks in Deskera")
	}
	if len(notes) == 0 {
		return "nothing was left registered"
	}
	return strings.Join(notes, "; ")
}

// sweep deletes every hook of the subscription's URL not in keep. It
// returns how many it deleted, the ids it could not delete, and whether it
// could list the hooks at all.
func (c *Connector) sweep(ctx context.Context, a *client, run *subscription, keep map[int64]bool, log *slog.Logger) (removed int, failed []int64, listed bool) {
	hooks, perr := a.list(ctx)
	if perr != nil {
		log.Warn("could not list Deskera webhooks to remove ones whose registration had an unknown outcome",
			slog.Int("provider_status", perr.StatusCode), slog.String("error", perr.Message))
		return 0, nil, false
	}
	for _, h := range hooks {
		if h.Deleted || keep[h.HookID] || !isOurs(h.WebhookURL, run.webhookURL) {
			continue
		}
		if perr := a.delete(ctx, h.HookID); perr != nil {
			failed = append(failed, h.HookID)
			log.Warn("could not remove a Deskera webhook left by a registration with an unknown outcome",
				slog.String("event_type", h.EventType), slog.Int64("hook_id", h.HookID),
				slog.Int("provider_status", perr.StatusCode), slog.String("error", perr.Message))
			continue
		}
		removed++
		log.Debug("removed a Deskera webhook left by a registration with an unknown outcome",
			slog.String("event_type", h.EventType), slog.Int64("hook_id", h.HookID))
	}
	return removed, failed, true
}

// Unsubscribe deletes every webhook Subscribe registered. A hook Deskera no
// longer knows (404) is already gone, which is what was asked. Every hook is
// tried; the first refusal is returned, naming how many could not be
// removed, and the hub keeps the connection so the removal can be retried.
func (c *Connector) Unsubscribe(ctx context.Context, req *plugins.UnsubscribeRequest) error {
	var regs []Registration
	if s := bytes.TrimSpace(req.State); len(s) > 0 {
		if err := json.Unmarshal(s, &regs); err != nil {
			return fmt.Errorf("reading the stored Deskera registrations: %w", err)
		}
	}
	if len(regs) == 0 {
		return nil
	}
	set, err := parseSettings(req.Connection.Settings)
	if err != nil {
		return err
	}
	if err := requireCredentials(req.Connection.Credentials, CredentialAccessToken); err != nil {
		return err
	}
	log := c.logger().With(slog.String("connection_id", req.Connection.ID), slog.String("service_id", ID))
	a := c.client(set.base, req.Connection.Credentials[CredentialAccessToken], log, secretsOf(req.Connection.Credentials, ""))
	var (
		first  *plugins.ProviderError
		failed []string
	)
	for _, r := range regs {
		if perr := a.delete(ctx, r.HookID); perr != nil {
			if first == nil {
				first = perr
			}
			failed = append(failed, strconv.FormatInt(r.HookID, 10))
			continue
		}
		log.Debug("deskera webhook removed", slog.String("event_type", r.EventType), slog.Int64("hook_id", r.HookID))
	}
	if first != nil {
		return &plugins.ProviderError{
			StatusCode: first.StatusCode,
			Message: fmt.Sprintf("%s (removing %d of %d Deskera webhooks failed: hook ids %s)",
				first.Message, len(failed), len(regs), strings.Join(failed, ", ")),
		}
	}
	return nil
}

// secretsOf lists what must never appear in an error or log line: the
// credentials and the inbound URL with its token (the only thing that
// authenticates Deskera's webhooks).
func secretsOf(creds map[string]string, webhookURL string) []string {
	var out []string
	for _, v := range creds {
		out = append(out, v)
	}
	if webhookURL != "" {
		out = append(out, webhookURL)
		if u, err := url.Parse(webhookURL); err == nil {
			if i := strings.LastIndexByte(u.Path, '/'); i >= 0 {
				out = append(out, u.Path[i+1:])
			}
		}
	}
	return out
}
