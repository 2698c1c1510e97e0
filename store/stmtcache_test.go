package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"strconv"
	"testing"

	_ "modernc.org/sqlite"
)

// TestStmtCacheFull: past the bound, queries still run and no statement
// is left open (nothing is prepared outside the cache).
func TestStmtCacheFull(t *testing.T) {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := newStmtCache(db)
	q := preparedQueryer{db, c.prepare}
	ctx := context.Background()
	for i := range maxCachedStmts + 50 {
		var n int
		if err := q.QueryRowContext(ctx, "SELECT "+strconv.Itoa(i)).Scan(&n); err != nil || n != i {
			t.Fatalf("query %d: %d, %v", i, n, err)
		}
	}
	if len(c.stmts) != maxCachedStmts {
		t.Errorf("cache holds %d statements, want %d", len(c.stmts), maxCachedStmts)
	}
	c.close()
}
