// Package citusrules checks SQL statements the store issued against the
// rules a Citus coordinator applies to tables distributed by project_id,
// and tells which statements would reach more than one shard. Guard (a)
// of issue 15 (internal/wire's TestCitusRules) records every statement of
// a representative workload through store/sqltrace and runs them here.
//
// The checks are hand-written over a small tokenizer, not a full SQL
// parser: the pure-Go PostgreSQL parsers are ports of CockroachDB's
// grammar, far larger than this package, and pg_query_go (libpg_query,
// cgo) compiles PostgreSQL's parser on every cold build. Ward's SQL comes
// from a handful of builders (package store) with a fixed shape: table
// aliases after FROM/JOIN, every column qualified by its alias in
// multi-table statements, values as placeholders. The rules read that
// shape; a statement they cannot read is reported as a fan-out, never
// passed. The semantic check is guard (b): PostgreSQL's own planner
// pruning hash partitions (internal/wire, TestPartitionPruning).
//
// It owns only the reading of statement text; it must not run SQL.
package citusrules

import (
	"regexp"
	"slices"
	"strings"

	"github.com/wardhealth/ward/store"
)

// Global tables are not distributed by project (Citus reference tables).
var Global = []string{"goose_db_version"}

// KeyedTables are Ward's tables distributed by a key of their own, each
// with its key (store.OwnKeyTables): each in a co-location group of its
// own, so a statement reaches one shard when that key is narrowed to one
// value, and joins no other table.
var KeyedTables = store.OwnKeyTables()

// ProjectTables are Ward's tables distributed by project_id: every table
// the migrations create with a project_id column, later ones included,
// but KeyedTables.
var ProjectTables = slices.DeleteFunc(store.ProjectTables(), func(t string) bool { _, keyed := KeyedTables[t]; return keyed })

// distributed reports a table Citus splits into shards, by project_id or
// by its own key.
func distributed(table string) bool {
	_, keyed := KeyedTables[table]
	return keyed || slices.Contains(ProjectTables, table)
}

// keyOf is the column table is distributed by.
func keyOf(table string) string {
	if k, ok := KeyedTables[table]; ok {
		return k
	}
	return "project_id"
}

// Verdict is what one statement does on Citus.
type Verdict struct {
	// Violations are rules Citus refuses the statement for.
	Violations []string
	// Unrouted are the aliases of distributed tables no value of their
	// distribution column (project_id, or a KeyedTables key) narrows: the
	// statement goes to every shard.
	Unrouted []string
	// Projects is the largest number of values one alias's distribution
	// column is narrowed to (1: one shard; more: that many shards at most).
	Projects int
}

// FansOut reports that the statement reaches every shard.
func (v Verdict) FansOut() bool { return len(v.Unrouted) > 0 }

// ref is one use of a distributed table in a statement.
type ref struct{ table, alias string }

var (
	tableRef = regexp.MustCompile(`(?i)\b(FROM|JOIN|UPDATE|INTO)\s+([a-z_][a-z0-9_]*)(?:\s+(?:AS\s+)?([a-z_][a-z0-9_]*))?`)
	value    = `(?:\?|\$\d+|'[^']*')`
	values   = `\(\s*` + value + `(?:\s*,\s*` + value + `)*\s*\)`
	notAlias = map[string]bool{
		"where": true, "on": true, "join": true, "cross": true, "inner": true, "left": true, "right": true,
		"indexed": true, "set": true, "values": true, "order": true, "group": true, "limit": true, "union": true,
		"for": true, "using": true, "natural": true, "full": true, "select": true, "having": true, "returning": true,
		"default": true, "offset": true, "window": true,
	}
)

