package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboardhq/switchboard/hub/store"
)

const apiKeyColumns = `id, name, hash, scopes, created_at, revoked_at, consumer_id`

func scanAPIKey(row scanner) (*store.APIKey, error) {
	var k store.APIKey
	if err := row.Scan(&k.ID, &k.Name, &k.Hash, &k.Scopes, &k.CreatedAt, &k.RevokedAt, &k.ConsumerID); err != nil {
		return nil, err
	}
	if len(k.Scopes) == 0 {
		k.Scopes = nil
	}
	k.CreatedAt = utc(k.CreatedAt)
	k.RevokedAt = utcOrNil(k.RevokedAt)
	return &k, nil
}

// CreateAPIKey stores k, filling ID and CreatedAt when empty.
func (s *Store) CreateAPIKey(ctx context.Context, k *store.APIKey) error {
	if k.ID == "" {
		k.ID = store.NewID()
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = store.Now()
	}
	k.CreatedAt = store.Time(k.CreatedAt)
	if k.RevokedAt != nil {
		t := store.Time(*k.RevokedAt)
		k.RevokedAt = &t
	}
	scopes := k.Scopes
	if scopes == nil {
		scopes = []string{} // the column is never NULL
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		k.ID, k.Name, k.Hash, scopes, k.CreatedAt, k.RevokedAt, k.ConsumerID)
	if err != nil {
		return fmt.Errorf("inserting API key %s: %w", k.ID, unavailable(err))
	}
	return nil
}

// GetAPIKey loads one key.
func (s *Store) GetAPIKey(ctx context.Context, id string) (*store.APIKey, error) {
	k, err := scanAPIKey(s.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("API key", id)
	}
	if err != nil {
		return nil, fmt.Errorf("loading API key %s: %w", id, unavailable(err))
	}
	return k, nil
}

// ListAPIKeys lists every key, revoked ones included, newest first. There are
// few keys, and authentication compares against all active ones.
func (s *Store) ListAPIKeys(ctx context.Context) ([]*store.APIKey, error) {
	out, err := queryAll(ctx, s.pool, scanAPIKey, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("listing API keys: %w", unavailable(err))
	}
	return out, nil
}

// RevokeAPIKey marks an active key revoked at at and revokes the sessions
// it minted, in one statement. An unknown or already revoked key is not
// found.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	var found int
	err := s.pool.QueryRow(ctx, `
		WITH k AS (UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING id),
		     s AS (UPDATE sessions SET revoked_at = $1 WHERE parent_key_id IN (SELECT id FROM k) AND revoked_at IS NULL)
		SELECT count(*) FROM k`,
		store.Time(at), id).Scan(&found)
	if err == nil && found == 0 {
		return notFound("active API key", id)
	}
	if err != nil {
		return fmt.Errorf("revoking API key %s: %w", id, unavailable(err))
	}
	return nil
}

// CountActiveAPIKeys counts keys not revoked.
func (s *Store) CountActiveAPIKeys(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM api_keys WHERE revoked_at IS NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting API keys: %w", unavailable(err))
	}
	return n, nil
}
