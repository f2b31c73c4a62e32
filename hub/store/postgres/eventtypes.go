package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/switchboardhq/switchboard/hub/store"
)

const eventTypeColumns = `name, unified_api, entity_type, description, schema, example_entity_id, example, created_at, updated_at`

func scanEventType(row scanner) (*store.EventType, error) {
	var (
		t               store.EventType
		schema, example string
	)
	if err := row.Scan(&t.Name, &t.UnifiedAPI, &t.EntityType, &t.Description, &schema, &t.ExampleEntityID, &example, &t.CreatedAt, &t.UpdatedAt); err != nil {
		return nil, err
	}
	t.Schema = []byte(schema)
	if example != "" {
		t.Example = []byte(example)
	}
	t.CreatedAt, t.UpdatedAt = utc(t.CreatedAt), utc(t.UpdatedAt)
	return &t, nil
}

// PutEventType inserts t or replaces the type of its name, keeping the
// first CreatedAt.
func (s *Store) PutEventType(ctx context.Context, t *store.EventType) error {
	if t.UpdatedAt.IsZero() {
		t.UpdatedAt = store.Now()
	}
	t.UpdatedAt = store.Time(t.UpdatedAt)
	err := s.pool.QueryRow(ctx, `
		INSERT INTO event_types (`+eventTypeColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
		ON CONFLICT (name) DO UPDATE SET unified_api = excluded.unified_api, entity_type = excluded.entity_type,
			description = excluded.description, schema = excluded.schema, example_entity_id = excluded.example_entity_id,
			example = excluded.example, updated_at = excluded.updated_at
		RETURNING created_at`,
		t.Name, t.UnifiedAPI, t.EntityType, t.Description, string(t.Schema), t.ExampleEntityID, string(t.Example),
		t.UpdatedAt).Scan(&t.CreatedAt)
	if err != nil {
		return fmt.Errorf("storing event type %s: %w", t.Name, unavailable(err))
	}
	t.CreatedAt = utc(t.CreatedAt)
	return nil
}

// GetEventType loads one registered type.
func (s *Store) GetEventType(ctx context.Context, name string) (*store.EventType, error) {
	t, err := scanEventType(s.pool.QueryRow(ctx, `SELECT `+eventTypeColumns+` FROM event_types WHERE name = $1`, name))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("event type", name)
	}
	if err != nil {
		return nil, fmt.Errorf("loading event type %s: %w", name, unavailable(err))
	}
	return t, nil
}

// ListEventTypes lists the registered types by name.
func (s *Store) ListEventTypes(ctx context.Context) ([]*store.EventType, error) {
	out, err := queryAll(ctx, s.pool, scanEventType, `SELECT `+eventTypeColumns+` FROM event_types ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("listing event types: %w", unavailable(err))
	}
	return out, nil
}
