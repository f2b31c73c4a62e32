package vault

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/apikey"
	"github.com/switchboardhq/switchboard/hub/poll"
	"github.com/switchboardhq/switchboard/hub/secret"
	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/plugins"
)

// Sizes of generated secrets, in random bytes (43 URL-safe characters).
const (
	tokenBytes         = 32
	signingSecretBytes = 32
)

// connectionView is a connection as the API shows it. Credentials are never
// shown; SigningSecret only in the answer that generated it.
type connectionView struct {
	ID         string          `json:"id"`
	ConsumerID string          `json:"consumer_id"`
	ServiceID  string          `json:"service_id"`
	Status     string          `json:"status"`
	WebhookURL *string         `json:"webhook_url"`
	Settings   json.RawMessage `json:"settings"`
	// Registered says the connector registered webhook_url at the provider
	// (and will remove it when the connection is deleted).
	Registered    bool   `json:"registered"`
	SigningSecret string `json:"signing_secret,omitempty"`
	// Message is the connector's word to the user after a registration,
	// e.g. where to paste webhook_url.
	Message   string `json:"message,omitempty"`
	CreatedAt string `json:"created_at"`
	UpdatedAt string `json:"updated_at"`
	// Virtual webhooks, for a connection whose connector polls: whether
	// and how often it is polled, and how its polls go.
	Polling          *bool   `json:"polling,omitempty"`
	PollInterval     *int64  `json:"poll_interval,omitempty"`
	LastPolledAt     *string `json:"last_polled_at,omitempty"`
	PollError        *string `json:"poll_error,omitempty"`
	CursorAgeSeconds *int64  `json:"cursor_age_seconds,omitempty"`
	NextPollAt       *string `json:"next_poll_at,omitempty"`
}

func (s *Service) view(c *gin.Context, conn *store.Connection) connectionView {
	v := connectionView{
		ID:         conn.ID,
		ConsumerID: conn.ConsumerID,
		ServiceID:  conn.ServiceID,
		Status:     conn.Status,
		Settings:   conn.Settings,
		Registered: len(conn.Registrations) > 0,
		CreatedAt:  formatTime(conn.CreatedAt),
		UpdatedAt:  formatTime(conn.UpdatedAt),
	}
	if len(v.Settings) == 0 {
		v.Settings = json.RawMessage(`{}`)
	}
	// The URL's token is the provider's credential (for providers that do
	// not sign, the only one): only a caller that may manage the
	// consumer's connections sees it, never a read-only one.
	if conn.Token != "" && api.Principal(c).Allows(apikey.ScopeConnectionsWrite) {
		u := s.webhookURL(c, conn.ServiceID, conn.Token)
		v.WebhookURL = &u
	}
	s.pollView(c, conn, &v)
	return v
}

// pollView adds the poll settings and state of a connection whose
// connector polls. A state that cannot be read leaves them out rather than
// failing the read of the connection.
func (s *Service) pollView(c *gin.Context, conn *store.Connection, v *connectionView) {
	info, ok := s.connectors.Get(conn.ServiceID)
	if !ok || info.Description == nil || !info.Description.Poll {
		return
	}
	set, err := poll.ParseSettings(conn.Settings, info.Description)
	if err != nil {
		return
	}
	secs := int64(set.Interval / time.Second)
	v.Polling, v.PollInterval = &set.Enabled, &secs
	st, err := s.store.GetPollState(c.Request.Context(), store.Consumer(conn.ConsumerID), conn.ID)
	if err != nil {
		s.log.Warn("reading poll state", "connection_id", conn.ID, "error", err)
		return
	}
	empty := ""
	v.PollError = &empty
	if st.LastError != "" {
		v.PollError = &st.LastError
	}
	if st.LastPolledAt != nil {
		t := formatTime(*st.LastPolledAt)
		v.LastPolledAt = &t
	}
	if st.CursorAt != nil {
		age := int64(max(s.now().Sub(*st.CursorAt), 0) / time.Second)
		v.CursorAgeSeconds = &age
	}
	if st.NotBefore != nil && st.NotBefore.After(s.now()) {
		t := formatTime(*st.NotBefore)
		v.NextPollAt = &t
	}
}

