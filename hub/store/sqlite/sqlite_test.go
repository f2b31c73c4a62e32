package sqlite

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchboardhq/switchboard/hub/event"
	"github.com/switchboardhq/switchboard/hub/secret"
	"github.com/switchboardhq/switchboard/hub/store"
	"github.com/switchboardhq/switchboard/hub/store/storetest"
)

func newSealer(t testing.TB) *secret.Box {
	t.Helper()
	key := make([]byte, secret.KeySize)
	_, err := rand.Read(key)
	require.NoError(t, err)
	box, err := secret.NewBox(key)
	require.NoError(t, err)
	return box
}

// openAt opens the store at path without starting its queue, closing it
// when the test ends.
func openAt(t testing.TB, path string, sealer store.Sealer) *Store {
	t.Helper()
	s, err := Open(t.Context(), Config{Path: path, Sealer: sealer})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// startQueue starts the store's queue with the conformance suite's workers
// and stops it when the test ends.
func startQueue(t testing.TB, s *Store) {
	t.Helper()
	require.NoError(t, s.StartQueue(t.Context(), store.QueueConfig{Workers: storetest.Workers()}))
	t.Cleanup(func() {
		// t.Context is already cancelled in cleanups.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		assert.NoError(t, s.StopQueue(ctx))
	})
}

func TestStore(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s := openAt(t, filepath.Join(t.TempDir(), "data", "switchboard.db"), newSealer(t))
		startQueue(t, s)
		return s
	})
}

// TestMasterKey runs the master key part of the suite on handles sharing
// one database file.
func TestMasterKey(t *testing.T) {
	t.Parallel()
	storetest.RunMasterKey(t, func(t *testing.T) storetest.Opener {
		path := filepath.Join(t.TempDir(), "switchboard.db")
		return func(t *testing.T, sealer store.Sealer) store.Store {
			s := openAt(t, path, sealer)
			startQueue(t, s)
			return s
		}
	})
}

// TestStoreWithConnectionCache runs the suite as switchboard serve opens
// the store: with inbound token lookups cached.
func TestStoreWithConnectionCache(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(t.Context(), Config{Path: filepath.Join(t.TempDir(), "switchboard.db"), Sealer: newSealer(t), CacheConnections: true})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		startQueue(t, s)
		return s
	})
}

func TestMigrationsIdempotent(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "hub.db")
	sealer := newSealer(t)

	s := openAt(t, path, sealer)
	versions := func(s *Store) (ours, river int) {
		require.NoError(t, s.reader.QueryRowContext(t.Context(), `SELECT count(*) FROM `+gooseTable+` WHERE version_id > 0`).Scan(&ours))
		require.NoError(t, s.reader.QueryRowContext(t.Context(), `SELECT count(*) FROM river_migration`).Scan(&river))
		return ours, river
	}
	ours, river := versions(s)
	require.Positive(t, ours)
	require.Positive(t, river)
	sub := &store.Subscription{UnifiedAPI: "accounting", Status: store.StatusEnabled, DeliveryURL: "https://example.com", Events: []string{"*"}, Secret: "whsec_x"}
	require.NoError(t, s.CreateSubscription(t.Context(), store.AllConsumers(), sub))
	require.NoError(t, s.Close())

	for range 2 {
		again := openAt(t, path, sealer)
		o, r := versions(again)
		assert.Equal(t, ours, o, "no migration of ours re-applied")
		assert.Equal(t, river, r, "no River migration re-applied")
		got, err := again.GetSubscription(t.Context(), store.AllConsumers(), sub.ID)
		require.NoError(t, err, "data survives reopening")
		assert.Equal(t, "whsec_x", got.Secret)
		require.NoError(t, again.Close())
	}
}

