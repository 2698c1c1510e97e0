package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

func TestParseMix(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int // read, search, create, update, bundle; nil: refused
	}{
		{"default", []int{50, 30, 15, 3, 2}},
		{"read=50,search=30,create=20", []int{50, 30, 20, 0, 0}},
		{" bundle=1 , read=2", []int{2, 0, 0, 0, 1}},
		{"read=0", nil},
		{"reads=1", nil},
		{"read=-1", nil},
		{"read", nil},
		{"read=x", nil},
	} {
		got, err := parseMix(tc.in)
		if tc.want == nil {
			if err == nil {
				t.Errorf("parseMix(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("parseMix(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// TestForeignEntries: the leak check passes a clinician's answer only when
// every resource in it (included ones too) names the clinic in its
// meta.accounts.
func TestForeignEntries(t *testing.T) {
	const mine, theirs = "Organization/a", "Organization/b"
	entry := func(typ, id string, accounts ...string) string {
		refs := make([]string, len(accounts))
		for i, a := range accounts {
			refs[i] = `{"reference":"` + a + `"}`
		}
		return `{"resource":{"resourceType":"` + typ + `","id":"` + id + `","meta":{"accounts":[` + strings.Join(refs, ",") + `]}}}`
	}
	bundle := func(entries ...string) string {
		return `{"resourceType":"Bundle","type":"searchset","entry":[` + strings.Join(entries, ",") + `]}`
	}
	for _, tc := range []struct {
		name    string
		body    string
		checked int
		leaks   []string // ids
		err     bool
	}{
		{"all mine", bundle(entry("Observation", "o1", mine), entry("Patient", "p1", theirs, mine)), 2, nil, false},
		{"empty", bundle(), 0, nil, false},
		{"another clinic's", bundle(entry("Observation", "o1", mine), entry("Observation", "o2", theirs)), 2, []string{"o2"}, false},
		{"in no clinic", bundle(entry("Patient", "p2")), 1, []string{"p2"}, false},
		{"an included Patient of another clinic", bundle(entry("Observation", "o1", mine),
			`{"resource":{"resourceType":"Patient","id":"p3","meta":{"accounts":[{"reference":"`+theirs+`"}]}},"search":{"mode":"include"}}`), 2, []string{"p3"}, false},
		{"an outcome entry is not a resource of the search", bundle(`{"resource":{"resourceType":"OperationOutcome"},"search":{"mode":"outcome"}}`), 0, nil, false},
		{"not a Bundle", `{"resourceType":"OperationOutcome"}`, 0, nil, true},
		{"not JSON", `<html>`, 0, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, leaks, err := foreignEntries([]byte(tc.body), mine)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v, want error %v", err, tc.err)
			}
			if n != tc.checked {
				t.Errorf("checked %d resources, want %d", n, tc.checked)
			}
			if len(leaks) != len(tc.leaks) {
				t.Fatalf("leaks %v, want those of %v", leaks, tc.leaks)
			}
			for i, id := range tc.leaks {
				if !strings.Contains(leaks[i], "/"+id+" ") {
					t.Errorf("leak %d is %q, want %s", i, leaks[i], id)
				}
			}
		})
	}
}

// TestLoadMix runs the mixed profile briefly against `ward serve` on each
// engine: every kind of request is sent by both callers without an error,
// the clinicians' search results stay in their clinics and their reads of
// the other clinic's Patients are 404. A second run reuses the project.
// Then a worker that believes clinician 0 is in clinic 1 must report leaks:
// the check is wired to real answers, not only to TestForeignEntries'.
func TestLoadMix(t *testing.T) {
	for _, e := range servedEngines() {
		t.Run(e.name, func(t *testing.T) {
			addr := freeAddr(t)
			args := append([]string{"serve", "-addr", addr, "-base-url", "http://" + addr + "/", "-definitions=false",
				"-admin-password", "loadmix-admin-password", "-log-level", "error"}, e.args(t)...)
			ctx, stop := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- run(ctx, args) }()
			defer func() {
				stop()
				if err := <-done; err != nil {
					t.Errorf("serve: %v", err)
				}
			}()
			waitUp(t, "http://"+addr+"/healthcheck", done)

			// Searches weigh more than in the default mix so that each
			// of their six shapes is sent in a short run.
			weights, _ := parseMix("read=4,search=6,create=1,update=1,bundle=1")
			o := &mixOptions{root: "http://" + addr, adminEmail: "admin@example.com", adminPassword: "loadmix-admin-password",
				name: "loadmix-test", password: "loadmix-test-password-1", clinics: 2, patients: 40, obs: 2, bundle: 3,
				weights: weights, c: 6, d: 2 * time.Second, clinicianPct: 50, checkEvery: 2, seed: 1, out: &bytes.Buffer{}}
			seen := map[mixKey]int{}
			checked := 0
			for i, wantReused := range []bool{false, true} {
				res, err := runMix(ctx, o)
				if err != nil {
					t.Fatalf("run %d: %v\n%s", i+1, err, o.out)
				}
				if res.reused != wantReused {
					t.Errorf("run %d: reused %v, want %v", i+1, res.reused, wantReused)
				}
				for _, r := range res.rows {
					seen[r.mixKey] += r.n
				}
				checked += res.checked
			}
			t.Logf("%s", o.out)
			for _, kind := range []string{kindRead, kindSearchCode, kindSearchDate, kindSearchName, kindSearchSort,
				kindSearchPage1, kindSearchPage2, kindSearchIncl, kindCreate, kindUpdate, kindBundle} {
				for _, role := range []string{"admin", "clinician"} {
					if seen[mixKey{kind, role}] == 0 {
						t.Errorf("no %s request as %s in two runs", kind, role)
					}
				}
			}
			if seen[mixKey{kindReadOther, "clinician"}] == 0 {
				t.Error("no clinician read of another clinic's Patient")
			}
			if checked == 0 {
				t.Error("no clinician search result was checked")
			}

			client := &http.Client{Timeout: time.Minute}
			world, _, err := setupMix(ctx, client, o)
			if err != nil {
				t.Fatal(err)
			}
			c0, c1 := world.clinicians[0], world.clinicians[1]
			mislabelled := &mixCaller{role: "clinician", token: c0.token, clinic: c1.clinic, patients: c0.patients}
			rec := &mixRecorder{hist: map[mixKey]*hdrhistogram.Histogram{}, errs: map[mixKey]int{}, firstErr: map[mixKey]string{}, interval: newHistogram()}
			w := &mixWorker{o: &mixOptions{checkEvery: 1}, world: world, caller: mislabelled, client: client,
				base: o.root + "/fhir/R4", rec: rec, rng: rand.New(rand.NewPCG(3, 4))}
			for range 12 {
				w.search(ctx)
			}
			if rec.leaks == 0 || !strings.Contains(rec.firstLeak, c1.clinic) {
				t.Errorf("clinician 0's answers checked against clinic 1: %d leaks reported (%q), want some", rec.leaks, rec.firstLeak)
			}
		})
	}
}