// pollNow runs one poll of the connection now (virtual webhooks) and
// answers what it found: 200 with the counts, 409 while another poll of
// the connection runs, 422 for a connector that does not poll, 429 with
// Retry-After when the provider rate-limited the poll, 502 when the
// provider or connector failed (the connection's poll_error says why).
func (s *Service) pollNow(c *gin.Context) {
	conn, err := s.load(c)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	info, ok := s.connectors.Get(conn.ServiceID)
	if ok && info.Description != nil && !info.Description.Poll {
		api.WriteError(c, &api.Error{Status: http.StatusUnprocessableEntity, TypeName: api.TypeRequestValidation,
			Message: fmt.Sprintf("the %s connector does not poll (webhook_support.mode %q without virtual_webhooks)", conn.ServiceID, info.Description.Webhook.Mode)})
		return
	}
	if s.poller == nil || !ok || info.Description == nil {
		s.connectorFailed(c, conn.ServiceID, "poll", &plugins.UnavailableError{ID: conn.ServiceID, RetryAfter: defaultRetryAfter}, nil)
		return
	}
	if conn.Status != store.ConnectionActive {
		api.WriteError(c, &api.Error{Status: http.StatusConflict, TypeName: api.TypeConflict,
			Message: "the connection is disabled; enable it (PATCH status active) to poll it"})
		return
	}
	res, err := s.poller.PollOnce(c.Request.Context(), conn)
	var perr *poll.Error
	switch {
	case errors.Is(err, store.ErrPollBusy), errors.Is(err, store.ErrPollLeaseLost):
		api.WriteError(c, &api.Error{Status: http.StatusConflict, TypeName: api.TypeConflict,
			Message: "a poll of this connection is running; try again when it has finished", Err: err})
		return
	case errors.As(err, &perr) && errors.Is(err, plugins.ErrRateLimited):
		c.Header("Retry-After", poll.RetryAfterSeconds(perr, s.now()))
		api.WriteError(c, &api.Error{Status: http.StatusTooManyRequests, TypeName: "TooManyRequestsError",
			Message: fmt.Sprintf("the provider rate-limited the poll: %s", scrub(err.Error(), conn.Credentials)), Err: err})
		return
	case errors.As(err, &perr):
		s.connectorFailed(c, conn.ServiceID, "poll", perr.Err, conn.Credentials)
		return
	case err != nil:
		api.WriteError(c, fmt.Errorf("polling connection %s: %w", conn.ID, err))
		return
	}
	fresh, err := s.store.GetConnection(c.Request.Context(), store.Consumer(conn.ConsumerID), conn.ID)
	if err != nil {
		fresh = conn
	}
	api.Respond(c, http.StatusOK, gin.H{"events_found": res.Found, "events_stored": res.Stored,
		"duplicates": res.Duplicates, "more": res.More, "connection": s.view(c, fresh)})
}

// webhookURL is the inbound URL a provider sends this connection's webhooks
// to. The token is URL-safe base64 and needs no escaping.
func (s *Service) webhookURL(c *gin.Context, serviceID, token string) string {
	return s.baseURL(c) + "/webhook/inbound/" + url.PathEscape(serviceID) + "/" + token
}

// createRequest is the body of POST /vault/connections. Settings and
// credentials are read from the raw fields so their JSON survives as sent.
type createRequest struct {
	ServiceID   *string         `json:"service_id"`
	Settings    json.RawMessage `json:"settings"`
	Credentials json.RawMessage `json:"credentials"`
}

// updateRequest is the body of PATCH /vault/connections/{id}.
type updateRequest struct {
	Settings    json.RawMessage `json:"settings"`
	Credentials json.RawMessage `json:"credentials"`
	Status      *string         `json:"status"`
}

