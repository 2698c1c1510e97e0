package store

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing/fstest"
)

// Past one machine (issue 15). Every table the migrations create carries
// project_id first in its primary key, so on PostgreSQL the same
// migrations can lay the tables out by project:
//   - hash-partitioned (Layout.HashPartitions): each project table is
//     created PARTITION BY HASH (project_id) with that many partitions,
//     named <table>_p<k>; a statement narrowed to a project reads only its
//     partition, which a test checks with EXPLAIN (partition pruning is
//     what a Citus coordinator does with shards);
//   - on Citus (the citus extension is present in the database): each
//     project table is distributed by project_id, co-located with
//     resources (colocate_with is always named), and goose's version
//     table made a reference table.
// Tables that later migrations add get the same layout: the migrations'
// text is rewritten as goose reads it, for every CREATE TABLE of a table
// with a project_id column. The few tables whose rows a request finds by
// a key of their own (ownKeyTables) are laid out by that key instead. A schema keeps the layout it was created with;
// switching needs a dump and restore.

// ownKeyTables are laid out by a key of their own, not by project_id,
// each with that key: rows a request finds by that key without knowing
// a project (they belong to none, or to the system project only, whose
// shard would take every such row):
//   - identity_homes, by ref: where a client or a User has its
//     memberships (homes.go), read before the project is known;
//   - login_attempts, by key: sign-in buckets. Every statement of a
//     request names its key; by project_id all of them would go to the
//     system project's shard, one upsert per sign-in attempt.
//
// On Citus each is distributed by its key in a co-location group of its
// own; in a hash layout partitioned by it. A schema laid out before keeps
// login_attempts by project_id (docs/scale.md says how to move it).
var ownKeyTables = map[string]string{"identity_homes": "ref", "login_attempts": "key"}

// OwnKeyTables maps each table laid out by a key of its own (not
// project_id) to that key. Tests read Ward's SQL against it.
func OwnKeyTables() map[string]string { return maps.Clone(ownKeyTables) }

// layoutKey is the column table is laid out by.
func layoutKey(table string) string {
	if k, ok := ownKeyTables[table]; ok {
		return k
	}
	return "project_id"
}

// Layout is how the migrations lay out project tables on PostgreSQL.
type Layout struct {
	// HashPartitions, when above 1, partitions every project table by
	// HASH (project_id) into that many partitions.
	HashPartitions int
}

// SetLayout chooses the layout of the tables the migrations create. Call
// it before Migrate; SQLite ignores it.
func (s *Store) SetLayout(l Layout) { s.layout = l }

// ProjectTables are the tables the migrations create with a project_id
// column, in migration order: distributed by project on Citus,
// partitioned in a hash layout. Tests read Ward's SQL against it.
func ProjectTables() []string {
	fsys := mustSub(migrations, "migrations")
	names, _ := fs.Glob(fsys, "*.sql")
	var out []string
	for _, name := range names {
		b, _ := fs.ReadFile(fsys, name)
		up, _ := upDown(string(b))
		tables, _ := createdProjectTables(up)
		for _, t := range tables {
			if !slices.Contains(out, t) {
				out = append(out, t)
			}
		}
	}
	return out
}

// colocationTable is the table every distributed table is co-located with.
const colocationTable = "resources"

// laidOut returns the migrations with each project table's CREATE TABLE
// rewritten for l (hash partitions) or followed by its distribution
// (citus). It returns fsys itself when there is nothing to rewrite.
func laidOut(fsys fs.FS, l Layout, citus bool) (fs.FS, error) {
	if citus {
		l.HashPartitions = 0 // shards already split each table by project
	}
	if l.HashPartitions <= 1 && !citus {
		return fsys, nil
	}
	names, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	out := fstest.MapFS{}
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		text := string(b)
		if l.HashPartitions > 1 {
			text = partitioned(text, l.HashPartitions)
		}
		if citus {
			text = distributed(text)
		}
		out[name] = &fstest.MapFile{Data: []byte(text), Mode: 0o444}
	}
	return out, nil
}

var createTable = regexp.MustCompile(`(?m)^CREATE TABLE (\w+) \(`)

// createdProjectTables returns the tables text's Up section creates that have
// a project_id column, each with the offset just past its closing
// parenthesis.
func createdProjectTables(up string) (names []string, ends []int) {
	for _, m := range createTable.FindAllStringSubmatchIndex(up, -1) {
		open := m[1] - 1
		end := closingParen(up, open)
		if end < 0 {
			continue
		}
		if regexp.MustCompile(`(?m)^\s*project_id\s`).MatchString(up[open:end]) {
			names = append(names, up[m[2]:m[3]])
			ends = append(ends, end+1)
		}
	}
	return names, ends
}

