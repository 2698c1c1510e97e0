package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// load is a small closed-loop load generator: -c workers send the given
// URLs round-robin for -d and report requests/s and latency percentiles.
// With -bare it first fetches the first URL once and serves those bytes
// from memory with a bare net/http handler, loads that the same way, and
// prints Ward's throughput as a ratio of the bare handler's, so the figure
// holds on a noisy machine.
func load(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	concurrency := fs.Int("c", 32, "concurrent workers")
	duration := fs.Duration("d", 10*time.Second, "duration of each run")
	urlFile := fs.String("urls", "", "file with one URL per line (in addition to arguments)")
	bare := fs.Bool("bare", false, "also load a bare net/http handler serving the first URL's bytes and print the ratio")
	token := fs.String("token", env("WARD_TOKEN", ""), "bearer token [WARD_TOKEN]")
	if err := fs.Parse(args); err != nil {
		return err
	}
	urls := fs.Args()
	if *urlFile != "" {
		data, err := os.ReadFile(*urlFile)
		if err != nil {
			return err
		}
		for _, l := range strings.Split(string(data), "\n") {
			if l = strings.TrimSpace(l); l != "" {
				urls = append(urls, l)
			}
		}
	}
	if len(urls) == 0 {
		return fmt.Errorf("load: no URLs")
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *concurrency * 2, MaxConnsPerHost: *concurrency * 2}, Timeout: 30 * time.Second}
	ward := runLoad(ctx, client, urls, *token, *concurrency, *duration)
	fmt.Println("ward:", ward)
	if !*bare {
		return nil
	}
	body, err := fetch(ctx, client, urls[0], *token)
	if err != nil {
		return err
	}
	addr, stop, err := serveBare(body)
	if err != nil {
		return err
	}
	defer stop()
	b := runLoad(ctx, client, []string{"http://" + addr + "/"}, "", *concurrency, *duration)
	fmt.Println("bare:", b)
	fmt.Printf("ratio ward/bare requests/s: %.2f\n", ward.rps/b.rps)
	return nil
}

type loadResult struct {
	n, errors     int
	rps           float64
	p50, p90, p99 time.Duration
}

func (r loadResult) String() string {
	return fmt.Sprintf("%d requests (%d errors), %.0f req/s, p50 %s, p90 %s, p99 %s",
		r.n, r.errors, r.rps, r.p50.Round(time.Microsecond), r.p90.Round(time.Microsecond), r.p99.Round(time.Microsecond))
}

func runLoad(ctx context.Context, client *http.Client, urls []string, token string, c int, d time.Duration) loadResult {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var mu sync.Mutex
	var all []time.Duration
	errors := 0
	var wg sync.WaitGroup
	start := time.Now()
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			errs := 0
			for i := w; ctx.Err() == nil; i += c {
				t0 := time.Now()
				_, err := fetch(ctx, client, urls[i%len(urls)], token)
				if ctx.Err() != nil {
					break
				}
				lat = append(lat, time.Since(t0))
				if err != nil {
					errs++
				}
			}
			mu.Lock()
			all = append(all, lat...)
			errors += errs
			mu.Unlock()
		}()
	}
	wg.Wait()
	el := time.Since(start)
	slices.Sort(all)
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(float64(len(all))*p))]
	}
	return loadResult{n: len(all), errors: errors, rps: float64(len(all)) / el.Seconds(), p50: pct(0.50), p90: pct(0.90), p99: pct(0.99)}
}

func fetch(ctx context.Context, client *http.Client, url, token string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode >= 300 {
		err = fmt.Errorf("%s: %d", url, resp.StatusCode)
	}
	return data, err
}

// serveBare serves body from memory on a loopback port.
func serveBare(body []byte) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/fhir+json; charset=utf-8")
		w.Write(body)
	})}
	go srv.Serve(ln)
	return ln.Addr().String(), func() { srv.Close() }, nil
}