func (s *Service) createConnection(c *gin.Context) {
	consumer, scope, err := api.VaultConsumer(c)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	var req createRequest
	fields, err := api.DecodeJSON(c, &req)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	if req.ServiceID == nil || *req.ServiceID == "" {
		api.WriteError(c, api.Invalid(api.FieldError{Field: "service_id", Reason: "is required; loaded connectors: " + s.knownIDs()}))
		return
	}
	serviceID := *req.ServiceID
	info, ok := s.connectors.Get(serviceID)
	if !ok {
		api.WriteError(c, api.Invalid(api.FieldError{Field: "service_id",
			Reason: fmt.Sprintf("must be a loaded connector (%s), got %q", s.knownIDs(), serviceID)}))
		return
	}
	if info.Description == nil {
		s.connectorFailed(c, serviceID, "describe itself", &plugins.UnavailableError{ID: serviceID, RetryAfter: defaultRetryAfter}, nil)
		return
	}
	settings, err := parseObject(fieldSettings, fields[fieldSettings])
	if err != nil {
		api.WriteError(c, err)
		return
	}
	creds, err := parseObject(fieldCredentials, fields[fieldCredentials])
	if err != nil {
		api.WriteError(c, err)
		return
	}
	if err := checkOperatorSettings(c, info.Description, nil, settings); err != nil {
		api.WriteError(c, err)
		return
	}
	generated, err := ensureSigningSecret(info.Description, creds)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	plain, errs, err := s.check(info, settings, creds)
	if err != nil {
		s.connectorFailed(c, serviceID, "validate the connection", err, nil)
		return
	}
	if len(errs) > 0 {
		api.WriteError(c, api.Invalid(errs...))
		return
	}

	token, hash, err := newToken()
	if err != nil {
		api.WriteError(c, err)
		return
	}
	conn := &store.Connection{
		ID:          store.NewID(),
		ConsumerID:  consumer,
		ServiceID:   serviceID,
		Status:      store.ConnectionActive,
		Settings:    compact(fields[fieldSettings]),
		Credentials: plain,
		TokenHash:   hash,
		Token:       token,
		CreatedAt:   s.now(),
	}
	ctx, cancel := s.callContext(c)
	defer cancel()
	res, err := s.connectors.Subscribe(ctx, serviceID, &plugins.SubscribeRequest{
		Connection: pluginConnection(conn),
		WebhookURL: s.webhookURL(c, serviceID, token),
	})
	if err != nil {
		s.connectorFailed(c, serviceID, "register the webhook", err, withTokens(plain, token))
		return
	}
	if res == nil {
		res = &plugins.SubscribeResult{}
	}
	conn.Registrations = encodeState(res.Registered, res.State)
	if err := s.store.CreateConnection(ctx, scope, conn); err != nil {
		// The provider has a registration for a connection that does not
		// exist: take it back before answering.
		s.undo(ctx, conn, conn.Registrations)
		api.WriteError(c, fmt.Errorf("storing connection %s: %w", conn.ID, err))
		return
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "connection created",
		slog.String("connection_id", conn.ID),
		slog.String("consumer_id", conn.ConsumerID),
		slog.String("service_id", conn.ServiceID),
		slog.Bool("registered", len(conn.Registrations) > 0),
		slog.Bool("signing_secret_generated", generated != ""))
	v := s.view(c, conn)
	v.SigningSecret = generated
	v.Message = scrub(res.Message, plain)
	api.Respond(c, http.StatusCreated, v)
}

func (s *Service) listConnections(c *gin.Context) {
	consumer, scope, err := api.VaultConsumer(c)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	ctx := c.Request.Context()
	api.RespondPage(c, s.publicURL, "connections", func(p store.Page) ([]connectionView, error) {
		conns, err := s.store.ListConnections(ctx, scope, p)
		if err != nil {
			return nil, fmt.Errorf("listing connections of consumer %s: %w", consumer, err)
		}
		views := make([]connectionView, len(conns))
		for i, conn := range conns {
			views[i] = s.view(c, conn)
		}
		return views, nil
	}, func(v connectionView) string { return v.ID })
}