func TestOrphanedRunningJobIsResetAtOpen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "hub.db")
	sealer := newSealer(t)

	// A crash left a fan-out job running: simulate it on a store whose queue
	// never started, so nothing can work the job in between.
	s := openAt(t, path, sealer)
	eventID := store.NewID()
	_, err := s.writer.ExecContext(t.Context(), `
		INSERT INTO river_job (args, kind, state, attempt, attempted_at, max_attempts)
		VALUES (jsonb(?), 'fanout', 'running', 1, datetime('now', 'subsec'), 25)`,
		`{"event_id":"`+eventID+`"}`)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	// A CLI command opening the file beside a server leaves jobs alone.
	s = openAt(t, path, sealer)
	var state string
	require.NoError(t, s.reader.QueryRowContext(t.Context(), `SELECT state FROM river_job WHERE kind = 'fanout'`).Scan(&state))
	assert.Equal(t, "running", state, "without RecoverRunningJobs")
	require.NoError(t, s.Close())

	s, err = Open(t.Context(), Config{Path: path, Sealer: sealer, RecoverRunningJobs: true})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	require.NoError(t, s.reader.QueryRowContext(t.Context(), `SELECT state FROM river_job WHERE kind = 'fanout'`).Scan(&state))
	assert.Equal(t, "available", state)

	startQueue(t, s)
	require.Eventually(t, func() bool { return storetest.FanoutsWorked(eventID) == 1 },
		30*time.Second, 10*time.Millisecond, "the recovered job runs once the queue starts")
}

func TestSecretsAreNotStoredInPlaintext(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "hub.db")
	sealer := newSealer(t)
	s := openAt(t, path, sealer)

	current, err := secret.NewWebhookSecret()
	require.NoError(t, err)
	previous, err := secret.NewWebhookSecret()
	require.NoError(t, err)
	expires := store.Now().Add(time.Hour)
	sub := &store.Subscription{
		UnifiedAPI: "accounting", Status: store.StatusEnabled, DeliveryURL: "https://example.com/hook",
		Events: []string{"*"}, Secret: current, PreviousSecret: previous, PreviousSecretExpiresAt: &expires,
	}
	require.NoError(t, s.CreateSubscription(t.Context(), store.AllConsumers(), sub))

	var sealedCurrent, sealedPrevious []byte
	require.NoError(t, s.reader.QueryRowContext(t.Context(),
		`SELECT secret_sealed, previous_secret_sealed FROM subscriptions WHERE id = ?`, sub.ID).Scan(&sealedCurrent, &sealedPrevious))
	for _, sealed := range [][]byte{sealedCurrent, sealedPrevious} {
		require.NotEmpty(t, sealed)
		assert.NotContains(t, string(sealed), "whsec_")
	}
	require.NoError(t, s.Close()) // checkpoints the WAL into the file

	// Neither the prefixed secret nor its key bytes appear in any file.
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, entry := range entries {
		raw, err := os.ReadFile(filepath.Join(dir, entry.Name()))
		require.NoError(t, err)
		for _, plain := range []string{current, previous} {
			key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(plain, secret.WebhookSecretPrefix))
			require.NoError(t, err)
			assert.False(t, bytes.Contains(raw, []byte(plain)), "secret in plaintext in %s", entry.Name())
			assert.False(t, bytes.Contains(raw, key), "secret key bytes in %s", entry.Name())
		}
	}

	// The right key opens them; another key does not.
	again := openAt(t, path, sealer)
	got, err := again.GetSubscription(t.Context(), store.AllConsumers(), sub.ID)
	require.NoError(t, err)
	assert.Equal(t, current, got.Secret)
	assert.Equal(t, previous, got.PreviousSecret)
	require.NoError(t, again.Close())

	wrongKey := openAt(t, path, newSealer(t))
	// Another key does not open them: the subscription reads back without
	// them, marked, rather than failing (it must stay listable and deletable).
	unread, err := wrongKey.GetSubscription(t.Context(), store.AllConsumers(), sub.ID)
	require.NoError(t, err)
	assert.True(t, unread.SecretUnreadable)
	assert.Empty(t, unread.Secret)
	assert.Empty(t, unread.PreviousSecret)
}

