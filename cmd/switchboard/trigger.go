package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// newTriggerCmd is `switchboard trigger`: Stripe CLI's trigger for the
// unified catalogue. It publishes an event type's catalogue example through
// a running hub, so a subscription can be tried end to end without a
// provider; --set overrides example fields, and the hub validates the
// result against the entity schema like any published event.
func newTriggerCmd() *cobra.Command {
	var hubURL, apiKey, consumer, serviceID string
	var sets []string
	cmd := &cobra.Command{
		Use:   "trigger EVENT_TYPE",
		Short: "Publish an event type's catalogue example to a running hub",
		Long: `Publish the catalogue example of EVENT_TYPE (GET /webhook/event-types/{name})
through POST /webhook/events on a running hub, so every subscription that
names it receives a delivery. --set field=value overrides a field of the
example entity (dotted paths such as customer.id or line_items.0.quantity;
a value that parses as JSON is used as JSON, anything else as a string); the
hub checks the result against the entity schema and refuses unknown fields
or wrong types. Needs a key with events:write and webhooks:read.`,
		Example: `  switchboard trigger accounting.invoice.paid --consumer acme
  switchboard trigger accounting.invoice.paid --set total=99.5 --set customer.id=cus_42`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := bindEnv(c, triggerFlagEnv); err != nil {
				return err
			}
			if hubURL == "" {
				hubURL = "http://" + envOr("SWITCHBOARD_ADDR", "127.0.0.1:8080")
			}
			u, err := url.Parse(hubURL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("--hub-url must be an http(s) URL such as http://127.0.0.1:8080, got %q", hubURL)
			}
			if apiKey == "" {
				return errors.New("trigger needs an API key: pass --api-key or set SWITCHBOARD_API_KEY")
			}
			h := &hubKeys{base: strings.TrimRight(hubURL, "/"), key: apiKey, client: &http.Client{Timeout: 30 * time.Second}}
			name := args[0]
			var et struct {
				Example struct {
					Payload json.RawMessage `json:"payload"`
				} `json:"example"`
			}
			if err := h.call(c.Context(), http.MethodGet, "/webhook/event-types/"+url.PathEscape(name), nil, &et); err != nil {
				return err
			}
			entity := []byte(gjson.GetBytes(et.Example.Payload, "entity").Raw)
			if len(entity) == 0 {
				entity = []byte("{}")
			}
			for _, kv := range sets {
				field, value, ok := strings.Cut(kv, "=")
				if !ok || field == "" {
					return fmt.Errorf("--set %q: want field=value, such as total=99.5", kv)
				}
				var v any = value
				if json.Valid([]byte(value)) {
					v = json.RawMessage(value)
				}
				if entity, err = sjson.SetBytes(entity, field, v); err != nil {
					return fmt.Errorf("--set %s: %w", field, err)
				}
			}
			entityID := gjson.GetBytes(entity, "id").String()
			if entityID == "" {
				entityID = gjson.GetBytes(et.Example.Payload, "entity_id").String()
			}
			body := map[string]any{"event_type": name, "consumer_id": consumer, "entity_id": entityID, "entity": json.RawMessage(entity)}
			if serviceID != "" {
				body["service_id"] = serviceID
			}
			var res struct {
				ID         string `json:"id"`
				EventType  string `json:"event_type"`
				Deliveries int    `json:"deliveries"`
			}
			if err := h.call(c.Context(), http.MethodPost, "/webhook/events", body, &res); err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "Published %s %s for consumer %s: %d deliveries.\n", res.EventType, res.ID, consumer, res.Deliveries)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&hubURL, "hub-url", "", "base URL of the running hub (env SWITCHBOARD_HUB_URL; default http://$SWITCHBOARD_ADDR)")
	f.StringVar(&apiKey, "api-key", "", "API key with events:write and webhooks:read (env SWITCHBOARD_API_KEY)")
	f.StringVar(&consumer, "consumer", "acme", "consumer the event is for")
	f.StringVar(&serviceID, "service-id", "", "service_id of the event (default: the hub's, switchboard)")
	f.StringArrayVar(&sets, "set", nil, "override an example field: field=value (repeatable)")
	return cmd
}

// triggerFlagEnv are the environment twins of trigger's flags.
var triggerFlagEnv = map[string]string{
	"hub-url": "SWITCHBOARD_HUB_URL",
	"api-key": "SWITCHBOARD_API_KEY",
}
