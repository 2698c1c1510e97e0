package main

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	wardhttp "github.com/wardhealth/ward/http"
	"github.com/wardhealth/ward/search"
	"github.com/wardhealth/ward/store"
)

// fakeIdentity resolves the job callers of one project: login "kept"
// still has access (a project admin), any other login lost it.
func fakeIdentity(project string) func(ctx context.Context, c wardhttp.JobCaller) (*ward.Principal, error) {
	return func(ctx context.Context, c wardhttp.JobCaller) (*ward.Principal, error) {
		if c.LoginID != "kept" {
			return nil, ward.Errorf(ward.EUNAUTHORIZED, "Unauthorized")
		}
		return &ward.Principal{ProjectID: project, Admin: true, Author: c.Author, LoginID: c.LoginID}, nil
	}
}

// deadExport is an accepted $export of project's Patients by login, with
// a part its dead process had written, whose lease expired.
func deadExport(t *testing.T, s *store.Store, project, login string) string {
	t.Helper()
	ctx := context.Background()
	job := createJob(t, s, project, "accepted")
	caller := `{"login":"` + login + `","author":"Practitioner/p1"}`
	params := `{"types":["Patient"],"base":"http://x/fhir/R4"}`
	if err := s.SaveJobRun(ctx, project, job, "export", []byte(caller), []byte(params)); err != nil {
		t.Fatal(err)
	}
	in := ward.NewContextWithPrincipal(ctx, &ward.Principal{ProjectID: project, Admin: true})
	if err := s.AppendExportPart(in, job, "Patient", 0, []byte(`{"resourceType":"Patient","id":"partial"}`+"\n")); err != nil {
		t.Fatal(err)
	}
	return job
}

// deadSetAccounts is an accepted $set-accounts of patient by login
// "kept" whose process died.
func deadSetAccounts(t *testing.T, s *store.Store, project, patient string) string {
	t.Helper()
	job := createJob(t, s, project, "accepted")
	caller := `{"login":"kept","author":"Practitioner/p1"}`
	params := `{"type":"Patient","id":"` + patient + `","accounts":["Organization/acct"],"propagate":true}`
	if err := s.SaveJobRun(context.Background(), project, job, "set-accounts", []byte(caller), []byte(params)); err != nil {
		t.Fatal(err)
	}
	return job
}

func exportedFile(t *testing.T, s *store.Store, project, job string) string {
	t.Helper()
	var b strings.Builder
	in := ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: project, Admin: true})
	if err := s.ExportParts(in, job, "Patient", func(nd []byte) error { b.Write(nd); return nil }); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestJobTakeover: the $export of a process that died (its lease gone)
