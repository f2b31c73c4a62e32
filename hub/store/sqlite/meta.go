package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/switchboardhq/switchboard/hub/store"
)

// metaKeyFingerprint names the master key fingerprint in hub_meta.
const metaKeyFingerprint = "master_key_fingerprint"

// MasterKeyFingerprint returns the recorded fingerprint, nil if none.
func (s *Store) MasterKeyFingerprint(ctx context.Context) ([]byte, error) {
	var fp []byte
	err := s.reader.QueryRowContext(ctx, `SELECT value FROM hub_meta WHERE name = ?`, metaKeyFingerprint).Scan(&fp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading master key fingerprint: %w", unavailable(err))
	}
	return fp, nil
}

// ClaimMasterKeyFingerprint records fp unless a fingerprint is recorded,
// and returns the recorded one.
func (s *Store) ClaimMasterKeyFingerprint(ctx context.Context, fp []byte) ([]byte, error) {
	if len(fp) == 0 {
		return nil, errors.New("claiming master key fingerprint: empty fingerprint")
	}
	var stored []byte
	err := s.write(ctx, func(ctx context.Context, w *writeTx) error {
		if _, err := w.ExecContext(ctx, `INSERT INTO hub_meta (name, value, created_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO NOTHING`, metaKeyFingerprint, fp, micros(store.Now())); err != nil {
			return err
		}
		return w.QueryRowContext(ctx, `SELECT value FROM hub_meta WHERE name = ?`, metaKeyFingerprint).Scan(&stored)
	})
	if err != nil {
		return nil, fmt.Errorf("claiming master key fingerprint: %w", unavailable(err))
	}
	return stored, nil
}
