package main

import (
	"context"
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