// Check reads one statement.
func Check(query string) Verdict {
	q := normalize(query)
	refs := projectRefs(q)
	var v Verdict
	if len(refs) == 0 {
		return v
	}
	narrowed := map[string]int{}
	for _, r := range refs {
		if n := constantValues(q, r); n > 0 {
			narrowed[r.alias] = n
		}
	}
	// A join on project_id carries a narrowing across (Citus routes both
	// tables of a co-located join by one filter). A correlated subquery
	// does not: Citus plans it by its own filters, so one narrowed only by
	// the outer row's project_id goes to every shard. A keyed table is
	// co-located with nothing: no narrowing crosses to or from it.
	joined := joins(q)
	for changed := true; changed; {
		changed = false
		for _, a := range refs {
			for _, b := range refs {
				if keyed(a) || keyed(b) {
					continue
				}
				explicit := slices.Contains(joined, [2]string{a.alias, b.alias}) || slices.Contains(joined, [2]string{b.alias, a.alias})
				if a.alias == b.alias || narrowed[a.alias] > 0 || narrowed[b.alias] == 0 ||
					!(explicit && joinedOnProject(q, a.alias, b.alias) || rowValueJoin(q, a.alias, b.alias)) {
					continue
				}
				narrowed[a.alias] = narrowed[b.alias]
				changed = true
			}
		}
	}
	for _, r := range refs {
		if narrowed[r.alias] == 0 && !insertValues(q, r) {
			v.Unrouted = append(v.Unrouted, r.alias)
		}
		v.Projects = max(v.Projects, narrowed[r.alias])
	}
	v.Violations = violations(q, refs, narrowed)
	return v
}

func normalize(query string) string {
	return strings.Join(strings.Fields(query), " ")
}

// keyed reports a use of a table of KeyedTables.
func keyed(r ref) bool { _, ok := KeyedTables[r.table]; return ok }

// projectRefs are the distributed tables the statement names, by alias
// (the table's own name when it has none).
func projectRefs(q string) []ref {
	var out []ref
	for _, m := range tableRef.FindAllStringSubmatch(q, -1) {
		table := strings.ToLower(m[2])
		if !distributed(table) {
			continue
		}
		alias := strings.ToLower(m[3])
		if alias == "" || notAlias[alias] {
			alias = table
		}
		if !slices.ContainsFunc(out, func(r ref) bool { return r.alias == alias }) {
			out = append(out, ref{table, alias})
		}
	}
	return out
}

// column matches r's distribution column (project_id, or its own key):
// alias.column, or a bare column when r has no alias of its own.
func column(r ref) string {
	col := regexp.QuoteMeta(keyOf(r.table)) + `\b`
	if r.alias == r.table {
		return `(?:\b` + regexp.QuoteMeta(r.alias) + `\.|[^.\w])` + col
	}
	return `\b` + regexp.QuoteMeta(r.alias) + `\.` + col
}

// constantValues counts the distribution column's values r is narrowed to by
// "= value" or "IN (values…)" (the largest such list), 0 for none.
func constantValues(q string, r ref) int {
	n := 0
	eq := regexp.MustCompile(`(?i)` + column(r) + `\s*=\s*` + value)
	n = len(eq.FindAllString(q, -1))
	if n > 1 {
		n = 1 + strings.Count(q, "OR ") // the wall of rows of any type: one value per OR arm at most
	}
	in := regexp.MustCompile(`(?i)` + column(r) + `\s+IN\s+(` + values + `)`)
	for _, m := range in.FindAllStringSubmatch(q, -1) {
		n = max(n, strings.Count(m[1], ",")+1)
	}
	return n
}

// joinedOnProject reports a = b on project_id (either way round).
func joinedOnProject(q, a, b string) bool {
	ca, cb := `\b`+regexp.QuoteMeta(a)+`\.project_id`, `\b`+regexp.QuoteMeta(b)+`\.project_id`
	return regexp.MustCompile(`(?i)`+ca+`\s*=\s*`+cb+`|`+cb+`\s*=\s*`+ca).MatchString(q) ||
		rowValueJoin(q, a, b)
}

