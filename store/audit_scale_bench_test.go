package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/search"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/sqlite"
)

// The audit trail at scale: one project's trail of WARD_AUDIT_SCALE
// records (reads of patients' Observations by 50 practitioners over a
// year, 1,000 records per patient, as 10,000 patients have in a trail of
// ten million), kept in WARD_AUDIT_SCALE_DB so that a later run reuses
// (and resumes) the load.
const (
	scaleProject      = "a0d17000-0000-4000-8000-000000000001"
	recordsPerPatient = 1000
)

var scaleStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func scalePatients(n int) int { return max(10, n/recordsPerPatient) }

func scalePatient(i, n int) string {
	return fmt.Sprintf("Patient/a0d17000-0000-4000-8000-%012d", i%scalePatients(n))
}

// scaleRecord is record i of n, i/n of the way through the year.
func scaleRecord(i, n int) *ward.AuditRecord {
	when := scaleStart.Add(time.Duration(float64(365*24*time.Hour) * float64(i) / float64(n)))
	return &ward.AuditRecord{
		Time: when, ProjectID: scaleProject, Kind: "rest", Action: "R", Interaction: "read",
		Outcome: "0", Status: 200, User: fmt.Sprintf("User/u%d", i%50), Profile: fmt.Sprintf("Practitioner/p%d", i%50),
		Membership: fmt.Sprintf("ProjectMembership/m%d", i%50), Address: "10.1.2.3", UserAgent: "Mozilla/5.0",
		RequestID: fmt.Sprintf("r%d", i), ResourceType: "Observation", ResourceID: fmt.Sprintf("o%d", i),
		VersionID: "v1", Results: -1, Patients: []string{scalePatient(i*7919, n)},
	}
}

// BenchmarkAuditSearchAtScale: AuditEvent?entity=Patient/x&date=ge… (the
// patient's last 30 days, newest first, a page of 20) as the project's
// admin, over the whole trail; reports p50/p99 and the bytes the database
// holds per record.
// Run: WARD_AUDIT_SCALE=2000000 WARD_AUDIT_SCALE_DB=/tmp/audit-2m.db go test -run '^$' -bench AuditSearchAtScale -benchtime 500x -timeout 4h ./store/
func BenchmarkAuditSearchAtScale(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("WARD_AUDIT_SCALE"))
	if n == 0 {
		b.Skip("set WARD_AUDIT_SCALE (records) and WARD_AUDIT_SCALE_DB (a file to keep them in)")
	}
	path := os.Getenv("WARD_AUDIT_SCALE_DB")
	if path == "" {
		path = b.TempDir() + "/audit.db"
	}
	ctx := context.Background()
	s, err := sqlite.Open(ctx, path, sqlite.Options{Synchronous: "OFF"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	loadScale(b, s, n)
	admin := ward.NewContextWithPrincipal(ctx, &ward.Principal{ProjectID: scaleProject, Admin: true})
	since := scaleStart.Add(335 * 24 * time.Hour).Format(time.RFC3339)
	rng := rand.New(rand.NewPCG(1, 2))
	latencies := make([]time.Duration, 0, b.N)
	matched := 0
	b.ResetTimer()
	for range b.N {
		q, err := search.ParseCriteria("AuditEvent?entity=" + scalePatient(rng.IntN(scalePatients(n)), n) + "&date=ge" + since + "&_sort=-date&_count=20")
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		res, err := s.Search(admin, q)
		if err != nil {
			b.Fatal(err)
		}
		latencies = append(latencies, time.Since(start))
		matched += len(res.Matches)
	}
	b.StopTimer()
	slices.Sort(latencies)
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(matched)/float64(b.N), "matches/query")
	if st, err := os.Stat(path); err == nil {
		b.ReportMetric(float64(st.Size())/float64(n), "db-bytes/record")
	}
}

// loadScale brings the trail to n records, resuming a previous load.
func loadScale(b *testing.B, s *store.Store, n int) {
	var have int
	if err := s.DB().QueryRow(`SELECT COALESCE(MAX(seq), 0) FROM audit_chain WHERE project_id = ?`, scaleProject).Scan(&have); err != nil {
		b.Fatal(err)
	}
	const batch = 5000
	start := time.Now()
	for i := have; i < n; i += batch {
		recs := make([]*ward.AuditRecord, 0, batch)
		for j := i; j < min(n, i+batch); j++ {
			recs = append(recs, scaleRecord(j, n))
		}
		if err := store.LoadAuditRecords(context.Background(), s, recs, recs[0].Time); err != nil {
			b.Fatal(err)
		}
		if done := i + len(recs); done%100_000 == 0 || done == n {
			b.Logf("audit scale: %d/%d records (%.0f/s)", done, n, float64(done-have)/time.Since(start).Seconds())
		}
	}
}
