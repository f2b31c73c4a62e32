package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/switchboardhq/switchboard/hub/store"
)

// consumerListQuery lists every known consumer id with its stored row, if
// any.
const consumerListQuery = `SELECT ids.consumer_id, COALESCE(c.metadata, ''), COALESCE(c.created_at, 0), COALESCE(c.updated_at, 0), c.consumer_id IS NOT NULL
	FROM (` + store.ConsumerIDsQuery + `) AS ids LEFT JOIN consumers c ON c.consumer_id = ids.consumer_id`

func scanConsumer(row scanner) (*store.ConsumerRecord, error) {
	var (
		c                store.ConsumerRecord
		metadata         string
		created, updated int64
	)
	if err := row.Scan(&c.ID, &metadata, &created, &updated, &c.Stored); err != nil {
		return nil, err
	}
	if metadata != "" {
		if err := json.Unmarshal([]byte(metadata), &c.Metadata); err != nil {
			return nil, fmt.Errorf("reading metadata of consumer %s: %w", c.ID, err)
		}
	}
	if c.Stored {
		c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
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
	return s.write(ctx, func(ctx context.Context, w *writeTx) error {
		res, err := w.ExecContext(ctx, `INSERT INTO consumers (consumer_id, metadata, created_at, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (consumer_id) DO NOTHING`, c.ID, string(metadata), micros(c.CreatedAt), micros(c.UpdatedAt))
		if err != nil {
			return fmt.Errorf("creating consumer %s: %w", c.ID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("creating consumer %s: %w", c.ID, err)
		} else if n == 0 {
			return fmt.Errorf("creating consumer %s: %w", c.ID, store.ErrExists)
		}
		c.Stored = true
		return nil
	})
}

// GetConsumer loads one stored or implicit consumer.
func (s *Store) GetConsumer(ctx context.Context, sc store.Scope, id string) (*store.ConsumerRecord, error) {
	if !sc.Matches(id) {
		return nil, notFound("consumer", id)
	}
	c, err := scanConsumer(s.reader.QueryRowContext(ctx, `SELECT consumer_id, metadata, created_at, updated_at, 1 FROM consumers WHERE consumer_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		var implicit bool
		err = s.reader.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM connections WHERE consumer_id = ?)
			OR EXISTS (SELECT 1 FROM subscriptions WHERE consumer_id = ?)
			OR EXISTS (SELECT 1 FROM events WHERE consumer_id = ?)`, id, id, id).Scan(&implicit)
		if err == nil && !implicit {
			return nil, notFound("consumer", id)
		}
		c = &store.ConsumerRecord{ID: id}
	}
	if err != nil {
		return nil, fmt.Errorf("loading consumer %s: %w", id, err)
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
	err = s.write(ctx, func(ctx context.Context, w *writeTx) error {
		var created int64
		err := w.QueryRowContext(ctx, `INSERT INTO consumers (consumer_id, metadata, created_at, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (consumer_id) DO UPDATE SET metadata = excluded.metadata, updated_at = excluded.updated_at
			RETURNING created_at`, c.ID, string(metadata), micros(now), micros(now)).Scan(&created)
		if err != nil {
			return fmt.Errorf("updating consumer %s: %w", c.ID, err)
		}
		c.CreatedAt = fromMicros(created)
		return nil
	})
	if err != nil {
		return err
	}
	c.UpdatedAt, c.Stored = now, true
	c.Connections, c.Services = current.Connections, current.Services
	return nil
}

// DeleteConsumer removes a consumer's row.
func (s *Store) DeleteConsumer(ctx context.Context, sc store.Scope, id string) error {
	if !sc.Matches(id) {
		return notFound("consumer", id)
	}
	return s.write(ctx, func(ctx context.Context, w *writeTx) error {
		res, err := w.ExecContext(ctx, `DELETE FROM consumers WHERE consumer_id = ?`, id)
		if err != nil {
			return fmt.Errorf("deleting consumer %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("deleting consumer %s: %w", id, err)
		} else if n == 0 {
			return notFound("consumer", id)
		}
		return nil
	})
}

// ListConsumers lists stored and implicit consumers by id.
func (s *Store) ListConsumers(ctx context.Context, sc store.Scope, p store.Page) ([]*store.ConsumerRecord, error) {
	w := newWhere()
	w.Scope("ids.consumer_id", sc)
	query, args, reverse := w.PageByName(consumerListQuery, "ids.consumer_id", p)
	out, err := queryAll(ctx, s.reader, scanConsumer, query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing consumers of %s: %w", sc, err)
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
	args := make([]any, len(consumers))
	for i, c := range consumers {
		args[i] = c.ID
	}
	rows, err := queryAll(ctx, s.reader, func(r scanner) ([2]string, error) {
		var v [2]string
		err := r.Scan(&v[0], &v[1])
		return v, err
	}, `SELECT consumer_id, service_id FROM connections WHERE consumer_id IN (?`+strings.Repeat(", ?", len(args)-1)+`) ORDER BY id`, args...)
	if err != nil {
		return fmt.Errorf("counting connections of consumers: %w", err)
	}
	store.AddConnections(consumers, rows)
	return nil
}