// load reads one of the consumer's connections; another consumer's is not
// found, exactly like one that does not exist.
func (s *Service) load(c *gin.Context) (*store.Connection, error) {
	_, scope, err := api.VaultConsumer(c)
	if err != nil {
		return nil, err
	}
	id := c.Param("id")
	conn, err := s.store.GetConnection(c.Request.Context(), scope, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, api.NotFound("connection", id)
	}
	if err != nil {
		return nil, fmt.Errorf("loading connection %s: %w", id, err)
	}
	return conn, nil
}

func (s *Service) getConnection(c *gin.Context) {
	conn, err := s.load(c)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	api.Respond(c, http.StatusOK, s.view(c, conn))
}

// updateConnection changes status, settings or credentials. settings is
// replaced as a whole (it is one document validated as one); credentials are
// merged key by key, a null value removing a key, because a client cannot
// read them back to resend the ones it keeps. Changed settings are registered
// at the provider again: the new registration is made before the old one is
// removed, so no webhook is missed in between.
func (s *Service) updateConnection(c *gin.Context) {
	_, scope, err := api.VaultConsumer(c)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	var req updateRequest
	fields, err := api.DecodeJSON(c, &req)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	conn, err := s.load(c)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	old := *conn
	var errs []api.FieldError
	if _, ok := fields["status"]; ok {
		switch {
		case req.Status == nil:
			errs = append(errs, api.FieldError{Field: "status", Reason: "must be active or disabled, got null"})
		case *req.Status != store.ConnectionActive && *req.Status != store.ConnectionDisabled:
			errs = append(errs, api.FieldError{Field: "status", Reason: fmt.Sprintf("must be active or disabled, got %q", *req.Status)})
		default:
			conn.Status = *req.Status
		}
	}
	rawSettings, setSettings := fields[fieldSettings]
	rawCreds, setCreds := fields[fieldCredentials]
	var (
		generated       string
		settingsChanged bool
	)
	if setSettings || setCreds {
		info, ok := s.connectors.Get(conn.ServiceID)
		if !ok || info.Description == nil {
			s.connectorFailed(c, conn.ServiceID, "validate the connection", &plugins.UnavailableError{ID: conn.ServiceID, RetryAfter: defaultRetryAfter}, nil)
			return
		}
		if !setSettings {
			rawSettings = conn.Settings
		}
		settings, err := parseObject(fieldSettings, rawSettings)
		if err != nil {
			api.WriteError(c, err)
			return
		}
		stored, _ := parseObject(fieldSettings, conn.Settings)
		if err := checkOperatorSettings(c, info.Description, stored, settings); err != nil {
			api.WriteError(c, err)
			return
		}
		patch, err := parseObject(fieldCredentials, rawCreds)
		if err != nil {
			api.WriteError(c, err)
			return
		}
		creds := make(map[string]any, len(conn.Credentials)+len(patch))
		for k, v := range conn.Credentials {
			creds[k] = v
		}
		for k, v := range patch {
			if v == nil {
				delete(creds, k)
			} else {
				creds[k] = v
			}
		}
		if generated, err = ensureSigningSecret(info.Description, creds); err != nil {
			api.WriteError(c, err)
			return
		}
		plain, fieldErrs, err := s.check(info, settings, creds)
		if err != nil {
			s.connectorFailed(c, conn.ServiceID, "validate the connection", err, nil)
			return
		}
		errs = append(errs, fieldErrs...)
		conn.Credentials = plain
		if setSettings {
			conn.Settings = compact(rawSettings)
			settingsChanged = !jsonEqual(poll.Strip(old.Settings), poll.Strip(conn.Settings))
		}
	}
	if len(errs) > 0 {
		api.WriteError(c, api.Invalid(errs...))
		return
	}
	if settingsChanged && conn.Token == "" {
		api.WriteError(c, api.Invalid(api.FieldError{Field: fieldSettings,
			Reason: "cannot change: this connection has no stored inbound token to register again; delete it and create a new one"}))
		return
	}

	ctx, cancel := s.callContext(c)
	defer cancel()
	var res *plugins.SubscribeResult
	if settingsChanged {
		res, err = s.connectors.Subscribe(ctx, conn.ServiceID, &plugins.SubscribeRequest{
			Connection: pluginConnection(conn),
			WebhookURL: s.webhookURL(c, conn.ServiceID, conn.Token),
		})
		if err != nil {
			s.connectorFailed(c, conn.ServiceID, "register the webhook", err, withTokens(conn.Credentials, conn.Token))
			return
		}
		if res == nil {
			res = &plugins.SubscribeResult{}
		}
		conn.Registrations = encodeState(res.Registered, res.State)
	}
	if err := s.store.UpdateConnection(ctx, scope, conn); err != nil {
		if settingsChanged {
			s.undo(ctx, conn, conn.Registrations)
		}
		if errors.Is(err, store.ErrNotFound) {
			err = api.NotFound("connection", conn.ID)
		}
		api.WriteError(c, fmt.Errorf("updating connection %s: %w", conn.ID, err))
		return
	}
	var message string
	if settingsChanged {
		message = scrub(res.Message, conn.Credentials)
		if len(old.Registrations) > 0 {
			// The old registration was made with the old settings (the
			// provider's base URL, say) and is removed with the current
			// credentials, which are the ones that work now.
			prev := *conn
			prev.Settings = old.Settings
			if err := s.unsubscribe(ctx, &prev, old.Registrations); err != nil {
				s.logUndoFailure(ctx, conn, "removing the previous registration after a settings change", err)
				message = strings.TrimSpace(message + " The previous registration at the provider could not be removed (" +
					scrub(err.Error(), conn.Credentials) + "); remove it there by hand.")
			}
		}
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "connection updated",
		slog.String("connection_id", conn.ID),
		slog.String("consumer_id", conn.ConsumerID),
		slog.String("service_id", conn.ServiceID),
		slog.String("status", conn.Status),
		slog.Bool("settings_changed", settingsChanged),
		slog.Bool("credentials_changed", setCreds),
		slog.Bool("signing_secret_generated", generated != ""))
	v := s.view(c, conn)
	v.SigningSecret = generated
	v.Message = message
	api.Respond(c, http.StatusOK, v)
}

