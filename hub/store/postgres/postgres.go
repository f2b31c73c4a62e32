package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/switchboardhq/switchboard/hub/job"
	"github.com/switchboardhq/switchboard/hub/store"
)

//go:embed migrations/*.sql
var migrationsFS embed.FS

// gooseTable records our migrations apart from River's river_migration table,
// so each migrator only ever sees its own versions. Same name as the SQLite
// store's.
const gooseTable = "switchboard_migration"

// migrationLockKey is the advisory lock every node takes around its
// migrations, so that nodes starting at once migrate one after the other
// instead of racing to create the same tables. Fixed: all nodes of all
// versions must agree on it.
const migrationLockKey int64 = 0x5377_6264_4d69_6772 // "SwbdMigr"

// sweepLockKey serialises the StartQueue sweeps of nodes starting at once,
// so two of them never queue the same stranded event twice.
const sweepLockKey int64 = 0x5377_6264_5377_6570 // "SwbdSwep"

// Pool sizes. River keeps one connection for LISTEN, the migrations hold one
// for their lock while they run on others, and River's workers and the API
// borrow connections only for the length of a query or transaction, so a
// few dozen serve hundreds of workers.
const (
	defaultMaxConns = 32
	minMaxConns     = 8
)

// defaultLockTimeout is the lock_timeout of the store's sessions unless the
// URL sets one: a statement waiting longer for a lock fails with
// lock_not_available, which the store reports as store.ErrUnavailable (the
// counterpart of SQLite's busy timeout), instead of hanging the request.
const defaultLockTimeout = "5s"

// writeTimeout bounds a write transaction once it has begun. Writes run to
// completion whatever the caller's context does (see write), so this is
// what ends one stuck on a database that stopped answering.
const writeTimeout = 15 * time.Second

// Config says which database to use.
type Config struct {
	// URL is a postgres:// or postgresql:// URL. PostgreSQL settings given
	// as query parameters (lock_timeout=2s, statement_timeout=30s) apply to
	// every session of the store; pool_max_conns is overridden by MaxConns.
	URL string
	// Sealer encrypts secrets at rest. Required: the store never writes a
	// secret in plaintext.
	Sealer store.Sealer
	// Logger receives the store's and River's logs; nil discards them.
	Logger *slog.Logger
	// MaxConns bounds the pgx pool: default 32, at least 8 (River holds one
	// for LISTEN, a migration one for its lock). A URL's pool_max_conns is
	// used when MaxConns is zero.
	MaxConns int32
	// SweepInterval is how often a node with a running queue looks for first
	// tries a dead node's dispatcher left untried (see requeueUntried):
	// default 15s. It bounds how long such deliveries wait once PostgreSQL
	// has ended the dead node's session.
	SweepInterval time.Duration
	// StrandedAfter is how long a delivery may stay untried in the hands of
	// a live node's dispatcher before the sweep queues it anyway: default
	// 15m. A first try that could not start (its write's outcome unknown to
	// the caller, a body that would not encode) leaves the delivery with
	// its node, and the node lives on. Far above how long a first try
	// takes, so that a slow one is rarely made twice.
	StrandedAfter time.Duration
}

// Defaults of Config.
const (
	DefaultSweepInterval = 15 * time.Second
	DefaultStrandedAfter = 15 * time.Minute
)

// Store is the PostgreSQL implementation of store.Store.
type Store struct {
	pool   *pgxpool.Pool
	sealer store.Sealer
	logger *slog.Logger

	sweepEvery    time.Duration
	strandedAfter time.Duration
	outcomes      *combiner[*outcomeReq] // RecordOutcomes' writes
	publishes     *combiner[*publishReq] // PublishEvent's writes

	mu        sync.Mutex
	client    *river.Client[pgx.Tx]
	running   bool
	dispatch  store.Dispatcher // QueueConfig.Dispatcher while the queue runs
	node      *nodeLock        // this node's lock, while dispatch is set and the lock is held
	stopSweep func()           // ends the periodic sweep and waits for it
}

var _ store.Store = (*Store)(nil)

