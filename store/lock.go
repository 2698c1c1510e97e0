package store

import (
	"context"
	"database/sql/driver"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
)

// Exclusive runs fn while this store holds the lock named name, so work
// that must happen once per database (migrations, the first-start seed)
// is done by one process at a time and the next finds what the first made.
//
// On PostgreSQL it is a session advisory lock, per schema, held by one
// connection set aside for it: processes sharing the database wait for it
// in turn. SQLite's file has one serving process, so a lock of this Store
// is enough there. It is not reentrant: fn must not take the same name.
func (s *Store) Exclusive(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	if s.dialect.Name() != "postgres" {
		unlock := s.exclusive.lock(name)
		defer unlock()
		return fn(ctx)
	}
	conn, err := s.writer.Conn(ctx)
	if err != nil {
		return fmt.Errorf("lock %s: %w", name, err)
	}
	defer conn.Close()
	key := lockKey(name)
	// The second key is the schema, so test schemas (and deployments
	// sharing a database under different schemas) do not wait on each other.
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1, hashtext(current_schema()))", key); err != nil {
		return fmt.Errorf("lock %s: %w", name, err)
	}
	defer func() {
		// Unlock even when ctx has ended; a connection that could not
		// unlock is dropped, which ends its session and so the lock,
		// instead of going back to the pool still holding it.
		_, err := conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1, hashtext(current_schema()))", key)
		if err != nil {
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	return fn(ctx)
}

// lockKey turns a lock name into PostgreSQL's 32-bit advisory key.
func lockKey(name string) int32 {
	h := fnv.New32a()
	h.Write([]byte("ward:" + name))
	return int32(h.Sum32())
}

// namedLocks is a set of mutexes by name, created on first use. The zero
// value is ready.
type namedLocks struct {
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

// lock takes the mutex of name, waiting for it, and returns its release.
func (l *namedLocks) lock(name string) (unlock func()) {
	l.mu.Lock()
	if l.locks == nil {
		l.locks = map[string]*sync.Mutex{}
	}
	m := l.locks[name]
	if m == nil {
		m = &sync.Mutex{}
		l.locks[name] = m
	}
	l.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// lockChunk bounds the ids one locking statement names.
const lockChunk = 500

// Lock locks the current rows of refs ("Type/id") within the caller's
// wall until the transaction ends; refs that name no such row are left to
// the reads and writes that follow to report. Rows are taken in one order
// (type, then id) whatever the order of refs, so two transactions that
// lock what they will update before updating it wait for each other
// instead of deadlocking, and a read-modify-write (PATCH) applies its
// change to the version it read. SQLite has one writer at a time: nothing
// to lock there.
func (t *tx) Lock(ctx context.Context, refs ...string) error {
	p, err := principal(ctx)
	if err != nil || t.d.ForUpdate() == "" {
		return err
	}
	byType := map[string][]string{}
	for _, ref := range refs {
		typ, id, _ := strings.Cut(ref, "/")
		if fhir.IsResourceType(typ) && validID(id) {
			byType[typ] = append(byType[typ], id)
		}
	}
	for _, typ := range slices.Sorted(maps.Keys(byType)) {
		ids := slices.Compact(slices.Sorted(slices.Values(byType[typ])))
		for chunk := range slices.Chunk(ids, lockChunk) {
			if err := t.lockRows(ctx, p, typ, chunk); err != nil {
				return err
			}
		}
	}
	return nil
}

// lockRows locks the rows of typ with ids, in id order: PostgreSQL locks
// the rows of a locking SELECT as its ORDER BY returns them. A locking
// read names one project_id, as Citus requires: where p's wall for typ
// is not one project, the rows' projects are read first and each
// project's rows locked apart.
func (t *tx) lockRows(ctx context.Context, p *ward.Principal, typ string, ids []string) error {
	if projects := readProjectsFor(p, typ); len(projects) == 1 {
		return t.lockIn(ctx, projects[0], typ, ids)
	}
	clause, wallArgs := projectClause(p, typ, "project_id", "")
	query := "SELECT project_id, id FROM resources WHERE resource_type = ? AND id IN (" + placeholders(len(ids)) + ")" + clause
	rows, err := t.sql.QueryContext(ctx, t.d.Rebind(query), append(append([]any{typ}, anys(ids)...), wallArgs...)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	byProject := map[string][]string{}
	for rows.Next() {
		var project, id string
		if err := rows.Scan(&project, &id); err != nil {
			return err
		}
		byProject[project] = append(byProject[project], id)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	for _, project := range slices.Sorted(maps.Keys(byProject)) {
		if err := t.lockIn(ctx, project, typ, slices.Sorted(slices.Values(byProject[project]))); err != nil {
			return err
		}
	}
	return nil
}

// lockIn locks the rows of typ with ids in project.
func (t *tx) lockIn(ctx context.Context, project, typ string, ids []string) error {
	query := "SELECT id FROM resources WHERE project_id = ? AND resource_type = ? AND id IN (" + placeholders(len(ids)) + ") ORDER BY id" + t.d.ForUpdate()
	rows, err := t.sql.QueryContext(ctx, t.d.Rebind(query), append([]any{project, typ}, anys(ids)...)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
	}
	return rows.Err()
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func anys(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}
