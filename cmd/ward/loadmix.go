package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	neturl "net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/google/uuid"

	"github.com/wardhealth/ward/internal/synth"
)

// The mixed profile of `ward load -mix` (issue 16 item 5): a closed loop of
// reads by id, searches of each shape, creates, updates and transaction
// bundles, sent by project admin and clinician callers of one MSO project
// the profile sets up itself through the API, with latency percentiles per
// request kind and caller. It is the yardstick of the speed work, so it
// must be rerunnable by a reader: the data is seeded, the project is reused
// when it exists, and every answer that is not the expected status is
// counted as an error and shown with its first body. It also checks that a
// clinician's search results all belong to the clinician's clinic, since a
// load test that speeds up a leak must fail.

// Request kinds, one row each in the table.
const (
	kindRead        = "read"
	kindReadOther   = "read:other-clinic" // a clinician reading another clinic's Patient: must be 404
	kindSearchCode  = "search:code"
	kindSearchDate  = "search:date"
	kindSearchName  = "search:family"
	kindSearchSort  = "search:_sort"
	kindSearchPage1 = "search:page1"
	kindSearchPage2 = "search:page2" // the next link of a page1 answer
	kindSearchIncl  = "search:_include"
	kindCreate      = "create"
	kindUpdate      = "update"
	kindBundle      = "bundle"
)

// mixOps are the weighted operations of -mix, in the order the flag names them.
var mixOps = []string{"read", "search", "create", "update", "bundle"}

// defaultMix is the profile -mix default runs.
const defaultMix = "read=50,search=30,create=15,update=3,bundle=2"

// parseMix reads "read=50,search=30,..." (or "default") into one weight per
// mixOps entry.
func parseMix(s string) ([]int, error) {
	if s == "default" {
		s = defaultMix
	}
	w := make([]int, len(mixOps))
	total := 0
	for _, part := range strings.Split(s, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		i := slices.Index(mixOps, name)
		n, err := strconv.Atoi(value)
		if !ok || i < 0 || err != nil || n < 0 {
			return nil, fmt.Errorf("-mix: %q is not op=weight with op one of %s", part, strings.Join(mixOps, ", "))
		}
		w[i] = n
		total += n
	}
	if total == 0 {
		return nil, fmt.Errorf("-mix: all weights are 0")
	}
	return w, nil
}

// mixOptions are the flags of the mixed profile.
type mixOptions struct {
	root                      string // the server's root URL, without /fhir/R4
	superToken                string // a super admin's token; else log in with adminEmail/adminPassword
	adminEmail, adminPassword string
	name                      string // names the project and its users, so a second run reuses them
	password                  string // password of the users the set-up creates
	clinics, patients, obs    int
	bundle                    int
	weights                   []int
	c                         int
	d                         time.Duration
	clinicianPct              int
	checkEvery                int
	reportEvery               time.Duration
	setupOnly                 bool
	pid                       int
	seed                      uint64
	out                       io.Writer
}

