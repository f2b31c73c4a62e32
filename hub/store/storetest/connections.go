package storetest

import (
	"crypto/sha256"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/store"
)

// tokenHash returns the SHA-256 of a fresh inbound URL token, as the hub
// stores it.
func tokenHash() []byte {
	_, hash := newToken()
	return hash
}

// newToken returns a fresh inbound URL token and its SHA-256.
func newToken() (string, []byte) {
	token := "token-" + store.NewID()
	sum := sha256.Sum256([]byte(token))
	return token, sum[:]
}

// connection creates an active deskera connection of consumerID with
// credentials, changed by mods.
func (e *env) connection(consumerID string, mods ...func(*store.Connection)) *store.Connection {
	e.t.Helper()
	c := &store.Connection{
		ConsumerID: consumerID,
		ServiceID:  "deskera",
		Status:     store.ConnectionActive,
		Settings:   json.RawMessage(`{"base_url":"https://bifrost.deskera.com","event_types":["INVOICE_CREATED"]}`),
		Credentials: map[string]string{
			"client_id":     "client-" + store.NewID(),
			"client_secret": "secret-" + store.NewID(),
		},
	}
	c.Token, c.TokenHash = newToken()
	for _, mod := range mods {
		mod(c)
	}
	require.NoError(e.t, e.s.CreateConnection(e.ctx, store.AllConsumers(), c))
	return c
}

// requireSameConnection compares connections field by field, the JSON
// documents by meaning (a database may reformat them).
func requireSameConnection(t *testing.T, want, got *store.Connection) {
	t.Helper()
	require.NotNil(t, got)
	assert.Equal(t, want.ID, got.ID)
	assert.Equal(t, want.ConsumerID, got.ConsumerID)
	assert.Equal(t, want.ServiceID, got.ServiceID)
	assert.Equal(t, want.Status, got.Status)
	assert.Equal(t, want.Credentials, got.Credentials, "credentials opened")
	assert.Equal(t, want.TokenHash, got.TokenHash)
	assert.Equal(t, want.Token, got.Token, "inbound token opened")
	if len(want.Settings) == 0 {
		assert.JSONEq(t, `{}`, string(got.Settings), "empty settings are {}")
	} else {
		assert.JSONEq(t, string(want.Settings), string(got.Settings))
	}
	if len(want.Registrations) == 0 {
		assert.Empty(t, got.Registrations)
	} else {
		assert.JSONEq(t, string(want.Registrations), string(got.Registrations))
	}
	assert.Truef(t, want.CreatedAt.Equal(got.CreatedAt), "CreatedAt = %v, want %v", got.CreatedAt, want.CreatedAt)
	assert.Truef(t, want.UpdatedAt.Equal(got.UpdatedAt), "UpdatedAt = %v, want %v", got.UpdatedAt, want.UpdatedAt)
}

func connectionIDs(list []*store.Connection) []string {
	return ids(list, func(c *store.Connection) string { return c.ID })
}

