package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/switchboardhq/switchboard/hub/store"
)

const connectionColumns = `id, consumer_id, service_id, status, settings, credentials_sealed,
	token_hash, registrations, created_at, updated_at, token_sealed`

// sealedConnection is a connection row before its credentials are opened, so
// decryption happens after the rows are closed and the connection is back in
// the pool.
type sealedConnection struct {
	store.Connection
	credentials []byte
	token       []byte
}

func scanConnection(row scanner) (*sealedConnection, error) {
	var (
		c             sealedConnection
		settings      []byte
		registrations []byte
	)
	err := row.Scan(&c.ID, &c.ConsumerID, &c.ServiceID, &c.Status, &settings, &c.credentials,
		&c.TokenHash, &registrations, &c.CreatedAt, &c.UpdatedAt, &c.token)
	if err != nil {
		return nil, err
	}
	c.Settings = json.RawMessage(settings)
	if registrations != nil {
		c.Registrations = json.RawMessage(registrations)
	}
	c.CreatedAt = utc(c.CreatedAt)
	c.UpdatedAt = utc(c.UpdatedAt)
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
	_, err = s.pool.Exec(ctx, `INSERT INTO connections (`+connectionColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		c.ID, c.ConsumerID, c.ServiceID, c.Status, settings, credentials,
		c.TokenHash, registrations, c.CreatedAt, c.UpdatedAt, token)
	if err != nil {
		return fmt.Errorf("inserting connection %s: %w", c.ID, unavailable(err))
	}
	return nil
}

// GetConnection loads a connection in sc with its credentials opened;
// another consumer's connection is not found.
func (s *Store) GetConnection(ctx context.Context, sc store.Scope, id string) (*store.Connection, error) {
	w := byID(id, "consumer_id", sc)
	sealed, err := scanConnection(s.pool.QueryRow(ctx, `SELECT `+connectionColumns+` FROM connections`+w.Clause(), w.Args()...))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("connection", id)
	}
	if err != nil {
		return nil, fmt.Errorf("loading connection %s: %w", id, unavailable(err))
	}
	return s.openConnection(sealed)
}

// ConnectionByToken finds the connection an inbound request is for. The
// service id must match too, so a token is only good on its own service's
// URL. Every lookup is a query: unlike the SQLite store, this one keeps no
// cache, since a node could invalidate it only for its own writes and
// another node's update or delete would go unseen.
func (s *Store) ConnectionByToken(ctx context.Context, serviceID string, tokenHash []byte) (*store.Connection, error) {
	if len(tokenHash) == 0 {
		return nil, notFound("connection of service", serviceID)
	}
	sealed, err := scanConnection(s.pool.QueryRow(ctx,
		`SELECT `+connectionColumns+` FROM connections WHERE token_hash = $1 AND service_id = $2`, tokenHash, serviceID))
	if errors.Is(err, pgx.ErrNoRows) {
		// The token is a credential: it stays out of the error.
		return nil, notFound("connection of service", serviceID)
	}
	if err != nil {
		return nil, fmt.Errorf("looking up connection of service %s by token: %w", serviceID, unavailable(err))
	}
	return s.openConnection(sealed)
}

// ListConnections lists the connections in sc newest first.
func (s *Store) ListConnections(ctx context.Context, sc store.Scope, p store.Page) ([]*store.Connection, error) {
	w := newWhere()
	w.Scope("consumer_id", sc)
	query, args, reverse := w.Page(`SELECT `+connectionColumns+` FROM connections`, p)
	sealed, err := queryAll(ctx, s.pool, scanConnection, query, args...)
	if err != nil {
		return nil, fmt.Errorf("listing connections of %s: %w", sc, unavailable(err))
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
	scope := newWhereAfter(8)
	scope.Scope("consumer_id", sc)
	err = s.pool.QueryRow(ctx, `UPDATE connections SET
		status = $1, settings = $2, credentials_sealed = $3, registrations = $4, updated_at = $5,
		token_hash = $6, token_sealed = $7
		WHERE id = $8`+scope.And()+`
		RETURNING created_at, consumer_id, service_id`,
		append([]any{c.Status, settings, credentials, registrations, c.UpdatedAt, c.TokenHash, token, c.ID},
			scope.Args()...)...,
	).Scan(&c.CreatedAt, &c.ConsumerID, &c.ServiceID)
	if errors.Is(err, pgx.ErrNoRows) {
		return notFound("connection", c.ID)
	}
	if err != nil {
		return fmt.Errorf("updating connection %s: %w", c.ID, unavailable(err))
	}
	c.CreatedAt = utc(c.CreatedAt)
	return nil
}

// DeleteConnection removes a connection in sc; its inbound token stops
// working at once. Events it produced stay.
func (s *Store) DeleteConnection(ctx context.Context, sc store.Scope, id string) error {
	where := byID(id, "consumer_id", sc)
	tag, err := s.pool.Exec(ctx, `DELETE FROM connections`+where.Clause(), where.Args()...)
	if err != nil {
		return fmt.Errorf("deleting connection %s: %w", id, unavailable(err))
	}
	if tag.RowsAffected() == 0 {
		return notFound("connection", id)
	}
	return nil
}