// rowValueJoin: (a.project_id, …) IN (SELECT b.project_id, …).
func rowValueJoin(q, a, b string) bool {
	re := regexp.MustCompile(`(?i)\(\s*` + regexp.QuoteMeta(a) + `\.project_id\s*,[^)]*\)\s+IN\s+\(\s*SELECT\s+` + regexp.QuoteMeta(b) + `\.project_id\b`)
	re2 := regexp.MustCompile(`(?i)\(\s*` + regexp.QuoteMeta(b) + `\.project_id\s*,[^)]*\)\s+IN\s+\(\s*SELECT\s+` + regexp.QuoteMeta(a) + `\.project_id\b`)
	return re.MatchString(q) || re2.MatchString(q)
}

// insertValues: INSERT INTO t (…, project_id, …) VALUES (…), or SELECT …
// FROM unnest(…) of arrays the statement carries, routes each row by the
// project_id (a keyed table: the key) it inserts.
func insertValues(q string, r ref) bool {
	re := regexp.MustCompile(`(?i)\bINSERT\s+INTO\s+` + regexp.QuoteMeta(r.table) + `\s*\((?:[^)]*,)?\s*` + regexp.QuoteMeta(keyOf(r.table)) + `\s*(?:,[^)]*)?\)\s*(VALUES\b|SELECT\b[^()]*(\([^()]*\)[^()]*)*\bFROM\s+unnest\s*\()`)
	return re.MatchString(q)
}

// violations are Citus' refusals: a locking read not narrowed to one
// project (one key), a recursive CTE without a project_id filter, a join
// between project tables not on project_id, a join of a keyed table with
// another table.
func violations(q string, refs []ref, narrowed map[string]int) []string {
	var out []string
	upper := strings.ToUpper(q)
	if regexp.MustCompile(`\bFOR (NO KEY )?(UPDATE|SHARE)\b`).MatchString(upper) {
		for _, r := range refs {
			if narrowed[r.alias] != 1 || !regexp.MustCompile(`(?i)`+column(r)+`\s*=\s*`+value).MatchString(q) {
				out = append(out, "FOR UPDATE/SHARE on "+r.alias+" without one "+keyOf(r.table))
			}
		}
	}
	if strings.Contains(upper, "WITH RECURSIVE") && !strings.Contains(strings.ToLower(q), "project_id") {
		out = append(out, "recursive CTE without a project_id filter")
	}
	for _, j := range joins(q) {
		a, b := j[0], j[1]
		ia := slices.IndexFunc(refs, func(r ref) bool { return r.alias == a })
		ib := slices.IndexFunc(refs, func(r ref) bool { return r.alias == b })
		if ia < 0 || ib < 0 {
			continue
		}
		if keyed(refs[ia]) || keyed(refs[ib]) {
			out = append(out, "join of "+a+" and "+b+": a table distributed by its own key joins nothing")
			continue
		}
		if !joinedOnProject(q, a, b) && !(narrowed[a] == 1 && narrowed[b] == 1) {
			out = append(out, "join of "+a+" and "+b+" not on project_id")
		}
	}
	return out
}

var joinRe = regexp.MustCompile(`(?i)\b([a-z_][a-z0-9_]*)\s+(?:AS\s+)?([a-z_][a-z0-9_]*)\s+(?:(?:INNER|LEFT|CROSS)\s+)?JOIN\s+([a-z_][a-z0-9_]*)\s+(?:AS\s+)?([a-z_][a-z0-9_]*)`)

// joins are the alias pairs of "t1 a JOIN t2 b".
func joins(q string) [][2]string {
	var out [][2]string
	for _, m := range joinRe.FindAllStringSubmatch(q, -1) {
		if distributed(strings.ToLower(m[1])) && distributed(strings.ToLower(m[3])) {
			out = append(out, [2]string{strings.ToLower(m[2]), strings.ToLower(m[4])})
		}
	}
	return out
}