// Open connects to the database at cfg.URL and migrates River's and the
// hub's schema, under an advisory lock so that nodes starting together
// take turns.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.URL == "" {
		return nil, errors.New("postgres store: no database URL")
	}
	if !strings.HasPrefix(cfg.URL, "postgres://") && !strings.HasPrefix(cfg.URL, "postgresql://") {
		return nil, errors.New("postgres store: database URL must start with postgres:// or postgresql://")
	}
	if cfg.Sealer == nil {
		return nil, errors.New("postgres store: no sealer for secrets")
	}
	if cfg.MaxConns < 0 {
		return nil, fmt.Errorf("postgres store: MaxConns must not be negative, got %d", cfg.MaxConns)
	}
	if cfg.SweepInterval < 0 {
		return nil, fmt.Errorf("postgres store: SweepInterval must not be negative, got %s", cfg.SweepInterval)
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = DefaultSweepInterval
	}
	if cfg.StrandedAfter < 0 {
		return nil, fmt.Errorf("postgres store: StrandedAfter must not be negative, got %s", cfg.StrandedAfter)
	}
	if cfg.StrandedAfter == 0 {
		cfg.StrandedAfter = DefaultStrandedAfter
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	poolCfg, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		// pgx's parse errors leave the password out.
		return nil, fmt.Errorf("postgres store: %w", err)
	}
	switch {
	case cfg.MaxConns > 0:
		poolCfg.MaxConns = cfg.MaxConns
	case !hasQueryParam(cfg.URL, "pool_max_conns"):
		poolCfg.MaxConns = defaultMaxConns
	}
	poolCfg.MaxConns = max(poolCfg.MaxConns, minMaxConns)
	params := poolCfg.ConnConfig.RuntimeParams
	if _, ok := params["lock_timeout"]; !ok {
		params["lock_timeout"] = defaultLockTimeout
	}
	if _, ok := params["application_name"]; !ok {
		params["application_name"] = "switchboard"
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, fmt.Errorf("postgres store: %w", err)
	}

	s := &Store{pool: pool, sealer: cfg.Sealer, logger: logger, sweepEvery: cfg.SweepInterval, strandedAfter: cfg.StrandedAfter}
	s.outcomes = newOutcomeCombiner(s)
	s.publishes = newPublishCombiner(s)
	if err := s.setUp(ctx); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	return s, nil
}

// hasQueryParam reports whether the URL sets the query parameter name.
func hasQueryParam(rawURL, name string) bool {
	u, err := url.Parse(rawURL)
	return err == nil && u.Query().Has(name)
}

func (s *Store) setUp(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("connecting to the database: %w", unavailable(err))
	}
	return s.migrate(ctx)
}

// migrate brings River's schema and then ours up to date. Both are no-ops
// when nothing is pending, so every start runs them. The advisory lock is
// held on a connection of its own while the migrators use others: a second
// node opening the database waits for it and then finds nothing to do.
func (s *Store) migrate(ctx context.Context) (err error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("migrating: %w", unavailable(err))
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey); err != nil {
		return fmt.Errorf("taking the migration lock: %w", unavailable(err))
	}
	defer func() {
		if _, unlockErr := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLockKey); unlockErr != nil {
			// Closing the session releases the lock; the pool then
			// drops the closed connection.
			err = errors.Join(err, fmt.Errorf("releasing the migration lock: %w", unlockErr), conn.Conn().Close(context.WithoutCancel(ctx)))
		}
	}()

	migrator, err := rivermigrate.New(riverpgxv5.New(s.pool), &rivermigrate.Config{Logger: s.logger})
	if err != nil {
		return fmt.Errorf("creating River migrator: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrating River's schema: %w", unavailable(err))
	}

	fsys, err := fs.Sub(migrationsFS, "migrations")
	if err != nil {
		return fmt.Errorf("loading migrations: %w", err)
	}
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	provider, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithTableName(gooseTable),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("creating migrator: %w", err)
	}
	results, err := provider.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrating schema: %w", unavailable(err))
	}
	for _, r := range results {
		s.logger.InfoContext(ctx, "applied migration", "version", r.Source.Version, "path", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("pinging database: %w", unavailable(err))
	}
	return nil
}

// Close releases the database. A queue still running is stopped hard first,
// since River must not outlive the pool it works through.
func (s *Store) Close() error {
	client, running, node := s.stopping()
	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), hardStopTimeout)
	defer cancel()
	if running {
		errs = append(errs, client.StopAndCancel(ctx))
	}
	errs = append(errs, node.release(ctx))
	s.pool.Close()
	return errors.Join(errs...)
}

