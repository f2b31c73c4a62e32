// Package sqlite is the embedded store: one SQLite file (modernc.org/sqlite,
// no cgo) holding the hub's tables and River's job queue, so `switchboard
// serve` needs nothing installed to run.
//
// SQLite allows one writer at a time. The store therefore has exactly one
// writer connection, shared with River through riversqlite so that a job
// insert joins the transaction that stores its event or outcome, and a
// separate pool of read-only connections for queries outside transactions
// (WAL lets readers run alongside the writer).
//
// Two things keep that one writer fast (see BenchmarkPublishEvent and
// BenchmarkDeliveryCycle): concurrent write transactions share commits
// (batch.go), and every connection keeps the statements it runs prepared
// (stmtcache.go), River's included.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	msqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/switchboardhq/switchboard/hub/job"
	"github.com/switchboardhq/switchboard/hub/store"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// gooseTable records our migrations apart from River's river_migration table,
// so each migrator only ever sees its own versions.
const gooseTable = "switchboard_migration"

// busyTimeoutMS is how long a connection waits for SQLite's write lock before
// failing with SQLITE_BUSY; with one writer connection it only matters for
// other processes (a CLI command) touching the same file.
const busyTimeoutMS = 5000

// Config configures Open.
type Config struct {
	// Path is the database file; its directory is created if missing.
	Path string
	// Sealer encrypts subscription secrets at rest. Required: the store never
	// writes a secret in plaintext.
	Sealer store.Sealer
	// Logger receives the store's and River's logs; nil discards them.
	Logger *slog.Logger
	// Synchronous is SQLite's synchronous pragma: "NORMAL" (default; in WAL
	// mode a power loss may lose the last commits but never corrupts) or
	// "FULL" (every commit is fsynced before it is acknowledged).
	Synchronous string
	// RecoverRunningJobs makes Open put jobs left 'running' back to
	// 'available'. Only the process that will work the queue (switchboard
	// serve, holding the data directory's lock) may set it: on a single node
	// a running job at open was cut off by a crash, but a CLI command opening
	// the file beside a live server would otherwise hand the server's
	// in-flight jobs out a second time.
	RecoverRunningJobs bool
	// CacheConnections keeps the (sealed) connection rows that inbound
	// webhooks look up by token in memory, so a webhook costs no query for
	// its connection. Only the process through which every connection write
	// goes (switchboard serve) may set it: its writes invalidate the cache,
	// another process's would not.
	CacheConnections bool
}

// Store is the SQLite implementation of store.Store.
type Store struct {
	writer *sql.DB // one connection; every write and River
	reader *sql.DB // query_only connections for reads outside transactions
	sealer store.Sealer
	logger *slog.Logger
	writes *batcher
	tokens *tokenCache // nil unless Config.CacheConnections

	mu       sync.Mutex
	client   *river.Client[*sql.Tx]
	running  bool
	dispatch store.Dispatcher // QueueConfig.Dispatcher while the queue runs
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at cfg.Path, migrates River's
// and the hub's schema and, with cfg.RecoverRunningJobs, puts back jobs a
// crash left running.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Path == "" {
		return nil, errors.New("sqlite store: no database path")
	}
	if strings.ContainsAny(cfg.Path, "?#") {
		return nil, fmt.Errorf("sqlite store: database path %q must not contain '?' or '#'", cfg.Path)
	}
	if cfg.Sealer == nil {
		return nil, errors.New("sqlite store: no sealer for secrets")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	synchronous := strings.ToUpper(cfg.Synchronous)
	switch synchronous {
	case "":
		synchronous = "NORMAL"
	case "NORMAL", "FULL":
	default:
		return nil, fmt.Errorf("sqlite store: synchronous must be NORMAL or FULL, got %q", cfg.Synchronous)
	}
	if dir := filepath.Dir(cfg.Path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating database directory %s: %w", dir, err)
		}
	}

	if err := privateFiles(cfg.Path, logger); err != nil {
		return nil, err
	}

	// _txlock=immediate takes the write lock at BEGIN, so a transaction never
	// fails half-way upgrading a read lock (SQLITE_BUSY at River's start
	// without it, measured).
	writerDSN := cfg.Path + "?" + strings.Join([]string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", busyTimeoutMS),
		"_pragma=journal_mode(WAL)",
		"_pragma=synchronous(" + synchronous + ")",
		"_pragma=foreign_keys(on)",
		"_txlock=immediate",
	}, "&")
	writer, err := openDB(writerDSN)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", cfg.Path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)

	s := &Store{writer: writer, sealer: cfg.Sealer, logger: logger}
	s.writes = &batcher{db: writer, insert: s.insertJobs, logger: logger}
	if cfg.CacheConnections {
		s.tokens = newTokenCache(maxCachedConnections)
	}
	if err := s.setUp(ctx, cfg.Path, cfg.RecoverRunningJobs); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// privateFiles makes the database file and its -wal and -shm companions
