package apideck

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/store"
)

// Consumer is Apideck's vault Consumer.
type Consumer struct {
	ConsumerID             string                 `json:"consumer_id"`
	ApplicationID          string                 `json:"application_id,omitempty"`
	Metadata               store.ConsumerMetadata `json:"metadata"`
	Connections            *[]ConsumerConnection  `json:"connections,omitempty"`
	Services               []string               `json:"services"`
	AggregatedRequestCount int                    `json:"aggregated_request_count"`
	RequestCounts          requestCounts          `json:"request_counts"`
	Created                string                 `json:"created,omitempty"`
	Modified               string                 `json:"modified,omitempty"`
}

// requestCounts are Apideck's billing counters; the hub counts no requests
// for billing, so they are zero.
type requestCounts struct {
	Unify int `json:"unify"`
	Proxy int `json:"proxy"`
	Vault int `json:"vault"`
}

// ConsumerConnection is Apideck's ConsumerConnection.
type ConsumerConnection struct {
	ID         string          `json:"id"`
	Name       string          `json:"name"`
	ServiceID  string          `json:"service_id"`
	UnifiedAPI string          `json:"unified_api"`
	ConsumerID string          `json:"consumer_id"`
	AuthType   string          `json:"auth_type"`
	Enabled    bool            `json:"enabled"`
	Settings   json.RawMessage `json:"settings"`
	Metadata   map[string]any  `json:"metadata"`
	CreatedAt  string          `json:"created_at"`
	UpdatedAt  *string         `json:"updated_at"`
	State      string          `json:"state"`
}

func (s *Service) consumer(rec *store.ConsumerRecord) Consumer {
	out := Consumer{ConsumerID: rec.ID, ApplicationID: s.appID, Metadata: rec.Metadata, Services: rec.Services}
	if out.Services == nil {
		out.Services = []string{}
	}
	if rec.Stored {
		out.Created = rec.CreatedAt.UTC().Format(time.RFC3339Nano)
		out.Modified = rec.UpdatedAt.UTC().Format(time.RFC3339Nano)
	}
	return out
}

// withConnections adds the consumer's connections, once per unified API.
func (s *Service) withConnections(c *gin.Context, out *Consumer) bool {
	conns, ok := s.connectionsOf(c, out.ConsumerID)
	if !ok {
		return false
	}
	list := []ConsumerConnection{}
	for _, conn := range conns {
		for _, a := range s.unifiedAPIs(conn.ServiceID) {
			v := s.connection(conn, a)
			cc := ConsumerConnection{ID: v.ID, Name: v.Name, ServiceID: v.ServiceID, UnifiedAPI: a, ConsumerID: conn.ConsumerID,
				AuthType: v.AuthType, Enabled: v.Enabled, Settings: v.Settings, Metadata: v.Metadata, CreatedAt: conn.CreatedAt, State: v.State}
			if conn.UpdatedAt != "" {
				u := conn.UpdatedAt
				cc.UpdatedAt = &u
			}
			list = append(list, cc)
		}
	}
	out.Connections = &list
	return true
}

// connectionsOf reads every connection of one consumer through the hub's
// own list; "" is the consumer the request's headers name.
func (s *Service) connectionsOf(c *gin.Context, consumer string) ([]hubConnection, bool) {
	var all []hubConnection
	q := url.Values{"limit": {"200"}}
	for {
		r, ok := s.relay(c, consumer, http.MethodGet, "/vault/connections", q, nil)
		if !ok {
			return nil, false
		}
		var env struct {
			Data []hubConnection `json:"data"`
			Meta struct {
				Cursors cursors `json:"cursors"`
			} `json:"meta"`
		}
		if err := json.Unmarshal(r.body, &env); err != nil {
			api.WriteError(c, fmt.Errorf("reading the hub's connections: %w", err))
			return nil, false
		}
		all = append(all, env.Data...)
		if env.Meta.Cursors.Next == nil || len(env.Data) == 0 {
			return all, true
		}
		q.Set("cursor", *env.Meta.Cursors.Next)
	}
}

func (s *Service) listConsumers(c *gin.Context) {
	ctx := c.Request.Context()
	api.RespondPage(c, s.publicURL, "consumers", func(p store.Page) ([]Consumer, error) {
		recs, err := s.store.ListConsumers(ctx, api.ScopeOf(c), p)
		if err != nil {
			return nil, fmt.Errorf("listing consumers: %w", err)
		}
		out := make([]Consumer, len(recs))
		for i, rec := range recs {
			out[i] = s.consumer(rec)
		}
		return out, nil
	}, func(v Consumer) string { return v.ConsumerID })
}

