package vault

import (
	"encoding/json"
	"net/http"
	"reflect"
	"sort"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/api"
	"github.com/switchboardhq/switchboard/plugins"
)

// anyObject is the schema shown for a connector that describes none: the hub
// accepts any JSON object there.
var anyObject = json.RawMessage(`{"type":"object"}`)

// connectorView is one catalogue entry. A connector that has never started
// has no description: its name falls back to its id and the described
// fields are empty or null, while status says why.
type connectorView struct {
	ID                string                   `json:"id"`
	Name              string                   `json:"name"`
	Version           string                   `json:"version"`
	Status            string                   `json:"status"`
	UnifiedAPIs       []string                 `json:"unified_apis"`
	WebhookSupport    *plugins.WebhookSupport  `json:"webhook_support"`
	SupportedEvents   []plugins.SupportedEvent `json:"supported_events"`
	SettingsSchema    json.RawMessage          `json:"settings_schema"`
	CredentialsSchema json.RawMessage          `json:"credentials_schema"`
	ProviderSigns     bool                     `json:"provider_signs"`
	MappingCoverage   any                      `json:"mapping_coverage,omitempty"`
}

func (s *Service) connectorView(info Info) connectorView {
	v := connectorView{
		ID:                info.ID,
		Name:              info.ID,
		Status:            info.Status,
		UnifiedAPIs:       []string{},
		SupportedEvents:   []plugins.SupportedEvent{},
		SettingsSchema:    json.RawMessage("null"),
		CredentialsSchema: json.RawMessage("null"),
	}
	if d := info.Description; d != nil {
		if d.Name != "" {
			v.Name = d.Name
		}
		v.Version = d.Version
		if d.UnifiedAPIs != nil {
			v.UnifiedAPIs = d.UnifiedAPIs
		}
		ws := d.Webhook
		v.WebhookSupport = &ws
		if d.SupportedEvents != nil {
			v.SupportedEvents = d.SupportedEvents
		}
		v.SettingsSchema = schemaOrAny(d.SettingsSchema)
		v.CredentialsSchema = schemaOrAny(d.CredentialsSchema)
		v.ProviderSigns = d.ProviderSigns
	}
	if s.coverage != nil {
		v.MappingCoverage = nilIfEmpty(s.coverage(info.ID))
	}
	return v
}

func schemaOrAny(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 || !json.Valid(raw) {
		return anyObject
	}
	return raw
}

// nilIfEmpty turns a typed nil (a nil *Coverage in an interface) into a
// real nil, so omitempty leaves it out instead of writing null.
func nilIfEmpty(v any) any {
	if v == nil {
		return nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		if rv.IsNil() {
			return nil
		}
	}
	return v
}

func (s *Service) listConnectors(c *gin.Context) {
	infos := s.connectors.List()
	sort.Slice(infos, func(i, j int) bool { return infos[i].ID < infos[j].ID })
	views := make([]connectorView, len(infos))
	for i, info := range infos {
		views[i] = s.connectorView(info)
	}
	api.Respond(c, http.StatusOK, views)
}

func (s *Service) getConnector(c *gin.Context) {
	id := c.Param("id")
	info, ok := s.connectors.Get(id)
	if !ok {
		api.WriteError(c, api.NotFound("connector", id))
		return
	}
	api.Respond(c, http.StatusOK, s.connectorView(info))
}