// mixFlags declares the -mix flags on fs; the load command fills c, d,
// pid, superToken and root from its own flags and arguments.
func mixFlags(fs *flag.FlagSet) (mix *string, o *mixOptions) {
	o = &mixOptions{}
	mix = fs.String("mix", "", `run the mixed profile with these weights ("default" is `+defaultMix+`) against the server root URL given as argument (default http://127.0.0.1:8103); see loadmix.go`)
	fs.StringVar(&o.adminEmail, "admin-email", env("WARD_ADMIN_EMAIL", "admin@example.com"), "with -mix and no -token: the super admin's email [WARD_ADMIN_EMAIL]")
	fs.StringVar(&o.adminPassword, "admin-password", env("WARD_ADMIN_PASSWORD", ""), "with -mix and no -token: the super admin's password, as ward serve logs or was given it [WARD_ADMIN_PASSWORD]")
	fs.StringVar(&o.name, "mix-name", "loadmix", "with -mix: the project's name and its users' email prefix; an existing project of that name is reused as it is")
	fs.StringVar(&o.password, "mix-password", "loadmix-password-1", "with -mix: password of the project admin and clinicians the set-up creates")
	fs.IntVar(&o.clinics, "mix-clinics", 2, "with -mix: clinic Organizations in the project, one clinician each")
	fs.IntVar(&o.patients, "mix-patients", 200, "with -mix: Patients the set-up creates, spread over the clinics")
	fs.IntVar(&o.obs, "mix-observations", 10, "with -mix: Observations per Patient")
	fs.IntVar(&o.bundle, "mix-bundle", 10, "with -mix: entries per transaction bundle (one Patient, the rest its Observations)")
	fs.IntVar(&o.clinicianPct, "mix-clinicians", 50, "with -mix: percent of the -c workers calling as a clinician (the rest as the project admin)")
	fs.IntVar(&o.checkEvery, "mix-check-every", 5, "with -mix: check every Nth clinician search's results all belong to its clinic (0: none), and make every Nth clinician read (at most every 2nd) one of another clinic's Patients, which must be 404")
	fs.DurationVar(&o.reportEvery, "report-every", 0, "with -mix: also print throughput, latency and the server's RSS (-pid) every interval, e.g. 60s for a soak")
	fs.BoolVar(&o.setupOnly, "mix-setup-only", false, "with -mix: create (or check) the project and its callers, then stop; e.g. to ANALYZE a fresh PostgreSQL database before the measured run reuses the project")
	fs.Uint64Var(&o.seed, "mix-seed", 42, "with -mix: random seed of the data and of the request sequence")
	return mix, o
}

// mixCaller is one identity the workers call as.
type mixCaller struct {
	role     string // "admin" or "clinician"
	token    string
	clinic   string   // "Organization/<id>" of a clinician
	patients []string // ids of Patients the caller may read
	obs      []string // ids of Observations the caller may read
	others   []string // ids of Patients of other clinics (clinician): reads must be 404
}

// mixWorld is the project the profile runs in.
type mixWorld struct {
	project    string
	admin      *mixCaller
	clinicians []*mixCaller // one per clinic
	families   []string     // family names present, for Patient?family=
}

// mixKey names a row of the table.
type mixKey struct{ kind, role string }

// mixRow is one row of the result.
type mixRow struct {
	mixKey
	n, errors int
	rps       float64
	p50, p99  time.Duration
	firstErr  string
}

// mixResult is what a run measured.
type mixResult struct {
	rows             []mixRow
	total            mixRow
	checked, leaks   int // clinician search results checked, and those outside the clinic
	firstLeak        string
	elapsed          time.Duration
	setup            time.Duration
	reused           bool
	serverRSS, peak  int64
	clinicianWorkers int
}

// mixRecorder gathers latencies per kind and caller, and per interval.
type mixRecorder struct {
	mu        sync.Mutex
	hist      map[mixKey]*hdrhistogram.Histogram
	errs      map[mixKey]int
	firstErr  map[mixKey]string
	interval  *hdrhistogram.Histogram
	intErrs   int
	checked   int
	leaks     int
	firstLeak string
}

func newHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, int64(2*time.Minute/time.Microsecond), 3) // µs, 3 significant digits
}