// readable by their owner only (0600): they hold events, consumer data and
// sealed secrets. A missing database file is created 0600 before SQLite
// opens it, because SQLite creates the -wal and -shm files with the
// database file's mode; existing files that others can read are tightened,
// with a warning.
func privateFiles(path string, logger *slog.Logger) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	switch {
	case err == nil:
		if err := f.Close(); err != nil {
			return fmt.Errorf("creating %s: %w", path, err)
		}
	case !errors.Is(err, fs.ErrExist):
		return fmt.Errorf("creating %s: %w", path, err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("checking %s: %w", p, err)
		}
		if mode := st.Mode().Perm(); mode&0o077 != 0 {
			if err := os.Chmod(p, 0o600); err != nil {
				return fmt.Errorf("tightening %s to 0600: %w", p, err)
			}
			logger.Warn("tightened database file permissions to 0600", "path", p, "was", fmt.Sprintf("%04o", mode))
		}
	}
	return nil
}

func (s *Store) setUp(ctx context.Context, path string, recoverRunning bool) error {
	if err := s.writer.PingContext(ctx); err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	if err := s.migrate(ctx); err != nil {
		return err
	}
	if recoverRunning {
		if err := s.resetOrphanedJobs(ctx); err != nil {
			return err
		}
	}

	// The journal mode is a property of the file, already WAL; readers only
	// need to wait for locks and refuse writes.
	readerDSN := path + "?" + strings.Join([]string{
		fmt.Sprintf("_pragma=busy_timeout(%d)", busyTimeoutMS),
		"_pragma=query_only(1)",
	}, "&")
	reader, err := openDB(readerDSN)
	if err != nil {
		return fmt.Errorf("opening %s for reading: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	reader.SetMaxOpenConns(n)
	reader.SetMaxIdleConns(n)
	s.reader = reader
	if err := reader.PingContext(ctx); err != nil {
		return fmt.Errorf("opening %s for reading: %w", path, err)
	}
	return nil
}

// migrate brings River's schema and then ours up to date. Both are no-ops
// when nothing is pending, so every start runs them.
func (s *Store) migrate(ctx context.Context) error {
	migrator, err := rivermigrate.New(riversqlite.New(s.writer), &rivermigrate.Config{Logger: s.logger})
	if err != nil {
		return fmt.Errorf("creating River migrator: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrating River's schema: %w", err)
	}

	fsys, err := fs.Sub(migrationsFS, "migrations")
	if err != nil {
		return fmt.Errorf("loading migrations: %w", err)
	}
	provider, err := goose.NewProvider(goose.DialectSQLite3, s.writer, fsys,
		goose.WithTableName(gooseTable),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("creating migrator: %w", err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrating schema: %w", err)
	}
	for _, r := range results {
		s.logger.InfoContext(ctx, "applied migration", "version", r.Source.Version, "path", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// resetOrphanedJobs makes jobs left 'running' available again. The SQLite
// store is single-node, so when the serving process opens it no job can
// really be running: they were cut off by a crash, and retrying them now
// beats waiting for River's stuck-job rescuer (RescueStuckJobsAfter).
func (s *Store) resetOrphanedJobs(ctx context.Context) error {
	res, err := s.writer.ExecContext(ctx, `UPDATE river_job SET state = 'available' WHERE state = 'running'`)
	if err != nil {
		return fmt.Errorf("resetting orphaned jobs: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		s.logger.InfoContext(ctx, "reset jobs left running by a crash", "jobs", n)
	}
	return nil
}

// Ping checks both the writer and the read pool answer.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.writer.PingContext(ctx); err != nil {
		return fmt.Errorf("pinging database: %w", err)
	}
	if err := s.reader.PingContext(ctx); err != nil {
		return fmt.Errorf("pinging database read pool: %w", err)
	}
	return nil
}

// Close releases the database. A queue still running is stopped hard first,
// since River must not outlive the connection it works through.
func (s *Store) Close() error {
	s.mu.Lock()
	client, running := s.client, s.running
	s.running = false
	s.mu.Unlock()
	var errs []error
	if running {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		errs = append(errs, client.StopAndCancel(ctx))
		cancel()
	}
	if s.reader != nil {
		errs = append(errs, s.reader.Close())
	}
	errs = append(errs, s.writer.Close())
	return errors.Join(errs...)
}

// StartQueue creates and starts the River client, after queueing the first
// try of deliveries a dispatcher never made (see store.Dispatcher).
func (s *Store) StartQueue(ctx context.Context, cfg store.QueueConfig) error {
	if cfg.Workers == nil {
		return errors.New("starting job queue: no workers")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return errors.New("starting job queue: already started")
	}
	client, err := river.NewClient(riversqlite.New(s.writer), cfg.RiverConfig(s.logger))
	if err != nil {
		return fmt.Errorf("creating job queue: %w", err)
	}
	// The sweep inserts jobs through this client before it works any.
	s.client = client
	if n, err := s.requeueUntried(ctx, client); err != nil {
		return fmt.Errorf("starting job queue: %w", err)
	} else if n > 0 {
		s.logger.InfoContext(ctx, "queued the first try of deliveries left untried by an earlier run", "events", n)
	}
	// River stops when the context given to Start is cancelled; only
	// StopQueue should stop it, not the end of whatever called StartQueue.
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("starting job queue: %w", err)
	}
	s.running = true
	s.dispatch = cfg.Dispatcher
	return nil
}

// requeueUntried queues one job.Fanout per event that has pending deliveries
// without any try and no live fan-out job: deliveries handed to a dispatcher
// whose process then crashed or stopped before the first try. River's args
// column may hold JSONB, so the event ids are read with json_extract.
func (s *Store) requeueUntried(ctx context.Context, client *river.Client[*sql.Tx]) (int, error) {
	live := map[string]bool{}
	rows, err := s.writer.QueryContext(ctx, `SELECT json_extract(args, '$.event_id') FROM river_job
		WHERE kind = ? AND state IN ('available', 'pending', 'retryable', 'running', 'scheduled')`, job.Fanout{}.Kind())
	if err != nil {
		return 0, fmt.Errorf("listing fan-out jobs: %w", err)
	}
	for rows.Next() {
		var id sql.NullString
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("listing fan-out jobs: %w", err)
		}
		live[id.String] = true
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, fmt.Errorf("listing fan-out jobs: %w", err)
	}
	// deliveries_subscription_pending indexes exactly the pending rows.
	untried, err := queryAll(ctx, s.writer, func(r scanner) (string, error) {
		var id string
		return id, r.Scan(&id)
	}, `SELECT DISTINCT event_id FROM deliveries INDEXED BY deliveries_subscription_pending
		WHERE status = 'pending' AND attempts = 0`)
	if err != nil {
		return 0, fmt.Errorf("listing untried deliveries: %w", err)
	}
	var jobs []river.InsertManyParams
	for _, id := range untried {
		if !live[id] {
			jobs = append(jobs, river.InsertManyParams{Args: job.Fanout{EventID: id}, InsertOpts: store.FanoutInsertOpts()})
		}
	}
	if len(jobs) == 0 {
		return 0, nil
	}
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("queueing untried deliveries: %w", unavailable(err))
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := client.InsertManyFastTx(ctx, tx, jobs); err != nil {
		return 0, fmt.Errorf("queueing untried deliveries: %w", unavailable(err))
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("queueing untried deliveries: %w", unavailable(err))
	}
	return len(jobs), nil
}

// hardStopTimeout bounds how long StopQueue waits for cancelled jobs to return.
const hardStopTimeout = 10 * time.Second

// StopQueue stops fetching jobs and waits for running ones until ctx is
// done, then cancels them and waits a little more for them to return.
func (s *Store) StopQueue(ctx context.Context) error {
	s.mu.Lock()
	client, running := s.client, s.running
	s.running = false
	s.dispatch = nil
	s.mu.Unlock()
	if !running {
		return nil
	}
	err := client.Stop(ctx)
	if err == nil {
		return nil
	}
	s.logger.WarnContext(ctx, "jobs still running at the end of the stop timeout; cancelling them", "error", err)
	hardCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), hardStopTimeout)
	defer cancel()
	if err := client.StopAndCancel(hardCtx); err != nil {
		return fmt.Errorf("stopping job queue: %w", err)
	}
	return nil
}

// dispatcher returns the QueueConfig.Dispatcher of the running queue, or nil.
func (s *Store) dispatcher() store.Dispatcher {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dispatch
}

// queue returns the River client jobs are inserted with.
func (s *Store) queue() (*river.Client[*sql.Tx], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		return nil, store.ErrQueueNotStarted
	}
	return s.client, nil
}

