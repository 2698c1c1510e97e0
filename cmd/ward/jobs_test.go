package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/postgres"
	"github.com/wardhealth/ward/store/sqlite"
	"github.com/wardhealth/ward/store/storetest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// twoProcesses opens two stores on one database, as two ward serve
// processes of a fleet do.
func twoProcesses(t *testing.T, engine string) (a, b *store.Store) {
	open := processes(t, engine)
	return open(), open()
}

// processes returns a function opening one more store on one database
// of engine (closed when the test ends).
func processes(t *testing.T, engine string) func() *store.Store {
	ctx := context.Background()
	if engine == "sqlite" {
		path := filepath.Join(t.TempDir(), "ward.db")
		return func() *store.Store {
			s, err := sqlite.Open(ctx, path, sqlite.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
	}
	if os.Getenv(storetest.PostgresURLEnv) == "" {
		t.Skip(storetest.PostgresURLEnv + " not set")
	}
	first := storetest.OpenPostgres(t)
	var schema string
	if err := first.DB().QueryRowContext(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		t.Fatal(err)
	}
	return func() *store.Store {
		if first != nil {
			s := first
			first = nil
			return s
		}
		s, err := postgres.Open(ctx, os.Getenv(storetest.PostgresURLEnv), postgres.Options{SearchPath: schema, MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
}

func createJob(t *testing.T, s *store.Store, project, status string) string {
	t.Helper()
	body := `{"resourceType":"AsyncJob","meta":{"project":"` + project + `"},"status":"` + status + `","request":"http://x/fhir/R4/$export","requestTime":"2026-01-01T00:00:00Z"}`
	var id string
	err := s.Write(ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal()), func(ctx context.Context, tx ward.ResourceTx) error {
		res, err := tx.Create(ctx, "AsyncJob", []byte(body))
		if err == nil {
			id = res.ID
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func jobStatusOf(t *testing.T, s *store.Store, id string) string {
	t.Helper()
	res, err := s.Read(ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal()), "AsyncJob", id)
	if err != nil {
		t.Fatal(err)
	}
	return jobStatus(res.Content)
}

// TestInterruptedJobsFailVisibly: a job still accepted that no process
// leases is marked error with a reason; a finished job is left.
func TestInterruptedJobsFailVisibly(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "ward.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	project := uuid.NewString()
	ids := map[string]string{}
	for _, status := range []string{"accepted", "completed"} {
		ids[status] = createJob(t, s, project, status)
	}
	if err := endOrphanedJobs(ctx, s, 0, quiet); err != nil {
		t.Fatal(err)
	}
	for status, want := range map[string]string{"accepted": "error", "completed": "completed"} {
		if got := jobStatusOf(t, s, ids[status]); got != want {
			t.Errorf("a job %s before the restart is %s after, want %s", status, got, want)
		}
	}
	res, _ := s.Read(ward.NewContextWithPrincipal(ctx, ward.SystemPrincipal()), "AsyncJob", ids["accepted"])
	var job map[string]any
	json.Unmarshal(res.Content, &job)
	if job["output"] == nil {
		t.Error("the failed job has no outcome saying why")
	}
}

// TestJobLeasesAcrossProcesses: a job accepted by process A is left
// running while A lives, however often B looks (B starting used to fail
// it); when A dies its lease expires and B ends the job; when B stops
// cleanly, A ends B's jobs at once. Both engines.
func TestJobLeasesAcrossProcesses(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			sa, sb := twoProcesses(t, engine)
			ttl := time.Second
			a := newJobLeases(sa, "A", ttl, quiet)
			b := newJobLeases(sb, "B", ttl, quiet)
			project := uuid.NewString()

			running := createJob(t, sa, project, "accepted")
			for range 3 { // B looks past the grace: A renews
				time.Sleep(ttl / 2)
				a.renew(ctx)
				if err := endOrphanedJobs(ctx, sb, 0, quiet); err != nil {
					t.Fatal(err)
				}
			}
			if got := jobStatusOf(t, sb, running); got != "accepted" {
				t.Fatalf("A's running job is %s after B looked, want accepted", got)
			}

			// A dies (no renewal, no release): B ends the job once the lease expired.
			time.Sleep(ttl + 100*time.Millisecond)
			if err := endOrphanedJobs(ctx, sb, 0, quiet); err != nil {
				t.Fatal(err)
			}
			if got := jobStatusOf(t, sb, running); got != "error" {
				t.Fatalf("a dead process's job is %s after its lease expired, want error", got)
			}

			// B stops cleanly: its leases are released, A's loop ends its job at once.
			stopped := createJob(t, sb, project, "accepted")
			if err := endOrphanedJobs(ctx, sa, 0, quiet); err != nil {
				t.Fatal(err)
			}
			if got := jobStatusOf(t, sa, stopped); got != "accepted" {
				t.Fatalf("a live process's job is %s, want accepted", got)
			}
			b.releaseAll(ctx)
			if err := endOrphanedJobs(ctx, sa, 0, quiet); err != nil {
				t.Fatal(err)
			}
			if got := jobStatusOf(t, sa, stopped); got != "error" {
				t.Fatalf("a stopped process's job is %s, want error", got)
			}
			if live, _ := sa.LiveLeases(ctx, jobLeasePrefx); len(live) != 0 {
				t.Errorf("leases %v left after every job ended", live)
			}
		})
	}
}
