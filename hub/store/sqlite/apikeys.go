package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/switchboardhq/switchboard/hub/store"
)

const apiKeyColumns = `id, name, hash, scopes, created_at, revoked_at, consumer_id`

func scanAPIKey(row scanner) (*store.APIKey, error) {
	var (
		k       store.APIKey
		scopes  string
		created int64
		revoked sql.NullInt64
	)
	if err := row.Scan(&k.ID, &k.Name, &k.Hash, &scopes, &created, &revoked, &k.ConsumerID); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(scopes), &k.Scopes); err != nil {
		return nil, fmt.Errorf("reading scopes of API key %s: %w", k.ID, err)
	}
	if len(k.Scopes) == 0 {
		k.Scopes = nil
	}
	k.CreatedAt = fromMicros(created)
	k.RevokedAt = fromNullMicros(revoked)
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
	scopes, err := jsonList(k.Scopes)
	if err != nil {
		return fmt.Errorf("encoding scopes of API key %s: %w", k.ID, err)
	}
	_, err = s.writer.ExecContext(ctx, `INSERT INTO api_keys (`+apiKeyColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.Name, k.Hash, scopes, micros(k.CreatedAt), nullMicros(k.RevokedAt), k.ConsumerID)
	if err != nil {
		return fmt.Errorf("inserting API key %s: %w", k.ID, unavailable(err))
	}
	return nil
}

// GetAPIKey loads one key.
func (s *Store) GetAPIKey(ctx context.Context, id string) (*store.APIKey, error) {
	k, err := scanAPIKey(s.reader.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("API key", id)
	}
	if err != nil {
		return nil, fmt.Errorf("loading API key %s: %w", id, err)
	}
	return k, nil
}

// ListAPIKeys lists every key, revoked ones included, newest first. There are
// few keys, and authentication compares against all active ones.
func (s *Store) ListAPIKeys(ctx context.Context) ([]*store.APIKey, error) {
	out, err := queryAll(ctx, s.reader, scanAPIKey, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY id DESC`)
	if err != nil {
		return nil, fmt.Errorf("listing API keys: %w", err)
	}
	return out, nil
}

// RevokeAPIKey marks an active key revoked at at and revokes the sessions
// it minted. An unknown or already revoked key is not found.
func (s *Store) RevokeAPIKey(ctx context.Context, id string, at time.Time) error {
	when := micros(store.Time(at))
	return s.write(ctx, func(ctx context.Context, w *writeTx) error {
		var found int
		err := w.QueryRowContext(ctx, `
			UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING 1`,
			when, id).Scan(&found)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("active API key", id)
		}
		if err != nil {
			return fmt.Errorf("revoking API key %s: %w", id, err)
		}
		if _, err := w.ExecContext(ctx, `UPDATE sessions SET revoked_at = ? WHERE parent_key_id = ? AND revoked_at IS NULL`,
			when, id); err != nil {
			return fmt.Errorf("revoking the sessions of API key %s: %w", id, err)
		}
		return nil
	})
}

// CountActiveAPIKeys counts keys not revoked.
func (s *Store) CountActiveAPIKeys(ctx context.Context) (int, error) {
	var n int
	if err := s.reader.QueryRowContext(ctx, `SELECT count(*) FROM api_keys WHERE revoked_at IS NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting API keys: %w", err)
	}
	return n, nil
}

// jsonList encodes a list as a JSON array; nil becomes [] so the column is
// never NULL.
func jsonList[T any](list []T) (string, error) {
	if len(list) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(list)
	return string(b), err
}