// is run again from the start by another process, under its caller as
// resolved now — a caller who lost access ends it as error, unrun — and
// two processes looking at once run it once; a $set-accounts is applied.
// Both engines.
func TestJobTakeover(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			open := processes(t, engine)
			sa, sb := open(), open()
			project := uuid.NewString()
			patient := ""
			err := sa.Write(ward.NewContextWithPrincipal(ctx, &ward.Principal{ProjectID: project, Admin: true, Author: "Practitioner/p1"}), func(ctx context.Context, tx ward.ResourceTx) error {
				res, err := tx.Create(ctx, "Patient", []byte(`{"resourceType":"Patient","name":[{"family":"Takeover"}]}`))
				if err == nil {
					patient = res.ID
				}
				return err
			})
			if err != nil {
				t.Fatal(err)
			}

			var runs atomic.Int32
			runner := func(s *store.Store, holder string) *jobLeases {
				j := newJobLeases(s, holder, time.Second, quiet)
				resume := wardhttp.NewJobRunner(s, search.Parse, quiet, fakeIdentity(project)).Resume
				j.resumeWith(func(ctx context.Context, job *ward.Resource) error {
					runs.Add(1)
					return resume(ctx, job)
				})
				return j
			}
			// D accepts (and leases) two exports and a $set-accounts, then dies: no renewal.
			newJobLeases(sa, "D", time.Second, quiet)
			kept := deadExport(t, sa, project, "kept")
			lost := deadExport(t, sa, project, "revoked")
			accounts := deadSetAccounts(t, sa, project, patient)
			if live, _ := sa.LiveLeases(ctx, jobLeasePrefx); len(live) != 3 {
				t.Fatalf("the accepted jobs hold leases %v, want three", live)
			}
			time.Sleep(1100 * time.Millisecond)
			a, b := runner(sa, "A"), runner(sb, "B")
			var wg sync.WaitGroup // A and B look at once
			for _, j := range []*jobLeases{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := j.endOrphans(ctx); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			a.running.Wait()
			b.running.Wait()

			if got := runs.Load(); got != 3 {
				t.Errorf("three orphaned jobs were run %d times by two processes, want once each", got)
			}
			if got := jobStatusOf(t, sb, accounts); got != "completed" {
				t.Errorf("the dead process's $set-accounts is %s after the takeover, want completed", got)
			}
			res, err := sb.Read(ward.NewContextWithPrincipal(ctx, ward.SystemPrincipal()), "Patient", patient)
			if err != nil || !strings.Contains(string(res.Content), "Organization/acct") {
				t.Errorf("after the taken-over $set-accounts the Patient is %s %v, want Organization/acct in its accounts", res.Content, err)
			}
			if got := jobStatusOf(t, sb, kept); got != "completed" {
				t.Errorf("the dead process's export is %s after the takeover, want completed", got)
			}
			file := exportedFile(t, sb, project, kept)
			if !strings.Contains(file, patient) || strings.Contains(file, "partial") || strings.Count(file, "\n") != 1 {
				t.Errorf("the taken-over export's Patient file is %q, want the one Patient, without the dead run's part", file)
			}
			if got := jobStatusOf(t, sb, lost); got != "error" {
				t.Errorf("the export of a caller who lost access is %s after the takeover, want error", got)
			}
			if file := exportedFile(t, sb, project, lost); strings.Contains(file, patient) {
				t.Error("the export of a caller who lost access was run with its old grant")
			}
			if live, _ := sa.LiveLeases(ctx, jobLeasePrefx); len(live) != 0 {
				t.Errorf("leases %v left after the taken-over jobs ended", live)
			}
			for _, job := range []string{kept, lost, accounts} {
				if kind, _, _, err := sa.LoadJobRun(ctx, project, job); err != nil || kind != "" {
					t.Errorf("job %s's run is left after it ended (%q, %v)", job, kind, err)
				}
			}
		})
	}
}

func jobVersions(t *testing.T, s *store.Store, id string) int {
	t.Helper()
	page, err := s.History(ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal()), ward.HistoryQuery{ResourceType: "AsyncJob", ID: id})
	if err != nil {
		t.Fatal(err)
	}
	return len(page.Versions)
}

func createPatient(t *testing.T, s *store.Store, project, family string) string {
	t.Helper()
	var id string
	err := s.Write(ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: project, Admin: true, Author: "Practitioner/p1"}), func(ctx context.Context, tx ward.ResourceTx) error {
		res, err := tx.Create(ctx, "Patient", []byte(`{"resourceType":"Patient","name":[{"family":"`+family+`"}]}`))
		if err != nil {
			return err
		}
		id = res.ID
		_, err = tx.Create(ctx, "Observation", []byte(`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/`+id+`"}}`))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestStalledTakeoverIsFenced: A takes an orphaned $export over and
// stalls past its lease; B takes it over from A. When A wakes it runs the
// export with its lost claim: its first write (deleting the parts to run
// again) is refused, so is marking the job failed, and it leaves the
// job's run to B; B then runs the export and completes the job once, with
// one file. Both engines.
func TestStalledTakeoverIsFenced(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			open := processes(t, engine)
			sa, sb := open(), open()
			project := uuid.NewString()
			patient := createPatient(t, sa, project, "Fenced")
			newJobLeases(sa, "D", time.Second, quiet) // D accepts the export and dies
			job := deadExport(t, sa, project, "kept")
			time.Sleep(1100 * time.Millisecond)

			gated := func(s *store.Store, holder string, gate <-chan struct{}, claimed chan<- context.Context) *jobLeases {
				j := newJobLeases(s, holder, time.Second, quiet)
				resume := wardhttp.NewJobRunner(s, search.Parse, quiet, fakeIdentity(project)).Resume
				j.resumeWith(func(ctx context.Context, job *ward.Resource) error {
					claimed <- ctx
					<-gate // stalled
					return resume(ctx, job)
				})
				return j
			}
			wakeA, wakeB := make(chan struct{}), make(chan struct{})
			claimedA, claimedB := make(chan context.Context, 1), make(chan context.Context, 1)
			a := gated(sa, "A", wakeA, claimedA)
			b := gated(sb, "B", wakeB, claimedB)
			if err := a.endOrphans(ctx); err != nil {
				t.Fatal(err)
			}
			ctxA := <-claimedA
			time.Sleep(1100 * time.Millisecond) // A stalls past its lease
			if err := b.endOrphans(ctx); err != nil {
				t.Fatal(err)
			}
			<-claimedB
			close(wakeA) // A wakes under its lost claim
			a.running.Wait()
			if got := jobStatusOf(t, sb, job); got != "accepted" || jobVersions(t, sb, job) != 1 {
				t.Fatalf("after A's stale run the job is %s with %d versions, want accepted, unwritten", got, jobVersions(t, sb, job))
			}
			if file := exportedFile(t, sb, project, job); !strings.Contains(file, "partial") {
				t.Fatalf("A's stale run deleted the parts (%q): its write was not fenced", file)
			}
			if kind, _, _, _ := sb.LoadJobRun(ctx, project, job); kind != "export" {
				t.Fatal("A's stale run dropped the job's run B is running")
			}
			if ctxA.Err() == nil {
				t.Error("A's run context is still live after its run ended under a lost lease")
			}

			close(wakeB)
			b.running.Wait()
			if got, n := jobStatusOf(t, sb, job), jobVersions(t, sb, job); got != "completed" || n != 2 {
				t.Errorf("after B's run the job is %s with %d versions, want completed once (2)", got, n)
			}
			file := exportedFile(t, sb, project, job)
			if strings.Count(file, "\n") != 1 || !strings.Contains(file, patient) {
				t.Errorf("the export's Patient file is %q, want B's one Patient", file)
			}
			if live, _ := sa.LiveLeases(ctx, jobLeasePrefx); len(live) != 0 {
				t.Errorf("leases %v left after the job ended", live)
			}
		})
	}
}

