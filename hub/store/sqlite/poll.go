package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboardhq/switchboard/hub/job"
	"github.com/switchboardhq/switchboard/hub/store"
)

const pollColumns = `p.connection_id, p.consumer_id, p.cursor, p.cursor_at, p.last_polled_at, p.last_error,
	p.failures, p.not_before, p.lease_token, p.lease_until`

func scanPollState(row scanner) (*store.PollState, error) {
	var (
		st                                      store.PollState
		cursorAt, polled, notBefore, leaseUntil sql.NullInt64
	)
	if err := row.Scan(&st.ConnectionID, &st.ConsumerID, &st.Cursor, &cursorAt, &polled, &st.LastError,
		&st.Failures, &notBefore, &st.Lease, &leaseUntil); err != nil {
		return nil, err
	}
	st.CursorAt, st.LastPolledAt = fromNullMicros(cursorAt), fromNullMicros(polled)
	st.NotBefore, st.LeaseUntil = fromNullMicros(notBefore), fromNullMicros(leaseUntil)
	return &st, nil
}

// GetPollState returns the poll state of a connection in sc.
func (s *Store) GetPollState(ctx context.Context, sc store.Scope, id string) (*store.PollState, error) {
	w := byID(id, "consumer_id", sc)
	var consumer string
	err := s.reader.QueryRowContext(ctx, `SELECT consumer_id FROM connections`+w.Clause(), w.Args()...).Scan(&consumer)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("connection", id)
	}
	if err != nil {
		return nil, fmt.Errorf("loading connection %s: %w", id, err)
	}
	st, err := scanPollState(s.reader.QueryRowContext(ctx, `SELECT `+pollColumns+` FROM connection_polls p WHERE p.connection_id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return &store.PollState{ConnectionID: id, ConsumerID: consumer}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading poll state of connection %s: %w", id, err)
	}
	return st, nil
}

// ClaimPoll takes the poll lease of a connection.
func (s *Store) ClaimPoll(ctx context.Context, id string, now, until time.Time) (*store.PollState, error) {
	var st *store.PollState
	err := s.write(ctx, func(ctx context.Context, w *writeTx) error {
		st = nil
		if _, err := w.ExecContext(ctx, `INSERT INTO connection_polls (connection_id, consumer_id)
			SELECT id, consumer_id FROM connections WHERE id = ? ON CONFLICT (connection_id) DO NOTHING`, id); err != nil {
			return fmt.Errorf("creating poll state of connection %s: %w", id, err)
		}
		res, err := w.ExecContext(ctx, `UPDATE connection_polls SET lease_token = lease_token + 1, lease_until = ?
			WHERE connection_id = ? AND (lease_until IS NULL OR lease_until < ?)
			AND EXISTS (SELECT 1 FROM connections WHERE id = ?)`, micros(until), id, micros(now), id)
		if err != nil {
			return fmt.Errorf("claiming poll of connection %s: %w", id, err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		got, err := scanPollState(w.QueryRowContext(ctx, `SELECT `+pollColumns+` FROM connection_polls p
			JOIN connections c ON c.id = p.connection_id WHERE p.connection_id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("connection", id)
		}
		if err != nil {
			return fmt.Errorf("loading poll state of connection %s: %w", id, err)
		}
		if n == 0 {
			return fmt.Errorf("claiming poll of connection %s: %w", id, store.ErrPollBusy)
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
		if ev.ID == "" {
			ev.ID = store.NewID()
		}
		if ev.CreatedAt.IsZero() {
			ev.CreatedAt = store.Now()
		}
		ev.CreatedAt, ev.OccurredAt = store.Time(ev.CreatedAt), store.Time(ev.OccurredAt)
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
	var results []*store.PublishResult
	err := s.write(ctx, func(ctx context.Context, w *writeTx) error {
		results = make([]*store.PublishResult, 0, len(c.Events))
		var notBefore any
		if !c.NotBefore.IsZero() {
			notBefore = micros(c.NotBefore)
		}
		// The fence first: a poll whose lease was taken stores nothing.
		res, err := w.ExecContext(ctx, `UPDATE connection_polls SET
			cursor = CASE WHEN ? = '' THEN cursor ELSE ? END,
			cursor_at = ?, last_polled_at = ?, last_error = '', failures = 0, not_before = ?, lease_until = NULL
			WHERE connection_id = ? AND lease_token = ? AND lease_until IS NOT NULL`,
			c.Cursor, c.Cursor, micros(at), micros(at), notBefore, c.ConnectionID, c.Lease)
		if err != nil {
			return fmt.Errorf("advancing cursor of connection %s: %w", c.ConnectionID, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return fmt.Errorf("storing a poll of connection %s: %w", c.ConnectionID, store.ErrPollLeaseLost)
		}
		now := store.Now()
		for _, ev := range c.Events {
			r, _, _, err := publishTx(ctx, w, ev, eventArgs(ev), now, false)
			if r, err = store.PollDuplicate(r, err); err != nil {
				return err
			}
			results = append(results, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return results, nil
}

// FailPoll records a failed poll and releases its lease.
func (s *Store) FailPoll(ctx context.Context, id string, lease int64, message string, notBefore, at time.Time) error {
	var nb any
	if !notBefore.IsZero() {
		nb = micros(notBefore)
	}
	return s.write(ctx, func(ctx context.Context, w *writeTx) error {
		_, err := w.ExecContext(ctx, `UPDATE connection_polls SET last_error = ?, failures = failures + 1,
			last_polled_at = ?, not_before = ?,
			lease_until = CASE WHEN lease_token = ? THEN NULL ELSE lease_until END
			WHERE connection_id = ?`, message, micros(at), nb, lease, id)
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
	args := make([]any, len(serviceIDs))
	for i, id := range serviceIDs {
		args[i] = id
	}
	return queryAll(ctx, s.reader, func(row scanner) (store.PollRef, error) {
		var r store.PollRef
		err := row.Scan(&r.ConnectionID, &r.ConsumerID, &r.ServiceID)
		return r, err
	}, `SELECT id, consumer_id, service_id FROM connections WHERE status = 'active' AND service_id IN (?`+
		strings.Repeat(", ?", len(serviceIDs)-1)+`) ORDER BY id`, args...)
}

// QueuePolls inserts the unique poll jobs of refs.
func (s *Store) QueuePolls(ctx context.Context, refs []store.PollRef) error {
	if len(refs) == 0 {
		return nil
	}
	if _, err := s.queue(); err != nil {
		return err
	}
	return s.write(ctx, func(_ context.Context, w *writeTx) error {
		for _, r := range refs {
			w.enqueue(job.Poll{ConnectionID: r.ConnectionID, ConsumerID: r.ConsumerID}, store.PollInsertOpts())
		}
		return nil
	})
}

var _ river.JobArgs = job.Poll{}
