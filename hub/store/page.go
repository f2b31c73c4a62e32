package store

import (
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Page sizes. The API accepts 1..200 and defaults to 20; the store applies the
// same bounds so a caller that forgets to validate cannot ask for a whole table.
const (
	DefaultPageLimit = 20
	MaxPageLimit     = 200
)

// Size is the number of rows the page asks for, within the bounds above.
func (p Page) Size() int {
	switch {
	case p.Limit <= 0:
		return DefaultPageLimit
	case p.Limit > MaxPageLimit:
		return MaxPageLimit
	default:
		return p.Limit
	}
}

// NewID returns a UUIDv7 string. Every id the hub makes comes from here so
// that ids sort by creation time and "ORDER BY id DESC" lists newest first.
func NewID() string {
	id, err := uuid.NewV7()
	if err != nil {
		// NewV7 only fails when the system random source fails, and then
		// nothing secure can be done anyway.
		panic(fmt.Sprintf("generating UUIDv7: %v", err))
	}
	return id.String()
}

// Now is the store's clock reading: UTC and truncated to microseconds, the
// precision both SQLite (unix microseconds) and PostgreSQL (timestamptz) keep,
// so a time written and read back compares equal.
func Now() time.Time { return Time(time.Now()) }

// Time normalises t to what the database keeps: UTC, microseconds.
func Time(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// NewIDAt is NewID as it would have been made at t (imports, tests):
// a UUIDv7 of t's millisecond with fresh random bits.
func NewIDAt(t time.Time) string {
	u, err := uuid.NewV7()
	if err != nil {
		panic(fmt.Sprintf("generating UUIDv7: %v", err))
	}
	ms := uint64(t.UnixMilli())
	for i := 0; i < 6; i++ {
		u[i] = byte(ms >> (40 - 8*i))
	}
	return u.String()
}

// IDBefore is the smallest UUIDv7 of the millisecond t: every id NewID made
// before t sorts below it, so "id < IDBefore(t)" selects rows created before
// t through the primary key, with no index on a creation time.
func IDBefore(t time.Time) string {
	var u uuid.UUID
	// A UUIDv7 timestamp is 48 bits: clamp so the id keeps its width and
	// compares as the ids do.
	ms := uint64(min(max(t.UnixMilli(), 0), 1<<48-1))
	for i := 0; i < 6; i++ {
		u[i] = byte(ms >> (40 - 8*i))
	}
	u[6] = 0x70 // version 7
	u[8] = 0x80 // RFC 4122 variant
	return u.String()
}