func (r *mixRecorder) record(k mixKey, lat time.Duration, errText string) {
	us := max(lat.Microseconds(), 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.hist[k]
	if h == nil {
		h = newHistogram()
		r.hist[k] = h
	}
	_ = h.RecordValue(us) // beyond 2 minutes the client has timed out anyway
	_ = r.interval.RecordValue(us)
	if errText != "" {
		r.errs[k]++
		r.intErrs++
		if _, ok := r.firstErr[k]; !ok {
			r.firstErr[k] = errText
		}
	}
}

func (r *mixRecorder) leak(checked int, leak string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checked += checked
	if leak != "" {
		r.leaks++
		if r.firstLeak == "" {
			r.firstLeak = leak
		}
	}
}

// runMix sets up (or reuses) the project, runs the profile and prints the
// table. It returns an error when any request failed or a clinician saw
// another clinic's resource.
func runMix(ctx context.Context, o *mixOptions) (*mixResult, error) {
	if o.out == nil {
		o.out = os.Stdout
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.c * 2, MaxConnsPerHost: o.c * 2}, Timeout: time.Minute}
	t0 := time.Now()
	world, reused, err := setupMix(ctx, client, o)
	if err != nil {
		return nil, fmt.Errorf("mix set-up: %w", err)
	}
	setup := time.Since(t0)
	fmt.Fprintf(o.out, "mix: project %s (%s in %s): %d clinics, %d Patients, %d Observations readable by the admin\n",
		world.project, map[bool]string{true: "reused", false: "created"}[reused], setup.Round(time.Millisecond),
		len(world.clinicians), len(world.admin.patients), len(world.admin.obs))
	if o.setupOnly {
		return &mixResult{setup: setup, reused: reused}, nil
	}
	rec := &mixRecorder{hist: map[mixKey]*hdrhistogram.Histogram{}, errs: map[mixKey]int{}, firstErr: map[mixKey]string{}, interval: newHistogram()}
	workers := make([]*mixWorker, o.c)
	nClin := o.c * o.clinicianPct / 100
	base := strings.TrimSuffix(o.root, "/") + "/fhir/R4"
	for i := range workers {
		caller := world.admin
		if i < nClin {
			caller = world.clinicians[i%len(world.clinicians)]
		}
		workers[i] = &mixWorker{o: o, world: world, caller: caller, client: client, base: base, rec: rec,
			rng: rand.New(rand.NewPCG(o.seed, uint64(i)+1))}
	}
	// Each worker updates a resource of its own, so If-Match never races
	// another worker; creating them is set-up, not measured.
	for _, w := range workers {
		if err := w.createOwn(ctx); err != nil {
			return nil, fmt.Errorf("mix set-up: %w", err)
		}
	}
	before, _ := rss(o.pid)
	runCtx, cancel := context.WithTimeout(ctx, o.d)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for runCtx.Err() == nil {
				w.step(runCtx)
			}
		}()
	}
	stopReport := make(chan struct{})
	reportDone := make(chan struct{})
	go func() {
		defer close(reportDone)
		if o.reportEvery > 0 {
			reportIntervals(o, rec, start, stopReport)
		}
	}()
	wg.Wait()
	elapsed := time.Since(start)
	close(stopReport)
	<-reportDone
	after, _ := rss(o.pid)
	res := summarizeMix(rec, elapsed)
	res.setup, res.reused, res.clinicianWorkers = setup, reused, nClin
	res.serverRSS, res.peak = after.rss, after.peak
	printMix(o, res, before)
	var errs []error
	if res.total.errors > 0 {
		errs = append(errs, fmt.Errorf("%d requests failed", res.total.errors))
	}
	if res.leaks > 0 {
		errs = append(errs, fmt.Errorf("LEAK: %d clinician searches returned resources of another clinic, e.g. %s", res.leaks, res.firstLeak))
	}
	return res, errors.Join(errs...)
}

// reportIntervals prints a line per interval until stop.
func reportIntervals(o *mixOptions, rec *mixRecorder, start time.Time, stop <-chan struct{}) {
	t := time.NewTicker(o.reportEvery)
	defer t.Stop()
	last := start
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			rec.mu.Lock()
			h, errs := rec.interval, rec.intErrs
			rec.interval, rec.intErrs = newHistogram(), 0
			rec.mu.Unlock()
			line := fmt.Sprintf("at %s: %.0f req/s, p50 %s, p99 %s, %d errors", now.Sub(start).Round(time.Second),
				float64(h.TotalCount())/now.Sub(last).Seconds(), us(h.ValueAtQuantile(50)), us(h.ValueAtQuantile(99)), errs)
			if f, err := rss(o.pid); err == nil && o.pid != 0 {
				line += fmt.Sprintf(", server RSS %s (peak %s)", mib(f.rss), mib(f.peak))
			}
			fmt.Fprintln(o.out, line)
			last = now
		}
	}
}

// us is a histogram value in µs as a Duration, rounded to 3 digits or so.
func us(v int64) time.Duration {
	d := time.Duration(v) * time.Microsecond
	if d >= 100*time.Millisecond {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Microsecond)
}