// deleteConnection removes the registration at the provider first and the
// connection only when that worked, so a provider is never left sending to
// a URL nobody owns. ?force=true deletes even when the removal fails or the
// connector is gone (the provider may keep a registration to remove there by
// hand).
func (s *Service) deleteConnection(c *gin.Context) {
	force := false
	if raw, ok := c.GetQuery("force"); ok {
		b, err := strconv.ParseBool(raw)
		if err != nil {
			api.WriteError(c, api.BadRequest("force", "must be true or false"))
			return
		}
		force = b
	}
	conn, err := s.load(c)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	ctx, cancel := s.callContext(c)
	defer cancel()
	stillRegistered := false
	if len(conn.Registrations) > 0 {
		err := s.unsubscribe(ctx, conn, conn.Registrations)
		switch {
		case err != nil && force:
			s.logUndoFailure(ctx, conn, "removing the registration of a force-deleted connection", err)
			stillRegistered = true // the provider may still hold it
		case err != nil:
			s.connectorFailed(c, conn.ServiceID, "remove the webhook registration", err, withTokens(conn.Credentials, conn.Token))
			return
		}
	}
	if err := s.store.DeleteConnection(ctx, store.Consumer(conn.ConsumerID), conn.ID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = api.NotFound("connection", conn.ID)
		}
		api.WriteError(c, fmt.Errorf("deleting connection %s: %w", conn.ID, err))
		return
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "connection deleted",
		slog.String("connection_id", conn.ID),
		slog.String("consumer_id", conn.ConsumerID),
		slog.String("service_id", conn.ServiceID),
		slog.Bool("forced", force))
	// The answer shows the connection as it now is: deleted (a later read
	// is 404), its inbound URL gone. The URL is still shown when the
	// provider may keep a registration to it, to be removed there by hand.
	v := s.view(c, conn)
	v.Status, v.Registered = ConnectionDeleted, stillRegistered
	if !stillRegistered {
		v.WebhookURL = nil
	}
	api.Respond(c, http.StatusOK, v)
}

