package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/switchboardhq/switchboard/hub/store"
)

const connectionColumns = `id, consumer_id, service_id, status, settings, credentials_sealed,
	token_hash, registrations, created_at, updated_at, token_sealed`

// sealedConnection is a connection row before its credentials are opened, so
// decryption happens after the rows are closed and the read connection is
// back in the pool.
type sealedConnection struct {
	store.Connection
	credentials []byte
	token       []byte
}

func scanConnection(row scanner) (*sealedConnection, error) {
	var (
		c                sealedConnection
		settings         string
		registrations    sql.NullString
		created, updated int64
	)
	err := row.Scan(&c.ID, &c.ConsumerID, &c.ServiceID, &c.Status, &settings, &c.credentials,
		&c.TokenHash, &registrations, &created, &updated, &c.token)
	if err != nil {
		return nil, err
	}
	c.Settings = json.RawMessage(settings)
	if registrations.Valid {
		c.Registrations = json.RawMessage(registrations.String)
	}
	c.CreatedAt = fromMicros(created)
	c.UpdatedAt = fromMicros(updated)
	return &c, nil
}

// openConnection decrypts the token and credentials into the embedded
// Connection.
func (s *Store) openConnection(c *sealedConnection) (*store.Connection, error) {
	if err := store.OpenConnection(s.sealer, &c.Connection, c.token, c.credentials); err != nil {
		return nil, err
	}
	return &c.Connection, nil
}

// CreateConnection stores c, filling ID, CreatedAt and UpdatedAt, and empty
// Settings with {}. A consumer, a service and a token hash are required: an
// empty consumer would make the connection visible to every caller that
// forgot to pass one. A token hash already in use fails.
func (s *Store) CreateConnection(ctx context.Context, sc store.Scope, c *store.Connection) error {
	if err := store.CheckScope(sc, "creating a connection", c.ConsumerID); err != nil {
		return err
	}
	switch {
	case c.ConsumerID == "":
		return errors.New("creating connection: no consumer id")
	case c.ServiceID == "":
		return errors.New("creating connection: no service id")
	case len(c.TokenHash) == 0:
		return errors.New("creating connection: no token hash")
	}
	if c.ID == "" {
		c.ID = store.NewID()
	}
	if c.CreatedAt.IsZero() {
		c.CreatedAt = store.Now()
	}
	c.CreatedAt = store.Time(c.CreatedAt)
	c.UpdatedAt = c.CreatedAt
	settings, credentials, registrations, err := store.ConnectionColumns(s.sealer, c)
	if err != nil {
		return err
	}
	token, err := store.SealString(s.sealer, c.Token)
	if err != nil {
		return fmt.Errorf("sealing inbound token of connection %s: %w", c.ID, err)
	}
	defer s.tokens.invalidate()
	return s.write(ctx, func(ctx context.Context, w *writeTx) error {
		_, err := w.ExecContext(ctx, `INSERT INTO connections (`+connectionColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.ConsumerID, c.ServiceID, c.Status, settings, credentials,
			c.TokenHash, registrations, micros(c.CreatedAt), micros(c.UpdatedAt), token)
		if err != nil {
			return fmt.Errorf("inserting connection %s: %w", c.ID, err)
		}
		return nil
	})
}

