package storetest

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/store"
)

func newKey(name string, scopes ...string) *store.APIKey {
	sum := sha256.Sum256([]byte(name + "-" + store.NewID()))
	return &store.APIKey{Name: name, Hash: sum[:], Scopes: scopes}
}

var apiKeyTests = map[string]func(*testing.T, *harness){
	"CreateGetList": func(t *testing.T, h *harness) {
		e := h.env(t)
		admin := newKey("admin", "*")
		require.NoError(t, e.s.CreateAPIKey(e.ctx, admin))
		requireUUIDv7(t, admin.ID)
		require.False(t, admin.CreatedAt.IsZero(), "CreatedAt filled")

		reader := newKey("reader", "events:read", "logs:read")
		reader.CreatedAt = store.Time(time.Date(2025, 3, 1, 12, 0, 0, 987654000, time.UTC))
		require.NoError(t, e.s.CreateAPIKey(e.ctx, reader))

		got, err := e.s.GetAPIKey(e.ctx, reader.ID)
		require.NoError(t, err)
		assert.Equal(t, reader.ID, got.ID)
		assert.Equal(t, "reader", got.Name)
		assert.Equal(t, reader.Hash, got.Hash)
		assert.Equal(t, []string{"events:read", "logs:read"}, got.Scopes)
		assert.True(t, reader.CreatedAt.Equal(got.CreatedAt), "CreatedAt %v, want %v", got.CreatedAt, reader.CreatedAt)
		assert.Nil(t, got.RevokedAt)

		list, err := e.s.ListAPIKeys(e.ctx)
		require.NoError(t, err)
		assert.Equal(t, []string{reader.ID, admin.ID}, ids(list, func(k *store.APIKey) string { return k.ID }), "newest first")

		n, err := e.s.CountActiveAPIKeys(e.ctx)
		require.NoError(t, err)
		assert.Equal(t, 2, n)
	},
	"Revoke": func(t *testing.T, h *harness) {
		e := h.env(t)
		k := newKey("ci")
		require.NoError(t, e.s.CreateAPIKey(e.ctx, k))
		other := newKey("other")
		require.NoError(t, e.s.CreateAPIKey(e.ctx, other))

		at := store.Now()
		require.NoError(t, e.s.RevokeAPIKey(e.ctx, k.ID, at))
		got, err := e.s.GetAPIKey(e.ctx, k.ID)
		require.NoError(t, err)
		sameTime(t, at, got.RevokedAt, "RevokedAt")

		require.ErrorIs(t, e.s.RevokeAPIKey(e.ctx, k.ID, at.Add(time.Hour)), store.ErrNotFound, "revoking twice")
		require.ErrorIs(t, e.s.RevokeAPIKey(e.ctx, "unknown", at), store.ErrNotFound, "revoking an unknown key")
		got, err = e.s.GetAPIKey(e.ctx, k.ID)
		require.NoError(t, err)
		sameTime(t, at, got.RevokedAt, "RevokedAt after a second revoke")

		n, err := e.s.CountActiveAPIKeys(e.ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, n)

		list, err := e.s.ListAPIKeys(e.ctx)
		require.NoError(t, err)
		assert.Len(t, list, 2, "revoked keys are still listed")
	},
	"NotFound": func(t *testing.T, h *harness) {
		e := h.env(t)
		_, err := e.s.GetAPIKey(e.ctx, unknownID())
		require.ErrorIs(t, err, store.ErrNotFound)
		require.ErrorIs(t, e.s.RevokeAPIKey(e.ctx, unknownID(), time.Now()), store.ErrNotFound)
		n, err := e.s.CountActiveAPIKeys(e.ctx)
		require.NoError(t, err)
		assert.Zero(t, n)
	},
}
