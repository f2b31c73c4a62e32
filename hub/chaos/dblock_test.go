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
	rcv := newReceiver(t, "steady", nil)
	sub := h.subscribe(rcv, shortSchedule)
	acc := newAccepted()
	n := scale.faultEvents

	publishPhase(t, h, acc, "locked", 0, n)
	eventually(t, 30*time.Second, "events before the lock delivered", func() (bool, string) {
		m := rcv.missing(acc.list())
		return len(m) == 0, fmt.Sprintf("%d missing", len(m))
	})

	// A burst whose tries are still in flight when the lock comes: their
	// outcomes may not be recorded, nor their jobs completed, until it goes.
	burst := max(5, n/5)
	rcv.delay.Store(int64(time.Second))
	before := rcv.stats().requests
	publishPhase(t, h, acc, "locked", n, n+burst)
	eventually(t, 10*time.Second, "burst tries in flight", func() (bool, string) {
		return rcv.stats().requests > before, "no try of the burst arrived"
	})

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
	rcv.delay.Store(0)
	stop := make(chan struct{})
	done := make(chan []faultAnswer)
	go func() { done <- publishDuring(h, acc, "locked", 1_000_000, stop, new(atomic.Int64)) }()

	hold := 2*busyTimeout + 2*time.Second
	time.Sleep(hold / 2)
	a, err := h.call(context.Background(), http.MethodGet, "/webhook/webhooks/"+sub, "", nil)
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

	// Publishing works again at once.
	after := n + burst
	a, err = h.call(context.Background(), http.MethodPost, "/webhook/events", "", eventBody("locked", after))
	require.NoError(t, err)
	require.Equal(t, http.StatusAccepted, a.status, "publish after the lock was released: %s", a.raw)
	require.NoError(t, acc.add(fmt.Sprint(after), a.str("data", "id")))
	recovered := time.Since(released)
	publishPhase(t, h, acc, "locked", after+1, after+n)

	ids := acc.list()
	r.sent = 2*n + burst + len(answers)
	r.accepted = len(ids)
	waitDelivered(t, r, ids, rcv)
	quiet(func() int { return rcv.stats().requests }, 3*time.Second, 30*time.Second)
	sumReceivers(t, r, rcv)
	r.triesLogged, err = h.logCount(sub)
	require.NoError(t, err)
	r.note = fmt.Sprintf("lock held %s with %d events' tries in flight: %d publishes answered 503, %d accepted, slowest answer %s; first publish after release took %s",
		released.Sub(lockedAt).Round(100*time.Millisecond), burst, unavailable, acceptedDuring,
		slowest.Round(time.Millisecond), recovered.Round(time.Millisecond))
}
