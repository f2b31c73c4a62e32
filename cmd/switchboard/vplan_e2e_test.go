package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/connectors/vplan/vplanfake"
)

// TestVPlanManagedRegistrationEndToEnd runs the real binary against a fake
// vPlan: creating the connection registers the webhook at vPlan, events of
// all three payload kinds that vPlan sends to the registered URL reach a
// subscriber as verified unified events, and deleting the connection
// removes the webhook.
func TestVPlanManagedRegistrationEndToEnd(t *testing.T) {
	t.Parallel()
	const apiKey, apiEnv = "vp_e2e_key_5d8c1f0a9e2b", "vp_e2e_env_3a7f6b2c"
	fake := vplanfake.New(apiKey, apiEnv)
	t.Cleanup(fake.Close)
	rcv := newReceiver(t)
	rcv.up.Store(true)
	hub := startHub(t, t.TempDir(), freeAddr(t))

	code, sub := hub.do(t, http.MethodPost, "/webhook/webhooks", map[string]any{
		"unified_api": "issue-tracking", "status": "enabled", "delivery_url": rcv.srv.URL + "/hook",
		"events": []string{"issue-tracking.ticket.created", "issue-tracking.ticket.updated"},
	})
	require.Equal(t, http.StatusCreated, code, sub)
	rcv.mu.Lock()
	rcv.secret = sub["data"].(map[string]any)["secret"].(string)
	rcv.mu.Unlock()

	selected := []string{"card.created", "card.label.attached", "card.activity.updated", "collection.checklist.created"}
	code, conn := hub.doAs(t, "acme", http.MethodPost, "/vault/connections", map[string]any{
		"service_id":  "vplan",
		"settings":    map[string]any{"base_url": fake.URL, "event_types": selected},
		"credentials": map[string]any{"api_key": apiKey, "api_env": apiEnv},
	})
	require.Equal(t, http.StatusCreated, code, conn)
	data := conn["data"].(map[string]any)
	connID, webhookURL := data["id"].(string), data["webhook_url"].(string)
	require.True(t, strings.HasPrefix(webhookURL, "http://"+hub.addr+"/webhook/inbound/vplan/"), webhookURL)
	require.Equal(t, true, data["registered"])
	require.Empty(t, data["signing_secret"], "vPlan signs nothing: no secret to hand out")

	// vPlan saw exactly one registration, as api.md describes it.
	reqs := fake.Requests()
	require.Len(t, reqs, 1)
	require.Equal(t, http.MethodPost, reqs[0].Method)
	require.Equal(t, "/v1/webhook", reqs[0].Path)
	require.Equal(t, apiKey, reqs[0].Header.Get("x-api-key"))
	require.Equal(t, apiEnv, reqs[0].Header.Get("x-api-env"))
	var body map[string]any
	require.NoError(t, json.Unmarshal(reqs[0].Body, &body))
	require.Regexp(t, `^Switchboard `+connID+` #[0-9a-f]{8}$`, body["description"])
	delete(body, "description")
	require.Equal(t, map[string]any{
		"url": webhookURL, "active": true,
		"event_types": []any{"card.created", "card.label.attached", "card.activity.updated", "collection.checklist.created"},
	}, body)
	hooks := fake.Webhooks()
	require.Len(t, hooks, 1)
	webhookID := hooks[0].ID

	// vPlan sends one event of each payload kind to the registered URL.
	cases := []struct {
		event, cardID, wantType string
		wantChange              map[string]any
	}{
		{"card.created", "card-e2e-normal", "issue-tracking.ticket.created", nil},
		{"card.label.attached", "card-e2e-nested", "issue-tracking.ticket.updated",
			map[string]any{"relation": "tags", "action": "attached", "related_id": "b9e3d7c1-0a4f-4e2b-9d6c-8a1f5e3b7c02"}},
		{"card.activity.updated", "card-e2e-pivot", "issue-tracking.ticket.updated",
			map[string]any{"relation": "activities", "action": "updated", "related_id": "6a9c3f1d-4e7b-4c2a-8f5d-0b1e9c6a3d27",
				"pivot": map[string]any{"estimate": float64(120), "done": true}}},
	}
	for i, kind := range vplanfake.Kinds {
		require.Equal(t, vplanfake.SampleEvents[kind], cases[i].event, "one case per payload kind: %s", kind)
	}
	for i, tc := range cases {
		sent, err := fake.Trigger(t.Context(), tc.event, func(d map[string]any) { d["id"] = tc.cardID })
		require.NoError(t, err)
		require.Len(t, sent, 1, tc.event)
		require.NoError(t, sent[0].Err, "%s: %s", tc.event, sent[0].Answer)
		require.Equal(t, http.StatusAccepted, sent[0].Status, tc.event)

		payload := rcv.waitPayload(t, i+1)
		require.Equal(t, tc.wantType, payload["event_type"], tc.event)
		require.Equal(t, tc.event, payload["downstream_event_type"])
		require.Equal(t, "issue-tracking", payload["unified_api"])
		require.Equal(t, "ticket", payload["entity_type"])
		require.Equal(t, tc.cardID, payload["entity_id"])
		require.Equal(t, "acme", payload["consumer_id"])
		require.Equal(t, connID, payload["connection_id"])
		entity := payload["entity"].(map[string]any)
		require.Equal(t, "Weld main frame", entity["subject"])
		if tc.wantChange == nil {
			require.NotContains(t, entity, "change")
		} else {
			require.Equal(t, tc.wantChange, entity["change"], tc.event)
		}
	}
	require.Len(t, rcv.deliveredIDs(), len(cases), "nothing else was delivered")

	// Deleting the connection removes the webhook at vPlan.
	code, del := hub.doAs(t, "acme", http.MethodDelete, "/vault/connections/"+connID, nil)
	require.Equal(t, http.StatusOK, code, del)
	reqs = fake.Requests()
	last := reqs[len(reqs)-1]
	require.Equal(t, http.MethodDelete, last.Method)
	require.Equal(t, "/v1/webhook/"+webhookID, last.Path)
	require.Equal(t, apiKey, last.Header.Get("x-api-key"))
	require.Equal(t, apiEnv, last.Header.Get("x-api-env"))
	require.Empty(t, fake.Webhooks())

	require.NotContains(t, hub.output.String(), apiKey, "the API key is never logged")
	require.NotContains(t, hub.output.String(), apiEnv, "the API environment is never logged")
}

