package store_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/access"
	"github.com/wardhealth/ward/internal/synth"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// benchBackends are the engines every store benchmark runs on
// (PostgreSQL only when WARD_TEST_POSTGRES_URL is set).
var benchBackends = []struct {
	name string
	open func(testing.TB) *store.Store
}{{"sqlite", storetest.OpenSQLite}, {"postgres", storetest.OpenPostgres}}

// BenchmarkWrite measures the write path (validate, index, insert) per
// resource: one resource per transaction, and 100 per transaction as a
// transaction bundle does. Run: go test -tags wip -run '^$' -bench Write ./store/
func BenchmarkWrite(b *testing.B) {
	for _, backend := range benchBackends {
		for _, perTx := range []int{1, 100} {
			b.Run(backend.name+"/perTx="+itoa(perTx), func(b *testing.B) {
				benchCreateObservations(b, backend.open(b), perTx)
			})
		}
	}
}

func itoa(n int) string {
	return string(rune('0'+n/100%10)) + string(rune('0'+n/10%10)) + string(rune('0'+n%10))
}

// BenchmarkMSO is the organization-walls comparison of docs/benchmarks.md
// in one process: a project of 100 clinics, WARD_BENCH_MSO_PATIENTS
// Patients (2000 unless set) each in one clinic with 10 Observations in
// the same clinic, the MSO policy of spec 5.12 for a clinician of 1 and of
// 50 clinics, and the project admin (no policy). Each sub-benchmark runs
// the clinician's request and the admin's in turn and reports both and
// their ratio (x-admin, the goal is ≤ 1.3).
// Run: go test -run '^$' -bench MSO -benchtime 400x ./store/
func BenchmarkMSO(b *testing.B) {
	for _, backend := range benchBackends {
		b.Run(backend.name, func(b *testing.B) {
			s := backend.open(b)
			w := loadMSO(b, s, envInt("WARD_BENCH_MSO_PATIENTS", 2000))
			searches := []struct{ name, query string }{
				{"page", "_count=20"},
				{"code", "code=http://loinc.org|8867-4&_count=20"},
				{"date", "date=ge2020-01-01&date=lt2020-02-01&_count=20"},
			}
			for _, who := range []struct {
				name string
				ctx  context.Context
				ids  []string
			}{{"clinic1", w.c1, w.obs1}, {"clinic50", w.c50, w.obs50}} {
				for _, q := range searches {
					b.Run(who.name+"/"+q.name, func(b *testing.B) {
						vsAdmin(b, func(ctx context.Context, _ int) error {
							_, err := trySearch(s, ctx, "Observation", q.query)
							return err
						}, who.ctx, w.admin)
					})
				}
				b.Run(who.name+"/read", func(b *testing.B) {
					vsAdmin(b, func(ctx context.Context, i int) error {
						_, err := s.Read(ctx, "Observation", who.ids[i%len(who.ids)])
						return err
					}, who.ctx, w.admin)
				})
			}
		})
	}
}

// msoWorld is the loaded MSO project: the callers and, per clinician, ids
// of Observations it may read.
type msoWorld struct {
	admin, c1, c50 context.Context
	obs1, obs50    []string
	clinics        []string // Organization references
}