// TestLostHoldIsFenced: the run of a job accepted by A (its context from
// Hold) outlives A's lease and B takes the job over and completes it.
// A's late writes — an export part, the job's completion — are refused
// and change nothing, and A's next renewal cancels the run's context.
// Both engines.
func TestLostHoldIsFenced(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			open := processes(t, engine)
			sa, sb := open(), open()
			project := uuid.NewString()
			patient := createPatient(t, sa, project, "Held")
			a := newJobLeases(sa, "A", time.Second, quiet)
			job := deadExport(t, sa, project, "kept") // accepted by A, which leased it on commit
			in := ward.NewContextWithPrincipal(ctx, &ward.Principal{ProjectID: project, Admin: true})
			ctxA, doneA := a.Hold(in, project, job)
			defer doneA()
			if err := sa.AppendExportPart(ctxA, job, "Patient", 1, []byte(`{"resourceType":"Patient","id":"held"}`+"\n")); err != nil {
				t.Fatalf("A cannot write under the lease it holds: %v", err)
			}

			time.Sleep(1100 * time.Millisecond) // A stalls past its lease
			b := newJobLeases(sb, "B", time.Second, quiet)
			b.resumeWith(wardhttp.NewJobRunner(sb, search.Parse, quiet, fakeIdentity(project)).Resume)
			if err := b.endOrphans(ctx); err != nil {
				t.Fatal(err)
			}
			b.running.Wait()
			before, err := sb.Read(ward.NewContextWithPrincipal(ctx, ward.SystemPrincipal()), "AsyncJob", job)
			if err != nil || jobStatus(before.Content) != "completed" {
				t.Fatalf("B's takeover left the job %v (%v), want completed", before, err)
			}

			// A wakes and writes as its run would.
			if err := sa.AppendExportPart(ctxA, job, "Patient", 2, []byte(`{"resourceType":"Patient","id":"late"}`+"\n")); !errors.Is(err, store.ErrLeaseLost) {
				t.Errorf("A's late export part: %v, want ErrLeaseLost", err)
			}
			err = sa.Write(ward.NewContextWithPrincipal(ctxA, ward.SystemPrincipalIn(project)), func(ctx context.Context, tx ward.ResourceTx) error {
				_, _, err := tx.Update(ctx, "AsyncJob", job, []byte(`{"resourceType":"AsyncJob","meta":{"project":"`+project+`"},"status":"error","request":"x","requestTime":"2026-01-01T00:00:00Z"}`), before.VersionID)
				return err
			})
			if !errors.Is(err, store.ErrLeaseLost) {
				t.Errorf("A's late completion of the job: %v, want ErrLeaseLost", err)
			}
			if got, n := jobStatusOf(t, sb, job), jobVersions(t, sb, job); got != "completed" || n != 2 {
				t.Errorf("after A's late writes the job is %s with %d versions, want B's completion only (2)", got, n)
			}
			file := exportedFile(t, sb, project, job)
			if strings.Count(file, "\n") != 1 || !strings.Contains(file, patient) {
				t.Errorf("the export's Patient file is %q, want B's one Patient", file)
			}
			if ctxA.Err() != nil {
				t.Fatal("A's run context ended before A renewed")
			}
			a.renew(ctx)
			if ctxA.Err() == nil {
				t.Error("A's renewal found its lease lost but did not cancel the run's context")
			}
		})
	}
}