// TestVPlanRefusedRegistrationLeavesNothing: a vPlan that refuses makes the
// create fail with 502 naming vPlan's status and message, and no
// connection is stored.
func TestVPlanRefusedRegistrationLeavesNothing(t *testing.T) {
	t.Parallel()
	const apiKey, apiEnv = "vp_e2e_key_refused_77aa", "vp_e2e_env_refused_88bb"
	fake := vplanfake.New(apiKey, apiEnv)
	t.Cleanup(fake.Close)
	fake.Refuse(http.StatusUnauthorized, "Unauthenticated.")
	hub := startHub(t, t.TempDir(), freeAddr(t))

	code, res := hub.doAs(t, "acme", http.MethodPost, "/vault/connections", map[string]any{
		"service_id":  "vplan",
		"settings":    map[string]any{"base_url": fake.URL},
		"credentials": map[string]any{"api_key": apiKey, "api_env": apiEnv},
	})
	require.Equal(t, http.StatusBadGateway, code, res)
	require.Equal(t, "ConnectorExecutionError", res["type_name"])
	msg := res["message"].(string)
	require.Contains(t, msg, "401", msg)
	require.Contains(t, msg, "Unauthenticated.", msg)
	detail := res["detail"].(map[string]any)
	require.Equal(t, float64(http.StatusUnauthorized), detail["provider_status"])
	require.Equal(t, "Unauthenticated.", detail["provider_message"])
	require.NotContains(t, msg, apiKey)

	posts := 0
	for _, r := range fake.Requests() {
		if r.Method == http.MethodPost {
			posts++
		}
	}
	require.Equal(t, 1, posts, "a 4xx is not retried")
	require.Empty(t, fake.Webhooks())

	code, list := hub.doAs(t, "acme", http.MethodGet, "/vault/connections", nil)
	require.Equal(t, http.StatusOK, code, list)
	require.Empty(t, list["data"], "no connection row is left")
	require.NotContains(t, hub.output.String(), apiKey, "the API key is never logged")
}
