package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/apikey"
)

func TestAuthentication(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	good := h.createKey(apikey.ScopeWebhooksRead)
	revoked := h.createKey(apikey.ScopeAdmin)
	id, err := apikey.Parse(revoked)
	require.NoError(t, err)
	require.NoError(t, h.store.RevokeAPIKey(context.Background(), id, time.Now()))

	tests := []struct {
		name   string
		header string
		status int
		want   string
	}{
		{name: "no header", header: "", status: 401, want: "missing API key"},
		{name: "not bearer", header: "Basic dXNlcjpwYXNz", status: 401, want: "malformed Authorization"},
		{name: "bearer without key", header: "Bearer ", status: 401, want: "malformed Authorization"},
		{name: "unknown string", header: "Bearer nope", status: 401, want: "invalid API key"},
		{name: "unknown id", header: "Bearer sb_0123456789abcdef_c2VjcmV0", status: 401, want: "invalid API key"},
		{name: "right id wrong secret", header: "Bearer " + good[:len(good)-2] + "xx", status: 401, want: "invalid API key"},
		{name: "revoked", header: "Bearer " + revoked, status: 401, want: "invalid API key"},
		{name: "bootstrap prefix", header: "Bearer " + bootstrapKey[:5], status: 401, want: "invalid API key"},
		{name: "stored key", header: "Bearer " + good, status: 200},
		{name: "lower-case scheme", header: "bearer " + good, status: 200},
		{name: "bootstrap key", header: "Bearer " + bootstrapKey, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.header != "" {
				hdr["Authorization"] = tt.header
			}
			res := h.do(req{Method: "GET", Path: "/webhook/webhooks", Header: hdr})
			if tt.status == 200 {
				require.Equal(t, 200, res.Status, "%s", res.Body)
				return
			}
			requireError(t, res, tt.status, "UnauthorizedError", tt.want)
			assert.Contains(t, res.Header.Get("WWW-Authenticate"), "Bearer")
		})
	}
}

func TestScopes(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	subID := h.subscribe(nil)
	evID := h.publish(map[string]any{"event_type": "accounting.invoice.created", "consumer_id": "acme", "entity_id": "inv_1"})
	keys := map[string]string{
		"read":    h.createKey(apikey.ScopeWebhooksRead),
		"write":   h.createKey(apikey.ScopeWebhooksWrite),
		"events":  h.createKey(apikey.ScopeEventsWrite),
		"conn":    h.createKey(apikey.ScopeConnectionsWrite),
		"admin":   h.createKey(apikey.ScopeAdmin),
		"rw":      h.createKey(apikey.ScopeWebhooksRead, apikey.ScopeWebhooksWrite),
		"unknown": "sb_0123456789abcdef_c2VjcmV0",
	}
	newSub := map[string]any{"unified_api": "crm", "status": "enabled", "delivery_url": "https://example.com/x", "events": []string{"*"}}
	publish := map[string]any{"event_type": "crm.contact.created", "consumer_id": "acme", "entity_id": "c1"}
	routes := []struct {
		method, path string
		body         any
		scope        string
		okStatus     int
	}{
		{"GET", "/webhook/webhooks", nil, "webhooks:read", 200},
		{"GET", "/webhook/webhooks/" + subID, nil, "webhooks:read", 200},
		{"GET", "/webhook/events", nil, "webhooks:read", 200},
		{"GET", "/webhook/events/" + evID, nil, "webhooks:read", 200},
		{"GET", "/webhook/logs", nil, "webhooks:read", 200},
		{"POST", "/webhook/webhooks", newSub, "webhooks:write", 201},
		{"PATCH", "/webhook/webhooks/" + subID, map[string]any{"description": "x"}, "webhooks:write", 200},
		{"POST", "/webhook/webhooks/" + subID + "/rotate-secret", nil, "webhooks:write", 200},
		{"POST", "/webhook/events", publish, "events:write", 202},
		{"POST", "/webhook/events/" + evID + "/replay", nil, "events:write", 202},
	}
	grants := map[string][]string{
		"read":   {"webhooks:read"},
		"write":  {"webhooks:write"},
		"events": {"events:write"},
		"conn":   nil,
		"admin":  {"webhooks:read", "webhooks:write", "events:write"},
		"rw":     {"webhooks:read", "webhooks:write"},
	}
	for _, rt := range routes {
		for who, key := range keys {
			res := h.do(req{Method: rt.method, Path: rt.path, Body: rt.body, Key: key})
			switch {
			case who == "unknown":
				requireError(t, res, 401, "UnauthorizedError", "invalid API key")
			case contains(grants[who], rt.scope):
				require.Equal(t, rt.okStatus, res.Status, "%s %s with %s key: %s", rt.method, rt.path, who, res.Body)
			default:
				requireError(t, res, 403, "ForbiddenError", rt.scope)
				assert.Equal(t, rt.scope, res.JSON["detail"].(map[string]any)["required_scope"])
			}
		}
	}
	// DELETE last, since it removes the subscription.
	requireError(t, h.do(req{Method: "DELETE", Path: "/webhook/webhooks/" + subID, Key: keys["read"]}), 403, "ForbiddenError", "webhooks:write")
	require.Equal(t, 200, h.do(req{Method: "DELETE", Path: "/webhook/webhooks/" + subID, Key: keys["write"]}).Status)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestPublicRoutesNeedNoKey(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json"} {
		res := h.do(req{Method: "GET", Path: path})
		assert.Equal(t, http.StatusOK, res.Status, path)
	}
}
