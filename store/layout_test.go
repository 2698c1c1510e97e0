package store

import (
	"io/fs"
	"slices"
	"strings"
	"testing"
)

func sorted(s []string) []string { return slices.Sorted(slices.Values(s)) }

// TestLayoutRewritesEveryProjectTable: with hash partitions or on Citus,
// every table a migration creates with a project_id column — those of
// later migrations too — is partitioned or distributed, co-located with
// resources; goose's bookkeeping and the Down sections are left alone.
func TestLayoutRewritesEveryProjectTable(t *testing.T) {
	base := mustSub(migrations, "migrations")
	created := map[string]bool{}
	names, _ := fs.Glob(base, "*.sql")
	for _, name := range names {
		b, _ := fs.ReadFile(base, name)
		up, _ := upDown(string(b))
		for _, m := range createTable.FindAllStringSubmatch(up, -1) {
			created[m[1]] = true
		}
	}
	for _, table := range projectTables {
		if !created[table] {
			t.Errorf("no migration creates %s", table)
		}
	}
	if got := ProjectTables(); !slices.Equal(sorted(got), sorted(projectTables)) {
		t.Errorf("the migrations create project tables %v, the erasure knows %v", got, projectTables)
	}
	laid := ProjectTables() // and the tables laid out by a key of their own
	for table := range OwnKeyTables() {
		if !slices.Contains(laid, table) {
			laid = append(laid, table)
		}
	}
	for _, tc := range []struct {
		name   string
		layout Layout
		citus  bool
		want   func(table string) string // a line each laid-out table gets
		count  string                    // text once per laid-out table
	}{
		{"hash partitions", Layout{HashPartitions: 4}, false, func(table string) string {
			return ") PARTITION BY HASH (" + layoutKey(table) + ");\nCREATE TABLE " + table + "_p0 PARTITION OF " + table + " FOR VALUES WITH (MODULUS 4, REMAINDER 0);"
		}, ") PARTITION BY HASH ("},
		{"citus", Layout{}, true, func(table string) string {
			with := "resources"
			if _, own := OwnKeyTables()[table]; own || table == "resources" {
				with = "none"
			}
			return "SELECT create_distributed_table('" + table + "', '" + layoutKey(table) + "', colocate_with => '" + with + "');"
		}, "create_distributed_table("},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys, err := laidOut(base, tc.layout, tc.citus)
			if err != nil {
				t.Fatal(err)
			}
			var all strings.Builder
			for _, name := range names {
				if strings.HasSuffix(name, ".sqlite.sql") {
					continue // layouts are PostgreSQL's: its form of the version counts
				}
				b, _ := fs.ReadFile(fsys, name)
				up, down := upDown(string(b))
				all.WriteString(up)
				if orig, _ := fs.ReadFile(base, name); !strings.HasSuffix(string(orig), down) {
					t.Errorf("%s: Down section changed", name)
				}
			}
			for _, table := range laid {
				if !strings.Contains(all.String(), tc.want(table)) {
					t.Errorf("%s: no %q", table, tc.want(table))
				}
			}
			if n := strings.Count(all.String(), tc.count); n != len(laid) {
				t.Errorf("%q %d times, want once per laid-out table (%d)", tc.count, n, len(laid))
			}
			if strings.Contains(all.String(), "goose_db_version") {
				t.Error("goose's version table rewritten by the migrations")
			}
		})
	}
}
