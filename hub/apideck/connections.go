package apideck

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/api"
)

// hubConnection is what the edge reads of the hub's connection view.
type hubConnection struct {
	ID            string          `json:"id"`
	ConsumerID    string          `json:"consumer_id"`
	ServiceID     string          `json:"service_id"`
	Status        string          `json:"status"`
	WebhookURL    *string         `json:"webhook_url"`
	Settings      json.RawMessage `json:"settings"`
	Registered    bool            `json:"registered"`
	SigningSecret string          `json:"signing_secret"`
	Message       string          `json:"message"`
	CreatedAt     string          `json:"created_at"`
	UpdatedAt     string          `json:"updated_at"`
}

// Connection is Apideck's vault Connection: one per unified API a
// connection feeds. Its id is Apideck's "<unified_api>+<service_id>"; the
// hub's own connection id is metadata.connection_id.
type Connection struct {
	ID               string          `json:"id"`
	ServiceID        string          `json:"service_id"`
	Name             string          `json:"name"`
	UnifiedAPI       string          `json:"unified_api"`
	State            string          `json:"state"`
	IntegrationState string          `json:"integration_state"`
	AuthType         string          `json:"auth_type"`
	Status           string          `json:"status"`
	Enabled          bool            `json:"enabled"`
	Settings         json.RawMessage `json:"settings"`
	Metadata         map[string]any  `json:"metadata"`
	Subscriptions    []Subscription  `json:"subscriptions"`
	CreatedAt        int64           `json:"created_at"`
	UpdatedAt        *int64          `json:"updated_at"`
}

// Subscription is Apideck's connection webhook subscription: where the
// provider sends this connection's webhooks.
type Subscription struct {
	DownstreamID         string   `json:"downstream_id"`
	UnifyEventTypes      []string `json:"unify_event_types"`
	DownstreamEventTypes []string `json:"downstream_event_types"`
	ExecuteURL           string   `json:"execute_url"`
	CreatedAt            string   `json:"created_at"`
}

func millis(raw string) int64 {
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		return 0
	}
	return t.UnixMilli()
}

// connection renders one of the hub's connections for one unified API.
func (s *Service) connection(conn hubConnection, unifiedAPI string) Connection {
	info, loaded := s.connectors.Get(conn.ServiceID)
	out := Connection{
		ID: unifiedAPI + "+" + conn.ServiceID, ServiceID: conn.ServiceID, Name: conn.ServiceID, UnifiedAPI: unifiedAPI,
		State: "callable", IntegrationState: "configured", AuthType: "custom", Status: "live",
		Enabled: conn.Status == "active", Settings: conn.Settings, Subscriptions: []Subscription{},
		Metadata:  map[string]any{"connection_id": conn.ID, "consumer_id": conn.ConsumerID, "registered": conn.Registered},
		CreatedAt: millis(conn.CreatedAt),
	}
	if !out.Enabled {
		out.State = "added"
	}
	if len(out.Settings) == 0 {
		out.Settings = json.RawMessage(`{}`)
	}
	if conn.UpdatedAt != "" {
		u := millis(conn.UpdatedAt)
		out.UpdatedAt = &u
	}
	if conn.SigningSecret != "" {
		out.Metadata["signing_secret"] = conn.SigningSecret
	}
	if conn.Message != "" {
		out.Metadata["message"] = conn.Message
	}
	if loaded && info.Description != nil && info.Description.Name != "" {
		out.Name = info.Description.Name
	}
	if conn.WebhookURL != nil {
		out.Metadata["webhook_url"] = *conn.WebhookURL
		sub := Subscription{DownstreamID: conn.ID, UnifyEventTypes: []string{}, DownstreamEventTypes: []string{},
			ExecuteURL: *conn.WebhookURL, CreatedAt: conn.CreatedAt}
		if loaded && info.Description != nil {
			for _, e := range info.Description.SupportedEvents {
				if strings.HasPrefix(e.EventType, unifiedAPI+".") {
					sub.UnifyEventTypes = append(sub.UnifyEventTypes, e.EventType)
					sub.DownstreamEventTypes = append(sub.DownstreamEventTypes, e.DownstreamEventType)
				}
			}
		}
		out.Subscriptions = append(out.Subscriptions, sub)
	}
	return out
}

// unifiedAPIs are the unified APIs a connection feeds (its connector's);
// a connection whose connector is not loaded shows under none.
func (s *Service) unifiedAPIs(serviceID string) []string {
	info, ok := s.connectors.Get(serviceID)
	if !ok || info.Description == nil {
		return nil
	}
	return info.Description.UnifiedAPIs
}

// consumerConnections reads every connection of the request's consumer
// through the hub's own list.
func (s *Service) consumerConnections(c *gin.Context) ([]hubConnection, bool) {
	return s.connectionsOf(c, "")
}