// laidOutTables returns the tables text's Up section creates that a
// layout rewrites — those with a project_id column and those of
// ownKeyTables — each with the offset just past its closing parenthesis.
func laidOutTables(up string) (names []string, ends []int) {
	for _, m := range createTable.FindAllStringSubmatchIndex(up, -1) {
		name := up[m[2]:m[3]]
		open := m[1] - 1
		end := closingParen(up, open)
		if end < 0 {
			continue
		}
		if _, own := ownKeyTables[name]; own || regexp.MustCompile(`(?m)^\s*project_id\s`).MatchString(up[open:end]) {
			names = append(names, name)
			ends = append(ends, end+1)
		}
	}
	return names, ends
}

// closingParen is the index of the parenthesis closing the one at open,
// -1 when there is none.
func closingParen(s string, open int) int {
	depth := 0
	for i := open; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// upDown splits a goose migration at its Down marker.
func upDown(text string) (up, down string) {
	if i := strings.Index(text, "-- +goose Down"); i >= 0 {
		return text[:i], text[i:]
	}
	return text, ""
}

// partitioned makes each table of text's Up section a layout rewrites a
// table partitioned by HASH (its layoutKey) with n partitions
// <table>_p0…_p<n-1>.
func partitioned(text string, n int) string {
	up, down := upDown(text)
	names, ends := laidOutTables(up)
	for i := len(names) - 1; i >= 0; i-- {
		end := ends[i]
		semi := strings.IndexByte(up[end:], ';')
		if semi < 0 {
			continue
		}
		var parts strings.Builder
		for k := range n {
			fmt.Fprintf(&parts, "\nCREATE TABLE %s_p%d PARTITION OF %s FOR VALUES WITH (MODULUS %d, REMAINDER %d);", names[i], k, names[i], n, k)
		}
		up = up[:end] + " PARTITION BY HASH (" + layoutKey(names[i]) + ")" + up[end:end+semi+1] + parts.String() + up[end+semi+1:]
	}
	return up + down
}

// distributed ends text's Up section with the distribution of each
// project table it creates, co-located with resources (resources itself
// starts the co-location group). Citus then applies the migration's
// later DDL (indexes, columns) to every shard. A table of ownKeyTables is
// distributed by its key, co-located with nothing, just after its CREATE
// TABLE: the rows a migration fills it with go straight to its shards.
func distributed(text string) string {
	up, down := upDown(text)
	names, ends := laidOutTables(up)
	if len(names) == 0 {
		return text
	}
	for i := len(names) - 1; i >= 0; i-- {
		key, own := ownKeyTables[names[i]]
		semi := strings.IndexByte(up[ends[i]:], ';')
		if !own || semi < 0 {
			continue
		}
		at := ends[i] + semi + 1
		up = up[:at] + fmt.Sprintf("\n-- Citus (store/layout.go): distributed by its own key.\nSELECT create_distributed_table('%s', '%s', colocate_with => 'none');", names[i], key) + up[at:]
	}
	var b strings.Builder
	b.WriteString(strings.TrimRight(up, "\n"))
	header := "\n-- Citus (store/layout.go): distributed by project, co-located.\n"
	for _, name := range names {
		if _, own := ownKeyTables[name]; own {
			continue
		}
		b.WriteString(header)
		header = ""
		with := colocationTable
		if name == colocationTable {
			with = "none"
		}
		fmt.Fprintf(&b, "SELECT create_distributed_table('%s', 'project_id', colocate_with => '%s');\n", name, with)
	}
	b.WriteString("\n")
	return b.String() + down
}

// hasCitus reports that the citus extension is installed in the database.
func (s *Store) hasCitus(ctx context.Context) (bool, error) {
	if s.dialect.Name() != "postgres" {
		return false, nil
	}
	var n int
	err := s.writer.QueryRowContext(ctx, "SELECT COUNT(*) FROM pg_extension WHERE extname = 'citus'").Scan(&n)
	return n > 0, err
}

// referenceGoose makes goose's version table a Citus reference table (a
// copy on every node), once: the migrations' own bookkeeping belongs to
// no project.
func (s *Store) referenceGoose(ctx context.Context) error {
	var n int
	err := s.writer.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_dist_partition WHERE logicalrelid = to_regclass('goose_db_version')`).Scan(&n)
	if err != nil || n > 0 {
		return err
	}
	_, err = s.writer.ExecContext(ctx, "SELECT create_reference_table('goose_db_version')")
	return err
}
