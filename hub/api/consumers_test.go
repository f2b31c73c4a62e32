package api_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/store"
)

func TestListConsumers(t *testing.T) {
	t.Parallel()
	h := newHub(t)
	ctx := context.Background()
	require.NoError(t, h.store.CreateConsumer(ctx, store.AllConsumers(), &store.ConsumerRecord{ID: "acme",
		Metadata: store.ConsumerMetadata{AccountName: "Acme", Email: "ops@acme.test"}}))
	// Consumers known only from a subscription and from an event.
	require.Equal(t, http.StatusCreated, h.post("/webhook/webhooks", map[string]any{"unified_api": "accounting", "status": "enabled",
		"delivery_url": "https://example.com/hooks", "events": []string{"*"}, "consumer_id": "beta"}).Status)
	require.Equal(t, http.StatusAccepted, h.post("/webhook/events", map[string]any{"event_type": "accounting.invoice.paid",
		"consumer_id": "gamma", "entity_id": "inv_1"}).Status)

	var ids []string
	path := "/vault/consumers?limit=1"
	for pages := 0; path != ""; pages++ {
		require.Less(t, pages, 5)
		res := h.get(path)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		for _, c := range res.List() {
			ids = append(ids, c["consumer_id"].(string))
			if c["consumer_id"] == "acme" {
				assert.Equal(t, "Acme", c["metadata"].(map[string]any)["account_name"])
				assert.NotNil(t, c["created_at"])
			} else {
				assert.Nil(t, c["created_at"], "an implicit consumer has no created_at")
			}
			assert.EqualValues(t, 0, c["connection_count"])
		}
		path = ""
		if next := res.Str("links", "next"); next != "" {
			u, err := url.Parse(next)
			require.NoError(t, err)
			path = u.RequestURI()
		}
	}
	assert.Equal(t, []string{"acme", "beta", "gamma"}, ids)

	// A bound key sees its own consumer only.
	key := h.post("/admin/api-keys", map[string]any{"name": "beta", "scopes": []string{"webhooks:read"}, "consumer_id": "beta"}).Str("data", "key")
	res := h.do(req{Method: "GET", Path: "/vault/consumers", Key: key})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	require.Len(t, res.List(), 1)
	assert.Equal(t, "beta", res.List()[0]["consumer_id"])

	requireError(t, h.get("/vault/consumers?cursor=bm9wZQ"), http.StatusBadRequest, "InvalidCursorError", "cursor")
}
