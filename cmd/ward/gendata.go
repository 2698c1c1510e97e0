//go:build wip

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
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// observationCodes are the LOINC codes generated Observations carry; a
// token search for one of them matches about 1/len of all Observations.
var observationCodes = []struct{ code, display, unit string }{
	{"8867-4", "Heart rate", "/min"}, {"8310-5", "Body temperature", "Cel"},
	{"8302-2", "Body height", "cm"}, {"29463-7", "Body weight", "kg"},
	{"8480-6", "Systolic blood pressure", "mm[Hg]"}, {"8462-4", "Diastolic blood pressure", "mm[Hg]"},
	{"9279-1", "Respiratory rate", "/min"}, {"2708-6", "Oxygen saturation", "%"},
	{"39156-5", "BMI", "kg/m2"}, {"2339-0", "Glucose", "mg/dL"},
	{"2093-3", "Cholesterol", "mg/dL"}, {"2085-9", "HDL", "mg/dL"},
	{"2089-1", "LDL", "mg/dL"}, {"2571-8", "Triglyceride", "mg/dL"},
	{"4548-4", "Hemoglobin A1c", "%"}, {"718-7", "Hemoglobin", "g/dL"},
	{"6690-2", "Leukocytes", "10*3/uL"}, {"777-3", "Platelets", "10*3/uL"},
	{"2160-0", "Creatinine", "mg/dL"}, {"3094-0", "Urea nitrogen", "mg/dL"},
}

var families = []string{"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez", "Hernández", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin"}
var givens = []string{"James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Chloé", "Karen"}

// gendata posts synthetic Patients, each with Observations, as transaction
// bundles, and reports the ingest rate. With -single it posts one resource
// per request instead.
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
	if err := fs.Parse(args); err != nil {
		return err
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
				n, err := post(ctx, client, *base, *token, entries, *single)
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
		batch = append(batch, patientEntry(rng, pid))
		for range *perPatient {
			batch = append(batch, observationEntry(rng, pid))
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

func patientEntry(rng *rand.Rand, id string) json.RawMessage {
	p := map[string]any{
		"resourceType": "Patient",
		"identifier":   []any{map[string]any{"system": "urn:ward:mrn", "value": fmt.Sprintf("MRN%09d", rng.IntN(1e9))}},
		"name":         []any{map[string]any{"family": families[rng.IntN(len(families))], "given": []any{givens[rng.IntN(len(givens))]}}},
		"gender":       []string{"male", "female", "other", "unknown"}[rng.IntN(4)],
		"birthDate":    fmt.Sprintf("%04d-%02d-%02d", 1930+rng.IntN(90), 1+rng.IntN(12), 1+rng.IntN(28)),
		"active":       true,
	}
	return entry("urn:uuid:"+id, "Patient", p)
}

func observationEntry(rng *rand.Rand, patient string) json.RawMessage {
	c := observationCodes[rng.IntN(len(observationCodes))]
	when := time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(int64(10 * 365 * 24 * time.Hour))))
	o := map[string]any{
		"resourceType":      "Observation",
		"status":            "final",
		"category":          []any{map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}}}},
		"code":              map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": c.code, "display": c.display}}, "text": c.display},
		"subject":           map[string]any{"reference": "urn:uuid:" + patient},
		"effectiveDateTime": when.Format(time.RFC3339),
		"valueQuantity":     map[string]any{"value": json.Number(fmt.Sprintf("%.1f", 10+rng.Float64()*150)), "unit": c.unit, "system": "http://unitsofmeasure.org", "code": c.unit},
	}
	return entry("urn:uuid:"+uuid.NewString(), "Observation", o)
}

func entry(fullURL, typ string, res map[string]any) json.RawMessage {
	data, _ := json.Marshal(map[string]any{
		"fullUrl":  fullURL,
		"resource": res,
		"request":  map[string]any{"method": "POST", "url": typ},
	})
	return data
}

// post sends entries as one transaction, or one by one when single (then
// references to urn:uuid Patients cannot resolve, so single mode sends
// Observations without a subject reference rewrite — fine for a rate).
func post(ctx context.Context, client *http.Client, base, token string, entries []json.RawMessage, single bool) (int, error) {
	if !single {
		body, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
		if err := send(ctx, client, "POST", base, token, body); err != nil {
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
		if err := send(ctx, client, "POST", base+"/"+x.Resource["resourceType"].(string), token, body); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func send(ctx context.Context, client *http.Client, method, url, token string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, truncate(data, 300))
	}
	return nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "…"
	}
	return string(b)
}