func TestConnectionCredentialsAreNotStoredInPlaintext(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "hub.db")
	sealer := newSealer(t)
	s := openAt(t, path, sealer)

	// Random values, so a hit can only be the credential itself.
	clientSecret, err := secret.Token(32)
	require.NoError(t, err)
	accessToken, err := secret.Token(32)
	require.NoError(t, err)
	inboundToken, err := secret.Token(32)
	require.NoError(t, err)
	hash := sha256.Sum256([]byte(inboundToken))
	c := &store.Connection{
		ConsumerID: "acme", ServiceID: "deskera", Status: store.ConnectionActive,
		Settings:    json.RawMessage(`{"base_url":"https://bifrost.deskera.com"}`),
		Credentials: map[string]string{"client_secret": clientSecret, "access_token": accessToken},
		Token:       inboundToken,
		TokenHash:   hash[:],
	}
	require.NoError(t, s.CreateConnection(t.Context(), store.AllConsumers(), c))

	var sealed []byte
	require.NoError(t, s.reader.QueryRowContext(t.Context(),
		`SELECT credentials_sealed FROM connections WHERE id = ?`, c.ID).Scan(&sealed))
	require.NotEmpty(t, sealed)
	assert.NotContains(t, string(sealed), "client_secret", "the credentials JSON is sealed whole")
	require.NoError(t, s.Close()) // checkpoints the WAL into the file

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	sawSettings := false // the files read hold the row: its settings are plaintext
	for _, entry := range entries {
		raw, err := os.ReadFile(filepath.Join(dir, entry.Name()))
		require.NoError(t, err)
		sawSettings = sawSettings || bytes.Contains(raw, []byte("bifrost.deskera.com"))
		for _, plain := range []string{clientSecret, accessToken, inboundToken} {
			assert.False(t, bytes.Contains(raw, []byte(plain)), "credential or inbound token in plaintext in %s", entry.Name())
		}
	}
	require.True(t, sawSettings, "the connection row is in the files checked")

	// The right key opens them; another key does not.
	again := openAt(t, path, sealer)
	got, err := again.GetConnection(t.Context(), store.Consumer("acme"), c.ID)
	require.NoError(t, err)
	assert.Equal(t, c.Credentials, got.Credentials)
	require.NoError(t, again.Close())

	wrongKey := openAt(t, path, newSealer(t))
	_, err = wrongKey.GetConnection(t.Context(), store.Consumer("acme"), c.ID)
	require.ErrorIs(t, err, secret.ErrTampered)
}

func TestWritesNeedTheQueue(t *testing.T) {
	t.Parallel()
	s := openAt(t, filepath.Join(t.TempDir(), "hub.db"), newSealer(t))
	ev := &event.Event{EventType: "accounting.invoice.paid", UnifiedAPI: "accounting", ConsumerID: "acme", OccurredAt: time.Now()}
	_, err := s.PublishEvent(t.Context(), store.AllConsumers(), ev)
	require.ErrorIs(t, err, store.ErrQueueNotStarted)
	_, err = s.Replay(t.Context(), store.AllConsumers(), store.NewID(), "")
	require.ErrorIs(t, err, store.ErrQueueNotStarted)
	require.ErrorIs(t, s.RecordOutcomes(t.Context(), []store.Outcome{{DeliveryID: store.NewID(), Status: store.DeliveryDelivered}}), store.ErrQueueNotStarted)
	require.NoError(t, s.StopQueue(t.Context()), "stopping a queue never started is a no-op")

	// Reads and the other writes work without it.
	require.NoError(t, s.CreateAPIKey(t.Context(), &store.APIKey{Name: "k", Hash: []byte("h")}))
	n, err := s.CountActiveAPIKeys(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	startQueue(t, s)
	require.Error(t, s.StartQueue(t.Context(), store.QueueConfig{Workers: storetest.Workers()}), "starting twice")
	_, err = s.PublishEvent(t.Context(), store.AllConsumers(), ev)
	require.NoError(t, err)
}

func TestOpenConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, tc := range map[string]struct {
		cfg     Config
		wantErr string
	}{
		"no path":             {Config{Sealer: newSealer(t)}, "no database path"},
		"no sealer":           {Config{Path: filepath.Join(dir, "a.db")}, "no sealer"},
		"bad synchronous":     {Config{Path: filepath.Join(dir, "b.db"), Sealer: newSealer(t), Synchronous: "OFF"}, "synchronous"},
		"query in path":       {Config{Path: filepath.Join(dir, "c.db?mode=memory"), Sealer: newSealer(t)}, "must not contain"},
		"unwritable location": {Config{Path: "/proc/switchboard/hub.db", Sealer: newSealer(t)}, "creating database directory"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Open(t.Context(), tc.cfg)
			require.ErrorContains(t, err, tc.wantErr)
		})
	}

	for want, sync := range map[int]string{1: "", 2: "full"} {
		s, err := Open(t.Context(), Config{Path: filepath.Join(dir, "sync"+sync+".db"), Sealer: newSealer(t), Synchronous: sync})
		require.NoError(t, err)
		var got int
		require.NoError(t, s.writer.QueryRowContext(t.Context(), `PRAGMA synchronous`).Scan(&got))
		assert.Equal(t, want, got, "synchronous %q", sync)
		var mode string
		require.NoError(t, s.writer.QueryRowContext(t.Context(), `PRAGMA journal_mode`).Scan(&mode))
		assert.Equal(t, "wal", mode)
		require.NoError(t, s.Close())
	}
}