type consumerRequest struct {
	ConsumerID *string                 `json:"consumer_id"`
	Metadata   *store.ConsumerMetadata `json:"metadata"`
}

func (s *Service) createConsumer(c *gin.Context) {
	var in consumerRequest
	if _, err := api.DecodeJSON(c, &in); err != nil {
		api.WriteError(c, err)
		return
	}
	switch {
	case in.ConsumerID == nil || *in.ConsumerID == "":
		api.WriteError(c, api.Invalid(api.FieldError{Field: "consumer_id", Reason: "is required"}))
		return
	case utf8.RuneCountInString(*in.ConsumerID) > api.MaxIDLength:
		api.WriteError(c, api.Invalid(api.FieldError{Field: "consumer_id", Reason: fmt.Sprintf("must be at most %d characters", api.MaxIDLength)}))
		return
	}
	if err := api.CheckConsumer(c, "consumer_id", *in.ConsumerID); err != nil {
		api.WriteError(c, err)
		return
	}
	rec := &store.ConsumerRecord{ID: *in.ConsumerID}
	if in.Metadata != nil {
		rec.Metadata = *in.Metadata
	}
	err := s.store.CreateConsumer(c.Request.Context(), api.ScopeOf(c), rec)
	if errors.Is(err, store.ErrExists) {
		api.WriteError(c, &api.Error{Status: http.StatusConflict, TypeName: api.TypeConflict,
			Message: fmt.Sprintf("consumer %s exists already; update it with PATCH /vault/consumers/%s", rec.ID, rec.ID),
			Detail:  map[string]string{"consumer_id": rec.ID}})
		return
	}
	if err != nil {
		api.WriteError(c, fmt.Errorf("creating consumer %s: %w", rec.ID, err))
		return
	}
	stored, err := s.store.GetConsumer(c.Request.Context(), api.ScopeOf(c), rec.ID)
	if err != nil {
		api.WriteError(c, fmt.Errorf("reading consumer %s back: %w", rec.ID, err))
		return
	}
	respond(c, http.StatusOK, s.consumer(stored))
}

// loadConsumer reads the consumer of the path in the caller's scope.
func (s *Service) loadConsumer(c *gin.Context) (*store.ConsumerRecord, bool) {
	id := c.Param("consumer_id")
	rec, err := s.store.GetConsumer(c.Request.Context(), api.ScopeOf(c), id)
	if errors.Is(err, store.ErrNotFound) {
		api.WriteError(c, api.NotFound("consumer", id))
		return nil, false
	}
	if err != nil {
		api.WriteError(c, fmt.Errorf("loading consumer %s: %w", id, err))
		return nil, false
	}
	return rec, true
}

func (s *Service) getConsumer(c *gin.Context) {
	rec, ok := s.loadConsumer(c)
	if !ok {
		return
	}
	out := s.consumer(rec)
	if !s.withConnections(c, &out) {
		return
	}
	respond(c, http.StatusOK, out)
}

func (s *Service) updateConsumer(c *gin.Context) {
	var in struct {
		Metadata *store.ConsumerMetadata `json:"metadata"`
	}
	if _, err := api.DecodeJSON(c, &in); err != nil {
		api.WriteError(c, err)
		return
	}
	rec, ok := s.loadConsumer(c)
	if !ok {
		return
	}
	if in.Metadata != nil {
		rec.Metadata = *in.Metadata
	}
	if err := s.store.UpdateConsumer(c.Request.Context(), api.ScopeOf(c), rec); err != nil {
		api.WriteError(c, fmt.Errorf("updating consumer %s: %w", rec.ID, err))
		return
	}
	out := s.consumer(rec)
	if !s.withConnections(c, &out) {
		return
	}
	respond(c, http.StatusOK, out)
}

// deleteConsumer deletes the consumer's connections (each removed at its
// provider first, through the hub's own DELETE /vault/connections/{id})
// and its metadata. Its subscriptions and events stay: they are the
// application's record; DELETE /webhook/consumers/{id}/data erases them.
func (s *Service) deleteConsumer(c *gin.Context) {
	rec, ok := s.loadConsumer(c)
	if !ok {
		return
	}
	conns, ok := s.connectionsOf(c, rec.ID)
	if !ok {
		return
	}
	for _, conn := range conns {
		_, ok := s.relay(c, rec.ID, http.MethodDelete, "/vault/connections/"+url.PathEscape(conn.ID), nil, nil)
		if !ok {
			return
		}
	}
	if err := s.store.DeleteConsumer(c.Request.Context(), api.ScopeOf(c), rec.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		api.WriteError(c, fmt.Errorf("deleting consumer %s: %w", rec.ID, err))
		return
	}
	respond(c, http.StatusOK, map[string]string{"consumer_id": rec.ID})
}
