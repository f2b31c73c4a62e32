package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/switchboardhq/switchboard/hub/store"
)

// Activity implements store.Activity.
func (s *Store) Activity(ctx context.Context, sc store.Scope, since time.Time) ([]store.MinuteActivity, error) {
	counts := store.MinuteCounts{}
	w := newWhere()
	store.ActivityWhere(w, sc, since, "consumer_id")
	rows, err := s.pool.Query(ctx, `SELECT floor(extract(epoch FROM created_at) / 60)::bigint, count(*) FROM events`+w.Clause()+` GROUP BY 1`, w.Args()...)
	if err != nil {
		return nil, fmt.Errorf("counting recent events: %w", unavailable(err))
	}
	for rows.Next() {
		var minute, n int64
		if err := rows.Scan(&minute, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("counting recent events: %w", err)
		}
		counts.At(minute).Events = int(n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("counting recent events: %w", unavailable(err))
	}
	w = newWhere()
	store.ActivityWhere(w, sc, since, "consumer_id", "subscription_consumer_id")
	rows, err = s.pool.Query(ctx, `SELECT floor(extract(epoch FROM timestamp) / 60)::bigint, count(*), count(*) FILTER (WHERE NOT success) FROM attempts`+w.Clause()+` GROUP BY 1`, w.Args()...)
	if err != nil {
		return nil, fmt.Errorf("counting recent tries: %w", unavailable(err))
	}
	defer rows.Close()
	for rows.Next() {
		var minute, n, failed int64
		if err := rows.Scan(&minute, &n, &failed); err != nil {
			return nil, fmt.Errorf("counting recent tries: %w", err)
		}
		a := counts.At(minute)
		a.Deliveries, a.Failures = int(n), int(failed)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("counting recent tries: %w", unavailable(err))
	}
	return counts.Sorted(), nil
}
