package store_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/access"
	"github.com/wardhealth/ward/internal/synth"
	"github.com/wardhealth/ward/store"
)

// everythingRecord is the chart of the benchmark patient: 999 resources
// of the four clinical types the MSO policy grants, plus the Patient.
var everythingRecord = []struct {
	typ string
	n   int
}{{"Observation", 800}, {"Encounter", 100}, {"DiagnosticReport", 50}, {"Communication", 49}}

// BenchmarkEverything measures Patient/$everything (one page holding the
// whole record of 1,000 resources, and a first page of 20) for the
// project admin (no policy) and a clinician of the patient's clinic under
// the MSO policy (spec 5.12), who sees the same 1,000. The project also
// holds 100 other patients of other clinics, 10 Observations each.
// "ratio" runs both callers alternately in one loop and reports the
// clinician's time over the admin's (clinician/admin), which a busy
// machine skews less than two separate runs.
// Run: go test -run '^$' -bench Everything -benchtime 200x ./store/
// (with WARD_TEST_POSTGRES_URL set for PostgreSQL).
func BenchmarkEverything(b *testing.B) {
	for _, backend := range benchBackends {
		b.Run(backend.name, func(b *testing.B) {
			s := backend.open(b)
			admin, clinician, patient := everythingWorld(b, s)
			for _, count := range []int{0, 20} {
				want := 1000
				name := "page=all"
				if count > 0 {
					want, name = count, "page=20"
				}
				run := func(ctx context.Context) {
					res, err := s.PatientEverything(ctx, patient, nil, "", count, 0)
					if err != nil {
						b.Fatal(err)
					}
					if len(res.Matches) != want {
						b.Fatalf("%d matches, want %d", len(res.Matches), want)
					}
				}
				for _, c := range []struct {
					name string
					ctx  context.Context
				}{{"admin", admin}, {"clinician", clinician}} {
					b.Run(name+"/"+c.name, func(b *testing.B) {
						for range b.N {
							run(c.ctx)
						}
						b.ReportMetric(float64(b.N*want)/b.Elapsed().Seconds(), "resources/s")
					})
				}
				b.Run(name+"/ratio", func(b *testing.B) {
					var spent [2]time.Duration
					for i := range b.N {
						ctx := []context.Context{admin, clinician}[i%2]
						start := time.Now()
						run(ctx)
						spent[i%2] += time.Since(start)
					}
					if spent[0] > 0 {
						b.ReportMetric(float64(spent[1])/float64(spent[0]), "clinician/admin")
					}
				})
			}
		})
	}
}

// everythingWorld writes the benchmark project and returns the admin's
// and the clinician's contexts and the patient's id.
func everythingWorld(b testing.TB, s *store.Store) (admin, clinician context.Context, patient string) {
	b.Helper()
	project := uuid.NewString()
	admin = ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: project, Admin: true, Author: "Practitioner/admin"})
	rng := rand.New(rand.NewPCG(3, 4))
	clinics := make([]string, 11)
	for i := range clinics {
		clinics[i] = "Organization/" + uuid.NewString()
	}
	write := func(typ string, body map[string]any) string {
		data, _ := json.Marshal(body)
		var id string
		err := s.Write(admin, func(ctx context.Context, tx ward.ResourceTx) error {
			res, err := tx.Create(ctx, typ, data)
			if err == nil {
				id = res.ID
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		return id
	}
	for i := range 100 {
		other := write("Patient", synth.Patient(rng))
		for range 10 {
			write("Observation", synth.Observation(rng, "Patient/"+other))
		}
		if _, err := s.SetAccounts(admin, "Patient", other, []string{clinics[1+i%10]}, true); err != nil {
			b.Fatal(err)
		}
	}
	patient = write("Patient", synth.Patient(rng))
	subject := map[string]any{"reference": "Patient/" + patient}
	for _, r := range everythingRecord {
		for range r.n {
			var body map[string]any
			switch r.typ {
			case "Observation":
				body = synth.Observation(rng, "Patient/"+patient)
			case "Encounter":
				body = map[string]any{"resourceType": "Encounter", "status": "finished",
					"class": map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}, "subject": subject}
			case "DiagnosticReport":
				body = map[string]any{"resourceType": "DiagnosticReport", "status": "final", "code": map[string]any{"text": "Panel"}, "subject": subject}
			case "Communication":
				body = map[string]any{"resourceType": "Communication", "status": "completed", "subject": subject,
					"payload": []any{map[string]any{"contentString": "See you Monday"}}}
			}
			write(r.typ, body)
		}
	}
	if _, err := s.SetAccounts(admin, "Patient", patient, []string{clinics[0]}, true); err != nil {
		b.Fatal(err)
	}
	if s.Dialect().Name() == "postgres" {
		// A fresh schema has no statistics yet; autovacuum would gather
		// them in a server that has run a while.
		if _, err := s.WriterDB().Exec("ANALYZE resources; ANALYZE resource_compartments"); err != nil {
			b.Fatal(err)
		}
	}
	pol, _, err := access.Build(access.Input{
		Project: map[string]any{"id": project},
		Membership: map[string]any{"profile": map[string]any{"reference": "Practitioner/clinician"},
			"access": synth.ClinicAccess("AccessPolicy/mso", clinics[:1])},
		Policies: map[string]map[string]any{"AccessPolicy/mso": jsonRoundTrip(b, synth.MSOPolicy())},
	})
	if err != nil {
		b.Fatal(err)
	}
	clinician = ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: project, Author: "Practitioner/clinician", Policy: pol})
	return admin, clinician, patient
}

// jsonRoundTrip gives m the shape a policy read from the database has.
func jsonRoundTrip(b testing.TB, m map[string]any) map[string]any {
	data, _ := json.Marshal(m)
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		b.Fatal(err)
	}
	return out
}