// summarizeMix turns the recorder into rows, sorted by kind then caller.
func summarizeMix(rec *mixRecorder, elapsed time.Duration) *mixResult {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	res := &mixResult{elapsed: elapsed, checked: rec.checked, leaks: rec.leaks, firstLeak: rec.firstLeak}
	all := newHistogram()
	for k, h := range rec.hist {
		all.Merge(h)
		res.rows = append(res.rows, mixRow{mixKey: k, n: int(h.TotalCount()), errors: rec.errs[k],
			rps: float64(h.TotalCount()) / elapsed.Seconds(), p50: us(h.ValueAtQuantile(50)), p99: us(h.ValueAtQuantile(99)), firstErr: rec.firstErr[k]})
		res.total.errors += rec.errs[k]
	}
	slices.SortFunc(res.rows, func(a, b mixRow) int {
		return strings.Compare(a.kind+" "+a.role, b.kind+" "+b.role)
	})
	res.total.mixKey = mixKey{"total", "all"}
	res.total.n = int(all.TotalCount())
	res.total.rps = float64(all.TotalCount()) / elapsed.Seconds()
	res.total.p50, res.total.p99 = us(all.ValueAtQuantile(50)), us(all.ValueAtQuantile(99))
	return res
}

func printMix(o *mixOptions, res *mixResult, before rssFigures) {
	fmt.Fprintf(o.out, "mix: %d workers (%d as clinicians) for %s, closed loop\n", o.c, res.clinicianWorkers, res.elapsed.Round(time.Millisecond))
	tw := tabwriter.NewWriter(o.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kind\tcaller\tcount\treq/s\tp50\tp99\terrors\t")
	for _, r := range append(res.rows, res.total) {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f\t%s\t%s\t%d\t\n", r.kind, r.role, r.n, r.rps, r.p50, r.p99, r.errors)
	}
	tw.Flush()
	for _, r := range res.rows {
		if r.firstErr != "" {
			fmt.Fprintf(o.out, "first error of %s as %s: %s\n", r.kind, r.role, r.firstErr)
		}
	}
	fmt.Fprintf(o.out, "clinician search results checked: %d resources, %d outside the clinic\n", res.checked, res.leaks)
	if res.leaks > 0 {
		fmt.Fprintln(o.out, "LEAK:", res.firstLeak)
	}
	if o.pid != 0 {
		fmt.Fprintf(o.out, "server RSS: before %s, at end %s, peak (VmHWM, whole process life) %s\n", mib(before.rss), mib(res.serverRSS), mib(res.peak))
	}
}

// mixWorker is one closed-loop client.
type mixWorker struct {
	o      *mixOptions
	world  *mixWorld
	caller *mixCaller
	client *http.Client
	base   string
	rec    *mixRecorder
	rng    *rand.Rand
	n      int    // operations so far, for the every-Nth search check
	reads  int    // reads so far, for the every-Nth read of another clinic's Patient
	own    string // id of the Observation this worker updates
	etag   string // its current version, for If-Match
}

// step runs one operation drawn by weight.
func (w *mixWorker) step(ctx context.Context) {
	w.n++
	total := 0
	for _, x := range w.o.weights {
		total += x
	}
	pick := w.rng.IntN(total)
	op := 0
	for ; pick >= w.o.weights[op]; op++ {
		pick -= w.o.weights[op]
	}
	switch mixOps[op] {
	case "read":
		w.read(ctx)
	case "search":
		w.search(ctx)
	case "create":
		w.create(ctx)
	case "update":
		w.update(ctx)
	case "bundle":
		w.bundle(ctx)
	}
}

// mixAnswer is one response.
type mixAnswer struct {
	status int
	header http.Header
	body   []byte
}

// send sends one request as the worker's caller.
func (w *mixWorker) send(ctx context.Context, method, url string, body []byte, header ...string) (mixAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return mixAnswer{}, err
	}
	req.Header.Set("Authorization", "Bearer "+w.caller.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return mixAnswer{}, err
	}
	defer resp.Body.Close()
	a := mixAnswer{status: resp.StatusCode, header: resp.Header}
	a.body, err = io.ReadAll(resp.Body)
	return a, err
}