// listConnections lists the consumer's connections, each once per unified
// API it feeds; ?api= keeps one unified API, ?configured=false none (every
// connection of the hub is configured).
func (s *Service) listConnections(c *gin.Context) {
	if _, _, err := api.VaultConsumer(c); err != nil {
		api.WriteError(c, err)
		return
	}
	only := c.Query("api")
	if raw, ok := c.GetQuery("configured"); ok {
		b, err := strconv.ParseBool(raw)
		if err != nil {
			api.WriteError(c, api.BadRequest("configured", fmt.Sprintf("must be true or false, got %q", raw)))
			return
		}
		if !b {
			respond(c, http.StatusOK, []Connection{})
			return
		}
	}
	conns, ok := s.consumerConnections(c)
	if !ok {
		return
	}
	out := []Connection{}
	for _, conn := range conns {
		for _, a := range s.unifiedAPIs(conn.ServiceID) {
			if only == "" || a == only {
				out = append(out, s.connection(conn, a))
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	respond(c, http.StatusOK, out)
}

// resolve finds the consumer's one connection to service_id for
// unified_api: 404 when there is none (or the service does not feed that
// API), 409 listing the ids when there are several. With none allowed, no
// connection is not an error (import creates one).
func (s *Service) resolve(c *gin.Context, noneAllowed bool) (conn *hubConnection, unifiedAPI string, ok bool) {
	if _, _, err := api.VaultConsumer(c); err != nil {
		api.WriteError(c, err)
		return nil, "", false
	}
	unifiedAPI, serviceID := c.Param("unified_api"), c.Param("service_id")
	if info, loaded := s.connectors.Get(serviceID); loaded && info.Description != nil && !feeds(info, unifiedAPI) {
		api.WriteError(c, &api.Error{Status: http.StatusNotFound, TypeName: api.TypeEntityNotFound,
			Message: fmt.Sprintf("service %s does not feed the %s API; it feeds %s", serviceID, unifiedAPI, strings.Join(info.Description.UnifiedAPIs, ", ")),
			Detail:  map[string]string{"entity": "connection", "unified_api": unifiedAPI, "service_id": serviceID}})
		return nil, "", false
	} else if !loaded && noneAllowed {
		api.WriteError(c, api.Invalid(api.FieldError{Field: "service_id", Reason: fmt.Sprintf("must be a loaded connector, got %q", serviceID)}))
		return nil, "", false
	}
	conns, ok := s.consumerConnections(c)
	if !ok {
		return nil, "", false
	}
	var matches []hubConnection
	for _, conn := range conns {
		if conn.ServiceID == serviceID {
			matches = append(matches, conn)
		}
	}
	switch {
	case len(matches) == 0 && noneAllowed:
		return nil, unifiedAPI, true
	case len(matches) == 0:
		api.WriteError(c, &api.Error{Status: http.StatusNotFound, TypeName: api.TypeEntityNotFound,
			Message: fmt.Sprintf("the consumer has no connection to %s", serviceID),
			Detail:  map[string]string{"entity": "connection", "unified_api": unifiedAPI, "service_id": serviceID}})
		return nil, "", false
	case len(matches) > 1:
		ids := make([]string, len(matches))
		for i, m := range matches {
			ids[i] = m.ID
		}
		api.WriteError(c, &api.Error{Status: http.StatusConflict, TypeName: api.TypeConflict,
			Message: fmt.Sprintf("the consumer has %d connections to %s; Apideck's paths name one. Use the hub's own /vault/connections/{id} with one of: %s",
				len(matches), serviceID, strings.Join(ids, ", ")),
			Detail: map[string]any{"service_id": serviceID, "connection_ids": ids}})
		return nil, "", false
	}
	return &matches[0], unifiedAPI, true
}

// relayConnection runs one call of the hub's connection API and answers
// with the connection in Apideck's shape.
func (s *Service) relayConnection(c *gin.Context, method, path string, body any, unifiedAPI string) {
	r, ok := s.relay(c, "", method, path, nil, body)
	if !ok {
		return
	}
	var conn hubConnection
	if err := r.decode(&conn); err != nil {
		api.WriteError(c, err)
		return
	}
	respond(c, http.StatusOK, s.connection(conn, unifiedAPI))
}

func (s *Service) getConnection(c *gin.Context) {
	conn, unifiedAPI, ok := s.resolve(c, false)
	if !ok {
		return
	}
	respond(c, http.StatusOK, s.connection(*conn, unifiedAPI))
}

// connectionInput is Apideck's ConnectionInput; the hub keeps enabled
// (its status) and settings. metadata and the read-only fields are
// ignored; the rest has no place in the hub and is refused when it carries
// anything.
type connectionInput struct {
	Enabled        *bool           `json:"enabled"`
	Settings       json.RawMessage `json:"settings"`
	Metadata       json.RawMessage `json:"metadata"`
	Configuration  json.RawMessage `json:"configuration"`
	CustomMappings json.RawMessage `json:"custom_mappings"`
	ConsentState   json.RawMessage `json:"consent_state"`
	LatestConsent  json.RawMessage `json:"latest_consent"`
	DataScopes     json.RawMessage `json:"application_data_scopes"`
	// Read-only in Apideck: accepted so a connection read can be sent
	// back, and ignored.
	State            json.RawMessage `json:"state"`
	IntegrationState json.RawMessage `json:"integration_state"`
	AuthType         json.RawMessage `json:"auth_type"`
	OAuthGrantType   json.RawMessage `json:"oauth_grant_type"`
}

func empty(raw json.RawMessage) bool {
	switch strings.TrimSpace(string(raw)) {
	case "", "null", "{}", "[]":
		return true
	}
	return false
}

func (s *Service) updateConnection(c *gin.Context) {
	var in connectionInput
	if _, err := api.DecodeJSON(c, &in); err != nil {
		api.WriteError(c, err)
		return
	}
	var errs []api.FieldError
	// metadata is what the edge shows (the hub's connection id, its
	// webhook URL): read-only here, so a connection read can be sent back.
	for name, raw := range map[string]json.RawMessage{"configuration": in.Configuration,
		"custom_mappings": in.CustomMappings, "consent_state": in.ConsentState, "latest_consent": in.LatestConsent,
		"application_data_scopes": in.DataScopes} {
		if !empty(raw) {
			errs = append(errs, api.FieldError{Field: name, Reason: "is not supported by Switchboard; send enabled and settings only"})
		}
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b api.FieldError) int { return strings.Compare(a.Field, b.Field) })
		api.WriteError(c, api.Invalid(errs...))
		return
	}
	conn, unifiedAPI, ok := s.resolve(c, false)
	if !ok {
		return
	}
	body := map[string]any{}
	if in.Enabled != nil {
		body["status"] = map[bool]string{true: "active", false: "disabled"}[*in.Enabled]
	}
	if len(in.Settings) > 0 {
		body["settings"] = in.Settings
	}
	s.relayConnection(c, http.MethodPatch, "/vault/connections/"+url.PathEscape(conn.ID), body, unifiedAPI)
}

func (s *Service) deleteConnection(c *gin.Context) {
	conn, _, ok := s.resolve(c, false)
	if !ok {
		return
	}
	_, ok = s.relay(c, "", http.MethodDelete, "/vault/connections/"+url.PathEscape(conn.ID), nil, nil)
	if !ok {
		return
	}
	c.Status(http.StatusNoContent)
	c.Abort()
}

// importRequest is Apideck's ConnectionImportData.
type importRequest struct {
	Credentials map[string]any  `json:"credentials"`
	Settings    json.RawMessage `json:"settings"`
	Metadata    json.RawMessage `json:"metadata"`
}

// importConnection creates the consumer's connection to the service with
// the given credentials and settings, or updates its one connection.
// Apideck's OAuth fields issued_at and expires_in are not credentials the
// hub's connectors use and are dropped; the other credential values are
// passed on as strings.
func (s *Service) importConnection(c *gin.Context) {
	var in importRequest
	if _, err := api.DecodeJSON(c, &in); err != nil {
		api.WriteError(c, err)
		return
	}
	if !empty(in.Metadata) {
		api.WriteError(c, api.Invalid(api.FieldError{Field: "metadata", Reason: "is not supported by Switchboard; send credentials and settings"}))
		return
	}
	creds := map[string]any{}
	for k, v := range in.Credentials {
		switch k {
		case "issued_at", "expires_in":
			continue
		}
		switch v := v.(type) {
		case nil:
		case string:
			creds[k] = v
		default:
			api.WriteError(c, api.Invalid(api.FieldError{Field: "credentials/" + k, Reason: "must be a string"}))
			return
		}
	}
	conn, unifiedAPI, ok := s.resolve(c, true)
	if !ok {
		return
	}
	body := map[string]any{}
	if len(creds) > 0 {
		body["credentials"] = creds
	}
	if !empty(in.Settings) {
		body["settings"] = in.Settings
	}
	if conn != nil {
		s.relayConnection(c, http.MethodPatch, "/vault/connections/"+url.PathEscape(conn.ID), body, unifiedAPI)
		return
	}
	body["service_id"] = c.Param("service_id")
	s.relayConnection(c, http.MethodPost, "/vault/connections", body, unifiedAPI)
}
