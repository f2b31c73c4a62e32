// Package pgtest gives tests a database of their own on a real PostgreSQL
// server, so that store tests (and hub tests run against the PostgreSQL
// store) need no mocks and never share data.
//
// The server is the one SWITCHBOARD_TEST_DATABASE_URL names (a postgres://
// URL of a user that may create databases), by default the local
// postgres://postgres@127.0.0.1:5432/postgres. A server that cannot be
// reached fails the test with how to start one; it is never skipped.
//
// Migrating River's schema and the hub's takes far longer than copying a
// database, and the conformance suite opens a store for every one of its
// subtests, so each test binary migrates one template database once and
// every NewDatabase copies it (CREATE DATABASE ... TEMPLATE). Call Run from
// TestMain to drop the template when the tests end:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }
//
// Each test binary holds an advisory lock for as long as it runs, and the
// databases it creates carry the lock's name. Databases whose binary is
// gone (killed before its cleanups, or without Run in its TestMain) are
// dropped by the next binary that sets up, and any older than an hour in
// any case.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/fnv"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboardhq/switchboard/hub/secret"
	"github.com/switchboardhq/switchboard/hub/store/postgres"
)

// EnvURL names the environment variable with the admin URL.
const EnvURL = "SWITCHBOARD_TEST_DATABASE_URL"

// DefaultURL is the admin URL when EnvURL is not set: the local server's
// superuser with trust authentication.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Name prefixes of the databases this package creates; the part after the
// prefix is "<unix seconds>_<run id>_<sequence>".
const (
	templatePrefix = "switchboard_tmpl_"
	testPrefix     = "switchboard_test_"
)

// ownerLockClass is the first key of the advisory lock a test binary holds
// while it runs; the second is derived from its run id.
const ownerLockClass int32 = 0x70677473 // "pgts"

// staleAfter is the age past which a database with one of the prefixes is
// taken for a leftover of a killed run and dropped.
const staleAfter = time.Hour

// startHint tells how to get a server when none answers.
const startHint = "start the local one with `pg_ctlcluster --skip-systemctl-redirect 15 main start`, or set " + EnvURL + " to a server's admin URL"

var (
	setUpOnce sync.Once
	setUpErr  error
	admin     *pgxpool.Pool // connected to the admin URL's database
	adminURL  *url.URL
	owner     *pgx.Conn // holds this binary's owner lock
	template  string    // name of this binary's migrated template

	// runID tells this binary's databases from others'.
	runID = hex.EncodeToString(randomBytes(6))
	seq   atomic.Int64

	// createMu serialises copies of the template: PostgreSQL refuses to
	// copy a database while another session uses it, and a copy in
	// progress is such a session.
	createMu sync.Mutex
)

// NewDatabase creates a database for this test as a copy of a template
// migrated with postgres.Open, drops it when the test ends, and returns its
// URL: a store opened on it has every table and no data.
func NewDatabase(t testing.TB) string {
	t.Helper()
	setUpOnce.Do(func() { setUpErr = setUp() })
	if setUpErr != nil {
		t.Fatalf("pgtest: %v", setUpErr)
	}
	return create(t, template)
}

// NewBareDatabase creates a database with no schema at all, as a new
// deployment finds it, drops it when the test ends and returns its URL:
// for tests of migrating.
func NewBareDatabase(t testing.TB) string {
	t.Helper()
	if err := connect(); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return create(t, "")
}

// Run runs the tests and then drops the template database, and returns the
// exit code for os.Exit. TestMain of every package using NewDatabase should
// call it.
func Run(m *testing.M) int {
	code := m.Run()
	if template != "" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := drop(ctx, template); err != nil {
			fmt.Fprintf(os.Stderr, "pgtest: dropping template database %s: %v\n", template, err)
		}
	}
	if admin != nil {
		admin.Close()
	}
	if owner != nil {
		_ = owner.Close(context.Background())
	}
	return code
}

var connectOnce sync.Once
var connectErr error

// connect opens the admin pool once.
func connect() error {
	connectOnce.Do(func() { connectErr = connectAdmin() })
	return connectErr
}

func connectAdmin() error {
	raw := os.Getenv(EnvURL)
	if raw == "" {
		raw = DefaultURL
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return fmt.Errorf("%s must be a postgres:// URL", EnvURL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pool, err := pgxpool.New(ctx, raw)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		return fmt.Errorf("PostgreSQL at %s is not reachable: %w; %s", u.Redacted(), err, startHint)
	}
	// The owner lock lives as long as this session, which ends with the
	// process at the latest.
	conn, err := pgx.Connect(ctx, raw)
	if err == nil {
		_, err = conn.Exec(ctx, `SELECT pg_advisory_lock($1::int4, $2::int4)`, ownerLockClass, ownerKey(runID))
	}
	if err != nil {
		pool.Close()
		if conn != nil {
			_ = conn.Close(ctx)
		}
		return fmt.Errorf("taking the test run's lock: %w", err)
	}
	admin, adminURL, owner = pool, u, conn
	return nil
}

// ownerKey is the second key of the owner lock of run id.
func ownerKey(id string) int32 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int32(h.Sum32() & 0x7fffffff)
}

