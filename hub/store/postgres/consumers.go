package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboardhq/switchboard/hub/store"
)

// consumerListQuery lists every known consumer id with its stored row, if
// any.
const consumerListQuery = `SELECT ids.consumer_id, c.metadata, c.created_at, c.updated_at
	FROM (` + store.ConsumerIDsQuery + `) AS ids LEFT JOIN consumers c ON c.consumer_id = ids.consumer_id`

// consumerOrder orders consumer ids bytewise, as SQLite does.
const consumerOrder = `ids.consumer_id COLLATE "C"`

func scanConsumer(row scanner) (*store.ConsumerRecord, error) {
	var (
		c                store.ConsumerRecord
		metadata         []byte
		created, updated *time.Time
	)
	if err := row.Scan(&c.ID, &metadata, &created, &updated); err != nil {
		return nil, err
	}
	if len(metadata) > 0 {
		if err := json.Unmarshal(metadata, &c.Metadata); err != nil {
			return nil, fmt.Errorf("reading metadata of consumer %s: %w", c.ID, err)
		}
	}
	if created != nil && updated != nil {
		c.Stored = true
		c.CreatedAt, c.UpdatedAt = utc(*created), utc(*updated)
	}
	return &c, nil
}

// CreateConsumer stores a consumer's row.
func (s *Store) CreateConsumer(ctx context.Context, sc store.Scope, c *store.ConsumerRecord) error {
	if err := store.CheckScope(sc, "creating consumer "+c.ID, c.ID); err != nil {
		return err
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = store.Now()
	}
	c.CreatedAt = store.Time(c.CreatedAt)
	c.UpdatedAt = c.CreatedAt
	metadata, err := json.Marshal(c.Metadata)
	if err != nil {
		return err
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO consumers (consumer_id, metadata, created_at, updated_at) VALUES ($1, $2, $3, $3)
		ON CONFLICT (consumer_id) DO NOTHING`, c.ID, string(metadata), c.CreatedAt)
	if err != nil {
		return fmt.Errorf("creating consumer %s: %w", c.ID, unavailable(err))
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("creating consumer %s: %w", c.ID, store.ErrExists)
	}
	c.Stored = true
	return nil
}

// GetConsumer loads one stored or implicit consumer.
func (s *Store) GetConsumer(ctx context.Context, sc store.Scope, id string) (*store.ConsumerRecord, error) {
	if !sc.Matches(id) {
		return nil, notFound("consumer", id)
	}
	c, err := scanConsumer(s.pool.QueryRow(ctx, `SELECT consumer_id, metadata, created_at, updated_at FROM consumers WHERE consumer_id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		var implicit bool
		err = s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM connections WHERE consumer_id = $1)
			OR EXISTS (SELECT 1 FROM subscriptions WHERE consumer_id = $1)
			OR EXISTS (SELECT 1 FROM events WHERE consumer_id = $1)`, id).Scan(&implicit)
		if err == nil && !implicit {
			return nil, notFound("consumer", id)
		}
		c = &store.ConsumerRecord{ID: id}
	}
	if err != nil {
		return nil, fmt.Errorf("loading consumer %s: %w", id, unavailable(err))
	}
	if err := s.addConnections(ctx, []*store.ConsumerRecord{c}); err != nil {
		return nil, err
	}
	return c, nil
}

// UpdateConsumer writes a consumer's metadata, storing a row for an
// implicit consumer.
func (s *Store) UpdateConsumer(ctx context.Context, sc store.Scope, c *store.ConsumerRecord) error {
	current, err := s.GetConsumer(ctx, sc, c.ID)
	if err != nil {
		return err
	}
	now := store.Now()
	metadata, err := json.Marshal(c.Metadata)
	if err != nil {
		return err
	}
	err = s.pool.QueryRow(ctx, `INSERT INTO consumers (consumer_id, metadata, created_at, updated_at) VALUES ($1, $2, $3, $3)
		ON CONFLICT (consumer_id) DO UPDATE SET metadata = excluded.metadata, updated_at = excluded.updated_at
		RETURNING created_at`, c.ID, string(metadata), now).Scan(&c.CreatedAt)
	if err != nil {
		return fmt.Errorf("updating consumer %s: %w", c.ID, unavailable(err))
	}
	c.CreatedAt, c.UpdatedAt, c.Stored = utc(c.CreatedAt), now, true
	c.Connections, c.Services = current.Connections, current.Services
	return nil
}

// DeleteConsumer removes a consumer's row.
func (s *Store) DeleteConsumer(ctx context.Context, sc store.Scope, id string) error {
	if !sc.Matches(id) {
		return notFound("consumer", id)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM consumers WHERE consumer_id = $1`, id)
	if err != nil {
		return fmt.Errorf("deleting consumer %s: %w", id, unavailable(err))
	}
	if tag.RowsAffected() == 0 {
		return notFound("consumer", id)
	}
	return nil
}

// ListConsumers lists stored and implicit consumers by id.
func (s *Store) ListConsumers(ctx context.Context, sc store.Scope, p store.Page) ([]*store.ConsumerRecord, error) {
	w := newWhere()
	w.Scope("ids.consumer_id", sc)
	query, args, reverse := w.PageByName(consumerListQuery, consumerOrder, p)
	out, err := queryAll(ctx, s.pool, scanConsumer, query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing consumers of %s: %w", sc, unavailable(err))
	}
	out = store.Ordered(out, reverse)
	if err := s.addConnections(ctx, out); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) addConnections(ctx context.Context, consumers []*store.ConsumerRecord) error {
	if len(consumers) == 0 {
		return nil
	}
	ids := make([]string, len(consumers))
	for i, c := range consumers {
		ids[i] = c.ID
	}
	rows, err := queryAll(ctx, s.pool, func(r scanner) ([2]string, error) {
		var v [2]string
		err := r.Scan(&v[0], &v[1])
		return v, err
	}, `SELECT consumer_id, service_id FROM connections WHERE consumer_id = ANY($1) ORDER BY id`, ids)
	if err != nil {
		return fmt.Errorf("counting connections of consumers: %w", unavailable(err))
	}
	store.AddConnections(consumers, rows)
	return nil
}
