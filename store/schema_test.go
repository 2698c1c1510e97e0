package store_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestSchemaIsTenantFirst reads the catalog: every table carries project_id
// and every primary key, unique index and index starts with it, so the
// schema can be distributed by project.
func TestSchemaIsTenantFirst(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		first, err := leadingIndexColumns(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if len(first) < 10 {
			t.Fatalf("read only %d indexes from the catalog; the query is broken", len(first))
		}
		for idx, col := range first {
			if col != "project_id" {
				t.Errorf("index %s starts with %s, not project_id", idx, col)
			}
		}
	})
}

// leadingIndexColumns maps each index (including primary keys) of Ward's
// tables to its first column. goose's own version table is not tenant data.
func leadingIndexColumns(ctx context.Context, s *store.Store) (map[string]string, error) {
	db := s.DB()
	out := map[string]string{}
	if s.Dialect().Name() == "postgres" {
		rows, err := db.QueryContext(ctx, `
			SELECT c.relname, a.attname
			FROM pg_index i
			JOIN pg_class c ON c.oid = i.indexrelid
			JOIN pg_class t ON t.oid = i.indrelid
			JOIN pg_namespace n ON n.oid = t.relnamespace
			JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
			WHERE n.nspname = current_schema() AND t.relname <> 'goose_db_version'`)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		for rows.Next() {
			var idx, col string
			if err := rows.Scan(&idx, &col); err != nil {
				return nil, err
			}
			out[idx] = col
		}
		return out, rows.Err()
	}
	tables, err := queryStrings(ctx, db, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'goose_db_version'`)
	if err != nil {
		return nil, err
	}
	for _, table := range tables {
		idxs, err := queryStrings(ctx, db, `SELECT name FROM pragma_index_list(?)`, table)
		if err != nil {
			return nil, err
		}
		for _, idx := range idxs {
			cols, err := queryStrings(ctx, db, `SELECT name FROM pragma_index_info(?) ORDER BY seqno`, idx)
			if err != nil {
				return nil, err
			}
			out[idx] = cols[0]
		}
	}
	return out, nil
}

func queryStrings(ctx context.Context, db *sql.DB, query string, args ...any) ([]string, error) {
	rows, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
