// Command example is a complete, minimal Switchboard connector: copy it to
// start a new one. Its made-up provider "Example" authenticates webhooks with
// a shared token, verifies the URL with a challenge and sends batches:
//
//	POST <webhook_url>
//	X-Example-Token: <credentials.token>
//
//	{"events": [{"id": "evt_1", "type": "invoice.paid", "created_at": "2024-01-15T10:30:00Z",
//	             "data": {"id": "inv_1"}}]}
//
//	GET <webhook_url>?challenge=abc   ->  200 "abc"   (once, when the URL is entered)
//
// Build it as switchboard-connector-example, put it in the hub's plugins
// directory with its checksum, and restart the hub:
//
//	go build -o plugins.d/switchboard-connector-example ./plugins/example
//	(cd plugins.d && sha256sum switchboard-connector-example > switchboard-connector-example.sha256)
package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/switchboardhq/switchboard/plugins"
)

func main() {
	// Nothing before Serve may print to stdout.
	plugins.Serve(Example{})
}

// Example implements plugins.Connector for the Example provider.
type Example struct{}

// Describe tells the hub who we are and what the provider sends.
func (Example) Describe(context.Context) (*plugins.Description, error) {
	return &plugins.Description{
		ID:          "example",
		Name:        "Example",
		Version:     "0.1.0",
		UnifiedAPIs: []string{"accounting"},
		Webhook:     plugins.WebhookSupport{Mode: plugins.ModeNative, ManagedVia: plugins.ManagedManual},
		SupportedEvents: []plugins.SupportedEvent{
			{DownstreamEventType: "invoice.paid", EventType: "accounting.invoice.paid"},
		},
		SettingsSchema:    json.RawMessage(`{"type":"object","additionalProperties":false}`),
		CredentialsSchema: json.RawMessage(`{"type":"object","required":["token"],"properties":{"token":{"type":"string","minLength":16}}}`),
	}, nil
}

// HandleInbound authenticates the request, answers the URL challenge and
// splits a batch into one native event per provider event.
func (Example) HandleInbound(ctx context.Context, req *plugins.InboundRequest) (*plugins.InboundResult, error) {
	want := req.Connection.Credentials["token"]
	got := req.Headers.Get("X-Example-Token")
	if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return nil, fmt.Errorf("%w: X-Example-Token is missing or wrong", plugins.ErrBadSignature)
	}
	if req.Method == http.MethodGet {
		challenge := req.Query.Get("challenge")
		if challenge == "" {
			return nil, plugins.Malformed("GET without a challenge parameter")
		}
		return &plugins.InboundResult{Response: &plugins.DirectResponse{
			Status:  http.StatusOK,
			Headers: http.Header{"Content-Type": {"text/plain"}},
			Body:    []byte(challenge),
		}}, nil
	}

	var batch struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(req.Body, &batch); err != nil {
		return nil, plugins.Malformed("body is not a JSON object with an events array: %v", err)
	}
	res := &plugins.InboundResult{}
	for i, raw := range batch.Events {
		var head struct {
			ID        string    `json:"id"`
			Type      string    `json:"type"`
			CreatedAt time.Time `json:"created_at"`
		}
		if err := json.Unmarshal(raw, &head); err != nil || head.ID == "" {
			return nil, plugins.Malformed("events[%d] needs a string id", i)
		}
		res.Events = append(res.Events, plugins.NativeEvent{
			Type:           head.Type,
			Payload:        raw,
			IdempotencyKey: head.ID,
			OccurredAt:     head.CreatedAt,
		})
	}
	// The connection logs without its credentials (plugins.Connection.LogValue).
	slog.InfoContext(ctx, "example webhook handled", "connection", req.Connection, "events", len(res.Events))
	return res, nil
}

// Subscribe registers nothing: the user enters the URL in Example's UI.
func (Example) Subscribe(_ context.Context, req *plugins.SubscribeRequest) (*plugins.SubscribeResult, error) {
	return &plugins.SubscribeResult{Message: "Paste " + req.WebhookURL + " into Example's webhook settings."}, nil
}

// Unsubscribe has nothing to remove.
func (Example) Unsubscribe(context.Context, *plugins.UnsubscribeRequest) error { return nil }
