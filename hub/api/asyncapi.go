package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/switchboardhq/switchboard/hub/event"
)

// AsyncAPI renders the AsyncAPI 3.0 document of every catalogue event type:
// one channel and send operation per type (the hub sends it to
// subscriptions' delivery URLs), its message with the Standard Webhooks
// headers, the delivered envelope with the entity's schema, and the
// catalogue example. It is built from the same embedded files as the
// event-types endpoints and docs/events.md.
func AsyncAPI(version string) ([]byte, error) {
	cat := event.Default()
	schemas := map[string]any{}
	for _, et := range cat.EntityTypes() {
		s, _ := cat.Schema(et)
		var doc map[string]any
		if err := json.Unmarshal(s.Raw, &doc); err != nil {
			return nil, fmt.Errorf("reading schema of %s: %w", et, err)
		}
		// The AsyncAPI schema dialect is draft-07 based; the document
		// carries the entity schema without its own identity.
		delete(doc, "$schema")
		delete(doc, "$id")
		schemas[schemaKey(et)] = doc
	}
	channels, operations, messages := map[string]any{}, map[string]any{}, map[string]any{}
	for _, t := range cat.Types() {
		id := strings.NewReplacer(".", "_", "-", "_").Replace(t.Name)
		body, err := ExampleEvent(t, DefaultServiceID, "https://hub.example.com").Body(1)
		if err != nil {
			return nil, err
		}
		var example any
		if err := json.Unmarshal(body, &example); err != nil {
			return nil, err
		}
		base := any(map[string]any{"type": "null"})
		if t.BaseEventType != "" {
			base = map[string]any{"const": t.BaseEventType}
		}
		messages[id] = map[string]any{
			"name":        t.Name,
			"title":       t.Name,
			"summary":     t.Description,
			"contentType": "application/json",
			"headers":     map[string]any{"$ref": "#/components/schemas/webhook_headers"},
			"payload": map[string]any{
				"type": "object", "required": []string{"payload"}, "additionalProperties": false,
				"properties": map[string]any{"payload": map[string]any{
					"allOf": []any{
						map[string]any{"$ref": "#/components/schemas/envelope"},
						map[string]any{"properties": map[string]any{
							"event_type":      map[string]any{"const": t.Name},
							"base_event_type": base,
							"unified_api":     map[string]any{"const": t.UnifiedAPI},
							"entity_type":     map[string]any{"const": t.EntityType},
							"entity":          map[string]any{"$ref": "#/components/schemas/" + schemaKey(t.EntityType)},
						}},
					},
				}},
			},
			"examples": []any{map[string]any{"name": "catalogue", "payload": example}},
		}
		channels[id] = map[string]any{
			"address":     t.Name,
			"title":       t.Name,
			"description": t.Description + " Delivered to every subscription whose events list names it, its base type or \"*\".",
			"messages":    map[string]any{id: map[string]any{"$ref": "#/components/messages/" + id}},
		}
		operations["send_"+id] = map[string]any{
			"action":   "send",
			"channel":  map[string]any{"$ref": "#/channels/" + id},
			"summary":  "The hub POSTs " + t.Name + " to the subscription's delivery_url.",
			"messages": []any{map[string]any{"$ref": "#/channels/" + id + "/messages/" + id}},
		}
	}
	schemas["envelope"] = envelopeSchema()
	schemas["webhook_headers"] = map[string]any{
		"type": "object",
		"properties": map[string]any{
			"webhook-id":        map[string]any{"type": "string", "description": "The event id."},
			"webhook-timestamp": map[string]any{"type": "string", "description": "Unix seconds of this try."},
			"webhook-signature": map[string]any{"type": "string", "description": "v1,<base64 HMAC-SHA256>, space-separated when several secrets are valid."},
			"x-event-type":      map[string]any{"type": "string"},
		},
	}
	if version == "" {
		version = "dev"
	}
	doc := map[string]any{
		"asyncapi": "3.0.0",
		"info": map[string]any{
			"title":   "Switchboard unified events",
			"version": version,
			"description": "Every event type of the unified catalogue as Switchboard delivers it: POST <delivery_url> with " +
				"Standard Webhooks headers and the body {\"payload\": {...}}. Subscribe with POST /webhook/webhooks.",
		},
		"defaultContentType": "application/json",
		"channels":           channels,
		"operations":         operations,
		"components":         map[string]any{"schemas": schemas, "messages": messages},
	}
	return json.Marshal(doc)
}

func schemaKey(entityType string) string { return "entity_" + strings.ReplaceAll(entityType, "-", "_") }

func envelopeSchema() map[string]any {
	str := map[string]any{"type": "string"}
	nullStr := map[string]any{"type": []string{"string", "null"}}
	return map[string]any{
		"type": "object",
		"required": []string{"event_id", "event_type", "base_event_type", "unified_api", "service_id", "consumer_id",
			"connection_id", "entity_id", "entity_type", "entity_url", "downstream_event_type", "event_source",
			"execution_attempt", "occurred_at", "entity"},
		"properties": map[string]any{
			"event_id": str, "event_type": str, "base_event_type": nullStr, "unified_api": str, "service_id": str,
			"consumer_id": str, "connection_id": nullStr, "entity_id": str, "entity_type": str, "entity_url": str,
			"downstream_event_type": nullStr,
			"event_source":          map[string]any{"type": "string", "enum": []string{event.SourceNative, event.SourceVirtual, event.SourceAPI, event.SourceTest, event.SourceHub}},
			"execution_attempt":     map[string]any{"type": "integer", "minimum": 1},
			"occurred_at":           map[string]any{"type": "string", "format": "date-time"},
			"entity":                map[string]any{"type": "object"},
		},
	}
}

func (s *server) serveAsyncAPI(c *gin.Context) {
	doc, err := AsyncAPI(s.version)
	if err != nil {
		WriteError(c, fmt.Errorf("rendering AsyncAPI document: %w", err))
		return
	}
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, "application/json; charset=utf-8", doc)
}