func TestReadPoolCannotWrite(t *testing.T) {
	t.Parallel()
	s := openAt(t, filepath.Join(t.TempDir(), "hub.db"), newSealer(t))
	_, err := s.reader.ExecContext(t.Context(), `INSERT INTO api_keys (id, name, hash, created_at) VALUES ('x', 'x', x'00', 0)`)
	require.Error(t, err)
	var n int
	require.NoError(t, s.reader.QueryRowContext(t.Context(), `SELECT count(*) FROM api_keys`).Scan(&n))
	assert.Zero(t, n)
}

// TestConcurrentWritesAreIsolated publishes from many goroutines at once, so
// that writes share transactions, with some requests failing: a failing
// request must not take the others of its batch down, nor leave anything
// behind.
func TestConcurrentWritesAreIsolated(t *testing.T) {
	t.Parallel()
	s := openAt(t, filepath.Join(t.TempDir(), "hub.db"), newSealer(t))
	startQueue(t, s)
	require.NoError(t, s.CreateSubscription(t.Context(), store.AllConsumers(), &store.Subscription{
		UnifiedAPI: "accounting", Status: store.StatusEnabled, DeliveryURL: "https://example.com", Events: []string{"*"}, Secret: "whsec_x",
	}))
	newEvent := func(key, hash string) *event.Event {
		return &event.Event{EventType: "accounting.invoice.paid", UnifiedAPI: "accounting", ConsumerID: "acme",
			OccurredAt: time.Now(), DedupeKey: key, RequestHash: hash}
	}
	// Keys already used, to conflict with.
	const keys = 8
	for i := range keys {
		_, err := s.PublishEvent(t.Context(), store.AllConsumers(), newEvent(fmt.Sprint("key-", i), "first"))
		require.NoError(t, err)
	}

	const n = 200
	type result struct {
		id       string
		conflict bool
		err      error
	}
	results := make(chan result, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ev := newEvent("", "")
			conflict := i%5 == 0
			if conflict {
				ev = newEvent(fmt.Sprint("key-", i%keys), "second")
			}
			_, err := s.PublishEvent(t.Context(), store.AllConsumers(), ev)
			results <- result{ev.ID, conflict, err}
		})
	}
	wg.Wait()
	close(results)

	stored := keys
	for r := range results {
		if r.conflict {
			require.ErrorIs(t, r.err, store.ErrIdempotencyConflict)
			_, err := s.GetEvent(t.Context(), store.AllConsumers(), r.id)
			require.ErrorIs(t, err, store.ErrNotFound, "a conflicting event is not stored")
			continue
		}
		require.NoError(t, r.err)
		stored++
		ds, err := s.ListDeliveries(t.Context(), store.AllConsumers(), r.id)
		require.NoError(t, err)
		require.Len(t, ds, 1, "event %s", r.id)
	}
	var events, deliveries, jobs int
	require.NoError(t, s.reader.QueryRowContext(t.Context(), `SELECT count(*) FROM events`).Scan(&events))
	require.NoError(t, s.reader.QueryRowContext(t.Context(), `SELECT count(*) FROM deliveries`).Scan(&deliveries))
	require.NoError(t, s.reader.QueryRowContext(t.Context(),
		`SELECT count(DISTINCT json_extract(args, '$.event_id')) FROM river_job WHERE kind = 'fanout'`).Scan(&jobs))
	assert.Equal(t, stored, events)
	assert.Equal(t, stored, deliveries)
	assert.Equal(t, stored, jobs, "one fan-out job per stored event, none for failed ones")
}

