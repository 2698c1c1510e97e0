// Package sqlite opens Ward's store on an embedded SQLite database
// (modernc.org/sqlite, no cgo) in WAL mode: one writer connection that
// begins IMMEDIATE transactions (which concurrent writes share, see
// store's groupcommit.go), and a pool of read-only readers.
//
// It only opens connections and picks the dialect; all SQL is in package store.
package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	sqlitedrv "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/sqltrace"
)

// Options tune the database.
type Options struct {
	// Synchronous is SQLite's synchronous pragma. "FULL" (the default)
	// makes an acknowledged write survive power loss; "NORMAL" survives a
	// process crash only and is faster.
	Synchronous string
	// NoGroupCommit gives every write a transaction, a commit and an fsync
	// of its own instead of sharing them among concurrent writes
	// (store.Store.SetGroupCommit): the baseline of a benchmark.
	NoGroupCommit bool
	// Readers is the size of the read pool (default 2×GOMAXPROCS, at least 4).
	Readers int
	Logger  *slog.Logger
	// Trace, when set, sees every statement before it runs (tests).
	Trace sqltrace.Hook
}

// Open opens (creating if needed) the database file at path, migrates it
// and returns the store.
func Open(ctx context.Context, path string, opts Options) (*store.Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if opts.Synchronous == "" {
		opts.Synchronous = "FULL"
	}
	if opts.Readers <= 0 {
		opts.Readers = max(4, 2*runtime.GOMAXPROCS(0))
	}
	writer, err := openDB(dsn(path, opts.Synchronous, true), opts.Trace)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	// The writer creates the file and switches it to WAL before readers open.
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	reader, err := openDB(dsn(path, opts.Synchronous, false), opts.Trace)
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	reader.SetMaxOpenConns(opts.Readers)
	reader.SetMaxIdleConns(opts.Readers)
	reader.SetConnMaxLifetime(0)
	s := store.New(reader, writer, store.SQLite{}, opts.Logger)
	s.SetGroupCommit(!opts.NoGroupCommit)
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// openDB opens a pool on dsn, its statements passed to trace when set.
func openDB(dsn string, trace sqltrace.Hook) (*sql.DB, error) {
	if trace == nil {
		return sql.Open("sqlite", dsn)
	}
	return sql.OpenDB(sqltrace.Wrap(sqltrace.DSN(&sqlitedrv.Driver{}, dsn), trace)), nil
}

func dsn(path, synchronous string, writer bool) string {
	q := url.Values{}
	for _, p := range []string{
		"journal_mode(WAL)",
		"synchronous(" + synchronous + ")",
		"busy_timeout(10000)",
		"foreign_keys(ON)",
		"temp_store(MEMORY)",
		// No memory map: every page a reader touched through it stayed in
		// the process's RSS (a 33,000-resource ingest peaked at 240 MB of
		// mapped file); without it reads come from the OS page cache, which
		// the server does not own, through SQLite's own cache below.
		"mmap_size(0)",
		// Checkpoint less often: hot index pages are rewritten once per
		// checkpoint instead of once per 1000 pages of WAL.
		"wal_autocheckpoint(10000)",
	} {
		q.Add("_pragma", p)
	}
	// The page cache is per connection and outside the Go heap. The
	// writer's keeps the hot index pages of the tables it appends to
	// across transactions; a reader's is dropped whenever another
	// connection wrote, so a large one mostly holds stale pages. (At
	// 64 MiB each the server held 175 MB of RSS before its first request;
	// 86 MB with these.)
	if writer {
		q.Add("_pragma", "cache_size(-16384)") // KiB: 16 MiB
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "cache_size(-4096)") // KiB: 4 MiB
		q.Add("_pragma", "query_only(1)")
	}
	return "file:" + uriPath(path) + "?" + q.Encode()
}

// uriPath escapes what ends or changes a path in an SQLite URI filename:
// unescaped, a directory named after a subtest ("Case#1") would cut the
// path at the '#' and open a shared file instead.
func uriPath(path string) string {
	return strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}
