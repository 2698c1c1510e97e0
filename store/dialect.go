package store

import (
	"database/sql"
	"errors"
	"strconv"
	"strings"
)

// Dialect holds what differs between the SQL engines. The schema and the
// generated SQL are otherwise the same text for both.
type Dialect interface {
	// Name is "sqlite" or "postgres".
	Name() string
	// Rebind turns the ? placeholders of query into the engine's own.
	Rebind(query string) string
	// ForUpdate is the suffix that locks a selected row for the rest of the
	// write transaction ("" where writers are serialised anyway).
	ForUpdate() string
	// PrepareOnce reports that Ward should keep statements prepared
	// itself. pgx already caches prepared statements per connection, and a
	// second cache on top only adds round trips and locking.
	PrepareOnce() bool
	// Retryable reports that err aborted a transaction only because of
	// another transaction (a deadlock or serialization failure), so running
	// it again may succeed.
	Retryable(err error) bool
	// ByResource is what follows "FROM table alias" so that a lookup of one
	// resource's index rows uses table's resource index. SQLite's planner,
	// without statistics, would rather range-scan a covering index on
	// (param, value, …) for each resource — over millions of rows; its
	// INDEXED BY names the index. PostgreSQL plans by its statistics: "".
	ByResource(table string) string
	// SnapshotOptions start a read transaction that sees one consistent
	// state of the whole database (a project archive's).
	SnapshotOptions() *sql.TxOptions
}

// SQLite is the dialect of modernc.org/sqlite.
type SQLite struct{}

func (SQLite) Name() string               { return "sqlite" }
func (SQLite) Rebind(query string) string { return query }
func (SQLite) ForUpdate() string          { return "" }
func (SQLite) PrepareOnce() bool          { return true }

// SnapshotOptions: an SQLite read transaction already reads one snapshot
// (WAL) from its first read on.
func (SQLite) SnapshotOptions() *sql.TxOptions { return nil }
func (SQLite) ByResource(table string) string {
	return " INDEXED BY " + table + "_resource"
}

// Retryable is false: one writer connection with BEGIN IMMEDIATE queues
// writers instead of failing them.
func (SQLite) Retryable(error) bool { return false }

// Postgres is the dialect of PostgreSQL through pgx.
type Postgres struct{}

func (Postgres) Name() string             { return "postgres" }
func (Postgres) ForUpdate() string        { return " FOR UPDATE" }
func (Postgres) PrepareOnce() bool        { return false }
func (Postgres) ByResource(string) string { return "" }
func (Postgres) SnapshotOptions() *sql.TxOptions {
	return &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
}

// Retryable is true for deadlock_detected (40P01) and
// serialization_failure (40001).
// The driver's error is matched by its SQLState method, so this package
// does not import pgx.
func (Postgres) Retryable(err error) bool {
	var pg interface{ SQLState() string }
	if !errors.As(err, &pg) {
		return false
	}
	code := pg.SQLState()
	return code == "40P01" || code == "40001"
}

// Rebind numbers the placeholders: ? → $1, $2, …. Queries are built by this
// package and never contain a literal '?' inside a string.
func (Postgres) Rebind(query string) string {
	n := strings.Count(query, "?")
	if n == 0 {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + n*3)
	i := 0
	for _, c := range query {
		if c == '?' {
			i++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(i))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}
