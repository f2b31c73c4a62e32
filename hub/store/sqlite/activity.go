package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/switchboardhq/switchboard/hub/store"
)

// Activity implements store.Activity. Times are Unix microseconds, so a
// minute is created_at / 60e6.
func (s *Store) Activity(ctx context.Context, sc store.Scope, since time.Time) ([]store.MinuteActivity, error) {
	counts := store.MinuteCounts{}
	w := newWhere()
	store.ActivityWhere(w, sc, since, "consumer_id")
	rows, err := s.reader.QueryContext(ctx, `SELECT created_at / 60000000, count(*) FROM events`+w.Clause()+` GROUP BY 1`, w.Args()...)
	if err != nil {
		return nil, fmt.Errorf("counting recent events: %w", err)
	}
	for rows.Next() {
		var minute int64
		var n int
		if err := rows.Scan(&minute, &n); err != nil {
			rows.Close()
			return nil, fmt.Errorf("counting recent events: %w", err)
		}
		counts.At(minute).Events = n
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("counting recent events: %w", err)
	}
	w = newWhere()
	store.ActivityWhere(w, sc, since, "consumer_id", "subscription_consumer_id")
	rows, err = s.reader.QueryContext(ctx, `SELECT timestamp / 60000000, count(*), sum(success = 0) FROM attempts`+w.Clause()+` GROUP BY 1`, w.Args()...)
	if err != nil {
		return nil, fmt.Errorf("counting recent tries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var minute int64
		var n, failed int
		if err := rows.Scan(&minute, &n, &failed); err != nil {
			return nil, fmt.Errorf("counting recent tries: %w", err)
		}
		a := counts.At(minute)
		a.Deliveries, a.Failures = n, failed
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("counting recent tries: %w", err)
	}
	return counts.Sorted(), nil
}
