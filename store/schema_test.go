package store_test

import (
	"context"
	"database/sql"
	"slices"
	"strings"
	"testing"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestSchemaIsTenantFirst reads the catalog for the rule Citus imposes on
// a table distributed by project_id: every table carries project_id, and
// every primary key and unique index includes it. A non-unique index may
// leave it out (the index on the id alone that serves lookups across
// projects): each shard keeps its own part of such an index. A table laid
// out by a key of its own (store.OwnKeyTables) has the rule for that key.
func TestSchemaIsTenantFirst(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		tables, err := tenantTables(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		for table, hasProject := range tables {
			if _, own := store.OwnKeyTables()[table]; !hasProject && !own {
				t.Errorf("table %s has no project_id", table)
			}
		}
		indexes, err := catalogIndexes(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if len(tables) < 10 || len(indexes) < 10 {
			t.Fatalf("read only %d tables and %d indexes from the catalog; the query is broken", len(tables), len(indexes))
		}
		unique := 0
		for _, idx := range indexes {
			if !idx.unique {
				continue
			}
			unique++
			key := "project_id"
			if k, own := store.OwnKeyTables()[idx.table]; own {
				key = k
			}
			if !slices.Contains(idx.columns, key) {
				t.Errorf("unique index %s (%s) does not include project_id", idx.name, strings.Join(idx.columns, ", "))
			}
		}
		if unique < 3 {
			t.Errorf("read only %d primary keys and unique indexes; the query is broken", unique)
		}
	})
}

// catalogIndex is an index (or primary key) of one of Ward's tables.
type catalogIndex struct {
	name    string
	table   string
	unique  bool // a primary key or unique constraint/index
	columns []string
}

// tenantTables maps each of Ward's tables to whether it has a project_id
// column. goose's own version table is not tenant data.
func tenantTables(ctx context.Context, s *store.Store) (map[string]bool, error) {
	query := `SELECT t.table_name, EXISTS (SELECT 1 FROM information_schema.columns c
			WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name AND c.column_name = 'project_id')
		FROM information_schema.tables t WHERE t.table_schema = current_schema() AND t.table_name <> 'goose_db_version'`
	if s.Dialect().Name() != "postgres" {
		query = `SELECT m.name, EXISTS (SELECT 1 FROM pragma_table_info(m.name) c WHERE c.name = 'project_id')
		FROM sqlite_master m WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> 'goose_db_version'`
	}
	rows, err := s.DB().QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var table string
		var has bool
		if err := rows.Scan(&table, &has); err != nil {
			return nil, err
		}
		out[table] = has
	}
	return out, rows.Err()
}

// catalogIndexes lists the indexes, primary keys included, of Ward's
// tables with their columns in order.
func catalogIndexes(ctx context.Context, s *store.Store) ([]catalogIndex, error) {
	db := s.DB()
	if s.Dialect().Name() == "postgres" {
		rows, err := db.QueryContext(ctx, `
			SELECT c.relname, t.relname, i.indisunique,
				array_to_string(ARRAY(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(attnum, n)
					JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.n), ',')
			FROM pg_index i
			JOIN pg_class c ON c.oid = i.indexrelid
			JOIN pg_class t ON t.oid = i.indrelid
			JOIN pg_namespace n ON n.oid = t.relnamespace
			WHERE n.nspname = current_schema() AND t.relname <> 'goose_db_version'`)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []catalogIndex
		for rows.Next() {
			var idx catalogIndex
			var cols string
			if err := rows.Scan(&idx.name, &idx.table, &idx.unique, &cols); err != nil {
				return nil, err
			}
			idx.columns = strings.Split(cols, ",")
			out = append(out, idx)
		}
		return out, rows.Err()
	}
	tables, err := queryStrings(ctx, db, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'goose_db_version'`)
	if err != nil {
		return nil, err
	}
	var out []catalogIndex
	for _, table := range tables {
		unique, err := queryStrings(ctx, db, `SELECT name FROM pragma_index_list(?) WHERE "unique"`, table)
		if err != nil {
			return nil, err
		}
		idxs, err := queryStrings(ctx, db, `SELECT name FROM pragma_index_list(?)`, table)
		if err != nil {
			return nil, err
		}
		for _, name := range idxs {
			cols, err := queryStrings(ctx, db, `SELECT name FROM pragma_index_info(?) ORDER BY seqno`, name)
			if err != nil {
				return nil, err
			}
			out = append(out, catalogIndex{name: name, table: table, unique: slices.Contains(unique, name), columns: cols})
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
