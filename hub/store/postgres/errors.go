package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/switchboardhq/switchboard/hub/store"
)

// transientCodes are the SQLSTATEs of failures that pass: the server is
// going away or not taking connections yet, it is out of connections, disk
// or memory, a lock stayed held past lock_timeout, a statement ran past
// statement_timeout (57014; a cancelled context never gets here, see
// transient), or the transaction lost a deadlock or serialization race and
// the same call may well go through.
var transientCodes = map[string]bool{
	"57P01": true, // admin_shutdown (also pg_terminate_backend)
	"57P02": true, // crash_shutdown
	"57P03": true, // cannot_connect_now (starting up, shutting down, recovering)
	"53300": true, // too_many_connections
	"53100": true, // disk_full
	"53000": true, // insufficient_resources
	"53200": true, // out_of_memory
	"55P03": true, // lock_not_available (lock_timeout)
	"57014": true, // query_canceled (statement_timeout)
	"40001": true, // serialization_failure
	"40P01": true, // deadlock_detected
}

// unavailable marks err with store.ErrUnavailable when PostgreSQL could not
// do what was asked for a reason that passes (see transient), so that
// callers say "retry later" instead of reporting an internal error. Other
// errors are returned as they are.
func unavailable(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) || !transient(err) {
		return err
	}
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
}

// transient reports whether err is a failure that passes: one of
// transientCodes, or no answer from the server at all (connection refused,
// reset or lost). A context the caller cancelled or let expire is the
// caller's decision, not the database's state, and neither is an error in
// the request (a constraint, a syntax error) or a refused login.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	// Before ConnectError: a refused connection may carry the server's
	// answer, and "too many connections" passes where a bad password does
	// not.
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return transientCodes[pgErr.Code]
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	switch {
	case errors.As(err, &connectErr), errors.As(err, &netErr):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return true
	}
	return false
}