// StartQueue creates and starts the River client, after queueing the first
// try of deliveries a dispatcher never made (see store.Dispatcher), and then
// repeats that sweep every SweepInterval while the queue runs, for the
// deliveries of nodes that die meanwhile. With a dispatcher it first takes
// this node's advisory lock, which tells the other nodes' sweeps that the
// deliveries it is handed are in hand.
func (s *Store) StartQueue(ctx context.Context, cfg store.QueueConfig) error {
	if cfg.Workers == nil {
		return errors.New("starting job queue: no workers")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running {
		return errors.New("starting job queue: already started")
	}
	client, err := river.NewClient(riverpgxv5.New(s.pool), cfg.RiverConfig(s.logger))
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
	var node *nodeLock
	if cfg.Dispatcher != nil {
		if node, err = s.lockNode(ctx); err != nil {
			return fmt.Errorf("starting job queue: %w", err)
		}
	}
	// River stops when the context given to Start is cancelled; only
	// StopQueue should stop it, not the end of whatever called StartQueue.
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		return errors.Join(fmt.Errorf("starting job queue: %w", err), node.release(context.WithoutCancel(ctx)))
	}
	s.running = true
	s.dispatch, s.node = cfg.Dispatcher, node
	s.stopSweep = s.startSweep(client)
	return nil
}

// liveFanoutStates are the River job states in which a fan-out job will
// still run (or is running).
const liveFanoutStates = `('available', 'pending', 'retryable', 'running', 'scheduled')`

// releaseStrandedSQL takes untried deliveries from the dispatcher nodes
// that no longer hold them: a node is live while it holds its advisory
// lock (node.go), and a live node's deliveries untried for StrandedAfter
// are taken too. Released deliveries have no node, so a fan-out job tries
// them (fanoutTargetsQuery). This node's own lock was released by
// StopQueue, so at start what its dispatcher left untried is taken too.
const releaseStrandedSQL = `
	WITH live AS (
		SELECT objid::bigint AS node FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid::bigint = $1
			AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
	)
	UPDATE deliveries SET dispatcher_node = NULL
	WHERE status = 'pending' AND attempts = 0 AND dispatcher_node IS NOT NULL
		AND (dispatcher_node NOT IN (SELECT node FROM live) OR created_at < $2)`

// untriedSQL finds the events that have pending deliveries without any try,
// no dispatcher node and no live fan-out job.
const untriedSQL = `
	SELECT DISTINCT d.event_id FROM deliveries d
	WHERE d.status = 'pending' AND d.attempts = 0 AND d.dispatcher_node IS NULL
		AND NOT EXISTS (
			SELECT 1 FROM river_job j
			WHERE j.kind = $1 AND j.state IN ` + liveFanoutStates + `
				AND j.args @> jsonb_build_object('event_id', d.event_id)
		)`

// requeueUntried releases stranded deliveries (releaseStrandedSQL) and
// queues one job.Fanout per event found by untriedSQL. Nodes sweeping at
// once take turns (sweepLockKey), so each stranded event gets one job.
func (s *Store) requeueUntried(ctx context.Context, client *river.Client[pgx.Tx]) (int, error) {
	var n int
	err := s.writeWith(ctx, client, func(ctx context.Context, w *writeTx) error {
		if _, err := w.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, sweepLockKey); err != nil {
			return fmt.Errorf("taking the sweep lock: %w", err)
		}
		if _, err := w.Exec(ctx, releaseStrandedSQL, int64(dispatchLockClass), store.Now().Add(-s.strandedAfter)); err != nil {
			return fmt.Errorf("releasing stranded deliveries: %w", err)
		}
		untried, err := queryAll(ctx, w, func(r scanner) (string, error) {
			var id string
			return id, r.Scan(&id)
		}, untriedSQL, job.Fanout{}.Kind())
		if err != nil {
			return fmt.Errorf("listing untried deliveries: %w", err)
		}
		for _, id := range untried {
			w.enqueue(job.Fanout{EventID: id}, store.FanoutInsertOpts())
		}
		n = len(untried)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("queueing untried deliveries: %w", err)
	}
	return n, nil
}