func TestCancelledWriteStoresNothing(t *testing.T) {
	t.Parallel()
	s := openAt(t, filepath.Join(t.TempDir(), "hub.db"), newSealer(t))
	startQueue(t, s)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	ev := &event.Event{EventType: "accounting.invoice.paid", UnifiedAPI: "accounting", OccurredAt: time.Now()}
	_, err := s.PublishEvent(ctx, store.AllConsumers(), ev)
	require.ErrorIs(t, err, context.Canceled)
	list, err := s.ListEvents(t.Context(), store.AllConsumers(), store.EventFilter{}, store.Page{})
	require.NoError(t, err)
	assert.Empty(t, list)
}

// TestStatementCacheNestedQuery runs a query while the same query's rows are
// still open on the same connection: the cached statement is busy, so the
// second runs uncached, and both read correctly.
func TestStatementCacheNestedQuery(t *testing.T) {
	t.Parallel()
	db, err := openDB(filepath.Join(t.TempDir(), "cache.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	conn, err := db.Conn(t.Context())
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(t.Context(), `CREATE TABLE t (n INTEGER)`)
	require.NoError(t, err)
	for i := range 3 {
		_, err = conn.ExecContext(t.Context(), `INSERT INTO t (n) VALUES (?)`, i)
		require.NoError(t, err)
	}

	const query = `SELECT n FROM t WHERE n >= ? ORDER BY n`
	outer, err := conn.QueryContext(t.Context(), query, 0)
	require.NoError(t, err)
	var pairs []string
	for outer.Next() {
		var a int
		require.NoError(t, outer.Scan(&a))
		inner, err := conn.QueryContext(t.Context(), query, a)
		require.NoError(t, err)
		for inner.Next() {
			var b int
			require.NoError(t, inner.Scan(&b))
			pairs = append(pairs, fmt.Sprint(a, b))
		}
		require.NoError(t, inner.Err())
		require.NoError(t, inner.Close())
	}
	require.NoError(t, outer.Err())
	require.NoError(t, outer.Close())
	assert.Equal(t, []string{"0 0", "0 1", "0 2", "1 1", "1 2", "2 2"}, pairs)

	// The cached statement is reusable after both closed.
	var count int
	require.NoError(t, conn.QueryRowContext(t.Context(), `SELECT count(*) FROM t WHERE n >= ?`, 1).Scan(&count))
	require.NoError(t, conn.QueryRowContext(t.Context(), `SELECT count(*) FROM t WHERE n >= ?`, 0).Scan(&count))
	assert.Equal(t, 3, count)
}

func TestQueueStatsAgeOfOldestJob(t *testing.T) {
	t.Parallel()
	s := openAt(t, filepath.Join(t.TempDir(), "hub.db"), newSealer(t))
	for _, job := range []struct{ state, age string }{
		{"available", "-90 seconds"}, {"available", "-10 seconds"}, {"scheduled", "+1 hour"},
		{"retryable", "+1 minute"}, {"completed", "-1 hour"}, {"running", "-2 hours"},
	} {
		finalized := "NULL"
		if job.state == "completed" {
			finalized = "datetime('now')"
		}
		_, err := s.writer.ExecContext(t.Context(), `
			INSERT INTO river_job (args, kind, state, scheduled_at, finalized_at, max_attempts)
			VALUES (jsonb('{}'), 'fanout', ?, datetime('now', 'subsec', ?), `+finalized+`, 25)`, job.state, job.age)
		require.NoError(t, err)
	}
	stats, err := s.QueueStats(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 4, stats.Pending, "available, scheduled and retryable jobs")
	assert.GreaterOrEqual(t, stats.OldestPending, 90*time.Second)
	assert.Less(t, stats.OldestPending, time.Hour)
}

// TestPanickingWriteFailsOnlyItsBatch checks that a panic inside a write
// transaction becomes an error and later writes still run.
func TestPanickingWriteFailsOnlyItsBatch(t *testing.T) {
	t.Parallel()
	s := openAt(t, filepath.Join(t.TempDir(), "hub.db"), newSealer(t))
	startQueue(t, s)
	err := s.write(t.Context(), func(ctx context.Context, w *writeTx) error {
		_, err := w.ExecContext(ctx, `INSERT INTO api_keys (id, name, hash, created_at) VALUES ('k', 'k', x'01', 0)`)
		require.NoError(t, err)
		panic("boom")
	})
	require.ErrorContains(t, err, "panicked: boom")
	_, err = s.GetAPIKey(t.Context(), "k")
	require.ErrorIs(t, err, store.ErrNotFound, "the panicking transaction was rolled back")

	_, err = s.PublishEvent(t.Context(), store.AllConsumers(), &event.Event{EventType: "accounting.invoice.paid", UnifiedAPI: "accounting", OccurredAt: time.Now()})
	require.NoError(t, err, "writes go on")
}

func TestFullDatabaseIsUnavailable(t *testing.T) {
	t.Parallel()
	s := openAt(t, filepath.Join(t.TempDir(), "hub.db"), newSealer(t))
	startQueue(t, s)
	ctx := t.Context()
	publish := func() error {
		_, err := s.PublishEvent(ctx, store.AllConsumers(), &event.Event{EventType: "accounting.invoice.paid", UnifiedAPI: "accounting",
			ConsumerID: "acme", OccurredAt: time.Now(), Entity: json.RawMessage(`{"note":"` + strings.Repeat("x", 2000) + `"}`)})
		return err
	}
	require.NoError(t, publish())

	// max_page_count caps the file where it is now: the writer connection
	// meets SQLITE_FULL as it would on a full disk.
	var pages int
	require.NoError(t, s.writer.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages))
	_, err := s.writer.ExecContext(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages))
	require.NoError(t, err)
	// Free pages in the file may take a few events first.
	for i := 0; i < 1000 && err == nil; i++ {
		err = publish()
	}
	require.ErrorIs(t, err, store.ErrUnavailable)
	require.ErrorContains(t, err, "full")
	err = s.CreateSubscription(ctx, store.AllConsumers(), &store.Subscription{UnifiedAPI: "accounting", Status: store.StatusEnabled,
		DeliveryURL: "https://example.com/hook", Events: []string{"*"}, Description: strings.Repeat("d", 1<<20)})
	require.ErrorIs(t, err, store.ErrUnavailable, "writes outside the batcher too")

	_, err = s.writer.ExecContext(ctx, `PRAGMA max_page_count = 1073741823`)
	require.NoError(t, err)
	require.NoError(t, publish(), "writes work again once there is room")
}

