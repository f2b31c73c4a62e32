package apideck

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/store"
)

// hubSubscription is what the edge reads of the hub's subscription view.
type hubSubscription struct {
	ID             string   `json:"id"`
	Description    *string  `json:"description"`
	UnifiedAPI     string   `json:"unified_api"`
	Status         string   `json:"status"`
	DisabledReason string   `json:"disabled_reason"`
	DeliveryURL    string   `json:"delivery_url"`
	Events         []string `json:"events"`
	CreatedAt      string   `json:"created_at"`
	UpdatedAt      string   `json:"updated_at"`
}

// Webhook is Apideck's Webhook.
type Webhook struct {
	ID             string   `json:"id"`
	Description    *string  `json:"description"`
	UnifiedAPI     string   `json:"unified_api"`
	Status         string   `json:"status"`
	DisabledReason string   `json:"disabled_reason"`
	DeliveryURL    string   `json:"delivery_url"`
	ExecuteBaseURL string   `json:"execute_base_url"`
	Events         []string `json:"events"`
	UpdatedAt      *string  `json:"updated_at"`
	CreatedAt      *string  `json:"created_at"`
}

// disabledReason maps the hub's reasons onto Apideck's enum (none,
// retry_limit, usage_limit, delivery_url_validation_failed): an endpoint that
// answered 410 Gone failed as a delivery URL; a user's own switch-off is no
// failure at all.
func disabledReason(r string) string {
	switch r {
	case store.DisabledRetryLimit:
		return "retry_limit"
	case store.DisabledGone:
		return "delivery_url_validation_failed"
	default:
		return "none"
	}
}

func (s *Service) webhook(c *gin.Context, sub hubSubscription) Webhook {
	w := Webhook{
		ID: sub.ID, Description: sub.Description, UnifiedAPI: sub.UnifiedAPI, Status: sub.Status,
		DisabledReason: disabledReason(sub.DisabledReason), DeliveryURL: sub.DeliveryURL,
		ExecuteBaseURL: s.base(c) + "/webhook/inbound", Events: sub.Events,
	}
	if w.Events == nil {
		w.Events = []string{}
	}
	if sub.CreatedAt != "" {
		w.CreatedAt = &sub.CreatedAt
	}
	if sub.UpdatedAt != "" {
		w.UpdatedAt = &sub.UpdatedAt
	}
	return w
}

// relayWebhook runs one call of the hub's subscription API and answers
// with the subscription as Apideck's Webhook.
func (s *Service) relayWebhook(c *gin.Context, method, path string, body any, status int) {
	r, ok := s.relay(c, "", method, path, nil, body)
	if !ok {
		return
	}
	var sub hubSubscription
	if err := r.decode(&sub); err != nil {
		api.WriteError(c, err)
		return
	}
	respond(c, status, s.webhook(c, sub))
}

// rawBody reads a JSON object body to pass on as it is.
func rawBody(c *gin.Context) (json.RawMessage, bool) {
	var body json.RawMessage
	if _, err := api.DecodeJSON(c, &body); err != nil {
		api.WriteError(c, err)
		return nil, false
	}
	return body, true
}

func (s *Service) createWebhook(c *gin.Context) {
	body, ok := rawBody(c)
	if !ok {
		return
	}
	s.relayWebhook(c, http.MethodPost, "/webhook/webhooks", body, http.StatusCreated)
}

func (s *Service) getWebhook(c *gin.Context) {
	s.relayWebhook(c, http.MethodGet, "/webhook/webhooks/"+url.PathEscape(c.Param("id")), nil, http.StatusOK)
}

func (s *Service) updateWebhook(c *gin.Context) {
	body, ok := rawBody(c)
	if !ok {
		return
	}
	s.relayWebhook(c, http.MethodPatch, "/webhook/webhooks/"+url.PathEscape(c.Param("id")), body, http.StatusOK)
}

func (s *Service) deleteWebhook(c *gin.Context) {
	s.relayWebhook(c, http.MethodDelete, "/webhook/webhooks/"+url.PathEscape(c.Param("id")), nil, http.StatusOK)
}

func (s *Service) listWebhooks(c *gin.Context) {
	r, ok := s.relay(c, "", http.MethodGet, "/webhook/webhooks", pageQuery(c), nil)
	if !ok {
		return
	}
	var env struct {
		Data []hubSubscription `json:"data"`
		Meta struct {
			Cursors cursors `json:"cursors"`
		} `json:"meta"`
	}
	if err := json.Unmarshal(r.body, &env); err != nil {
		api.WriteError(c, fmt.Errorf("reading the hub's subscriptions: %w", err))
		return
	}
	out := make([]Webhook, len(env.Data))
	for i, sub := range env.Data {
		out[i] = s.webhook(c, sub)
	}
	s.respondList(c, out, len(out), env.Meta.Cursors)
}
