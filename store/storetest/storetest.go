// Package storetest opens stores for tests: SQLite always, PostgreSQL when
// WARD_TEST_POSTGRES_URL is set (each test in a fresh schema, dropped after).
// Use ForEach to run one test body on every available backend.
package storetest

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/postgres"
	"github.com/wardhealth/ward/store/sqlite"
	"github.com/wardhealth/ward/store/sqltrace"
)

// PostgresURLEnv names the variable that enables PostgreSQL tests.
const PostgresURLEnv = "WARD_TEST_POSTGRES_URL"

// ForEach runs fn as a subtest once per backend ("sqlite", "postgres").
// Without WARD_TEST_POSTGRES_URL the PostgreSQL subtest is skipped, saying so.
func ForEach(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, OpenSQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, OpenPostgres(t)) })
}

// OpenSQLite opens a fresh SQLite store in a temporary directory.
func OpenSQLite(tb testing.TB) *store.Store {
	tb.Helper()
	return OpenSQLiteTraced(tb, nil)
}

// OpenSQLiteTraced is OpenSQLite with every statement passed to trace
// (nil: none).
func OpenSQLiteTraced(tb testing.TB, trace sqltrace.Hook) *store.Store {
	tb.Helper()
	s, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "ward.db"), sqlite.Options{Synchronous: "OFF", Trace: trace})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// OpenPostgres opens a store in a fresh schema, or skips the test when
// PostgreSQL is not configured.
func OpenPostgres(tb testing.TB) *store.Store {
	tb.Helper()
	return OpenPostgresWith(tb, postgres.Options{})
}

// OpenPostgresWith is OpenPostgres with opts (its SearchPath and MaxConns
// are the test's own).
func OpenPostgresWith(tb testing.TB, opts postgres.Options) *store.Store {
	tb.Helper()
	url, schema := PostgresSchema(tb)
	opts.SearchPath, opts.MaxConns = schema, 8
	s, err := postgres.Open(context.Background(), url, opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// PostgresSchema creates a fresh, empty schema (dropped after the test) and
// returns the database URL and the schema name, for tests that open several
// stores on one database as several processes would; it skips the test when
// PostgreSQL is not configured.
func PostgresSchema(tb testing.TB) (url, schema string) {
	tb.Helper()
	url = os.Getenv(PostgresURLEnv)
	if url == "" {
		tb.Skip("PostgreSQL not configured: set " + PostgresURLEnv + " to run this test on PostgreSQL")
	}
	ctx := context.Background()
	admin, err := sql.Open("pgx", url)
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	schema = fmt.Sprintf("t_%s_%d", strings.ToLower(sanitize(tb.Name())), time.Now().UnixNano()%1e9)
	if len(schema) > 60 {
		schema = schema[len(schema)-60:]
		schema = "t" + schema[1:]
	}
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		tb.Fatalf("postgres at %s: %v", url, err)
	}
	// Registered first, so it runs after the stores opened on the schema close.
	tb.Cleanup(func() {
		if db, err := sql.Open("pgx", url); err == nil {
			db.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			db.Close()
		}
	})
	return url, schema
}

func sanitize(name string) string {
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}
