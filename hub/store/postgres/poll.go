package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/switchboardhq/switchboard/hub/job"
	"github.com/switchboardhq/switchboard/hub/store"
)

const pollColumns = `p.connection_id, p.consumer_id, p.cursor, p.cursor_at, p.last_polled_at, p.last_error,
	p.failures, p.not_before, p.lease_token, p.lease_until`

func scanPollState(row scanner) (*store.PollState, error) {
	var st store.PollState
	if err := row.Scan(&st.ConnectionID, &st.ConsumerID, &st.Cursor, &st.CursorAt, &st.LastPolledAt, &st.LastError,
		&st.Failures, &st.NotBefore, &st.Lease, &st.LeaseUntil); err != nil {
		return nil, err
	}
	for _, t := range []*time.Time{st.CursorAt, st.LastPolledAt, st.NotBefore, st.LeaseUntil} {
		if t != nil {
			*t = t.UTC()
		}
	}
	return &st, nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// GetPollState returns the poll state of a connection in sc.
func (s *Store) GetPollState(ctx context.Context, sc store.Scope, id string) (*store.PollState, error) {
	w := byID(id, "consumer_id", sc)
	var consumer string
	err := s.pool.QueryRow(ctx, `SELECT consumer_id FROM connections`+w.Clause(), w.Args()...).Scan(&consumer)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("connection", id)
	}
	if err != nil {
		return nil, fmt.Errorf("loading connection %s: %w", id, unavailable(err))
	}
	st, err := scanPollState(s.pool.QueryRow(ctx, `SELECT `+pollColumns+` FROM connection_polls p WHERE p.connection_id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return &store.PollState{ConnectionID: id, ConsumerID: consumer}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading poll state of connection %s: %w", id, unavailable(err))
	}
	return st, nil
}

// ClaimPoll takes the poll lease of a connection. Nodes claiming at once
// serialise on the row: the second sees the first's lease and is busy.
func (s *Store) ClaimPoll(ctx context.Context, id string, now, until time.Time) (*store.PollState, error) {
	var st *store.PollState
	err := s.write(ctx, func(ctx context.Context, w *writeTx) error {
		st = nil
		if _, err := w.Exec(ctx, `INSERT INTO connection_polls (connection_id, consumer_id)
			SELECT id, consumer_id FROM connections WHERE id = $1 ON CONFLICT (connection_id) DO NOTHING`, id); err != nil {
			return fmt.Errorf("creating poll state of connection %s: %w", id, err)
		}
		got, err := scanPollState(w.QueryRow(ctx, `UPDATE connection_polls p SET lease_token = p.lease_token + 1, lease_until = $2
			WHERE p.connection_id = $1 AND (p.lease_until IS NULL OR p.lease_until < $3)
			AND EXISTS (SELECT 1 FROM connections WHERE id = $1)
			RETURNING `+pollColumns, id, until, now))
		if errors.Is(err, pgx.ErrNoRows) {
			var one int
			if err := w.QueryRow(ctx, `SELECT 1 FROM connections WHERE id = $1`, id).Scan(&one); errors.Is(err, pgx.ErrNoRows) {
				return notFound("connection", id)
			}
			return fmt.Errorf("claiming poll of connection %s: %w", id, store.ErrPollBusy)
		}
		if err != nil {
			return fmt.Errorf("claiming poll of connection %s: %w", id, err)
		}
		st = got
		return nil
	})
	if err != nil {
		return nil, err
	}
	return st, nil
}

// CommitPoll stores a poll's events and its cursor in one transaction.
func (s *Store) CommitPoll(ctx context.Context, sc store.Scope, c *store.PollCommit) ([]*store.PublishResult, error) {
	for _, ev := range c.Events {
		if err := store.CheckScope(sc, "storing a poll's events", ev.ConsumerID); err != nil {
			return nil, err
		}
		if ev.ConnectionID != c.ConnectionID {
			return nil, fmt.Errorf("storing a poll of connection %s: event %s is of connection %s", c.ConnectionID, ev.ID, ev.ConnectionID)
		}
		if err := prepareEvent(ev); err != nil {
			return nil, err
		}
		if len(ev.Entity) > 0 && !json.Valid(ev.Entity) {
			return nil, fmt.Errorf("storing a poll's event %s: entity is not valid JSON", ev.ID)
		}
	}
	if len(c.Events) > 0 {
		if _, err := s.queue(); err != nil {
			return nil, err
		}
	}
	at := store.Time(c.At)
	if at.IsZero() {
		at = store.Now()
	}
	var reqs []*publishReq
	err := s.write(ctx, func(ctx context.Context, w *writeTx) error {
		// The fence first: it also locks the row, so a claim by another
		// node waits for this commit.
		tag, err := w.Exec(ctx, `UPDATE connection_polls SET
			cursor = CASE WHEN $1 = '' THEN cursor ELSE $1 END,
			cursor_at = $2, last_polled_at = $2, last_error = '', failures = 0, not_before = $3, lease_until = NULL
			WHERE connection_id = $4 AND lease_token = $5 AND lease_until IS NOT NULL`,
			c.Cursor, at, nullTime(c.NotBefore), c.ConnectionID, c.Lease)
		if err != nil {
			return fmt.Errorf("advancing cursor of connection %s: %w", c.ConnectionID, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("storing a poll of connection %s: %w", c.ConnectionID, store.ErrPollLeaseLost)
		}
		reqs = make([]*publishReq, len(c.Events))
		for i, ev := range c.Events {
			reqs[i] = &publishReq{ev: ev}
		}
		if len(reqs) == 0 {
			return nil
		}
		return publishAll(ctx, w, reqs)
	})
	if err != nil {
		return nil, err
	}
	results := make([]*store.PublishResult, len(reqs))
	for i, r := range reqs {
		res, err := store.PollDuplicate(r.res, r.err)
		if err != nil {
			return nil, err
		}
		results[i] = res
	}
	return results, nil
}

// FailPoll records a failed poll and releases its lease.
func (s *Store) FailPoll(ctx context.Context, id string, lease int64, message string, notBefore, at time.Time) error {
	return s.write(ctx, func(ctx context.Context, w *writeTx) error {
		_, err := w.Exec(ctx, `UPDATE connection_polls SET last_error = $1, failures = failures + 1,
			last_polled_at = $2, not_before = $3,
			lease_until = CASE WHEN lease_token = $4 THEN NULL ELSE lease_until END
			WHERE connection_id = $5`, message, store.Time(at), nullTime(notBefore), lease, id)
		if err != nil {
			return fmt.Errorf("recording failed poll of connection %s: %w", id, err)
		}
		return nil
	})
}

// PollableConnections lists the active connections of the given services.
func (s *Store) PollableConnections(ctx context.Context, serviceIDs []string) ([]store.PollRef, error) {
	if len(serviceIDs) == 0 {
		return nil, nil
	}
	refs, err := queryAll(ctx, s.pool, func(row scanner) (store.PollRef, error) {
		var r store.PollRef
		err := row.Scan(&r.ConnectionID, &r.ConsumerID, &r.ServiceID)
		return r, err
	}, `SELECT id, consumer_id, service_id FROM connections WHERE status = 'active' AND service_id = ANY($1) ORDER BY id`, serviceIDs)
	if err != nil {
		return nil, fmt.Errorf("listing pollable connections: %w", unavailable(err))
	}
	return refs, nil
}

// QueuePolls inserts the unique poll jobs of refs.
func (s *Store) QueuePolls(ctx context.Context, refs []store.PollRef) error {
	if len(refs) == 0 {
		return nil
	}
	client, err := s.queue()
	if err != nil {
		return err
	}
	// InsertMany, not the COPY of InsertManyFast the other writes use:
	// only it skips a job whose unique key is taken.
	params := make([]river.InsertManyParams, len(refs))
	for i, r := range refs {
		params[i] = river.InsertManyParams{Args: job.Poll{ConnectionID: r.ConnectionID, ConsumerID: r.ConsumerID}, InsertOpts: store.PollInsertOpts()}
	}
	if _, err := client.InsertMany(ctx, params); err != nil {
		return fmt.Errorf("queueing %d poll jobs: %w", len(refs), unavailable(err))
	}
	return nil
}
