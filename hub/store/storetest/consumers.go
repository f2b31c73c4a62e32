package storetest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/store"
)

var consumerTests = map[string]func(*testing.T, *harness){
	"CreateGetUpdateDelete": func(t *testing.T, h *harness) {
		e := h.env(t)
		c := &store.ConsumerRecord{ID: "acme", Metadata: store.ConsumerMetadata{AccountName: "Acme", Email: "ops@acme.test"}}
		require.NoError(t, e.s.CreateConsumer(e.ctx, store.AllConsumers(), c))
		assert.True(t, c.Stored)
		assert.False(t, c.CreatedAt.IsZero())

		err := e.s.CreateConsumer(e.ctx, store.AllConsumers(), &store.ConsumerRecord{ID: "acme"})
		require.ErrorIs(t, err, store.ErrExists)

		got, err := e.s.GetConsumer(e.ctx, store.AllConsumers(), "acme")
		require.NoError(t, err)
		assert.Equal(t, c.Metadata, got.Metadata)
		assert.True(t, got.Stored)
		assert.Equal(t, c.CreatedAt, got.CreatedAt)
		assert.Equal(t, 0, got.Connections)
		assert.Equal(t, []string{}, got.Services)

		got.Metadata.UserName = "Road Runner"
		require.NoError(t, e.s.UpdateConsumer(e.ctx, store.Consumer("acme"), got))
		again, err := e.s.GetConsumer(e.ctx, store.Consumer("acme"), "acme")
		require.NoError(t, err)
		assert.Equal(t, "Road Runner", again.Metadata.UserName)
		assert.Equal(t, "Acme", again.Metadata.AccountName)
		assert.Equal(t, c.CreatedAt, again.CreatedAt, "update keeps created_at")

		require.NoError(t, e.s.DeleteConsumer(e.ctx, store.AllConsumers(), "acme"))
		_, err = e.s.GetConsumer(e.ctx, store.AllConsumers(), "acme")
		require.ErrorIs(t, err, store.ErrNotFound)
		require.ErrorIs(t, e.s.DeleteConsumer(e.ctx, store.AllConsumers(), "acme"), store.ErrNotFound)
		require.ErrorIs(t, e.s.UpdateConsumer(e.ctx, store.AllConsumers(), &store.ConsumerRecord{ID: "nobody"}), store.ErrNotFound)
	},
	"ImplicitConsumersAreListed": func(t *testing.T, h *harness) {
		e := h.env(t)
		require.NoError(t, e.s.CreateConsumer(e.ctx, store.AllConsumers(), &store.ConsumerRecord{ID: "d-stored"}))
		e.connection("b-conn")
		e.connection("b-conn", func(c *store.Connection) { c.ServiceID = "vplan" })
		e.connection("b-conn")
		e.subscription(func(s *store.Subscription) { s.ConsumerID = "c-sub" })
		e.subscription() // application-wide: no consumer
		_, err := e.s.PublishEvent(e.ctx, store.AllConsumers(), newEvent(func(ev *event.Event) { ev.ConsumerID = "a-event" }))
		require.NoError(t, err)

		all, err := e.s.ListConsumers(e.ctx, store.AllConsumers(), store.Page{Limit: 10})
		require.NoError(t, err)
		ids := make([]string, len(all))
		for i, c := range all {
			ids[i] = c.ID
		}
		assert.Equal(t, []string{"a-event", "b-conn", "c-sub", "d-stored"}, ids)
		assert.Equal(t, 3, all[1].Connections)
		assert.Equal(t, []string{"deskera", "vplan"}, all[1].Services)
		assert.False(t, all[1].Stored)
		assert.True(t, all[3].Stored)

		implicit, err := e.s.GetConsumer(e.ctx, store.AllConsumers(), "c-sub")
		require.NoError(t, err)
		assert.False(t, implicit.Stored)
		implicit.Metadata.Email = "c@example.test"
		require.NoError(t, e.s.UpdateConsumer(e.ctx, store.AllConsumers(), implicit), "an implicit consumer can be described")
		stored, err := e.s.GetConsumer(e.ctx, store.AllConsumers(), "c-sub")
		require.NoError(t, err)
		assert.True(t, stored.Stored)
		assert.Equal(t, "c@example.test", stored.Metadata.Email)

		// Pages by id, both ways.
		first, err := e.s.ListConsumers(e.ctx, store.AllConsumers(), store.Page{Limit: 2})
		require.NoError(t, err)
		require.Len(t, first, 2)
		assert.Equal(t, "b-conn", first[1].ID)
		next, err := e.s.ListConsumers(e.ctx, store.AllConsumers(), store.Page{Limit: 2, After: "b-conn"})
		require.NoError(t, err)
		require.Len(t, next, 2)
		assert.Equal(t, "c-sub", next[0].ID)
		assert.Equal(t, "d-stored", next[1].ID)
		prev, err := e.s.ListConsumers(e.ctx, store.AllConsumers(), store.Page{Limit: 1, Before: "c-sub"})
		require.NoError(t, err)
		require.Len(t, prev, 1)
		assert.Equal(t, "b-conn", prev[0].ID)
	},
	"Tenancy": func(t *testing.T, h *harness) {
		e := h.env(t)
		require.NoError(t, e.s.CreateConsumer(e.ctx, store.AllConsumers(), &store.ConsumerRecord{ID: "a"}))
		e.connection("b")
		require.ErrorIs(t, e.s.CreateConsumer(e.ctx, store.Consumer("a"), &store.ConsumerRecord{ID: "b2"}), store.ErrOutOfScope)
		require.ErrorIs(t, e.s.CreateConsumer(e.ctx, store.Scope{}, &store.ConsumerRecord{ID: "z"}), store.ErrOutOfScope)
		_, err := e.s.GetConsumer(e.ctx, store.Consumer("a"), "b")
		require.ErrorIs(t, err, store.ErrNotFound)
		require.ErrorIs(t, e.s.UpdateConsumer(e.ctx, store.Consumer("a"), &store.ConsumerRecord{ID: "b"}), store.ErrNotFound)
		require.ErrorIs(t, e.s.DeleteConsumer(e.ctx, store.Consumer("b"), "a"), store.ErrNotFound)
		own, err := e.s.ListConsumers(e.ctx, store.Consumer("b"), store.Page{})
		require.NoError(t, err)
		require.Len(t, own, 1)
		assert.Equal(t, "b", own[0].ID)
		none, err := e.s.ListConsumers(e.ctx, store.Scope{}, store.Page{})
		require.NoError(t, err)
		assert.Empty(t, none)
	},
}