// startSweep runs requeueUntried every sweepEvery until the returned
// function is called, which waits for a sweep under way to end.
func (s *Store) startSweep(client *river.Client[pgx.Tx]) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		ticker := time.NewTicker(s.sweepEvery)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
			s.keepNode(ctx)
			n, err := s.requeueUntried(ctx, client)
			switch {
			case err != nil && ctx.Err() == nil:
				s.logger.WarnContext(ctx, "sweeping untried deliveries failed; trying again later", "error", err)
			case n > 0:
				s.logger.InfoContext(ctx, "queued the first try of deliveries a stopped node left untried", "events", n)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// stopping marks the queue stopped, ends the periodic sweep, and returns
// what is left to stop: the client if it was running, and this node's lock.
func (s *Store) stopping() (client *river.Client[pgx.Tx], running bool, node *nodeLock) {
	s.mu.Lock()
	client, running, node = s.client, s.running, s.node
	stopSweep := s.stopSweep
	s.running, s.dispatch, s.node, s.stopSweep = false, nil, nil, nil
	s.mu.Unlock()
	if stopSweep != nil {
		stopSweep()
	}
	return client, running, node
}

// hardStopTimeout bounds how long StopQueue waits for cancelled jobs to return.
const hardStopTimeout = 10 * time.Second

// StopQueue stops fetching jobs and waits for running ones until ctx is
// done, then cancels them and waits a little more for them to return.
// Then it gives up this node's dispatcher lock: whatever the dispatcher
// left untried is now for the next sweep.
func (s *Store) StopQueue(ctx context.Context) error {
	client, running, node := s.stopping()
	if !running {
		return nil
	}
	defer func() {
		if err := node.release(context.WithoutCancel(ctx)); err != nil {
			s.logger.WarnContext(ctx, "releasing the dispatcher lock", "error", err)
		}
	}()
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

// dispatcher returns the QueueConfig.Dispatcher of the running queue and
// the number of this node's lock, or nil while it holds no lock.
func (s *Store) dispatcher() (store.Dispatcher, int32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dispatch == nil || s.node == nil {
		return nil, 0
	}
	return s.dispatch, s.node.id
}

// queue returns the River client jobs are inserted with.
func (s *Store) queue() (*river.Client[pgx.Tx], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client == nil {
		return nil, store.ErrQueueNotStarted
	}
	return s.client, nil
}

// QueueStats counts jobs waiting to run and the age of the oldest available
// one, by the database's clock, which also stamped the jobs.
func (s *Store) QueueStats(ctx context.Context) (store.QueueStats, error) {
	var (
		stats  store.QueueStats
		oldest float64
	)
	err := s.pool.QueryRow(ctx, `
		SELECT count(*), coalesce(extract(epoch FROM now() - min(scheduled_at) FILTER (WHERE state = 'available')), 0)::float8
		FROM river_job
		WHERE state IN ('available', 'scheduled', 'retryable')`).Scan(&stats.Pending, &oldest)
	if err != nil {
		return stats, fmt.Errorf("counting queued jobs: %w", unavailable(err))
	}
	stats.OldestPending = max(0, time.Duration(oldest*float64(time.Second)))
	return stats, nil
}

// writeTx is a write transaction and the jobs it queues, which are inserted
// in it just before it commits.
type writeTx struct {
	pgx.Tx
	jobs []river.InsertManyParams
}

// enqueue inserts a job when the transaction commits.
func (w *writeTx) enqueue(args river.JobArgs, opts *river.InsertOpts) {
	w.jobs = append(w.jobs, river.InsertManyParams{Args: args, InsertOpts: opts})
}

// write runs fn in a transaction and commits fn's writes and queued jobs if
// fn returns nil. A write the database refused for the time being is marked
// store.ErrUnavailable.
func (s *Store) write(ctx context.Context, fn func(ctx context.Context, w *writeTx) error) error {
	// A write that queues no job needs no client.
	client, _ := s.queue()
	return s.writeWith(ctx, client, fn)
}

// writeWith is write with the client to insert jobs with.
//
// As with the SQLite store, ctx is checked before the transaction begins;
// its statements then run to completion regardless of ctx (bounded by
// writeTimeout), so a caller that goes away mid-way never leaves a commit
// whose outcome nobody knows: a publish is either answered or not stored.
func (s *Store) writeWith(ctx context.Context, client *river.Client[pgx.Tx], fn func(ctx context.Context, w *writeTx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	err := pgx.BeginFunc(wctx, s.pool, func(tx pgx.Tx) error {
		w := &writeTx{Tx: tx}
		if err := fn(wctx, w); err != nil {
			return err
		}
		if len(w.jobs) == 0 {
			return nil
		}
		if client == nil {
			return store.ErrQueueNotStarted
		}
		if _, err := client.InsertManyFastTx(wctx, tx, w.jobs); err != nil {
			return fmt.Errorf("queueing %d jobs: %w", len(w.jobs), err)
		}
		return nil
	})
	if err != nil && errors.Is(wctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("the database did not finish a write within %s: %w: %w", writeTimeout, store.ErrUnavailable, err)
	}
	return unavailable(err)
}

type scanner interface{ Scan(dest ...any) error }

// querier is what queries run on: the pool or a transaction.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// queryAll runs a query and scans every row with scan. The rows are closed
// before it returns, so callers decrypt what they read without holding a
// connection of the pool.
func queryAll[T any](ctx context.Context, q querier, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("reading row: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// Times are stored as timestamptz, which keeps the microseconds store.Time
// keeps; pgx reads them in the local zone, the store hands them out in UTC.

func utc(t time.Time) time.Time { return t.UTC() }

func utcOrNil(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func notFound(what, id string) error {
	return fmt.Errorf("%s %s: %w", what, id, store.ErrNotFound)
}