// TestExpungeTakeover: a patient's $expunge whose process died — before
// erasing, or after erasing but before ending the job — is run again by
// another process: nothing of the patient remains, the job completes once
// and leaves no run or lease. Both engines.
func TestExpungeTakeover(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			open := processes(t, engine)
			sa, sb := open(), open()
			project := uuid.NewString()
			admin := ward.NewContextWithPrincipal(ctx, &ward.Principal{ProjectID: project, Admin: true, Author: "Practitioner/p1"})
			newJobLeases(sa, "D", time.Second, quiet)
			cases := []struct {
				name         string
				erasedByDead bool
				updated      string
			}{
				{"died before erasing", false, `"valueInteger":2`},
				{"died after erasing", true, `"valueInteger":0`},
			}
			jobs, patients := map[string]string{}, map[string]string{}
			for _, c := range cases {
				patient := createPatient(t, sa, project, "Erased")
				job := createJob(t, sa, project, "accepted")
				if err := sa.SaveJobRun(ctx, project, job, "expunge", []byte(`{"login":"kept","author":"Practitioner/p1"}`),
					[]byte(`{"type":"Patient","id":"`+patient+`"}`)); err != nil {
					t.Fatal(err)
				}
				if c.erasedByDead {
					if _, err := sa.Expunge(admin, "Patient", patient, true); err != nil {
						t.Fatal(err)
					}
				}
				jobs[c.name], patients[c.name] = job, patient
			}
			time.Sleep(1100 * time.Millisecond)
			b := newJobLeases(sb, "B", time.Second, quiet)
			b.resumeWith(wardhttp.NewJobRunner(sb, search.Parse, quiet, fakeIdentity(project)).Resume)
			if err := b.endOrphans(ctx); err != nil {
				t.Fatal(err)
			}
			b.running.Wait()
			for _, c := range cases {
				job, patient := jobs[c.name], patients[c.name]
				res, err := sb.Read(ward.NewContextWithPrincipal(ctx, ward.SystemPrincipal()), "AsyncJob", job)
				if err != nil {
					t.Fatal(err)
				}
				if jobStatus(res.Content) != "completed" || !strings.Contains(string(res.Content), c.updated) {
					t.Errorf("%s: the taken-over job is %s, want completed with %s", c.name, res.Content, c.updated)
				}
				if n := jobVersions(t, sb, job); n != 2 {
					t.Errorf("%s: the job has %d versions, want 2 (accepted, completed once)", c.name, n)
				}
				for typ, params := range map[string]url.Values{"Patient": {"_id": {patient}}, "Observation": {"subject": {"Patient/" + patient}}} {
					q, err := search.Parse(typ, params)
					if err != nil {
						t.Fatal(err)
					}
					found, err := sb.Search(admin, q)
					if err != nil || len(found.Matches) != 0 {
						t.Errorf("%s: %d %s of the erased patient left (%v)", c.name, len(found.Matches), typ, err)
					}
				}
				var rows int
				if err := sb.DB().QueryRowContext(ctx, sb.Dialect().Rebind(`SELECT COUNT(*) FROM resource_history WHERE project_id = ? AND content LIKE ?`),
					project, "%"+patient+"%").Scan(&rows); err != nil || rows != 0 {
					t.Errorf("%s: %d versions naming the erased patient left (%v)", c.name, rows, err)
				}
				if kind, _, _, err := sb.LoadJobRun(ctx, project, job); err != nil || kind != "" {
					t.Errorf("%s: the job's run is left (%q, %v)", c.name, kind, err)
				}
			}
			if live, _ := sb.LiveLeases(ctx, jobLeasePrefx); len(live) != 0 {
				t.Errorf("leases %v left after the taken-over erasures ended", live)
			}
		})
	}
}
