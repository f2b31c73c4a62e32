package ingest_test

import (
	"os"
	"testing"

	"github.com/switchboardhq/switchboard/hub/store/postgres/pgtest"
)

// TestMain drops this binary's PostgreSQL template database when the tests
// end (tests that run on both stores use pgtest).
func TestMain(m *testing.M) { os.Exit(pgtest.Run(m)) }