// riverTimeLayout parses River's SQLite timestamps (UTC, text).
const riverTimeLayout = "2006-01-02 15:04:05.999999999"

// QueueStats counts jobs waiting to run and the age of the oldest available one.
func (s *Store) QueueStats(ctx context.Context) (store.QueueStats, error) {
	var (
		stats  store.QueueStats
		oldest any
	)
	err := s.reader.QueryRowContext(ctx, `
		SELECT count(*), min(CASE WHEN state = 'available' THEN scheduled_at END)
		FROM river_job
		WHERE state IN ('available', 'scheduled', 'retryable')`).Scan(&stats.Pending, &oldest)
	if err != nil {
		return stats, fmt.Errorf("counting queued jobs: %w", err)
	}
	var at time.Time
	switch v := oldest.(type) {
	case time.Time:
		at = v
	case string:
		at, err = time.Parse(riverTimeLayout, v)
	case []byte:
		at, err = time.Parse(riverTimeLayout, string(v))
	}
	if err != nil {
		return stats, fmt.Errorf("reading oldest job time %v: %w", oldest, err)
	}
	if !at.IsZero() {
		stats.OldestPending = max(0, time.Since(at))
	}
	return stats, nil
}

// write runs fn in a write transaction, possibly shared with concurrent
// writers (see batcher); it commits fn's writes and queued jobs if fn
// returns nil. A write the database refused for the time being is marked
// store.ErrUnavailable.
func (s *Store) write(ctx context.Context, fn func(ctx context.Context, w *writeTx) error) error {
	return unavailable(s.writes.do(ctx, fn))
}

