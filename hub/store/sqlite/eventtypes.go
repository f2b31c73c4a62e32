package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/switchboardhq/switchboard/hub/store"
)

const eventTypeColumns = `name, unified_api, entity_type, description, schema, example_entity_id, example, created_at, updated_at`

func scanEventType(row scanner) (*store.EventType, error) {
	var (
		t                store.EventType
		schema, example  string
		created, updated int64
	)
	if err := row.Scan(&t.Name, &t.UnifiedAPI, &t.EntityType, &t.Description, &schema, &t.ExampleEntityID, &example, &created, &updated); err != nil {
		return nil, err
	}
	t.Schema = []byte(schema)
	if example != "" {
		t.Example = []byte(example)
	}
	t.CreatedAt, t.UpdatedAt = fromMicros(created), fromMicros(updated)
	return &t, nil
}

// PutEventType inserts t or replaces the type of its name, keeping the
// first CreatedAt.
func (s *Store) PutEventType(ctx context.Context, t *store.EventType) error {
	now := store.Now()
	if t.UpdatedAt.IsZero() {
		t.UpdatedAt = now
	}
	t.UpdatedAt = store.Time(t.UpdatedAt)
	return s.write(ctx, func(ctx context.Context, w *writeTx) error {
		var created int64
		err := w.QueryRowContext(ctx, `
			INSERT INTO event_types (`+eventTypeColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET unified_api = excluded.unified_api, entity_type = excluded.entity_type,
				description = excluded.description, schema = excluded.schema, example_entity_id = excluded.example_entity_id,
				example = excluded.example, updated_at = excluded.updated_at
			RETURNING created_at`,
			t.Name, t.UnifiedAPI, t.EntityType, t.Description, string(t.Schema), t.ExampleEntityID, string(t.Example),
			micros(t.UpdatedAt), micros(t.UpdatedAt)).Scan(&created)
		if err != nil {
			return fmt.Errorf("storing event type %s: %w", t.Name, err)
		}
		t.CreatedAt = fromMicros(created)
		return nil
	})
}

// GetEventType loads one registered type.
func (s *Store) GetEventType(ctx context.Context, name string) (*store.EventType, error) {
	t, err := scanEventType(s.reader.QueryRowContext(ctx, `SELECT `+eventTypeColumns+` FROM event_types WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("event type", name)
	}
	if err != nil {
		return nil, fmt.Errorf("loading event type %s: %w", name, err)
	}
	return t, nil
}

// ListEventTypes lists the registered types by name.
func (s *Store) ListEventTypes(ctx context.Context) ([]*store.EventType, error) {
	out, err := queryAll(ctx, s.reader, scanEventType, `SELECT `+eventTypeColumns+` FROM event_types ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing event types: %w", err)
	}
	return out, nil
}
