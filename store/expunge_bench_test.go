package store_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
)

// BenchmarkExpungePatient erases a patient whose compartment holds
// WARD_EXPUNGE_RESOURCES Observations (default 10,000), each with two
// versions, on SQLite with synchronous=FULL and on PostgreSQL, in a
// project that also holds another patient's as many: reports the
// erasure's wall time.
// Run: WARD_TEST_POSTGRES_URL=… go test -run '^$' -bench ExpungePatient -benchtime 3x ./store/
func BenchmarkExpungePatient(b *testing.B) {
	n := 10_000
	if v, err := strconv.Atoi(os.Getenv("WARD_EXPUNGE_RESOURCES")); err == nil && v > 0 {
		n = v
	}
	for _, be := range auditBackends {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			var total time.Duration
			for range b.N {
				b.StopTimer()
				proj := uuid.NewString()
				patient := seedCompartment(b, s, proj, n)
				seedCompartment(b, s, proj, n) // the neighbour's
				b.StartTimer()
				start := time.Now()
				got, err := s.Expunge(adminOf(proj), "Patient", patient, true)
				total += time.Since(start)
				if err != nil || got != n+1 {
					b.Fatalf("expunged %d (%v), want %d", got, err, n+1)
				}
			}
			b.ReportMetric(total.Seconds()*1000/float64(b.N), "ms/erasure")
			b.ReportMetric(float64(n+1)*float64(b.N)/total.Seconds(), "resources/s")
		})
	}
}

// seedCompartment creates a patient with n Observations of two versions
// each in proj and returns the patient's id.
func seedCompartment(b *testing.B, s *store.Store, proj string, n int) string {
	patient := sysCreate(b, s, proj, "Patient", `{"name":[{"family":"Bench"}]}`)
	for start := 0; start < n; start += 500 {
		err := s.Write(sysCtx(), func(ctx context.Context, tx ward.ResourceTx) error {
			for i := start; i < min(n, start+500); i++ {
				body := fmt.Sprintf(`{"resourceType":"Observation","meta":{"project":%q},"status":"final","code":{"text":"o%d"},"subject":{"reference":"Patient/%s"},"effectiveDateTime":"2026-01-01"}`, proj, i, patient.ID)
				res, err := tx.Create(ctx, "Observation", []byte(body))
				if err != nil {
					return err
				}
				if _, _, err := tx.Update(ctx, "Observation", res.ID, []byte(fmt.Sprintf(`{"resourceType":"Observation","id":%q,"meta":{"project":%q},"status":"amended","code":{"text":"o%d"},"subject":{"reference":"Patient/%s"}}`, res.ID, proj, i, patient.ID)), ""); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return patient.ID
}