// do sends one request and records it under kind, as an error unless the
// status is want. ok is false when the run ended mid-request (not
// recorded) or the request failed.
func (w *mixWorker) do(ctx context.Context, kind, method, url string, body []byte, want int, header ...string) (mixAnswer, bool) {
	t0 := time.Now()
	a, err := w.send(ctx, method, url, body, header...)
	lat := time.Since(t0)
	if ctx.Err() != nil {
		return a, false // the run ended: neither a sample nor an error
	}
	k := mixKey{kind, w.caller.role}
	switch {
	case err != nil:
		w.rec.record(k, lat, fmt.Sprintf("%s %s: %v", method, url, err))
		return a, false
	case a.status != want:
		w.rec.record(k, lat, fmt.Sprintf("%s %s: %d (want %d) %s", method, url, a.status, want, truncate(a.body, 400)))
		return a, false
	}
	w.rec.record(k, lat, "")
	return a, true
}

func (w *mixWorker) pickOf(ids []string) string { return ids[w.rng.IntN(len(ids))] }

func (w *mixWorker) read(ctx context.Context) {
	c := w.caller
	w.reads++
	// At least every other read is the caller's own, whatever -mix-check-every.
	if len(c.others) > 0 && w.o.checkEvery > 0 && w.reads%max(w.o.checkEvery, 2) == 0 {
		w.do(ctx, kindReadOther, "GET", w.base+"/Patient/"+w.pickOf(c.others), nil, http.StatusNotFound)
		return
	}
	if len(c.obs) > 0 && w.rng.IntN(2) == 0 {
		w.do(ctx, kindRead, "GET", w.base+"/Observation/"+w.pickOf(c.obs), nil, http.StatusOK)
		return
	}
	w.do(ctx, kindRead, "GET", w.base+"/Patient/"+w.pickOf(c.patients), nil, http.StatusOK)
}

// search sends one search of a shape drawn at random.
func (w *mixWorker) search(ctx context.Context) {
	code := synth.ObservationCodes[w.rng.IntN(len(synth.ObservationCodes))].Code
	var kind, q string
	switch w.rng.IntN(6) {
	case 0:
		kind, q = kindSearchCode, "Observation?code=http://loinc.org|"+code+"&_count=20"
	case 1:
		m := time.Date(2015+w.rng.IntN(10), time.Month(1+w.rng.IntN(12)), 1, 0, 0, 0, 0, time.UTC)
		kind, q = kindSearchDate, "Observation?date=ge"+m.Format(time.DateOnly)+"&date=lt"+m.AddDate(0, 1, 0).Format(time.DateOnly)+"&_count=20"
	case 2:
		kind, q = kindSearchName, "Patient?family="+neturl.QueryEscape(w.pickOf(w.world.families))+"&_count=20"
	case 3:
		kind, q = kindSearchSort, "Observation?_sort=-date&_count=20"
	case 4:
		kind, q = kindSearchPage1, "Patient?_sort=family&_count=10"
	default:
		kind, q = kindSearchIncl, "Observation?code=http://loinc.org|"+code+"&_include=Observation:subject&_count=20"
	}
	a, ok := w.do(ctx, kind, "GET", w.base+"/"+strings.ReplaceAll(q, "|", "%7C"), nil, http.StatusOK)
	if !ok {
		return
	}
	w.check(a.body)
	if kind != kindSearchPage1 {
		return
	}
	if next := nextLink(a.body); next != "" {
		if a, ok := w.do(ctx, kindSearchPage2, "GET", next, nil, http.StatusOK); ok {
			w.check(a.body)
		}
	}
}

// check verifies, for a clinician on every checkEvery-th operation, that
// every resource of a search answer is in the clinician's clinic.
func (w *mixWorker) check(body []byte) {
	if w.caller.clinic == "" || w.o.checkEvery <= 0 || w.n%w.o.checkEvery != 0 {
		return
	}
	n, leaks, err := foreignEntries(body, w.caller.clinic)
	leak := ""
	switch {
	case err != nil:
		leak = "unreadable search answer: " + err.Error()
	case len(leaks) > 0:
		leak = fmt.Sprintf("a clinician of %s was returned %s", w.caller.clinic, strings.Join(leaks, ", "))
	}
	w.rec.leak(n, leak)
}

