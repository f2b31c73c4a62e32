package delivery_test

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/delivery"
	"github.com/switchboardhq/switchboard/hub/store"
)

// logWatch is a slog handler that keeps every message, so a test can wait
// for the service to say something.
type logWatch struct {
	mu   sync.Mutex
	msgs []string
}

func (w *logWatch) Enabled(context.Context, slog.Level) bool { return true }

func (w *logWatch) Handle(_ context.Context, r slog.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.msgs = append(w.msgs, r.Message)
	return nil
}

func (w *logWatch) WithAttrs([]slog.Attr) slog.Handler { return w }
func (w *logWatch) WithGroup(string) slog.Handler      { return w }

func (w *logWatch) count(prefix string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, m := range w.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

// dbLock takes SQLite's write lock on the database at path from a
// connection of its own, as another process would, and returns its release.
func dbLock(t *testing.T, path string) func() {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	require.NoError(t, err)
	conn, err := db.Conn(context.Background())
	require.NoError(t, err)
	_, err = conn.ExecContext(context.Background(), `BEGIN EXCLUSIVE`)
	require.NoError(t, err)
	var once sync.Once
	release := func() {
		once.Do(func() {
			_, err := conn.ExecContext(context.Background(), `ROLLBACK`)
			assert.NoError(t, err)
			assert.NoError(t, conn.Close())
			assert.NoError(t, db.Close())
		})
	}
	t.Cleanup(release)
	return release
}

// TestTryWhoseOutcomeWriteFailsIsNotMadeAgain: when the database refuses the
// write of a try's outcome (locked past the busy timeout), the try is not
// sent again; its outcome is written once the database is back, so the log
// holds exactly the tries the receiver saw. Covered for the first try (made
// by the dispatcher, or by a fan-out job) and for a retry job.
func TestTryWhoseOutcomeWriteFailsIsNotMadeAgain(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		dispatch bool
		lockOn   int // the try during which the database gets locked
	}{{false, 1}, {true, 1}, {false, 2}, {true, 2}} {
		t.Run(fmt.Sprintf("dispatch=%t/try%d", c.dispatch, c.lockOn), func(t *testing.T) {
			t.Parallel()
			st, path := openStore(t)
			locked := make(chan func(), 1) // the lock's release
			// Tries 1 and 2 fail, the third succeeds; during try lockOn the
			// database gets locked before the answer goes out.
			handlers := []http.HandlerFunc{answer(500), answer(500), answer(204)}
			inner := handlers[c.lockOn-1]
			handlers[c.lockOn-1] = func(w http.ResponseWriter, r *http.Request) {
				locked <- dbLock(t, path)
				inner(w, r)
			}
			rc := &recorder{handlers: handlers}
			srv := httptest.NewServer(rc)
			t.Cleanup(srv.Close)
			logs := &logWatch{}
			startQueue(t, st, delivery.Config{Logger: slog.New(logs)}, c.dispatch, 0)
			subscribe(t, st, srv.URL+"/hook", []int{1, 1, 1})

			ev, _ := publish(t, st)
			require.Eventually(t, func() bool {
				return logs.count("writing delivery outcomes failed") > 0
			}, waitFor, tick, "the outcome write of try %d fails while the database is locked", c.lockOn)
			require.Len(t, rc.requests(), c.lockOn, "no try is made while its predecessor's outcome is unwritten")
			(<-locked)()

			require.Eventually(t, func() bool {
				return onlyDelivery(t, st, ev.ID).Status == store.DeliveryDelivered
			}, waitFor, tick)
			assert.Len(t, rc.requests(), 3, "500, 500, 204: no try was sent twice")
			as := attemptsOf(t, st, ev.ID)
			require.Len(t, as, 3, "every try the receiver saw is in the log")
			for i, a := range as {
				assert.Equal(t, i+1, a.ExecutionAttempt)
			}
			assert.Equal(t, 3, onlyDelivery(t, st, ev.ID).Attempts)
		})
	}
}
