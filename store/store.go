package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/blob"
	"github.com/wardhealth/ward/index"
	"github.com/wardhealth/ward/internal/egress"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store implements ward.ResourceStore on a SQL database.
type Store struct {
	reader  *sql.DB // pool used for reads outside a transaction
	writer  *sql.DB // pool used for write transactions (one connection on SQLite)
	dialect Dialect
	indexer *index.Indexer
	stmts   *stmtCache // prepared statements of the read pool
	// wstmts are statements prepared on the write pool, which write
	// transactions reuse (tx.prepare) instead of parsing them again.
	wstmts *stmtCache
	logger *slog.Logger
	// noOutbox turns the outbox off (a benchmark's baseline only).
	noOutbox bool
	// horizon is where OutboxAfter may pass missing seqs (outbox.go).
	horizon outboxHorizon
	// onCommit are called after every successful commit (see OnCommit).
	onCommit []func(ctx context.Context, written []*ward.Resource)
	// onOutbox are called after every commit that appended to the outbox
	// (see OnOutbox).
	onOutbox []func()
	// group queues concurrent writes to share a commit on SQLite
	// (groupcommit.go).
	group groupCommit
	// setAccountsRunning holds the targets of running $set-accounts on
	// SQLite (setaccounts.go).
	setAccountsRunning keyLock
	// exclusive are the locks of Exclusive on SQLite (lock.go).
	exclusive namedLocks
	// trail is the newest AuditLog: write transactions record their
	// writes in it (auditwrite.go), reads of AuditEvents wait for its
	// projection (auditproject.go).
	trail atomic.Pointer[AuditLog]
	// blobs holds the bytes of Binary resources (blobs.go); nil: none.
	blobs blob.Store
	// hooks limits the endpoints a rest-hook Subscription may name
	// (subscriptioncheck.go); the zero value refuses private addresses.
	hooks egress.Policy
	// layout is how the migrations lay out project tables (layout.go).
	layout Layout
	// auditInSQL: audit batches are linked by the database function
	// ward_audit_append, one round trip each (auditchain.go). Set by
	// Migrate: PostgreSQL, not on Citus.
	auditInSQL bool
	// Now returns the current time; tests replace it.
	Now func() time.Time
}

var _ ward.ResourceStore = (*Store)(nil)

// New returns a store over the given pools. reader and writer may be the
// same pool. Call Migrate before use.
func New(reader, writer *sql.DB, d Dialect, logger *slog.Logger) *Store {
	if logger == nil {
		logger = slog.Default()
	}
	return &Store{
		reader:  reader,
		writer:  writer,
		dialect: d,
		indexer: index.New(),
		stmts:   newStmtCache(reader),
		wstmts:  newStmtCache(writer),
		logger:  logger,
		Now:     time.Now,
	}
}

// OnCommit registers fn to be called after every successful commit with
// the versions the transaction wrote (deletions included). Register at
// setup, before the store serves requests: the list is not guarded.
// Callers use it to drop caches keyed by resources (memberships, policies).
func (s *Store) OnCommit(fn func(ctx context.Context, written []*ward.Resource)) {
	s.onCommit = append(s.onCommit, fn)
}

// OnOutbox registers fn to be called after every successful commit that
// appended changes to the outbox: what wakes the outbox's followers (the
// change feed, the subscription dispatcher, the WebSocket follower).
// Commits that wrote only server-written types (an audited read's
// AuditEvent, a Login) append nothing and call no fn: under the audit
// trail every read commits, and each such wake cost the followers an
// outbox read that found nothing. Register at setup, like OnCommit.
func (s *Store) OnOutbox(fn func()) {
	s.onOutbox = append(s.onOutbox, fn)
}

// Dialect returns the engine dialect.
func (s *Store) Dialect() Dialect { return s.dialect }

// DB returns the read pool (for metrics and benchmarks).
func (s *Store) DB() *sql.DB { return s.reader }

// WriterDB returns the write pool.
func (s *Store) WriterDB() *sql.DB { return s.writer }

// Migrate brings the schema up to date. It is safe to run from several
// processes started together: they take turns (Exclusive), and the later
// ones find the schema up to date. Without the lock goose's own version
// table creation raced (pg_type_typname_nsp_index) and one process died.
func (s *Store) Migrate(ctx context.Context) error {
	return s.Exclusive(ctx, "migrate", s.migrate)
}

func (s *Store) migrate(ctx context.Context) error {
	gd := goose.DialectSQLite3
	if s.dialect.Name() == "postgres" {
		gd = goose.DialectPostgres
	}
	citus, err := s.hasCitus(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	fsys, err := laidOut(mustSub(migrations, "migrations"), s.layout, citus)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	p, err := goose.NewProvider(gd, s.writer, fsys, goose.WithExcludeNames(otherEngines(fsys, s.dialect.Name())))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if citus {
		if err := s.referenceGoose(ctx); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	s.auditInSQL = s.dialect.Name() == "postgres" && !citus
	return nil
}

// otherEngines are the migrations written for another engine than this
// one: a file named *.postgres.sql or *.sqlite.sql is one engine's form of
// its version, which the other engine's file of that version replaces.
func otherEngines(fsys fs.FS, engine string) []string {
	names, _ := fs.Glob(fsys, "*.sql")
	var other []string
	for _, name := range names {
		form := strings.TrimSuffix(name, ".sql")
		if ext := path.Ext(form); (ext == ".postgres" || ext == ".sqlite") && ext != "."+engine {
			other = append(other, name)
		}
	}
	return other
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error { return s.reader.PingContext(ctx) }

// Close closes both pools.
func (s *Store) Close() error {
	s.stmts.close()
	s.wstmts.close()
	err := s.reader.Close()
	if s.writer != s.reader {
		err = errors.Join(err, s.writer.Close())
	}
	return err
}

// principal returns the caller or an internal error: a store call without
// a caller is a programming error, never a reason to run unscoped.
func principal(ctx context.Context) (*ward.Principal, error) {
	p := ward.PrincipalFromContext(ctx)
	if p == nil {
		return nil, fmt.Errorf("store: no principal in context")
	}
	if !p.System && p.ProjectID == "" {
		return nil, fmt.Errorf("store: principal without project")
	}
	return p, nil
}

func repeat(s string, n int) string {
	if n <= 0 {
		return ""
	}
	b := make([]byte, 0, len(s)*n)
	for range n {
		b = append(b, s...)
	}
	return string(b)
}

// queryer is what reads need: a pool or a transaction.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// execer is what writes need: a transaction.
type execer interface {
	queryer
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// readerOf returns the read paths over the pool, through prepared statements.
func (s *Store) readerOf() reader {
	if !s.dialect.PrepareOnce() {
		return reader{q: s.reader, d: s.dialect, deleted: s.matchDeleted}
	}
	return reader{q: preparedQueryer{s.reader, s.stmts.prepare}, d: s.dialect, deleted: s.matchDeleted}
}