// insertJobs inserts the jobs queued by a batch of write transactions, in
// their transaction.
func (s *Store) insertJobs(ctx context.Context, tx *sql.Tx, jobs []river.InsertManyParams) error {
	client, err := s.queue()
	if err != nil {
		return err
	}
	_, err = client.InsertManyFastTx(ctx, tx, jobs)
	return err
}

// unavailable marks err with store.ErrUnavailable when SQLite refused a
// write for a reason that passes: its write lock held by another connection
// past busy_timeout (SQLITE_BUSY, SQLITE_LOCKED) or a full disk
// (SQLITE_FULL). Callers then say "retry later" instead of reporting an
// internal error. Other errors are returned as they are.
func unavailable(err error) error {
	var se *msqlite.Error
	if err == nil || errors.Is(err, store.ErrUnavailable) || !errors.As(err, &se) {
		return err
	}
	// Extended codes (SQLITE_BUSY_SNAPSHOT, ...) keep the primary code in
	// their low byte.
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_FULL:
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return err
}

func ignoreDone(err error) error {
	if errors.Is(err, sql.ErrTxDone) {
		return nil
	}
	return err
}

// Times are stored as INTEGER unix microseconds, the precision store.Time keeps.

func micros(t time.Time) int64 { return t.UnixMicro() }

func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func notFound(what, id string) error {
	return fmt.Errorf("%s %s: %w", what, id, store.ErrNotFound)
}
