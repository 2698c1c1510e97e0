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
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if opts.SearchPath != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = opts.SearchPath
	}
	// pgxpool's default (4 on a small machine) queues a busy server's
	// requests behind a handful of connections.
	cfg.MaxConns = 20
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
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
	return s, nil
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
