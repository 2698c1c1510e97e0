package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward/internal/synth"
)

// gendata posts synthetic Patients, each with Observations, as transaction
// bundles, and reports the ingest rate. With -single it posts one resource
// per request instead.
//
// With -clinics N it first creates N clinic Organizations and enrolls
// Patient i (and its Observations) in clinic i mod N through meta.accounts,
// the state $set-accounts leaves (spec 3.4). Accounts are kept only from a
// caller that may set them: a super admin's token, with -project naming
// the project the data lands in.
func gendata(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("gendata", flag.ContinueOnError)
	base := fs.String("url", "http://localhost:8103/fhir/R4", "FHIR base URL")
	patients := fs.Int("patients", 1000, "number of Patients")
	perPatient := fs.Int("observations", 10, "Observations per Patient")
	bundleSize := fs.Int("bundle", 100, "resources per transaction bundle")
	concurrency := fs.Int("c", 4, "concurrent requests")
	single := fs.Bool("single", false, "post single creates instead of bundles")
	seed := fs.Uint64("seed", 1, "random seed")
	token := fs.String("token", env("WARD_TOKEN", ""), "bearer token [WARD_TOKEN]")
	project := fs.String("project", "", "meta.project of every resource (a system write: needs a super admin's token)")
	clinics := fs.Int("clinics", 0, "create this many clinic Organizations first and enroll each Patient and its Observations in one (meta.accounts)")
	clinicsOut := fs.String("clinics-out", "", "write the clinic references, one per line, to this file")
	printPolicy := fs.Bool("print-mso-policy", false, "print the MSO AccessPolicy of spec 5.12 as JSON and exit")
	printAccess := fs.String("print-access", "", "print the membership.access list giving AccessPolicy/<id> (this flag) for the clinics read from -clinics-in, and exit")
	clinicsIn := fs.String("clinics-in", "", "with -print-access: file of clinic references, one per line")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *printPolicy {
		return json.NewEncoder(os.Stdout).Encode(synth.MSOPolicy())
	}
	if *printAccess != "" {
		data, err := os.ReadFile(*clinicsIn)
		if err != nil {
			return err
		}
		return json.NewEncoder(os.Stdout).Encode(synth.ClinicAccess(*printAccess, strings.Fields(string(data))))
	}
	// Accounts and meta.project are only read from an extended-mode
	// request (X-Medplum: extended, spec 3.2).
	extended := *clinics > 0 || *project != ""
	client0 := &http.Client{Timeout: 5 * time.Minute}
	clinicRefs, err := createClinics(ctx, client0, *base, *token, *project, *clinics)
	if err != nil {
		return err
	}
	if *clinicsOut != "" {
		if err := os.WriteFile(*clinicsOut, []byte(strings.Join(clinicRefs, "\n")+"\n"), 0o644); err != nil {
			return err
		}
	}
	work := make(chan []json.RawMessage, *concurrency*2)
	var done, failed atomic.Int64
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: *concurrency}}
	start := time.Now()
	for range *concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for entries := range work {
				n, err := post(ctx, client, *base, *token, entries, *single, extended)
				done.Add(int64(n))
				if err != nil {
					failed.Add(1)
					fmt.Fprintln(os.Stderr, "gendata:", err)
				}
			}
		}()
	}
	rng := rand.New(rand.NewPCG(*seed, 7))
	var batch []json.RawMessage
	flush := func() {
		if len(batch) > 0 {
			work <- batch
			batch = nil
		}
	}
	for i := 0; i < *patients && ctx.Err() == nil; i++ {
		pid := uuid.NewString()
		var accounts []string
		if len(clinicRefs) > 0 {
			accounts = []string{clinicRefs[i%len(clinicRefs)]}
		}
		batch = append(batch, synth.Entry("urn:uuid:"+pid, synth.InProject(synth.Patient(rng), *project, accounts...)))
		for range *perPatient {
			obs := synth.InProject(synth.Observation(rng, "urn:uuid:"+pid), *project, accounts...)
			batch = append(batch, synth.Entry("urn:uuid:"+uuid.NewString(), obs))
		}
		if len(batch) >= *bundleSize {
			flush()
		}
	}
	flush()
	close(work)
	wg.Wait()
	el := time.Since(start)
	fmt.Printf("ingested %d resources in %s: %.0f resources/s (%d failed requests)\n", done.Load(), el.Round(time.Millisecond), float64(done.Load())/el.Seconds(), failed.Load())
	if failed.Load() > 0 {
		return fmt.Errorf("%d requests failed", failed.Load())
	}
	return nil
}

// createClinics creates n clinic Organizations in one transaction and
// returns their references in order.
func createClinics(ctx context.Context, client *http.Client, base, token, project string, n int) ([]string, error) {
	if n <= 0 {
		return nil, nil
	}
	entries := make([]json.RawMessage, n)
	for i := range n {
		entries[i] = synth.Entry("urn:uuid:"+uuid.NewString(), synth.InProject(synth.Organization(i), project))
	}
	body, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
	data, err := sendRead(ctx, client, "POST", base, token, body, true)
	if err != nil {
		return nil, err
	}
	var resp struct {
		Entry []struct {
			Resource struct{ ID string } `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(data, &resp); err != nil {
		return nil, fmt.Errorf("clinics: %w", err)
	}
	refs := make([]string, 0, n)
	for _, e := range resp.Entry {
		if e.Resource.ID == "" {
			return nil, fmt.Errorf("clinics: a response entry without a resource id: %s", truncate(data, 300))
		}
		refs = append(refs, "Organization/"+e.Resource.ID)
	}
	if len(refs) != n {
		return nil, fmt.Errorf("clinics: %d response entries for %d clinics", len(refs), n)
	}
	return refs, nil
}

// post sends entries as one transaction, or one by one when single (then
// references to urn:uuid Patients cannot resolve, so single mode sends
// Observations without a subject reference rewrite — fine for a rate).
func post(ctx context.Context, client *http.Client, base, token string, entries []json.RawMessage, single, extended bool) (int, error) {
	if !single {
		body, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
		if err := send(ctx, client, "POST", base, token, body, extended); err != nil {
			return 0, err
		}
		return len(entries), nil
	}
	n := 0
	for _, e := range entries {
		var x struct {
			Resource map[string]any `json:"resource"`
		}
		json.Unmarshal(e, &x)
		delete(x.Resource, "subject")
		body, _ := json.Marshal(x.Resource)
		if err := send(ctx, client, "POST", base+"/"+x.Resource["resourceType"].(string), token, body, extended); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func send(ctx context.Context, client *http.Client, method, url, token string, body []byte, extended bool) error {
	_, err := sendRead(ctx, client, method, url, token, body, extended)
	return err
}

// sendRead is send returning the response body.
func sendRead(ctx context.Context, client *http.Client, method, url, token string, body []byte, extended bool) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if extended {
		req.Header.Set("X-Medplum", "extended")
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, truncate(data, 300))
	}
	return data, nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
