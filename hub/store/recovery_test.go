package store_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/switchboardhq/switchboard/hub/store"
)

func TestRecoveryIDRange(t *testing.T) {
	t.Parallel()
	now := time.Now()
	id := store.NewID()
	lo, hi := store.RecoveryIDRange(now.Add(-time.Second), now.Add(time.Second))
	assert.True(t, lo <= id && id < hi, "%s in [%s, %s)", id, lo, hi)
	lo, _ = store.RecoveryIDRange(now.Add(time.Hour), now.Add(2*time.Hour))
	assert.Less(t, id, lo, "an id made before the range is below it")
	_, hi = store.RecoveryIDRange(now.Add(-2*time.Hour), now.Add(-time.Hour))
	assert.GreaterOrEqual(t, id, hi, "an id made after the range is above it")
	lo, hi = store.RecoveryIDRange(time.Unix(-1e9, 0), time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC))
	assert.Equal(t, "00000000-0000-7000-8000-000000000000", lo, "clamped at the epoch")
	assert.Equal(t, "ffffffff-ffff-7000-8000-000000000000", hi, "clamped at the largest 48-bit timestamp")
}
