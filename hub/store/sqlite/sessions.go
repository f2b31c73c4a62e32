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

const sessionColumns = `id, hash, consumer_id, scopes, parent_key_id, parent_hash, metadata,
	created_at, expires_at, revoked_at`

func scanSession(row scanner) (*store.Session, error) {
	var (
		ss               store.Session
		scopes, metadata string
		created, expires int64
		revoked          sql.NullInt64
	)
	err := row.Scan(&ss.ID, &ss.Hash, &ss.ConsumerID, &scopes, &ss.ParentKeyID, &ss.ParentHash, &metadata,
		&created, &expires, &revoked)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(scopes), &ss.Scopes); err != nil {
		return nil, fmt.Errorf("reading scopes of session %s: %w", ss.ID, err)
	}
	ss.Metadata = json.RawMessage(metadata)
	ss.CreatedAt = fromMicros(created)
	ss.ExpiresAt = fromMicros(expires)
	ss.RevokedAt = fromNullMicros(revoked)
	return &ss, nil
}

// CreateSession stores ss, filling ID and CreatedAt when empty.
func (s *Store) CreateSession(ctx context.Context, sc store.Scope, ss *store.Session) error {
	if err := store.CheckScope(sc, "creating a session", ss.ConsumerID); err != nil {
		return err
	}
	if err := store.PrepareSession(ss); err != nil {
		return err
	}
	scopes, err := jsonList(ss.Scopes)
	if err != nil {
		return fmt.Errorf("encoding scopes of session %s: %w", ss.ID, err)
	}
	return s.write(ctx, func(ctx context.Context, w *writeTx) error {
		_, err := w.ExecContext(ctx, `INSERT INTO sessions (`+sessionColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			ss.ID, ss.Hash, ss.ConsumerID, scopes, ss.ParentKeyID, ss.ParentHash, string(ss.Metadata),
			micros(ss.CreatedAt), micros(ss.ExpiresAt), nullMicros(ss.RevokedAt))
		if err != nil {
			return fmt.Errorf("inserting session %s: %w", ss.ID, err)
		}
		return nil
	})
}

// GetSession loads one session, revoked and expired ones included: the
// caller decides.
func (s *Store) GetSession(ctx context.Context, id string) (*store.Session, error) {
	ss, err := scanSession(s.reader.QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("session", id)
	}
	if err != nil {
		return nil, fmt.Errorf("loading session %s: %w", id, err)
	}
	return ss, nil
}

// ListSessions lists the active sessions in sc newest first.
func (s *Store) ListSessions(ctx context.Context, sc store.Scope, now time.Time, p store.Page) ([]*store.Session, error) {
	w := newWhere()
	w.Scope("consumer_id", sc)
	w.Cond("revoked_at IS NULL")
	w.Add("expires_at", ">", micros(now))
	query, args, reverse := w.Page(`SELECT `+sessionColumns+` FROM sessions`, p)
	out, err := queryAll(ctx, s.reader, scanSession, query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing sessions of %s: %w", sc, err)
	}
	return store.Ordered(out, reverse), nil
}

// RevokeSession ends an active session in sc.
func (s *Store) RevokeSession(ctx context.Context, sc store.Scope, id string, at time.Time) error {
	where := byID(id, "consumer_id", sc)
	where.Cond("revoked_at IS NULL")
	where.Add("expires_at", ">", micros(at))
	return s.write(ctx, func(ctx context.Context, w *writeTx) error {
		res, err := w.ExecContext(ctx, `UPDATE sessions SET revoked_at = ?`+where.Clause(),
			append([]any{micros(store.Time(at))}, where.Args()...)...)
		if err != nil {
			return fmt.Errorf("revoking session %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("revoking session %s: %w", id, err)
		} else if n == 0 {
			return notFound("active session", id)
		}
		return nil
	})
}