// GetConnection loads a connection in sc with its credentials opened;
// another consumer's connection is not found.
func (s *Store) GetConnection(ctx context.Context, sc store.Scope, id string) (*store.Connection, error) {
	w := byID(id, "consumer_id", sc)
	sealed, err := scanConnection(s.reader.QueryRowContext(ctx, `SELECT `+connectionColumns+` FROM connections`+w.Clause(), w.Args()...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("connection", id)
	}
	if err != nil {
		return nil, fmt.Errorf("loading connection %s: %w", id, err)
	}
	return s.openConnection(sealed)
}

// ConnectionByToken finds the connection an inbound request is for. The
// service id must match too, so a token is only good on its own service's
// URL.
func (s *Store) ConnectionByToken(ctx context.Context, serviceID string, tokenHash []byte) (*store.Connection, error) {
	if len(tokenHash) == 0 {
		return nil, notFound("connection of service", serviceID)
	}
	key := serviceID + "\x00" + string(tokenHash)
	if cached, ok := s.tokens.get(key); ok {
		c := *cached // openConnection fills in the copy
		return s.openConnection(&c)
	}
	gen := s.tokens.generation()
	sealed, err := scanConnection(s.reader.QueryRowContext(ctx,
		`SELECT `+connectionColumns+` FROM connections WHERE token_hash = ? AND service_id = ?`, tokenHash, serviceID))
	if err == nil {
		c := *sealed
		s.tokens.put(key, gen, &c)
	}
	if errors.Is(err, sql.ErrNoRows) {
		// The token is a credential: it stays out of the error.
		return nil, notFound("connection of service", serviceID)
	}
	if err != nil {
		return nil, fmt.Errorf("looking up connection of service %s by token: %w", serviceID, err)
	}
	return s.openConnection(sealed)
}

// ListConnections lists the connections in sc newest first.
func (s *Store) ListConnections(ctx context.Context, sc store.Scope, p store.Page) ([]*store.Connection, error) {
	w := newWhere()
	w.Scope("consumer_id", sc)
	query, args, reverse := w.Page(`SELECT `+connectionColumns+` FROM connections`, p)
	sealed, err := queryAll(ctx, s.reader, scanConnection, query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing connections of %s: %w", sc, err)
	}
	out := make([]*store.Connection, 0, len(sealed))
	for _, c := range sealed {
		opened, err := s.openConnection(c)
		if err != nil {
			return nil, err
		}
		out = append(out, opened)
	}
	return store.Ordered(out, reverse), nil
}

// UpdateConnection writes c's status, settings, credentials, registrations
// and inbound token, sets c.UpdatedAt and gives c the stored CreatedAt,
// consumer and service, which never change.
func (s *Store) UpdateConnection(ctx context.Context, sc store.Scope, c *store.Connection) error {
	if len(c.TokenHash) == 0 {
		return fmt.Errorf("updating connection %s: no token hash", c.ID)
	}
	c.UpdatedAt = store.Now()
	settings, credentials, registrations, err := store.ConnectionColumns(s.sealer, c)
	if err != nil {
		return err
	}
	token, err := store.SealString(s.sealer, c.Token)
	if err != nil {
		return fmt.Errorf("sealing inbound token of connection %s: %w", c.ID, err)
	}
	scope := newWhere()
	scope.Scope("consumer_id", sc)
	defer s.tokens.invalidate()
	return s.write(ctx, func(ctx context.Context, w *writeTx) error {
		var created int64
		err := w.QueryRowContext(ctx, `UPDATE connections SET
			status = ?, settings = ?, credentials_sealed = ?, registrations = ?, updated_at = ?,
			token_hash = ?, token_sealed = ?
			WHERE id = ?`+scope.And()+`
			RETURNING created_at, consumer_id, service_id`,
			append([]any{c.Status, settings, credentials, registrations, micros(c.UpdatedAt), c.TokenHash, token, c.ID},
				scope.Args()...)...,
		).Scan(&created, &c.ConsumerID, &c.ServiceID)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("connection", c.ID)
		}
		if err != nil {
			return fmt.Errorf("updating connection %s: %w", c.ID, err)
		}
		c.CreatedAt = fromMicros(created)
		return nil
	})
}

// DeleteConnection removes a connection in sc; its inbound token stops
// working at once. Events it produced stay.
func (s *Store) DeleteConnection(ctx context.Context, sc store.Scope, id string) error {
	where := byID(id, "consumer_id", sc)
	defer s.tokens.invalidate()
	return s.write(ctx, func(ctx context.Context, w *writeTx) error {
		res, err := w.ExecContext(ctx, `DELETE FROM connections`+where.Clause(), where.Args()...)
		if err != nil {
			return fmt.Errorf("deleting connection %s: %w", id, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("deleting connection %s: %w", id, err)
		} else if n == 0 {
			return notFound("connection", id)
		}
		return nil
	})
}

// maxCachedConnections bounds the token cache; past it the cache starts over.
const maxCachedConnections = 10000

// tokenCache holds sealed connection rows by service and token hash (found
// rows only: unknown tokens always cost a query, so they cannot fill it).
// Every connection write invalidates all of it, after its commit; a lookup
// that raced a write does not store what it read (the generation moved).
// A nil *tokenCache caches nothing.
type tokenCache struct {
	mu   sync.Mutex
	gen  uint64
	max  int
	rows map[string]*sealedConnection
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, rows: make(map[string]*sealedConnection)}
}

func (c *tokenCache) get(key string) (*sealedConnection, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	row, ok := c.rows[key]
	return row, ok
}

// generation is read before a lookup's query and handed to put.
func (c *tokenCache) generation() uint64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *tokenCache) put(key string, gen uint64, row *sealedConnection) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return // a write committed since the query began
	}
	if len(c.rows) >= c.max {
		clear(c.rows)
	}
	c.rows[key] = row
}

func (c *tokenCache) invalidate() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.rows)
}
