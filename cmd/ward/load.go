package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	neturl "net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	wardpkg "github.com/wardhealth/ward"
	"github.com/wardhealth/ward/internal/wire"
	"github.com/wardhealth/ward/search"
)

// load is a small closed-loop load generator: -c workers send the given
// URLs round-robin for -d and report requests/s and latency percentiles.
// With -bare it first fetches the first URL once and serves those bytes
// from memory with a bare net/http handler, loads that the same way, and
// prints Ward's throughput as a ratio of the bare handler's, so the figure
// holds on a noisy machine. With -vs-token it loads the same URLs as a
// second caller too (e.g. a project admin against a clinician whose
// access policy filters every query), alternating the two for -rounds
// rounds so both see the same machine, and prints the latency ratio.
// With -mix it runs the mixed profile of loadmix.go instead.
func load(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	concurrency := fs.Int("c", 32, "concurrent workers")
	duration := fs.Duration("d", 10*time.Second, "duration of each run")
	urlFile := fs.String("urls", "", "file with one URL per line (in addition to arguments)")
	bare := fs.Bool("bare", false, "also load a bare net/http handler serving the first URL's bytes and print the ratio")
	token := fs.String("token", env("WARD_TOKEN", ""), "bearer token [WARD_TOKEN]")
	rawSQL := fs.Bool("sql", false, "also run the SQL the store issues for the first URL's search directly against the database (same -c and -d) and print the latency ratio")
	project := fs.String("project", wire.DefaultProjectID, "project the -sql search runs in")
	vsToken := fs.String("vs-token", "", "also load the same URLs with this bearer token (the baseline) and print the latency ratio token/vs-token")
	rounds := fs.Int("rounds", 1, "with -vs-token: alternate the two callers this many times, -d each")
	bodies := fs.Int("bodies", 0, "instead of loading URLs: POST this many large bodies (valid, malformed, invalid; see bodyload.go) to the server at the first argument and report its memory")
	bodyMin := fs.Float64("body-min", 5, "with -bodies: smallest body in MB")
	bodyMax := fs.Float64("body-max", 17, "with -bodies: largest body in MB")
	pid := fs.Int("pid", 0, "with -bodies or -mix: the server's process id, to report its resident memory (Linux)")
	mix, mixOpts := mixFlags(fs)
	var db dbConfig
	db.flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	urls := fs.Args()
	if *mix != "" {
		return loadMix(ctx, *mix, mixOpts, urls, *token, *concurrency, *duration, *pid)
	}
	if *bodies > 0 && len(urls) > 0 {
		b := &bodyLoad{base: urls[0], token: *token, n: *bodies, c: *concurrency, minMB: *bodyMin, maxMB: *bodyMax, pid: *pid,
			settle: []time.Duration{10 * time.Second, 60 * time.Second, 150 * time.Second}}
		return b.run(ctx)
	}
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
	if *vsToken != "" {
		return compareCallers(ctx, client, urls, *token, *vsToken, *concurrency, *duration, *rounds)
	}
	ward := runLoad(ctx, client, urls, *token, *concurrency, *duration)
	fmt.Println("ward:", ward)
	if *rawSQL {
		raw, err := loadSQL(ctx, db, *project, urls[0], *concurrency, *duration)
		if err != nil {
			return err
		}
		fmt.Println("raw SQL:", raw)
		fmt.Printf("ratio ward/raw SQL latency: p50 %.2f, p99 %.2f\n", float64(ward.p50)/float64(raw.p50), float64(ward.p99)/float64(raw.p99))
	}
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

// compareCallers loads urls as the caller of token and as the caller of
// vsToken in alternating rounds and prints each and the latency ratio.
func compareCallers(ctx context.Context, client *http.Client, urls []string, token, vsToken string, c int, d time.Duration, rounds int) error {
	var caller, baseline loadResult
	for r := range max(rounds, 1) {
		a := runLoad(ctx, client, urls, token, c, d)
		b := runLoad(ctx, client, urls, vsToken, c, d)
		fmt.Printf("round %d: token: %s\nround %d: vs-token: %s\n", r+1, a, r+1, b)
		caller, baseline = caller.merge(a), baseline.merge(b)
	}
	fmt.Println("token:", caller)
	fmt.Println("vs-token:", baseline)
	fmt.Printf("ratio token/vs-token latency: p50 %.2f, p99 %.2f; requests/s %.2f\n",
		float64(caller.p50)/float64(baseline.p50), float64(caller.p99)/float64(baseline.p99), caller.rps/baseline.rps)
	if caller.errors+baseline.errors > 0 {
		return fmt.Errorf("load: %d errors", caller.errors+baseline.errors)
	}
	return nil
}

type loadResult struct {
	n, errors     int
	rps           float64
	p50, p90, p99 time.Duration
	elapsed       time.Duration
	latencies     []time.Duration // sorted
}

// merge pools two runs' latencies, as if they were one run.
func (r loadResult) merge(o loadResult) loadResult {
	all := append(append([]time.Duration(nil), r.latencies...), o.latencies...)
	slices.Sort(all)
	return summarize(all, r.errors+o.errors, r.elapsed+o.elapsed)
}

// summarize computes the figures of a run from its sorted latencies.
func summarize(all []time.Duration, errors int, elapsed time.Duration) loadResult {
	pct := func(p float64) time.Duration {
		if len(all) == 0 {
			return 0
		}
		return all[min(len(all)-1, int(float64(len(all))*p))]
	}
	rps := 0.0
	if elapsed > 0 {
		rps = float64(len(all)) / elapsed.Seconds()
	}
	return loadResult{n: len(all), errors: errors, rps: rps, p50: pct(0.50), p90: pct(0.90), p99: pct(0.99), elapsed: elapsed, latencies: all}
}

func (r loadResult) String() string {
	return fmt.Sprintf("%d requests (%d errors), %.0f req/s, p50 %s, p90 %s, p99 %s",
		r.n, r.errors, r.rps, r.p50.Round(time.Microsecond), r.p90.Round(time.Microsecond), r.p99.Round(time.Microsecond))
}

func runLoad(ctx context.Context, client *http.Client, urls []string, token string, c int, d time.Duration) loadResult {
	return runWorkers(ctx, c, d, func(ctx context.Context, i int) error {
		_, err := fetch(ctx, client, urls[i%len(urls)], token)
		return err
	})
}

// runWorkers calls op from c goroutines for d and gathers latencies.
func runWorkers(ctx context.Context, c int, d time.Duration, op func(ctx context.Context, i int) error) loadResult {
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
				err := op(ctx, i)
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
	return summarize(all, errors, el)
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

// loadSQL runs the SQL the store compiles for the search in rawURL straight
// against the database, reading every column of every row as Ward does.
func loadSQL(ctx context.Context, db dbConfig, project, rawURL string, c int, d time.Duration) (loadResult, error) {
	u, err := neturl.Parse(rawURL)
	if err != nil {
		return loadResult{}, err
	}
	typ := u.Path[strings.LastIndex(u.Path, "/")+1:]
	q, err := search.Parse(typ, u.Query())
	if err != nil {
		return loadResult{}, err
	}
	s, err := db.open(ctx, slog.New(slog.DiscardHandler))
	if err != nil {
		return loadResult{}, err
	}
	defer s.Close()
	pctx := wardpkg.NewContextWithPrincipal(ctx, &wardpkg.Principal{ProjectID: project})
	query, args, err := s.SearchSQL(pctx, q)
	if err != nil {
		return loadResult{}, err
	}
	run := func(ctx context.Context) error {
		rows, err := s.DB().QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		var typ, id, vid, proj, content string
		var lu int64
		for rows.Next() {
			if err := rows.Scan(&typ, &id, &vid, &proj, &lu, &content); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	return runWorkers(ctx, c, d, func(ctx context.Context, _ int) error { return run(ctx) }), nil
}
