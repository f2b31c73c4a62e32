package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboardhq/switchboard/hub/store"
)

const sessionColumns = `id, hash, consumer_id, scopes, parent_key_id, parent_hash, metadata,
	created_at, expires_at, revoked_at`

func scanSession(row scanner) (*store.Session, error) {
	var ss store.Session
	err := row.Scan(&ss.ID, &ss.Hash, &ss.ConsumerID, &ss.Scopes, &ss.ParentKeyID, &ss.ParentHash, &ss.Metadata,
		&ss.CreatedAt, &ss.ExpiresAt, &ss.RevokedAt)
	if err != nil {
		return nil, err
	}
	ss.CreatedAt = utc(ss.CreatedAt)
	ss.ExpiresAt = utc(ss.ExpiresAt)
	ss.RevokedAt = utcOrNil(ss.RevokedAt)
	return &ss, nil
}

// CreateSession stores ss, filling CreatedAt when empty.
func (s *Store) CreateSession(ctx context.Context, sc store.Scope, ss *store.Session) error {
	if err := store.CheckScope(sc, "creating a session", ss.ConsumerID); err != nil {
		return err
	}
	if err := store.PrepareSession(ss); err != nil {
		return err
	}
	scopes := ss.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		ss.ID, ss.Hash, ss.ConsumerID, scopes, ss.ParentKeyID, ss.ParentHash, string(ss.Metadata),
		ss.CreatedAt, ss.ExpiresAt, ss.RevokedAt)
	if err != nil {
		return fmt.Errorf("inserting session %s: %w", ss.ID, unavailable(err))
	}
	return nil
}

// GetSession loads one session, revoked and expired ones included: the
// caller decides.
func (s *Store) GetSession(ctx context.Context, id string) (*store.Session, error) {
	ss, err := scanSession(s.pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("session", id)
	}
	if err != nil {
		return nil, fmt.Errorf("loading session %s: %w", id, unavailable(err))
	}
	return ss, nil
}

// ListSessions lists the active sessions in sc newest first.
func (s *Store) ListSessions(ctx context.Context, sc store.Scope, now time.Time, p store.Page) ([]*store.Session, error) {
	w := newWhere()
	w.Scope("consumer_id", sc)
	w.Cond("revoked_at IS NULL")
	w.Add("expires_at", ">", now)
	query, args, reverse := w.Page(`SELECT `+sessionColumns+` FROM sessions`, p)
	out, err := queryAll(ctx, s.pool, scanSession, query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing sessions of %s: %w", sc, unavailable(err))
	}
	return store.Ordered(out, reverse), nil
}

// RevokeSession ends an active session in sc.
func (s *Store) RevokeSession(ctx context.Context, sc store.Scope, id string, at time.Time) error {
	where := newWhereAfter(1)
	where.Add("id", "=", id)
	where.Scope("consumer_id", sc)
	where.Cond("revoked_at IS NULL")
	where.Add("expires_at", ">", at)
	tag, err := s.pool.Exec(ctx, `UPDATE sessions SET revoked_at = $1`+where.Clause(),
		append([]any{store.Time(at)}, where.Args()...)...)
	if err != nil {
		return fmt.Errorf("revoking session %s: %w", id, unavailable(err))
	}
	if tag.RowsAffected() == 0 {
		return notFound("active session", id)
	}
	return nil
}