// loadMSO writes the MSO project as the system principal (extended, so
// meta.accounts are kept as written), 100 resources per transaction.
func loadMSO(b testing.TB, s *store.Store, patients int) *msoWorld {
	b.Helper()
	ctx := ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal())
	project := uuid.NewString()
	meta := func(accounts ...string) map[string]any {
		m := map[string]any{"project": project}
		if len(accounts) > 0 {
			m["accounts"] = []any{map[string]any{"reference": accounts[0]}}
		}
		return m
	}
	rng := rand.New(rand.NewPCG(42, 42))
	clinics := make([]string, 100)
	obs := make([][]string, len(clinics))
	write := func(fn func(ctx context.Context, tx ward.ResourceTx) error) {
		if err := s.Write(ctx, fn); err != nil {
			b.Fatal(err)
		}
	}
	write(func(ctx context.Context, tx ward.ResourceTx) error {
		for i := range clinics {
			body, _ := json.Marshal(map[string]any{"resourceType": "Organization", "name": "Clinic " + itoa(i), "meta": meta()})
			r, err := tx.Create(ctx, "Organization", body)
			if err != nil {
				return err
			}
			clinics[i] = "Organization/" + r.ID
		}
		return nil
	})
	const perTx = 9 // Patients per transaction, each with 10 Observations
	for i := 0; i < patients; i += perTx {
		write(func(ctx context.Context, tx ward.ResourceTx) error {
			for j := i; j < i+perTx && j < patients; j++ {
				clinic := j % len(clinics)
				p := synth.Patient(rng)
				p["meta"] = meta(clinics[clinic])
				body, _ := json.Marshal(p)
				r, err := tx.Create(ctx, "Patient", body)
				if err != nil {
					return err
				}
				for k := 0; k < 10; k++ {
					o := synth.Observation(rng, "Patient/"+r.ID)
					o["meta"] = meta(clinics[clinic])
					body, _ := json.Marshal(o)
					ro, err := tx.Create(ctx, "Observation", body)
					if err != nil {
						return err
					}
					obs[clinic] = append(obs[clinic], ro.ID)
				}
			}
			return nil
		})
	}
	if s.Dialect().Name() == "postgres" {
		// As scripts/bench-mso.sh does after loading.
		if _, err := s.WriterDB().Exec("ANALYZE resources; ANALYZE resource_compartments; ANALYZE search_token; ANALYZE search_date; ANALYZE search_token_compartment; ANALYZE search_date_compartment"); err != nil {
			b.Fatal(err)
		}
	}
	policy := msoPolicy(b)
	w := &msoWorld{admin: ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: project, Author: "Practitioner/admin", Admin: true})}
	w.c1 = clinicianCtx(b, project, policy, clinics[:1])
	w.c50 = clinicianCtx(b, project, policy, clinics[:50])
	w.obs1, w.clinics = obs[0], clinics
	for c := 0; c < 50; c++ {
		w.obs50 = append(w.obs50, obs[c][:min(len(obs[c]), 20)]...)
	}
	rng.Shuffle(len(w.obs50), func(i, j int) { w.obs50[i], w.obs50[j] = w.obs50[j], w.obs50[i] })
	return w
}

func msoPolicy(b testing.TB) map[string]any {
	data, _ := json.Marshal(synth.MSOPolicy())
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		b.Fatal(err)
	}
	return m
}

// clinicianCtx is a member of project invited into clinics with the MSO
// policy, as the MSO demo invites (one access entry per clinic).
func clinicianCtx(b testing.TB, project string, policy map[string]any, clinics []string) context.Context {
	b.Helper()
	data, _ := json.Marshal(map[string]any{
		"profile": map[string]any{"reference": "Practitioner/clin"},
		"access":  synth.ClinicAccess("AccessPolicy/mso", clinics),
	})
	var membership map[string]any
	if err := json.Unmarshal(data, &membership); err != nil {
		b.Fatal(err)
	}
	pol, _, err := access.Build(access.Input{
		Project: map[string]any{"id": project}, Membership: membership,
		Policies: map[string]map[string]any{"AccessPolicy/mso": policy},
	})
	if err != nil {
		b.Fatal(err)
	}
	return ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: project, Author: "Practitioner/clin", Policy: pol})
}

