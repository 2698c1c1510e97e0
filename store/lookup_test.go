package store_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/access"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestLookupByIDIsPointLookup: a lookup by id that no project wall narrows
// (a super admin's or the system principal's read, vread and instance
// history; the "does this id exist anywhere" check of a PUT-create and of
// cross-project references) seeks the index on the id on both engines
// instead of scanning every project's rows, so its cost does not grow with
// the database. The project admin's lookups stay point lookups too.
func TestLookupByIDIsPointLookup(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		w := loadProjects(t, s, 20, 100)
		analyze(t, s)
		target := w.resources[len(w.resources)-1][7] // in another project than the callers'
		// Each caller must find it (the admin of its project only), then
		// each statement the store issues for it must be an index seek.
		for _, c := range []struct {
			name  string
			p     *ward.Principal
			index map[string]string // the index each lookup must seek; "" any but a scan
		}{
			{"super admin", w.superAdmin, wantIDIndex},
			{"system", ward.SystemPrincipal(), wantIDIndex},
			{"project admin", w.admin(len(w.resources) - 1), map[string]string{}},
		} {
			t.Run(c.name, func(t *testing.T) {
				ctx := ward.NewContextWithPrincipal(context.Background(), c.p)
				if res, err := s.Read(ctx, "Patient", target.ID); err != nil || res.ProjectID != target.ProjectID {
					t.Fatalf("read %s: %v, %v", target.ID, res, err)
				}
				lookups, err := store.IDLookups(s, c.p, "Patient", target.ID, target.VersionID)
				if err != nil {
					t.Fatal(err)
				}
				for name, q := range lookups {
					plan := explain(t, s, q)
					if err := pointLookup(s.Dialect().Name(), plan, c.index[name]); err != nil {
						t.Errorf("%s: %v\n%s\nplan:\n%s", name, err, q.SQL, plan)
					}
				}
			})
		}
	})
}

// wantIDIndex is the index migration 00004 adds for each lookup that no
// project wall narrows.
var wantIDIndex = map[string]string{
	"read": "resources_by_id", "vread": "resource_history_by_id",
	"history count": "resource_history_by_id", "history page": "resource_history_by_id",
	"id anywhere": "resources_by_id",
}

// pointLookup checks an engine's plan: no full scan of a table, and a seek
// of index when one is named.
func pointLookup(engine, plan, index string) error {
	for _, line := range strings.Split(plan, "\n") {
		line = strings.TrimSpace(line)
		if engine == "postgres" && strings.Contains(line, "Seq Scan") ||
			engine != "postgres" && strings.HasPrefix(line, "SCAN ") && !strings.HasPrefix(line, "SCAN CONSTANT ROW") {
			return fmt.Errorf("scans a table: %s", line)
		}
	}
	if index == "" {
		return nil
	}
	for _, line := range strings.Split(plan, "\n") {
		if engine == "postgres" && strings.Contains(line, "Index") && strings.Contains(line, " "+index+" ") ||
			engine != "postgres" && strings.HasPrefix(strings.TrimSpace(line), "SEARCH ") && strings.Contains(line, "INDEX "+index+" ") {
			return nil
		}
	}
	return fmt.Errorf("does not seek %s", index)
}

// explain returns the engine's plan of q, one step a line.
func explain(t *testing.T, s *store.Store, q store.LookupQuery) string {
	t.Helper()
	prefix, col := "EXPLAIN ", 0
	if s.Dialect().Name() != "postgres" {
		prefix, col = "EXPLAIN QUERY PLAN ", 3
	}
	rows, err := s.DB().Query(prefix+q.SQL, q.Args...)
	if err != nil {
		t.Fatalf("%s: %v", q.SQL, err)
	}
	var lines []string
	for _, vals := range scanAll(t, rows) {
		lines = append(lines, asString(vals[col]))
	}
	return strings.Join(lines, "\n")
}

// scanAll reads every row of rows as its columns' values and closes it.
func scanAll(t *testing.T, rows *sql.Rows) [][]any {
	t.Helper()
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func asString(v any) string {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	s, _ := v.(string)
	return s
}

// projectsWorld is projects of Patients and the callers that read them.
type projectsWorld struct {
	projects   []string
	resources  [][]*ward.Resource // per project, as created
	superAdmin *ward.Principal    // a super admin of its own project, with its policy
	policies   []*ward.Policy     // each project's admin policy
}

// admin is the project admin of project k, with its policy.
func (w *projectsWorld) admin(k int) *ward.Principal {
	return &ward.Principal{ProjectID: w.projects[k], Admin: true, Author: "Practitioner/admin", Policy: w.policies[k]}
}

// loadProjects writes perProject Patients into each of n projects, 100
// per transaction, as the system principal (extended, so meta.project
// places them), and builds the callers' policies as auth would.
func loadProjects(tb testing.TB, s *store.Store, n, perProject int) *projectsWorld {
	tb.Helper()
	ctx := ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal())
	w := &projectsWorld{}
	for k := 0; k < n; k++ {
		project := uuid.NewString()
		w.projects = append(w.projects, project)
		w.policies = append(w.policies, adminPolicy(tb, map[string]any{"id": project}))
		var created []*ward.Resource
		for i := 0; i < perProject; i += 100 {
			err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
				for j := i; j < min(i+100, perProject); j++ {
					body, _ := json.Marshal(map[string]any{
						"resourceType": "Patient", "meta": map[string]any{"project": project},
						"name": []any{map[string]any{"family": "Family" + itoa(j%1000), "given": []any{"Given"}}},
					})
					r, err := tx.Create(ctx, "Patient", body)
					if err != nil {
						return err
					}
					created = append(created, r)
				}
				return nil
			})
			if err != nil {
				tb.Fatal(err)
			}
		}
		w.resources = append(w.resources, created)
	}
	super := uuid.NewString()
	w.superAdmin = &ward.Principal{ProjectID: super, System: true, Admin: true, Author: "Practitioner/super",
		Policy: adminPolicy(tb, map[string]any{"id": super, "superAdmin": true})}
	return w
}

// adminPolicy is the policy auth builds for an admin membership without an
// access policy in project.
func adminPolicy(tb testing.TB, project map[string]any) *ward.Policy {
	tb.Helper()
	pol, _, err := access.Build(access.Input{Project: project, Membership: map[string]any{"admin": true}})
	if err != nil {
		tb.Fatal(err)
	}
	return pol
}

// analyze refreshes PostgreSQL's planner statistics, as autovacuum does
// in production. Ward's SQLite runs without statistics.
func analyze(tb testing.TB, s *store.Store) {
	tb.Helper()
	if s.Dialect().Name() != "postgres" {
		return
	}
	if _, err := s.WriterDB().Exec("ANALYZE"); err != nil {
		tb.Fatal(err)
	}
}