// ConnectionDeleted is the status DELETE /vault/connections/{id} answers
// with; the connection is gone and later reads are 404.
const ConnectionDeleted = "deleted"

// unsubscribe asks the connector to remove a registration. A connector that
// is no longer loaded cannot, and says so as unavailable.
func (s *Service) unsubscribe(ctx context.Context, conn *store.Connection, registrations json.RawMessage) error {
	if _, ok := s.connectors.Get(conn.ServiceID); !ok {
		return &plugins.UnavailableError{ID: conn.ServiceID, RetryAfter: defaultRetryAfter,
			Err: errors.New("no connector with this id is loaded")}
	}
	state, err := decodeState(registrations)
	if err != nil {
		return fmt.Errorf("reading the stored registration of connection %s: %w", conn.ID, err)
	}
	return s.connectors.Unsubscribe(ctx, conn.ServiceID, &plugins.UnsubscribeRequest{
		Connection: pluginConnection(conn),
		State:      state,
	})
}

// undo removes a registration whose connection could not be stored. It gets
// a fresh deadline, since the store write may have failed by running out of
// ctx's. Its failure is logged: the answer is already an error.
func (s *Service) undo(ctx context.Context, conn *store.Connection, registrations json.RawMessage) {
	if len(registrations) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	defer cancel()
	if err := s.unsubscribe(ctx, conn, registrations); err != nil {
		s.logUndoFailure(ctx, conn, "undoing the registration of a connection that was not stored", err)
	}
}

func (s *Service) logUndoFailure(ctx context.Context, conn *store.Connection, what string, err error) {
	s.log.LogAttrs(ctx, slog.LevelWarn, "provider registration left behind",
		slog.String("while", what),
		slog.String("connection_id", conn.ID),
		slog.String("consumer_id", conn.ConsumerID),
		slog.String("service_id", conn.ServiceID),
		slog.String("error", scrub(err.Error(), conn.Credentials)))
}

// pollSettings is the JSON of the poll settings present in settings.
func pollSettings(settings map[string]any) json.RawMessage {
	m := map[string]any{}
	for _, k := range []string{poll.SettingInterval, poll.SettingPolling} {
		if v, ok := settings[k]; ok {
			m[k] = v
		}
	}
	out, _ := json.Marshal(m)
	return out
}

// pluginConnection is what a connector is told about a connection: its
// settings without the hub's own poll settings.
func pluginConnection(conn *store.Connection) plugins.Connection {
	return plugins.Connection{
		ID:          conn.ID,
		ConsumerID:  conn.ConsumerID,
		Settings:    poll.Strip(conn.Settings),
		Credentials: conn.Credentials,
	}
}

// knownIDs lists the loaded connectors for error messages.
func (s *Service) knownIDs() string {
	infos := s.connectors.List()
	ids := make([]string, len(infos))
	for i, info := range infos {
		ids[i] = info.ID
	}
	slices.Sort(ids)
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}

// parseObject reads a settings or credentials document. Absent and null mean
// an empty object; anything but an object cannot be read as asked (400).
func parseObject(field string, raw json.RawMessage) (map[string]any, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return map[string]any{}, nil
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, api.BadRequest(field, "must be a JSON object")
	}
	switch v := v.(type) {
	case nil:
		return map[string]any{}, nil
	case map[string]any:
		return v, nil
	default:
		return nil, api.BadRequest(field, fmt.Sprintf("must be a JSON object, got %s", jsonType(v)))
	}
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	case nil:
		return "null"
	default:
		return "a number"
	}
}

