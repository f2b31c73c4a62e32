package api_test

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/hub/store/sqlite"
)

// TestDeliveryFormat covers delivery_format and the write-only signing_key
// of issue 13: apideck needs a key, the key is never shown, sealed at rest,
// and standard stays the default.
func TestDeliveryFormat(t *testing.T) {
	t.Parallel()
	const key = "sk_live_apideck-api-key-0123456789"
	path := filepath.Join(t.TempDir(), "hub.db")
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: path, Sealer: testSealer(t)})
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	h := newHubOn(t, st)
	base := func(extra map[string]any) map[string]any {
		b := map[string]any{"unified_api": "accounting", "status": "enabled",
			"delivery_url": "https://example.com/hook", "events": []string{"*"}}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}

	std := h.post("/webhook/webhooks", base(nil))
	require.Equal(t, http.StatusCreated, std.Status, "%s", std.Body)
	assert.Equal(t, "standard", std.Data()["delivery_format"], "Standard Webhooks is the default")

	res := h.post("/webhook/webhooks", base(map[string]any{"delivery_format": "apideck", "signing_key": key}))
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	id := res.Data()["id"].(string)
	assert.Equal(t, "apideck", res.Data()["delivery_format"])
	assert.NotContains(t, res.Data(), "signing_key")
	assert.NotContains(t, string(res.Body), key, "the key is write-only")
	for _, r := range []response{h.get("/webhook/webhooks/" + id), h.get("/webhook/webhooks")} {
		require.Equal(t, http.StatusOK, r.Status)
		assert.NotContains(t, string(r.Body), key)
	}
	stored, err := st.GetSubscription(context.Background(), store.AllConsumers(), id)
	require.NoError(t, err)
	assert.Equal(t, key, stored.SigningKey)
	assert.Equal(t, store.FormatApideck, stored.DeliveryFormat)

	// At rest the key is sealed like the secrets: its bytes are nowhere in
	// the row.
	db, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	defer db.Close()
	var sealed []byte
	var format string
	require.NoError(t, db.QueryRow(`SELECT signing_key_sealed, delivery_format FROM subscriptions WHERE id = ?`, id).Scan(&sealed, &format))
	assert.NotEmpty(t, sealed)
	assert.NotContains(t, string(sealed), key)
	assert.Equal(t, "apideck", format)

	// Update: a new key replaces the old; back to standard keeps it stored.
	upd := h.patch("/webhook/webhooks/"+id, map[string]any{"signing_key": "second-key"})
	require.Equal(t, http.StatusOK, upd.Status, "%s", upd.Body)
	assert.NotContains(t, string(upd.Body), "second-key")
	stored, err = st.GetSubscription(context.Background(), store.AllConsumers(), id)
	require.NoError(t, err)
	assert.Equal(t, "second-key", stored.SigningKey)
	upd = h.patch("/webhook/webhooks/"+id, map[string]any{"delivery_format": "standard"})
	require.Equal(t, http.StatusOK, upd.Status, "%s", upd.Body)
	assert.Equal(t, "standard", upd.Data()["delivery_format"])
	upd = h.patch("/webhook/webhooks/"+id, map[string]any{"delivery_format": "apideck"})
	require.Equal(t, http.StatusOK, upd.Status, "the stored key serves again: %s", upd.Body)

	stdID := std.Data()["id"].(string)
	tests := map[string]struct {
		create bool
		body   map[string]any
		field  string
		reason string
	}{
		"apideck without key":   {create: true, body: base(map[string]any{"delivery_format": "apideck"}), field: "signing_key", reason: "is required with delivery_format apideck"},
		"unknown format":        {create: true, body: base(map[string]any{"delivery_format": "svix", "signing_key": key}), field: "delivery_format", reason: "must be standard or apideck"},
		"null format":           {create: true, body: base(map[string]any{"delivery_format": nil}), field: "delivery_format", reason: "got null"},
		"key with standard":     {create: true, body: base(map[string]any{"signing_key": key}), field: "signing_key", reason: "only used with delivery_format apideck"},
		"empty key":             {create: true, body: base(map[string]any{"delivery_format": "apideck", "signing_key": ""}), field: "signing_key", reason: "must not be empty"},
		"too long key":          {create: true, body: base(map[string]any{"delivery_format": "apideck", "signing_key": strings.Repeat("k", 1025)}), field: "signing_key", reason: "at most 1024"},
		"switch without key":    {body: map[string]any{"delivery_format": "apideck"}, field: "signing_key", reason: "is required"},
		"remove key of apideck": {body: map[string]any{"delivery_format": "apideck", "signing_key": nil}, field: "signing_key", reason: "is required"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var r response
			if tc.create {
				r = h.post("/webhook/webhooks", tc.body)
			} else {
				r = h.patch("/webhook/webhooks/"+stdID, tc.body)
			}
			requireFieldErrors(t, r, tc.field)
			assert.Contains(t, string(r.Body), tc.reason)
			assert.NotContains(t, string(r.Body), key, "an error never echoes the key")
		})
	}
}
