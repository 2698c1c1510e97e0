// Package postgres opens Ward's store on PostgreSQL through a pgx pool
// (exposed to package store as database/sql via pgx's stdlib adapter).
//
// It opens connections and picks the dialect; all resource SQL is in
// package store. It also carries identity writes between processes on one
// database (LISTEN/NOTIFY on channel ward_identity, see notify.go), so a
// revoked login or changed policy written through one process is seen by
// every other on its next request.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"log/slog"
	"runtime"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/sqltrace"
)

// Options tune the pool.
type Options struct {
	// SearchPath, when set, is the schema the store uses (tests isolate
	// themselves in a fresh schema).
	SearchPath string
	MaxConns   int32
	Logger     *slog.Logger
	// Trace, when set, sees every statement before it runs (tests).
	Trace sqltrace.Hook
	// HashPartitions, above 1, creates every project table partitioned
	// by HASH (project_id) into that many partitions (store.Layout). It
	// applies when the schema is created; an existing schema keeps its
	// layout.
	HashPartitions int
}

// Open connects to the database at url (postgres://…), migrates it and
// returns the store.
func Open(ctx context.Context, url string, opts Options) (*store.Store, error) {
	cfg, err := poolConfig(url, opts, runtime.GOMAXPROCS(0))
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	var connector driver.Connector = stdlib.GetPoolConnector(pool)
	if opts.Trace != nil {
		connector = sqltrace.Wrap(connector, opts.Trace)
	}
	db := sql.OpenDB(closingConnector{Connector: connector, pool: pool})
	db.SetMaxIdleConns(0) // idle connections wait in the pgx pool, as stdlib.OpenDBFromPool does
	s := store.New(db, db, store.Postgres{}, opts.Logger)
	s.SetLayout(store.Layout{HashPartitions: opts.HashPartitions})
	if err := s.Migrate(ctx); err != nil {
		s.Close()
		pool.Close()
		return nil, err
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	notifyIdentityWrites(s, logger)
	warnWithoutAutovacuum(ctx, pool, logger)
	return s, nil
}

// warnWithoutAutovacuum logs a warning when the server runs with
// autovacuum off: nothing then gathers statistics as the tables grow, and
// the planner, guessing, picks indexes that read a project's every row
// (seen on such a server: the audit projection's id lookups scanned every
// AuditEvent of the project, one shutdown took minutes; searches of a
// fresh database took 20–50× longer until ANALYZE).
func warnWithoutAutovacuum(ctx context.Context, pool *pgxpool.Pool, logger *slog.Logger) {
	var setting string
	if err := pool.QueryRow(ctx, "SHOW autovacuum").Scan(&setting); err != nil || setting != "off" {
		return
	}
	logger.WarnContext(ctx, "postgres: autovacuum is off, so no table statistics are gathered as the data grows; "+
		"turn it on, or run ANALYZE after large loads and regularly, or searches and the audit projection slow down")
}

// poolConfig is the pool's configuration for url on a machine of cores.
// The pool's size is opts.MaxConns when set, else the URL's
// pool_max_conns when it has one, else defaultMaxConns.
func poolConfig(url string, opts Options, cores int) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if opts.SearchPath != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = opts.SearchPath
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = defaultMaxConns(cores)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	return cfg, nil
}

// defaultMaxConns sizes the pool to the cores: four connections a core,
// at least 8 and at most 20. pgxpool's own default (4 on a small machine)
// queues a busy server's requests behind a handful of connections; more
// than a few a core only adds contention where the database shares the
// machine: with 32 concurrent reads by id on 2 cores, 8 connections served
// 1.1-3.3x the reads a second of 20, p90 15-23 ms instead of 45-113 ms
// (docs/benchmarks.md, "Reads on PostgreSQL (issue 16 item 3)").
func defaultMaxConns(cores int) int32 {
	return int32(min(20, max(8, 4*cores)))
}

// closingConnector closes the pgx pool when the store's sql.DB is closed
// (database/sql calls a connector's Close): without it every closed store
// left its pooled connections, and an identity listener's, open until the
// process exited. The pool closes in the background: it waits for
// connections still checked out, and Close must not wait for them.
type closingConnector struct {
	driver.Connector
	pool *pgxpool.Pool
}

func (c closingConnector) Close() error {
	go c.pool.Close()
	return nil
}
