package store_test

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/internal/synth"
	"github.com/wardhealth/ward/store"
)

// BenchmarkSetAccounts measures $set-accounts with propagate on a Patient
// whose compartment holds 100, 1,000 and 10,000 Observations (synthetic,
// as gendata writes them). Each run moves the patient to the other of two
// clinics, so every resource of the compartment gets a new version.
// Run: go test -run '^$' -bench SetAccounts -benchtime 5x ./store/
// (with WARD_TEST_POSTGRES_URL set for PostgreSQL). cpu-ms/op is the
// process's CPU time per run, steadier than ns/op on a shared machine.
func BenchmarkSetAccounts(b *testing.B) {
	for _, backend := range benchBackends {
		for _, size := range []int{100, 1000, 10000} {
			b.Run(backend.name+"/resources="+strconv.Itoa(size), func(b *testing.B) {
				s := backend.open(b)
				project := uuid.NewString()
				ctx := ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: project, Admin: true, Author: "Practitioner/admin"})
				patient := benchCompartment(b, s, ctx, size)
				clinics := []string{"Organization/" + uuid.NewString(), "Organization/" + uuid.NewString()}
				b.ResetTimer()
				cpu := processCPU()
				for i := range b.N {
					n, err := s.SetAccounts(ctx, "Patient", patient, clinics[i%2:i%2+1], true)
					if err != nil {
						b.Fatal(err)
					}
					if n != size+1 {
						b.Fatalf("resourcesUpdated %d, want %d", n, size+1)
					}
				}
				b.ReportMetric(float64(b.N*(size+1))/b.Elapsed().Seconds(), "resources/s")
				// Ward's own CPU per run (SQLite runs in-process; the
				// PostgreSQL server's share is not in it).
				b.ReportMetric(float64(processCPU()-cpu)/float64(b.N)/1e6, "cpu-ms/op")
			})
		}
	}
}

// benchCompartment writes a Patient and size Observations about it.
func benchCompartment(b testing.TB, s *store.Store, ctx context.Context, size int) string {
	b.Helper()
	var patient string
	rng := rand.New(rand.NewPCG(1, 2))
	err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
		res, err := tx.Create(ctx, "Patient", []byte(`{"resourceType":"Patient","name":[{"family":"Bench"}]}`))
		if err != nil {
			return err
		}
		patient = res.ID
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	for done := 0; done < size; done += 500 {
		err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
			for range min(500, size-done) {
				body, _ := json.Marshal(synth.Observation(rng, "Patient/"+patient))
				if _, err := tx.Create(ctx, "Observation", body); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return patient
}
