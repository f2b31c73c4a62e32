//go:build chaos

package chaos

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // driver "sqlite", the hub's own
)

// TestLockedDatabase holds SQLite's write lock from another process's
// connection for twice the hub's busy timeout while publishers keep
// publishing, just after a burst of events whose tries are still in flight.
// The API must answer 503 ServiceUnavailableError with Retry-After (never a
// 500 or a hang) while reads go on, work again as soon as the lock is gone,
// and deliver everything it accepted.
func TestLockedDatabase(t *testing.T) {
	r := track(t, "d: database locked")
	dataDir := t.TempDir()
	h := newHub(t, dataDir)
	f := beforeStorageFault(t, r, h, "locked")

	// Take the write lock as another process would. WAL keeps readers
	// going; every writer waits busy_timeout and gives up.
	db, err := sql.Open("sqlite", filepath.Join(dataDir, "switchboard.db")+"?_pragma=busy_timeout(10000)")
	require.NoError(t, err)
	defer db.Close()
	conn, err := db.Conn(context.Background())
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE")
	require.NoError(t, err)
	lockedAt := time.Now()
	f.rcv.delay.Store(0)
	stop := make(chan struct{})
	done := make(chan []faultAnswer)
	go func() { done <- publishDuring(h, f.acc, "locked", 1_000_000, stop, new(atomic.Int64)) }()

	hold := 2*busyTimeout + 2*time.Second
	time.Sleep(hold / 2)
	a, err := h.call(context.Background(), http.MethodGet, "/webhook/webhooks/"+f.sub, "", nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, a.status, "a read while the database is locked: %s", a.raw)
	time.Sleep(time.Until(lockedAt.Add(hold)))

	_, err = conn.ExecContext(context.Background(), "ROLLBACK")
	require.NoError(t, err)
	released := time.Now()
	require.NoError(t, conn.Close())
	close(stop)
	answers := <-done
	unavailable, acceptedDuring, slowest := judgeUnavailable(t, answers)
	require.False(t, h.exited(), "the hub died while the database was locked")

	recovered := f.after(released, "the lock was released", len(answers))
	r.note = fmt.Sprintf("lock held %s with %d events' tries in flight: %d publishes answered 503, %d accepted, slowest answer %s; first publish after release took %s",
		released.Sub(lockedAt).Round(100*time.Millisecond), f.burst, unavailable, acceptedDuring,
		slowest.Round(time.Millisecond), recovered.Round(time.Millisecond))
}
