package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// metaKeyFingerprint names the master key fingerprint in hub_meta.
const metaKeyFingerprint = "master_key_fingerprint"

// MasterKeyFingerprint returns the recorded fingerprint, nil if none.
func (s *Store) MasterKeyFingerprint(ctx context.Context) ([]byte, error) {
	var fp []byte
	err := s.pool.QueryRow(ctx, `SELECT value FROM hub_meta WHERE name = $1`, metaKeyFingerprint).Scan(&fp)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading master key fingerprint: %w", unavailable(err))
	}
	return fp, nil
}

// ClaimMasterKeyFingerprint records fp unless a fingerprint is recorded,
// and returns the recorded one. Nodes starting at once race on the primary
// key; the loser's insert does nothing and it reads the winner's value.
func (s *Store) ClaimMasterKeyFingerprint(ctx context.Context, fp []byte) ([]byte, error) {
	if len(fp) == 0 {
		return nil, errors.New("claiming master key fingerprint: empty fingerprint")
	}
	var stored []byte
	err := s.pool.QueryRow(ctx, `WITH ins AS (
			INSERT INTO hub_meta (name, value) VALUES ($1, $2)
			ON CONFLICT (name) DO NOTHING RETURNING value)
		SELECT value FROM ins UNION ALL SELECT value FROM hub_meta WHERE name = $1
		LIMIT 1`, metaKeyFingerprint, fp).Scan(&stored)
	if errors.Is(err, pgx.ErrNoRows) {
		// Another node's insert committed after this statement's snapshot
		// was taken: the conflict hid it from both halves. It is visible
		// to the next statement.
		return s.MasterKeyFingerprint(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("claiming master key fingerprint: %w", unavailable(err))
	}
	return stored, nil
}