var connectionTests = map[string]func(*testing.T, *harness){
	"CreateGetRoundTrip": func(t *testing.T, h *harness) {
		e := h.env(t)
		c := e.connection("acme", func(c *store.Connection) {
			c.Credentials["access_token"] = "at-Ümlaut \"quoted\""
			c.Registrations = json.RawMessage(`{"hooks":[{"event_type":"INVOICE_CREATED","hook_id":"h-1"}]}`)
		})
		requireUUIDv7(t, c.ID)
		require.False(t, c.CreatedAt.IsZero(), "CreatedAt filled")
		assert.True(t, c.CreatedAt.Equal(c.UpdatedAt), "UpdatedAt starts at CreatedAt")

		got, err := e.s.GetConnection(e.ctx, store.Consumer("acme"), c.ID)
		require.NoError(t, err)
		requireSameConnection(t, c, got)

		at := store.Time(time.Date(2025, 3, 1, 12, 0, 0, 987654000, time.UTC))
		given := e.connection("acme", func(c *store.Connection) {
			c.ID = store.NewID()
			c.CreatedAt = at
		})
		got, err = e.s.GetConnection(e.ctx, store.Consumer("acme"), given.ID)
		require.NoError(t, err)
		assert.True(t, at.Equal(got.CreatedAt), "a given CreatedAt is kept, got %v", got.CreatedAt)
		requireSameConnection(t, given, got)
	},
	"EmptyOptionals": func(t *testing.T, h *harness) {
		e := h.env(t)
		c := e.connection("acme", func(c *store.Connection) {
			c.ServiceID = "dversum"
			c.Settings = nil
			c.Credentials = nil
		})
		got, err := e.s.GetConnection(e.ctx, store.Consumer("acme"), c.ID)
		require.NoError(t, err)
		requireSameConnection(t, c, got)
		assert.Nil(t, got.Credentials, "no credentials stay none")
		assert.Empty(t, got.Registrations)
		assert.JSONEq(t, `{}`, string(got.Settings))
	},
	"CreateRejectsIncomplete": func(t *testing.T, h *harness) {
		e := h.env(t)
		for name, mod := range map[string]func(*store.Connection){
			"no consumer":         func(c *store.Connection) { c.ConsumerID = "" },
			"no service":          func(c *store.Connection) { c.ServiceID = "" },
			"no token hash":       func(c *store.Connection) { c.TokenHash = nil },
			"settings not JSON":   func(c *store.Connection) { c.Settings = json.RawMessage(`{"base_url":`) },
			"registrations bogus": func(c *store.Connection) { c.Registrations = json.RawMessage(`[1,`) },
		} {
			c := &store.Connection{ConsumerID: "acme", ServiceID: "deskera", Status: store.ConnectionActive, TokenHash: tokenHash()}
			mod(c)
			assert.Error(t, e.s.CreateConnection(e.ctx, store.AllConsumers(), c), name)
		}
		list, err := e.s.ListConnections(e.ctx, store.Consumer("acme"), store.Page{})
		require.NoError(t, err)
		assert.Empty(t, list, "nothing stored")
	},
	"ByIDForOperators": func(t *testing.T, h *harness) {
		e := h.env(t)
		c := e.connection("acme")
		got, err := e.s.GetConnection(e.ctx, store.AllConsumers(), c.ID)
		require.NoError(t, err)
		requireSameConnection(t, c, got)
		_, err = e.s.GetConnection(e.ctx, store.AllConsumers(), unknownID())
		require.ErrorIs(t, err, store.ErrNotFound)
	},
	"ScopedToConsumer": func(t *testing.T, h *harness) {
		e := h.env(t)
		mine := e.connection("acme")
		theirs := e.connection("globex")

		_, err := e.s.GetConnection(e.ctx, store.Consumer("globex"), mine.ID)
		require.ErrorIs(t, err, store.ErrNotFound, "another consumer's connection")
		_, err = e.s.GetConnection(e.ctx, store.Consumer(""), mine.ID)
		require.ErrorIs(t, err, store.ErrNotFound, "no consumer")

		hijack := *mine
		hijack.ConsumerID = "globex"
		hijack.Status = store.ConnectionDisabled
		hijack.Credentials = map[string]string{"client_secret": "stolen"}
		require.ErrorIs(t, e.s.UpdateConnection(e.ctx, store.Consumer("globex"), &hijack), store.ErrNotFound)
		require.ErrorIs(t, e.s.DeleteConnection(e.ctx, store.Consumer("globex"), mine.ID), store.ErrNotFound)

		got, err := e.s.GetConnection(e.ctx, store.Consumer("acme"), mine.ID)
		require.NoError(t, err, "still there")
		requireSameConnection(t, mine, got)

		list, err := e.s.ListConnections(e.ctx, store.Consumer("globex"), store.Page{})
		require.NoError(t, err)
		assert.Equal(t, []string{theirs.ID}, connectionIDs(list))
		list, err = e.s.ListConnections(e.ctx, store.Consumer("acme"), store.Page{})
		require.NoError(t, err)
		assert.Equal(t, []string{mine.ID}, connectionIDs(list))
		list, err = e.s.ListConnections(e.ctx, store.Consumer(""), store.Page{})
		require.NoError(t, err)
		assert.Empty(t, list, "an empty consumer lists nothing, not everything")
	},
	"ByToken": func(t *testing.T, h *harness) {
		e := h.env(t)
		deskera := e.connection("acme")
		vplan := e.connection("acme", func(c *store.Connection) {
			c.ServiceID = "vplan"
			c.Credentials = map[string]string{"api_key": "key-" + store.NewID(), "api_env": "production"}
		})

		got, err := e.s.ConnectionByToken(e.ctx, "deskera", deskera.TokenHash)
		require.NoError(t, err)
		requireSameConnection(t, deskera, got)
		got, err = e.s.ConnectionByToken(e.ctx, "vplan", vplan.TokenHash)
		require.NoError(t, err)
		requireSameConnection(t, vplan, got)

		_, err = e.s.ConnectionByToken(e.ctx, "vplan", deskera.TokenHash)
		require.ErrorIs(t, err, store.ErrNotFound, "right token, wrong service")
		_, err = e.s.ConnectionByToken(e.ctx, "deskera", tokenHash())
		require.ErrorIs(t, err, store.ErrNotFound, "unknown token")
		_, err = e.s.ConnectionByToken(e.ctx, "deskera", nil)
		require.ErrorIs(t, err, store.ErrNotFound, "no token")
	},
	"ByTokenSeesEveryUpdate": func(t *testing.T, h *harness) {
		e := h.env(t)
		c := e.connection("acme")
		for range 2 { // twice: the second lookup may be answered from memory
			got, err := e.s.ConnectionByToken(e.ctx, c.ServiceID, c.TokenHash)
			require.NoError(t, err)
			requireSameConnection(t, c, got)
			got.Credentials["access_token"] = "changed by the caller"
		}
		update := *c
		update.Status = store.ConnectionDisabled
		update.Credentials = map[string]string{"access_token": "at-2"}
		require.NoError(t, e.s.UpdateConnection(e.ctx, store.AllConsumers(), &update))
		got, err := e.s.ConnectionByToken(e.ctx, c.ServiceID, c.TokenHash)
		require.NoError(t, err)
		assert.Equal(t, store.ConnectionDisabled, got.Status, "the update is seen at once")
		assert.Equal(t, map[string]string{"access_token": "at-2"}, got.Credentials)
	},
	"DuplicateTokenHashRejected": func(t *testing.T, h *harness) {
		e := h.env(t)
		first := e.connection("acme")
		dup := &store.Connection{
			ConsumerID: "globex", ServiceID: "deskera", Status: store.ConnectionActive,
			TokenHash: append([]byte(nil), first.TokenHash...),
		}
		require.Error(t, e.s.CreateConnection(e.ctx, store.AllConsumers(), dup))

		list, err := e.s.ListConnections(e.ctx, store.Consumer("globex"), store.Page{})
		require.NoError(t, err)
		assert.Empty(t, list, "the duplicate was not stored")
		got, err := e.s.ConnectionByToken(e.ctx, "deskera", first.TokenHash)
		require.NoError(t, err)
		assert.Equal(t, first.ID, got.ID, "the token still finds the first connection")
	},
	"List": func(t *testing.T, h *harness) {
		e := h.env(t)
		var want []string
		for range 8 {
			want = append(want, e.connection("acme").ID)
			e.connection("globex") // interleaved, never listed for acme
		}
		want = reversed(want)
		walkPages(t, want, func(p store.Page) ([]string, error) {
			list, err := e.s.ListConnections(e.ctx, store.Consumer("acme"), p)
			for _, c := range list {
				if c.ConsumerID != "acme" || c.Credentials["client_secret"] == "" {
					t.Errorf("listed connection %s of %q without its credentials opened", c.ID, c.ConsumerID)
				}
			}
			return connectionIDs(list), err
		})
	},
	"Update": func(t *testing.T, h *harness) {
		e := h.env(t)
		c := e.connection("acme")
		created := c.CreatedAt

		update := &store.Connection{
			ID:            c.ID,
			ConsumerID:    "acme",
			ServiceID:     c.ServiceID,
			Status:        store.ConnectionDisabled,
			Settings:      json.RawMessage(`{"base_url":"https://deskera.example.com","event_types":["INVOICE_CREATED","INVOICE_PAID"]}`),
			Credentials:   map[string]string{"access_token": "at-2", "refresh_token": "rt-2"},
			Token:         c.Token,
			TokenHash:     c.TokenHash,
			Registrations: json.RawMessage(`{"hooks":[{"hook_id":"h-2"}]}`),
		}
		require.NoError(t, e.s.UpdateConnection(e.ctx, store.AllConsumers(), update))
		assert.True(t, created.Equal(update.CreatedAt), "the stored CreatedAt is returned, got %v", update.CreatedAt)
		assert.False(t, update.UpdatedAt.Before(c.UpdatedAt), "UpdatedAt set")

		got, err := e.s.GetConnection(e.ctx, store.Consumer("acme"), c.ID)
		require.NoError(t, err)
		requireSameConnection(t, update, got)

		// Clearing credentials and registrations.
		got.Credentials, got.Registrations = nil, nil
		require.NoError(t, e.s.UpdateConnection(e.ctx, store.AllConsumers(), got))
		again, err := e.s.GetConnection(e.ctx, store.Consumer("acme"), c.ID)
		require.NoError(t, err)
		assert.Nil(t, again.Credentials)
		assert.Empty(t, again.Registrations)
		requireSameConnection(t, got, again)

		unknown := *got
		unknown.ID = unknownID()
		require.ErrorIs(t, e.s.UpdateConnection(e.ctx, store.AllConsumers(), &unknown), store.ErrNotFound)
	},
	"Delete": func(t *testing.T, h *harness) {
		e := h.env(t)
		c := e.connection("acme")
		other := e.connection("acme")
		_, err := e.s.ConnectionByToken(e.ctx, c.ServiceID, c.TokenHash)
		require.NoError(t, err, "found before the delete (and so possibly cached)")

		require.NoError(t, e.s.DeleteConnection(e.ctx, store.Consumer("acme"), c.ID))
		_, err = e.s.GetConnection(e.ctx, store.Consumer("acme"), c.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		_, err = e.s.ConnectionByToken(e.ctx, c.ServiceID, c.TokenHash)
		require.ErrorIs(t, err, store.ErrNotFound, "the deleted connection's token stops working")
		require.ErrorIs(t, e.s.DeleteConnection(e.ctx, store.Consumer("acme"), c.ID), store.ErrNotFound, "deleting twice")

		list, err := e.s.ListConnections(e.ctx, store.Consumer("acme"), store.Page{})
		require.NoError(t, err)
		assert.Equal(t, []string{other.ID}, connectionIDs(list), "others untouched")
	},
	"NotFound": func(t *testing.T, h *harness) {
		e := h.env(t)
		_, err := e.s.GetConnection(e.ctx, store.Consumer("acme"), unknownID())
		require.ErrorIs(t, err, store.ErrNotFound)
		require.ErrorIs(t, e.s.DeleteConnection(e.ctx, store.Consumer("acme"), unknownID()), store.ErrNotFound)
		list, err := e.s.ListConnections(e.ctx, store.Consumer("acme"), store.Page{})
		require.NoError(t, err)
		assert.Empty(t, list)
	},
}