// setUp connects, drops stale leftovers and migrates this binary's template.
func setUp() error {
	if err := connect(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := dropStale(ctx); err != nil {
		return err
	}
	name := newName(templatePrefix)
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("creating template database: %w", err)
	}
	box, err := newSealer()
	if err != nil {
		return errors.Join(err, drop(ctx, name))
	}
	s, err := postgres.Open(ctx, postgres.Config{URL: databaseURL(name), Sealer: box})
	if err != nil {
		return errors.Join(fmt.Errorf("migrating template database: %w", err), drop(ctx, name))
	}
	// Copying needs the template without sessions.
	if err := s.Close(); err != nil {
		return errors.Join(fmt.Errorf("closing template database: %w", err), drop(ctx, name))
	}
	template = name
	return nil
}

// create makes a database (a copy of from, or an empty one), registers its
// drop and returns its URL.
func create(t testing.TB, from string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := newName(testPrefix)
	stmt := `CREATE DATABASE ` + pgx.Identifier{name}.Sanitize()
	if from != "" {
		stmt += ` TEMPLATE ` + pgx.Identifier{from}.Sanitize()
	}
	if err := createDatabase(ctx, stmt); err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := drop(ctx, name); err != nil {
			t.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})
	return databaseURL(name)
}

// createDatabase runs stmt, one at a time, retrying while the template is
// still in use: a session that just closed may linger for a moment.
func createDatabase(ctx context.Context, stmt string) error {
	createMu.Lock()
	defer createMu.Unlock()
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		_, err := admin.Exec(ctx, stmt)
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55006" { // object_in_use
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %w)", ctx.Err(), err)
		case <-time.After(wait):
		}
	}
}

// drop drops a database, ending any session still on it.
func drop(ctx context.Context, name string) error {
	_, err := admin.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize()+` WITH (FORCE)`)
	return err
}

// dropStale drops the databases of this package that test binaries left
// behind: those of binaries that no longer hold their owner lock, and any
// older than staleAfter.
func dropStale(ctx context.Context) error {
	rows, err := admin.Query(ctx, `SELECT datname FROM pg_database
		WHERE datname LIKE 'switchboard\_tmpl\_%' OR datname LIKE 'switchboard\_test\_%'`)
	if err != nil {
		return fmt.Errorf("listing databases: %w", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return fmt.Errorf("listing databases: %w", err)
	}
	live, err := liveOwners(ctx)
	if err != nil {
		return err
	}
	for _, name := range names {
		created, id, ok := parseName(name)
		if !ok || id == runID || (live[ownerKey(id)] && time.Since(created) < staleAfter) {
			continue
		}
		if err := drop(ctx, name); err != nil {
			return fmt.Errorf("dropping stale database %s: %w", name, err)
		}
	}
	return nil
}

// liveOwners returns the keys of the owner locks held now.
func liveOwners(ctx context.Context) (map[int32]bool, error) {
	rows, err := admin.Query(ctx, `SELECT objid::bigint FROM pg_locks
		WHERE locktype = 'advisory' AND granted AND objsubid = 2 AND classid::bigint = $1`, ownerLockClass)
	if err != nil {
		return nil, fmt.Errorf("listing test runs: %w", err)
	}
	keys, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("listing test runs: %w", err)
	}
	live := make(map[int32]bool, len(keys))
	for _, k := range keys {
		live[int32(k)] = true
	}
	return live, nil
}

// parseName reads the creation time and run id from a name newName made.
func parseName(name string) (created time.Time, id string, ok bool) {
	for _, prefix := range []string{templatePrefix, testPrefix} {
		if rest, found := strings.CutPrefix(name, prefix); found {
			parts := strings.Split(rest, "_")
			if len(parts) != 3 {
				return time.Time{}, "", false
			}
			sec, err := strconv.ParseInt(parts[0], 10, 64)
			return time.Unix(sec, 0), parts[1], err == nil
		}
	}
	return time.Time{}, "", false
}

// newName returns prefix, the time, this binary's run id and a sequence
// number: unique, dated and owned, for dropStale.
func newName(prefix string) string {
	return fmt.Sprintf("%s%d_%s_%d", prefix, time.Now().Unix(), runID, seq.Add(1))
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return b
}

// databaseURL is the admin URL pointing at database name instead.
func databaseURL(name string) string {
	u := *adminURL
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// newSealer returns a sealer with a random key; the template holds no
// secrets, so nothing needs to open them again.
func newSealer() (*secret.Box, error) {
	box, err := secret.NewBox(randomBytes(secret.KeySize))
	if err != nil {
		return nil, fmt.Errorf("creating sealer: %w", err)
	}
	return box, nil
}
