package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
)

// Identity writes across processes. Every Ward process caches callers
// (auth) and drops them when an identity resource it depends on is
// written; store.OnCommit tells the process that wrote it. Other
// processes on the same database learn it through PostgreSQL
// LISTEN/NOTIFY on one channel: after each commit that wrote identity
// types, the writer sends "<schema>\n<Type>/<id>\n…"; listeners act on the
// notifications of their own schema only (tests share one database).

// Channel is the NOTIFY channel of identity writes.
const Channel = "ward_identity"

// maxPayload keeps a notification under PostgreSQL's 8000-byte limit; a
// longer list is sent as "*" (every identity cache entry is stale).
const maxPayload = 7000

// pollInterval bounds how long a listener waits before it checks that its
// store is still open (and so how long a closed store's last connection
// stays checked out).
const pollInterval = 250 * time.Millisecond

// notifyIdentityWrites registers the sender on s: after a commit that
// wrote identity types, one NOTIFY names them.
func notifyIdentityWrites(s *store.Store, logger *slog.Logger) {
	s.OnCommit(func(ctx context.Context, written []*ward.Resource) {
		var refs []string
		for _, r := range written {
			if ward.IsIdentityType(r.Type) {
				refs = append(refs, r.Type+"/"+r.ID)
			}
		}
		if len(refs) == 0 {
			return
		}
		list := strings.Join(refs, "\n")
		if len(list) > maxPayload {
			list = "*"
		}
		// The request may be over by now; the notification must still go.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := s.WriterDB().ExecContext(ctx, "SELECT pg_notify($1, current_schema() || E'\\n' || $2)", Channel, list); err != nil {
			logger.Warn("identity notify failed; other processes see the change when their cache expires", "err", err)
		}
	})
}

// Listen passes the identity writes other processes (and this one)
// commit to s's database on to fn, as resources with only Type and ID set
// ("*" as the type when the writer listed too many), until ctx ends or s
// is closed. It holds one connection of s's pool and reconnects after
// errors. Run it in its own goroutine.
func Listen(ctx context.Context, s *store.Store, fn func(written []*ward.Resource), logger *slog.Logger) {
	if logger == nil {
		logger = slog.Default()
	}
	db := s.WriterDB()
	for reconnect := false; ; reconnect = true {
		err := listenOnce(ctx, db, fn, reconnect)
		if ctx.Err() != nil || dbClosed(ctx, db) {
			return
		}
		logger.Warn("identity listener stopped; reconnecting", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(pollInterval):
		}
	}
}

// errStoreClosed ends a listener whose store was closed.
var errStoreClosed = errors.New("postgres: store closed")

func dbClosed(ctx context.Context, db *sql.DB) bool {
	c, err := db.Conn(ctx)
	if err != nil {
		return true
	}
	c.Close()
	return false
}

// listenOnce LISTENs on one connection until an error; the connection
// goes back to the pool without its LISTEN.
func listenOnce(ctx context.Context, db *sql.DB, fn func([]*ward.Resource), reconnect bool) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var loopErr error
	conn.Raw(func(dc any) error {
		if w, ok := dc.(interface{ Unwrap() driver.Conn }); ok {
			dc = w.Unwrap() // a traced pool (sqltrace)
		}
		sc, ok := dc.(*stdlib.Conn)
		if !ok {
			loopErr = errors.New("postgres: not a pgx connection")
			return nil
		}
		loopErr = waitLoop(ctx, db, sc, fn, reconnect)
		if sc.Conn().IsClosed() {
			return driver.ErrBadConn
		}
		return nil
	})
	return loopErr
}

// waitLoop LISTENs and passes notifications on. After a reconnect it
// first reports "*": writes made while no connection listened were missed.
func waitLoop(ctx context.Context, db *sql.DB, sc *stdlib.Conn, fn func([]*ward.Resource), reconnect bool) error {
	pc := sc.Conn()
	var schema string
	if err := pc.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return err
	}
	if _, err := pc.Exec(ctx, "LISTEN "+Channel); err != nil {
		return err
	}
	// The connection goes back to the pool: it must not keep collecting
	// notifications there.
	defer func() {
		unlisten, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		pc.Exec(unlisten, "UNLISTEN *")
	}()
	if reconnect {
		fn([]*ward.Resource{{Type: "*"}})
	}
	for {
		wait, cancel := context.WithTimeout(ctx, pollInterval)
		n, err := pc.WaitForNotification(wait)
		cancel()
		switch {
		case err == nil:
			if written := parsePayload(schema, n.Payload); len(written) > 0 {
				fn(written)
			}
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) && !pc.IsClosed():
			if dbClosed(ctx, db) {
				return errStoreClosed
			}
		default:
			return err
		}
	}
}

// parsePayload reads "<schema>\n<Type>/<id>…", nil for another schema.
func parsePayload(schema, payload string) []*ward.Resource {
	lines := strings.Split(payload, "\n")
	if len(lines) < 2 || lines[0] != schema {
		return nil
	}
	out := make([]*ward.Resource, 0, len(lines)-1)
	for _, l := range lines[1:] {
		if l == "*" {
			out = append(out, &ward.Resource{Type: "*"})
			continue
		}
		typ, id, ok := strings.Cut(l, "/")
		if ok && ward.IsIdentityType(typ) {
			out = append(out, &ward.Resource{Type: typ, ID: id})
		}
	}
	return out
}
