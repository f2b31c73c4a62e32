package api_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEntityURLIsEscapedAndServed: an event's entity_url is one escaped
// path segment per part, and it serves the entity's newest state under the
// tenancy rules.
func TestEntityURLIsEscapedAndServed(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	hostile := "../../vault/sessions"
	id := h.publish(map[string]any{"event_type": "accounting.invoice.created", "consumer_id": "acme", "entity_id": hostile,
		"entity": map[string]any{"number": "RE-1", "total": 10}})
	ev := h.get("/webhook/events/" + id)
	entityURL := ev.Str("data", "entity_url")
	assert.Equal(t, "https://hub.example.com/accounting/invoices/"+url.PathEscape(hostile), entityURL)
	u, err := url.Parse(entityURL)
	require.NoError(t, err)
	assert.Equal(t, "/accounting/invoices/"+hostile, u.Path, "one segment, decoded")

	// A newer event about the same invoice is what the URL shows.
	h.publish(map[string]any{"event_type": "accounting.invoice.paid", "consumer_id": "acme", "entity_id": hostile,
		"entity": map[string]any{"number": "RE-1", "total": 10, "status": "paid"}})
	// The same provider id under another consumer stays that consumer's.
	h.publish(map[string]any{"event_type": "accounting.invoice.created", "consumer_id": "globex", "entity_id": hostile,
		"entity": map[string]any{"number": "GLOBEX-1"}})

	path := u.EscapedPath()
	res := h.do(req{Method: "GET", Path: path, Key: bootstrapKey, Header: map[string]string{"x-consumer-id": "acme"}})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	assert.Equal(t, hostile, res.Str("data", "id"))
	assert.Equal(t, "accounting.invoice.paid", res.Str("data", "event_type"))
	assert.Equal(t, "paid", res.Data()["entity"].(map[string]any)["status"])

	requireError(t, h.do(req{Method: "GET", Path: path, Key: bootstrapKey}), http.StatusBadRequest, "RequestValidationError", "x-consumer-id")
	bound := h.post("/admin/api-keys", map[string]any{"name": "globex", "scopes": []string{"webhooks:read"}, "consumer_id": "globex"}).Str("data", "key")
	res = h.do(req{Method: "GET", Path: path, Key: bound})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	assert.Equal(t, "GLOBEX-1", res.Data()["entity"].(map[string]any)["number"], "a bound key sees its own consumer's entity")
	requireError(t, h.do(req{Method: "GET", Path: path, Key: bound, Header: map[string]string{"x-consumer-id": "acme"}}),
		http.StatusForbidden, "ForbiddenError", "acme")

	requireError(t, h.do(req{Method: "GET", Path: "/accounting/invoices/unknown", Key: bootstrapKey, Header: map[string]string{"x-consumer-id": "acme"}}),
		http.StatusNotFound, "EntityNotFoundError", "invoice unknown not found")
	res = h.do(req{Method: "GET", Path: "/accounting/invoicez/x", Key: bootstrapKey, Header: map[string]string{"x-consumer-id": "acme"}})
	requireError(t, res, http.StatusNotFound, "EntityNotFoundError", "/accounting/invoices")
	assert.True(t, strings.Contains(string(res.Body), "closest"))
	// Static routes still win over the entity path.
	assert.Equal(t, http.StatusOK, h.get("/webhook/events/"+id).Status)
}