// foreignEntries returns how many resources a search Bundle holds and those
// whose meta.accounts do not name clinic.
func foreignEntries(body []byte, clinic string) (int, []string, error) {
	var b struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource struct {
				ResourceType string `json:"resourceType"`
				ID           string `json:"id"`
				Meta         struct {
					Accounts []struct {
						Reference string `json:"reference"`
					} `json:"accounts"`
				} `json:"meta"`
			} `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(body, &b); err != nil {
		return 0, nil, err
	}
	if b.ResourceType != "Bundle" {
		return 0, nil, fmt.Errorf("a %q, not a Bundle", b.ResourceType)
	}
	var leaks []string
	n := 0
	for _, e := range b.Entry {
		r := e.Resource
		if r.ResourceType == "OperationOutcome" {
			continue
		}
		n++
		var accounts []string
		for _, a := range r.Meta.Accounts {
			accounts = append(accounts, a.Reference)
		}
		if !slices.Contains(accounts, clinic) {
			leaks = append(leaks, fmt.Sprintf("%s/%s (accounts %v)", r.ResourceType, r.ID, accounts))
		}
	}
	return n, leaks, nil
}

// nextLink is the URL of a Bundle's next link, or "".
func nextLink(body []byte) string {
	var b struct {
		Link []struct{ Relation, URL string } `json:"link"`
	}
	_ = json.Unmarshal(body, &b)
	for _, l := range b.Link {
		if l.Relation == "next" {
			return l.URL
		}
	}
	return ""
}

// observation is a new Observation about one of the caller's Patients.
func (w *mixWorker) observation() map[string]any {
	return synth.Observation(w.rng, "Patient/"+w.pickOf(w.caller.patients))
}

func (w *mixWorker) create(ctx context.Context) {
	body, _ := json.Marshal(w.observation())
	w.do(ctx, kindCreate, "POST", w.base+"/Observation", body, http.StatusCreated)
}

// createOwn creates the Observation this worker updates.
func (w *mixWorker) createOwn(ctx context.Context) error {
	res := w.observation()
	body, _ := json.Marshal(res)
	a, err := w.send(ctx, "POST", w.base+"/Observation", body)
	if err != nil || a.status != http.StatusCreated {
		return fmt.Errorf("%s creates its Observation: %v %d %s", w.caller.role, err, a.status, truncate(a.body, 300))
	}
	var created struct{ ID string }
	if err := json.Unmarshal(a.body, &created); err != nil || created.ID == "" || a.header.Get("ETag") == "" {
		return fmt.Errorf("%s creates its Observation: no id or ETag: %s", w.caller.role, truncate(a.body, 300))
	}
	w.own, w.etag = created.ID, a.header.Get("ETag")
	return nil
}

// update changes the worker's own Observation, conditional on the version
// it last saw.
func (w *mixWorker) update(ctx context.Context) {
	res := w.observation()
	res["id"] = w.own
	body, _ := json.Marshal(res)
	a, ok := w.do(ctx, kindUpdate, "PUT", w.base+"/Observation/"+w.own, body, http.StatusOK, "If-Match", w.etag)
	if ok && a.header.Get("ETag") != "" {
		w.etag = a.header.Get("ETag")
	}
}

// bundle posts a transaction: one new Patient and its Observations.
func (w *mixWorker) bundle(ctx context.Context) {
	pid := "urn:uuid:" + uuid.NewString()
	entries := []json.RawMessage{synth.Entry(pid, synth.Patient(w.rng))}
	for len(entries) < max(w.o.bundle, 1) {
		entries = append(entries, synth.Entry("urn:uuid:"+uuid.NewString(), synth.Observation(w.rng, pid)))
	}
	body, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
	w.do(ctx, kindBundle, "POST", w.base, body, http.StatusOK)
}

// loadMix is `ward load -mix`: args is the server's root URL (optional).
func loadMix(ctx context.Context, mix string, o *mixOptions, args []string, token string, c int, d time.Duration, pid int) error {
	weights, err := parseMix(mix)
	if err != nil {
		return err
	}
	if o.clinicianPct < 0 || o.clinicianPct > 100 {
		return fmt.Errorf("-mix-clinicians %d: a percentage, 0 to 100", o.clinicianPct)
	}
	o.weights, o.superToken, o.c, o.d, o.pid = weights, token, max(c, 1), d, pid
	o.root = "http://127.0.0.1:8103"
	if len(args) > 0 {
		o.root = strings.TrimSuffix(strings.TrimSuffix(args[0], "/"), "/fhir/R4")
	}
	_, err = runMix(ctx, o)
	return err
}
