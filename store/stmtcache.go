package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// maxCachedStmts bounds the statements a pool keeps prepared: searches
// compile to many different texts, and a cache must not grow without end.
const maxCachedStmts = 512

// stmtCache keeps prepared statements of a pool by query text. Preparing
// (parsing and planning) was a sixth of the CPU of a read by id on SQLite.
type stmtCache struct {
	db    *sql.DB
	mu    sync.Mutex
	stmts map[string]*sql.Stmt
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: make(map[string]*sql.Stmt)}
}

func (c *stmtCache) prepare(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.Lock()
	stmt, ok := c.stmts[query]
	c.mu.Unlock()
	if ok {
		return stmt, nil
	}
	stmt, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.stmts[query]; ok {
		stmt.Close()
		return old, nil
	}
	if len(c.stmts) >= maxCachedStmts {
		// Full: do not keep it, and do not hand out a statement nobody
		// would close; the caller runs the query unprepared instead.
		stmt.Close()
		return nil, errCacheFull
	}
	c.stmts[query] = stmt
	return stmt, nil
}

var errCacheFull = errors.New("store: statement cache full")

// lookup returns the cached statement of query, nil when there is none.
func (c *stmtCache) lookup(query string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stmts[query]
}

// full reports that the cache takes no more statements.
func (c *stmtCache) full() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.stmts) >= maxCachedStmts
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, stmt := range c.stmts {
		stmt.Close()
	}
	c.stmts = map[string]*sql.Stmt{}
}

// preparedQueryer runs queries through prepared statements; on a prepare
// error it falls back to the plain call, which reports that error.
type preparedQueryer struct {
	q       queryer
	prepare func(ctx context.Context, query string) (*sql.Stmt, error)
}

func (p preparedQueryer) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if stmt, err := p.prepare(ctx, query); err == nil {
		return stmt.QueryContext(ctx, args...)
	}
	return p.q.QueryContext(ctx, query, args...)
}

func (p preparedQueryer) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if stmt, err := p.prepare(ctx, query); err == nil {
		return stmt.QueryRowContext(ctx, args...)
	}
	return p.q.QueryRowContext(ctx, query, args...)
}