// vsAdmin runs op as caller and as admin in turn, b.N times each, and
// reports each one's mean and the ratio caller / admin.
func vsAdmin(b *testing.B, op func(ctx context.Context, i int) error, caller, admin context.Context) {
	var took [2]time.Duration
	for i := 0; i < b.N; i++ {
		for k, ctx := range []context.Context{caller, admin} {
			start := time.Now()
			if err := op(ctx, i); err != nil {
				b.Fatal(err)
			}
			took[k] += time.Since(start)
		}
	}
	b.ReportMetric(float64(took[0].Microseconds())/float64(b.N), "caller-µs")
	b.ReportMetric(float64(took[1].Microseconds())/float64(b.N), "admin-µs")
	b.ReportMetric(float64(took[0])/float64(max(took[1], 1)), "x-admin")
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkReadByID reads one Patient by id, in turn as its project's
// admin (the project wall narrows the lookup to a primary key), as a super
// admin and as the system principal (no wall: the index on the id alone),
// from WARD_BENCH_READ_PER_PROJECT (1000 unless set) Patients in each of
// 20 projects. It reports each caller's mean and the ratios to the admin
// (x-admin; the goal is ~1: a lookup across projects is a point lookup).
// Run: go test -run '^$' -bench ReadByID -benchtime 2000x ./store/
func BenchmarkReadByID(b *testing.B) {
	for _, backend := range benchBackends {
		b.Run(backend.name, func(b *testing.B) {
			s := backend.open(b)
			w := loadProjects(b, s, 20, envInt("WARD_BENCH_READ_PER_PROJECT", 1000))
			analyze(b, s)
			admins := make([]context.Context, len(w.projects))
			for k := range admins {
				admins[k] = ward.NewContextWithPrincipal(context.Background(), w.admin(k))
			}
			super := ward.NewContextWithPrincipal(context.Background(), w.superAdmin)
			system := ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal())
			took := timeInTurns(b, 3, func(i, c int) error {
				k := i % len(w.projects)
				id := w.resources[k][(i/len(w.projects)*7919)%len(w.resources[k])].ID
				_, err := s.Read([]context.Context{admins[k], super, system}[c], "Patient", id)
				return err
			})
			n := float64(b.N)
			b.ReportMetric(float64(took[0].Microseconds())/n, "admin-µs")
			b.ReportMetric(float64(took[1].Microseconds())/n, "super-µs")
			b.ReportMetric(float64(took[2].Microseconds())/n, "system-µs")
			b.ReportMetric(float64(took[1])/float64(max(took[0], 1)), "super-x-admin")
			b.ReportMetric(float64(took[2])/float64(max(took[0], 1)), "system-x-admin")
		})
	}
}

// timeInTurns runs b.N rounds of do(i, c) for each of n callers c, each
// caller first in turn (the first read of a row pays for bringing its
// pages into the cache), and returns each caller's total time.
func timeInTurns(b *testing.B, n int, do func(i, c int) error) []time.Duration {
	took := make([]time.Duration, n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range n {
			c := (i + j) % n
			start := time.Now()
			if err := do(i, c); err != nil {
				b.Fatal(err)
			}
			took[c] += time.Since(start)
		}
	}
	return took
}

// benchCreateObservations creates b.N synthetic Observations in s, perTx
// to a transaction, and reports resources/s.
func benchCreateObservations(b *testing.B, s *store.Store, perTx int) {
	ctx := as(uuid.NewString())
	rng := rand.New(rand.NewPCG(1, 2))
	bodies := make([][]byte, 1000)
	for i := range bodies {
		bodies[i], _ = json.Marshal(synth.Observation(rng, "Patient/"+uuid.NewString()))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i += perTx {
		err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
			for j := i; j < i+perTx && j < b.N; j++ {
				if _, err := tx.Create(ctx, "Observation", bodies[j%len(bodies)]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resources/s")
}

// BenchmarkIngestMSO is the write cost of an MSO project: b.N resources,
// Patients of 100 clinics with 10 Observations each, every resource with
// its clinic in meta.accounts (so in the compartment index), 99 a
// transaction as loadMSO writes them.
// Run: go test -run '^$' -bench IngestMSO -benchtime 5000x ./store/
func BenchmarkIngestMSO(b *testing.B) {
	for _, backend := range benchBackends {
		b.Run(backend.name, func(b *testing.B) {
			s := backend.open(b)
			ctx := ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal())
			project := uuid.NewString()
			rng := rand.New(rand.NewPCG(7, 7))
			body := func(res map[string]any, clinic string) []byte {
				res["meta"] = map[string]any{"project": project, "accounts": []any{map[string]any{"reference": clinic}}}
				data, _ := json.Marshal(res)
				return data
			}
			clinics := make([]string, 100)
			for i := range clinics {
				clinics[i] = "Organization/" + uuid.NewString()
			}
			b.ResetTimer()
			for n := 0; n < b.N; {
				err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
					for k := 0; k < 9 && n < b.N; k++ {
						clinic := clinics[rng.IntN(len(clinics))]
						p, err := tx.Create(ctx, "Patient", body(synth.Patient(rng), clinic))
						if err != nil {
							return err
						}
						n++
						for j := 0; j < 10 && n < b.N; j++ {
							if _, err := tx.Create(ctx, "Observation", body(synth.Observation(rng, "Patient/"+p.ID), clinic)); err != nil {
								return err
							}
							n++
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "resources/s")
		})
	}
}