func TestLockedDatabaseIsUnavailable(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "hub.db")
	s := openAt(t, path, newSealer(t))
	startQueue(t, s)
	ctx := t.Context()
	publish := func() error {
		_, err := s.PublishEvent(ctx, store.AllConsumers(), &event.Event{EventType: "accounting.invoice.paid", UnifiedAPI: "accounting",
			ConsumerID: "acme", OccurredAt: time.Now()})
		return err
	}

	// Another process holding the write lock past busy_timeout.
	other, err := openDB(path)
	require.NoError(t, err)
	defer other.Close()
	conn, err := other.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	// The store's own background writes (River's) may hold the lock for a
	// moment; take it once they let go.
	require.Eventually(t, func() bool {
		_, err := conn.ExecContext(ctx, `BEGIN EXCLUSIVE`)
		return err == nil
	}, 30*time.Second, 10*time.Millisecond, "taking the write lock")

	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { errs[i] = publish() })
	}
	wg.Wait()
	for _, err := range errs {
		require.ErrorIs(t, err, store.ErrUnavailable)
	}
	_, err = conn.ExecContext(ctx, `ROLLBACK`)
	require.NoError(t, err)
	require.NoError(t, publish(), "writes work again once the lock is released")
}

func TestUnavailableClassifiesSQLiteErrors(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "raw.db")
	db, err := openDB(path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(0)")
	require.NoError(t, err)
	defer db.Close()
	_, err = db.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)`)
	require.NoError(t, err)

	// SQLITE_BUSY: a second connection holds the write lock and this one
	// does not wait.
	holder, err := db.Conn(ctx)
	require.NoError(t, err)
	_, err = holder.ExecContext(ctx, `BEGIN IMMEDIATE`)
	require.NoError(t, err)
	waiter, err := db.Conn(ctx)
	require.NoError(t, err)
	_, busyErr := waiter.ExecContext(ctx, `BEGIN IMMEDIATE`)
	require.Error(t, busyErr)
	_, err = holder.ExecContext(ctx, `ROLLBACK`)
	require.NoError(t, err)
	require.NoError(t, holder.Close())

	// SQLITE_FULL: the file may not grow.
	_, err = waiter.ExecContext(ctx, `PRAGMA max_page_count = 1`)
	require.NoError(t, err)
	_, fullErr := waiter.ExecContext(ctx, `INSERT INTO t (v) VALUES (?)`, strings.Repeat("x", 1<<16))
	require.Error(t, fullErr)

	// SQLITE_CONSTRAINT is the caller's fault, not the database's state.
	_, constraintErr := waiter.ExecContext(ctx, `INSERT INTO t (id, v) VALUES (1, NULL)`)
	require.Error(t, constraintErr)
	require.NoError(t, waiter.Close())

	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"busy", busyErr, true},
		{"busy wrapped", fmt.Errorf("beginning transaction: %w", busyErr), true},
		{"full", fullErr, true},
		{"already marked", fmt.Errorf("x: %w", store.ErrUnavailable), true},
		{"constraint", constraintErr, false},
		{"not found", notFound("event", "e1"), false},
		{"plain", errors.New("database is locked"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := unavailable(tt.err)
			assert.Equal(t, tt.want, errors.Is(got, store.ErrUnavailable), "%v", got)
			assert.ErrorIs(t, got, tt.err, "the cause stays in the chain")
		})
	}
	assert.NoError(t, unavailable(nil))
}

func TestWritesQueuedBehindAnUnavailableBatchFailWithIt(t *testing.T) {
	t.Parallel()
	s := openAt(t, filepath.Join(t.TempDir(), "hub.db"), newSealer(t))
	startQueue(t, s)
	ctx := t.Context()
	publish := func() error {
		_, err := s.PublishEvent(ctx, store.AllConsumers(), &event.Event{EventType: "accounting.invoice.paid", UnifiedAPI: "accounting",
			ConsumerID: "acme", OccurredAt: time.Now()})
		return err
	}
	batcherState := func() (leading bool, queued int) {
		s.writes.mu.Lock()
		defer s.writes.mu.Unlock()
		return s.writes.leading, len(s.writes.queue)
	}

	// Hold the one writer connection, as River's queries do while another
	// process has the write lock.
	held, err := s.writer.Conn(ctx)
	require.NoError(t, err)
	first := make(chan error, 1)
	go func() { first <- publish() }()
	require.Eventually(t, func() bool { leading, queued := batcherState(); return leading && queued == 0 },
		10*time.Second, time.Millisecond, "the first write leads a batch")
	queued := make(chan error, 3)
	for range cap(queued) {
		go func() { queued <- publish() }()
	}
	require.Eventually(t, func() bool { _, n := batcherState(); return n == cap(queued) },
		10*time.Second, time.Millisecond, "the others queue behind it")

	err = <-first
	require.ErrorIs(t, err, store.ErrUnavailable)
	require.ErrorContains(t, err, "writer connection")
	for range cap(queued) {
		err := <-queued
		require.ErrorIs(t, err, store.ErrUnavailable)
		require.ErrorContains(t, err, "not run", "failed with the batch before them, not after a wait of their own")
	}
	require.NoError(t, held.Close())
	require.NoError(t, publish(), "writes work again once the connection is free")
}

// TestPurgeUsesThePrimaryKey: the purge's select runs inside a write
// transaction, so it must not scan every event to find none; it walks the
// primary key (UUIDv7 ids are in creation order), in order, with no sort.
func TestPurgeUsesThePrimaryKey(t *testing.T) {
	t.Parallel()
	s := openAt(t, filepath.Join(t.TempDir(), "switchboard.db"), newSealer(t))
	rows, err := s.writer.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+purgeSQL, store.IDBefore(time.Now()), 1)
	require.NoError(t, err)
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &notused, &detail))
		plan = append(plan, detail)
	}
	require.NoError(t, rows.Err())
	joined := strings.Join(plan, "\n")
	assert.Contains(t, joined, "INDEX sqlite_autoindex_events_1 (id<?)", "plan: %v", plan)
	assert.NotContains(t, joined, "TEMP B-TREE", "no sort: plan: %v", plan)
}
