package store

import (
	"context"
	"slices"
	"time"
)

// Activity counts recent traffic for the operator's overview.
type Activity interface {
	// Activity counts, per minute from since on, the events stored and the
	// delivery tries made in sc, oldest minute first; a minute with
	// nothing in it is absent. Both tables are read along their primary
	// key (ids are UUIDv7), so the cost is that of the rows counted.
	Activity(ctx context.Context, sc Scope, since time.Time) ([]MinuteActivity, error)
}

// MinuteActivity is one minute's traffic.
type MinuteActivity struct {
	Minute     time.Time // start of the minute, UTC
	Events     int       // events stored
	Deliveries int       // delivery tries made
	Failures   int       // of those, the ones that failed
}

// ActivityWhere is the WHERE clause of Activity's two reads: rows of sc
// created from since on. consumerColumns are the table's consumer columns
// (an attempt counts for its event's and its subscription's consumer).
func ActivityWhere(w *Where, sc Scope, since time.Time, consumerColumns ...string) {
	w.Add("id", ">=", IDBefore(since))
	for _, col := range consumerColumns {
		w.Scope(col, sc)
	}
}

// MinuteCounts collects Activity's rows by minute number (Unix minutes).
type MinuteCounts map[int64]*MinuteActivity

// At returns minute's counts, creating them.
func (m MinuteCounts) At(minute int64) *MinuteActivity {
	a := m[minute]
	if a == nil {
		a = &MinuteActivity{Minute: time.Unix(minute*60, 0).UTC()}
		m[minute] = a
	}
	return a
}

// Sorted returns the minutes oldest first.
func (m MinuteCounts) Sorted() []MinuteActivity {
	out := make([]MinuteActivity, 0, len(m))
	for _, a := range m {
		out = append(out, *a)
	}
	slices.SortFunc(out, func(a, b MinuteActivity) int { return a.Minute.Compare(b.Minute) })
	return out
}
