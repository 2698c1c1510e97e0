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

	"github.com/wardhealth/ward/internal/synth"
)

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
		batch = append(batch, synth.Entry("urn:uuid:"+pid, synth.Patient(rng)))
		for range *perPatient {
			batch = append(batch, synth.Entry("urn:uuid:"+uuid.NewString(), synth.Observation(rng, "urn:uuid:"+pid)))
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
