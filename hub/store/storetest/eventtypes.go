package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/store"
)

var eventTypeTests = map[string]func(*testing.T, *harness){
	"PutGetListReplace": func(t *testing.T, h *harness) {
		e := h.env(t)
		_, err := e.s.GetEventType(e.ctx, "billing.plan.upgraded")
		require.True(t, errors.Is(err, store.ErrNotFound), "%v", err)

		schema := json.RawMessage(`{"type": "object", "properties": {"id": {"type": "string"}, "plan": {"type": "string"}}}`)
		first := store.Time(time.Date(2025, 3, 1, 12, 0, 0, 987654000, time.UTC))
		up := &store.EventType{
			Name: "billing.plan.upgraded", UnifiedAPI: "billing", EntityType: "plan", Description: "A plan was upgraded.",
			Schema: schema, ExampleEntityID: "p1", Example: json.RawMessage(`{"id": "p1", "plan": "pro"}`), UpdatedAt: first,
		}
		require.NoError(t, e.s.PutEventType(e.ctx, up))
		assert.True(t, up.CreatedAt.Equal(first))
		require.NoError(t, e.s.PutEventType(e.ctx, &store.EventType{
			Name: "billing.plan.cancelled", UnifiedAPI: "billing", EntityType: "plan", Schema: schema,
		}))

		got, err := e.s.GetEventType(e.ctx, "billing.plan.upgraded")
		require.NoError(t, err)
		assert.Equal(t, "billing", got.UnifiedAPI)
		assert.Equal(t, "plan", got.EntityType)
		assert.Equal(t, "A plan was upgraded.", got.Description)
		assert.Equal(t, string(schema), string(got.Schema), "the schema is kept byte for byte")
		assert.Equal(t, "p1", got.ExampleEntityID)
		assert.JSONEq(t, `{"id": "p1", "plan": "pro"}`, string(got.Example))
		assert.True(t, got.CreatedAt.Equal(first), "CreatedAt %v", got.CreatedAt)

		list, err := e.s.ListEventTypes(e.ctx)
		require.NoError(t, err)
		require.Len(t, list, 2)
		assert.Equal(t, "billing.plan.cancelled", list[0].Name, "sorted by name")
		assert.Nil(t, list[0].Example)

		// Replacing keeps the first CreatedAt and takes everything else.
		later := first.Add(time.Hour)
		repl := &store.EventType{Name: "billing.plan.upgraded", UnifiedAPI: "billing", EntityType: "plan",
			Schema: json.RawMessage(`{"type": "object"}`), UpdatedAt: later}
		require.NoError(t, e.s.PutEventType(e.ctx, repl))
		assert.True(t, repl.CreatedAt.Equal(first), "CreatedAt %v", repl.CreatedAt)
		got, err = e.s.GetEventType(e.ctx, "billing.plan.upgraded")
		require.NoError(t, err)
		assert.Equal(t, `{"type": "object"}`, string(got.Schema))
		assert.Equal(t, "", got.Description)
		assert.True(t, got.UpdatedAt.Equal(later))
	},
}
