package apideck

import (
	"encoding/base64"
	"net/http"
	"sort"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/hub/vault"
)

// Connector is Apideck's Connector, with what the hub knows of one.
type Connector struct {
	ID              string           `json:"id"`
	Name            string           `json:"name"`
	Status          string           `json:"status"`
	ServiceID       string           `json:"service_id"`
	AuthType        string           `json:"auth_type"`
	UnifiedAPIs     []UnifiedAPI     `json:"unified_apis"`
	SupportedEvents []ConnectorEvent `json:"supported_events"`
	WebhookSupport  WebhookSupport   `json:"webhook_support"`
}

// UnifiedAPI is one entry of a connector's unified_apis.
type UnifiedAPI struct {
	ID              string           `json:"id"`
	Name            string           `json:"name"`
	SupportedEvents []ConnectorEvent `json:"supported_events"`
}

// ConnectorEvent is Apideck's ConnectorEvent.
type ConnectorEvent struct {
	EventType           string `json:"event_type"`
	EventSource         string `json:"event_source"`
	DownstreamEventType string `json:"downstream_event_type"`
}

// WebhookSupport is Apideck's webhook_support.
type WebhookSupport struct {
	Mode              string `json:"mode"`
	SubscriptionLevel string `json:"subscription_level"`
	ManagedVia        string `json:"managed_via"`
}

// apiName is a unified API's display name (Apideck's: "CRM", "File
// Storage").
func apiName(id string) string {
	switch id {
	case "crm", "ats", "hris", "pos", "sms", "csp":
		return strings.ToUpper(id)
	}
	words := strings.Split(id, "-")
	for i, w := range words {
		if w != "" {
			words[i] = strings.ToUpper(w[:1]) + w[1:]
		}
	}
	return strings.Join(words, " ")
}

// connectorStatus maps a loaded connector's process state onto Apideck's
// catalogue status: a running one is live, one that is failing or starting
// is shown as beta (available, not to be relied on right now).
func connectorStatus(state string) string {
	if state == vault.StatusRunning {
		return "live"
	}
	return "beta"
}

func connector(info vault.Info) Connector {
	c := Connector{ID: info.ID, Name: info.ID, Status: connectorStatus(info.Status), ServiceID: info.ID, AuthType: "custom",
		UnifiedAPIs: []UnifiedAPI{}, SupportedEvents: []ConnectorEvent{},
		WebhookSupport: WebhookSupport{Mode: "none", SubscriptionLevel: "connection", ManagedVia: "manual"}}
	d := info.Description
	if d == nil {
		return c
	}
	if d.Name != "" {
		c.Name = d.Name
	}
	byAPI := map[string][]ConnectorEvent{}
	for _, e := range d.SupportedEvents {
		ce := ConnectorEvent{EventType: e.EventType, EventSource: "native", DownstreamEventType: e.DownstreamEventType}
		c.SupportedEvents = append(c.SupportedEvents, ce)
		api, _, _ := strings.Cut(e.EventType, ".")
		byAPI[api] = append(byAPI[api], ce)
	}
	for _, id := range d.UnifiedAPIs {
		events := byAPI[id]
		if events == nil {
			events = []ConnectorEvent{}
		}
		c.UnifiedAPIs = append(c.UnifiedAPIs, UnifiedAPI{ID: id, Name: apiName(id), SupportedEvents: events})
	}
	if d.Webhook.Mode != "" {
		c.WebhookSupport.Mode = string(d.Webhook.Mode)
	}
	if d.Webhook.ManagedVia != "" {
		c.WebhookSupport.ManagedVia = string(d.Webhook.ManagedVia)
	}
	return c
}

// feeds reports whether the connector feeds unified API id.
func feeds(info vault.Info, id string) bool {
	if info.Description == nil {
		return false
	}
	for _, a := range info.Description.UnifiedAPIs {
		if a == id {
			return true
		}
	}
	return false
}

const connectorsCursorKind = "apideck-connectors"

// listConnectors lists the loaded connectors by id, in cursor pages.
func (s *Service) listConnectors(c *gin.Context) {
	limit, err := parseLimit(c)
	if err != nil {
		api.WriteError(c, err)
		return
	}
	infos := s.connectors.List()
	sort.Slice(infos, func(i, j int) bool { return infos[i].ID < infos[j].ID })
	start := 0
	raw := c.Query("cursor")
	if raw != "" {
		b, err := base64.RawURLEncoding.DecodeString(raw)
		after, ok := strings.CutPrefix(string(b), connectorsCursorKind+"|")
		if err != nil || !ok {
			api.WriteError(c, &api.Error{Status: http.StatusBadRequest, TypeName: api.TypeInvalidCursor,
				Message: "cursor is not valid for this list; use a cursor from meta.cursors of the same list",
				Detail:  map[string]string{"field": "cursor", "reason": "not a cursor of this list"}})
			return
		}
		start = sort.Search(len(infos), func(i int) bool { return infos[i].ID > after })
	}
	end := min(start+limit, len(infos))
	out := make([]Connector, 0, end-start)
	for _, info := range infos[start:end] {
		out = append(out, connector(info))
	}
	var cur cursors
	if raw != "" {
		cur.Current = &raw
	}
	if end < len(infos) && end > start {
		next := base64.RawURLEncoding.EncodeToString([]byte(connectorsCursorKind + "|" + infos[end-1].ID))
		cur.Next = &next
	}
	if start > 0 {
		// The page before starts after the id before it ("" from the top).
		after := ""
		if prevStart := max(start-limit, 0); prevStart > 0 {
			after = infos[prevStart-1].ID
		}
		prev := base64.RawURLEncoding.EncodeToString([]byte(connectorsCursorKind + "|" + after))
		cur.Previous = &prev
	}
	s.respondList(c, out, len(out), cur)
}

func (s *Service) getConnector(c *gin.Context) {
	id := c.Param("id")
	info, ok := s.connectors.Get(id)
	if !ok {
		api.WriteError(c, api.NotFound("connector", id))
		return
	}
	respond(c, http.StatusOK, connector(info))
}