// ensureSigningSecret generates the per-connection secret of a provider that
// signs its webhooks when the caller did not bring the provider's own. It
// returns the generated secret, to be shown once, or "".
func ensureSigningSecret(d *plugins.Description, creds map[string]any) (string, error) {
	if !d.ProviderSigns {
		return "", nil
	}
	if v, ok := creds[plugins.CredentialSigningSecret]; ok && v != "" {
		return "", nil
	}
	sec, err := secret.Token(signingSecretBytes)
	if err != nil {
		return "", err
	}
	creds[plugins.CredentialSigningSecret] = sec
	return sec, nil
}

// check validates settings and credentials against the connector's schemas
// and returns the credentials as the store keeps them (strings). An error
// means the connector's own schema is broken.
func (s *Service) check(info Info, settings, creds map[string]any) (map[string]string, []api.FieldError, error) {
	d := info.Description
	// The hub's own poll settings are checked here, not by the connector's
	// schema, and never reach the connector.
	var pollErrs []api.FieldError
	_, hasInterval := settings[poll.SettingInterval]
	_, hasPolling := settings[poll.SettingPolling]
	if hasInterval || hasPolling {
		if _, err := poll.ParseSettings(pollSettings(settings), d); err != nil {
			if se, ok := errors.AsType[*poll.SettingsError](err); ok {
				pollErrs = append(pollErrs, api.FieldError{Field: strings.ReplaceAll(se.Field, ".", "/"), Reason: se.Message})
			}
		}
		settings = maps.Clone(settings)
		delete(settings, poll.SettingInterval)
		delete(settings, poll.SettingPolling)
	}
	settingsSchema, err := s.schemaFor(info.ID, fieldSettings, d.SettingsSchema)
	if err != nil {
		return nil, nil, err
	}
	credsSchema, err := s.schemaFor(info.ID, fieldCredentials, d.CredentialsSchema)
	if err != nil {
		return nil, nil, err
	}
	errs := validate(settingsSchema, fieldSettings, settings, false)
	errs = append(errs, pollErrs...)
	errs = append(errs, validate(credsSchema, fieldCredentials, creds, true)...)
	plain := make(map[string]string, len(creds))
	for _, k := range slices.Sorted(maps.Keys(creds)) {
		str, ok := creds[k].(string)
		if !ok {
			fe := api.FieldError{Field: fieldCredentials + "/" + escape(k), Reason: "must be a string"}
			if !slices.Contains(errs, fe) {
				errs = append(errs, fe)
			}
			continue
		}
		plain[k] = str
	}
	return plain, errs, nil
}

// compact normalises a stored JSON document; absent or null is {}.
func compact(raw json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil || buf.Len() == 0 || buf.String() == "null" {
		return json.RawMessage(`{}`)
	}
	return buf.Bytes()
}

// jsonEqual compares two JSON documents by value.
func jsonEqual(a, b json.RawMessage) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(va, vb)
}

// encodeState turns what Subscribe returned into the registrations stored
// with the connection, or nil when nothing was registered. JSON state
// (objects, arrays, numbers) is stored as is, readable by operators, and
// comes back as the same JSON value; any other bytes, a JSON string
// included, are stored as a JSON string of their base64 and come back
// exactly. A stored JSON string therefore always means base64.
func encodeState(registered bool, state []byte) json.RawMessage {
	if !registered && len(state) == 0 {
		return nil
	}
	trimmed := bytes.TrimSpace(state)
	if len(trimmed) > 0 && trimmed[0] != '"' && json.Valid(trimmed) {
		return json.RawMessage(bytes.Clone(trimmed))
	}
	b, _ := json.Marshal(base64.StdEncoding.EncodeToString(state))
	return b
}

// decodeState is the inverse of encodeState: the bytes Unsubscribe gets.
func decodeState(reg json.RawMessage) ([]byte, error) {
	trimmed := bytes.TrimSpace(reg)
	if len(trimmed) == 0 {
		return nil, nil
	}
	if trimmed[0] != '"' {
		return trimmed, nil
	}
	var s string
	if err := json.Unmarshal(trimmed, &s); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(s)
}
