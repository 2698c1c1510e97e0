package store_test

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/search"
	"github.com/wardhealth/ward/store"
)

// BenchmarkFilterOr is a resource's timeline in the Medplum app:
// Task?_filter=based-on eq X or focus eq X or subject eq X, against the
// plain search on one of the three, Task?subject=X, in a project of
// WARD_BENCH_FILTER_TASKS (10,000 unless set) Tasks about 1,000 patients
// (X has about 10 through each reference). It reports each mean and
// or-x-plain, the first over the second in the same run.
// Run: go test -run '^$' -bench FilterOr -benchtime 500x ./store/
func BenchmarkFilterOr(b *testing.B) {
	for _, backend := range benchBackends {
		b.Run(backend.name, func(b *testing.B) {
			s := backend.open(b)
			project := uuid.NewString()
			ctx := as(project)
			patients := loadTasks(b, s, ctx, envInt("WARD_BENCH_FILTER_TASKS", 10000), 1000)
			analyze(b, s)
			x := patients[7]
			or, err := search.Parse("Task", url.Values{"_filter": {"based-on eq " + x + " or focus eq " + x + " or subject eq " + x}})
			if err != nil {
				b.Fatal(err)
			}
			plain, err := search.Parse("Task", url.Values{"subject": {x}})
			if err != nil {
				b.Fatal(err)
			}
			took := timeInTurns(b, 2, func(_, c int) error {
				res, err := s.Search(ctx, []*ward.SearchQuery{or, plain}[c])
				if err == nil && len(res.Matches) == 0 {
					b.Fatal("no matches")
				}
				return err
			})
			n := float64(b.N)
			b.ReportMetric(float64(took[0].Microseconds())/n, "or-µs")
			b.ReportMetric(float64(took[1].Microseconds())/n, "plain-µs")
			b.ReportMetric(float64(took[0])/float64(max(took[1], 1)), "or-x-plain")
		})
	}
}

// loadTasks writes patients Patients, then n Tasks, each pointing at one
// of them through based-on, focus or for in turn; it returns the
// Patients' references.
func loadTasks(tb testing.TB, s *store.Store, ctx context.Context, n, patients int) []string {
	tb.Helper()
	var refs []string
	for i := 0; i < patients; i += 100 {
		err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
			for j := i; j < min(i+100, patients); j++ {
				r, err := tx.Create(ctx, "Patient", []byte(`{"resourceType":"Patient"}`))
				if err != nil {
					return err
				}
				refs = append(refs, "Patient/"+r.ID)
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	fields := []string{"basedOn", "focus", "for"}
	for i := 0; i < n; i += 100 {
		err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
			for j := i; j < min(i+100, n); j++ {
				ref := map[string]any{"reference": refs[j%patients]}
				task := map[string]any{"resourceType": "Task", "status": "requested", "intent": "order"}
				if f := fields[(j/patients)%3]; f == "basedOn" {
					task[f] = []any{ref}
				} else {
					task[f] = ref
				}
				body, _ := json.Marshal(task)
				if _, err := tx.Create(ctx, "Task", body); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	return refs
}
