package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardhealth/ward/internal/nodetest"
	"github.com/wardhealth/ward/store/storetest"
)

// fleet is n `ward serve` processes on one PostgreSQL schema behind a
// round-robin reverse proxy, as behind a load balancer.
type fleet struct {
	proxy *httptest.Server
	base  string // the proxy's URL, every process's -base-url
	addrs []string
	procs []*exec.Cmd
	alive []atomic.Bool
	next  atomic.Uint64
	dbURL string
}

// startFleet starts n processes at once on a fresh schema (they race to
// migrate and seed) and the proxy in front of them.
func startFleet(t *testing.T, n int, extra ...string) *fleet {
	t.Helper()
	if os.Getenv(storetest.PostgresURLEnv) == "" {
		t.Skip(storetest.PostgresURLEnv + " not set: a fleet shares one PostgreSQL")
	}
	f := &fleet{alive: make([]atomic.Bool, n)}
	f.proxy = httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(&url.URL{Scheme: "http", Host: f.pick()})
		pr.Out.Host = pr.In.Host
		// As a balancer does, pass the query on as sent: ReverseProxy
		// drops parameters it cannot parse (name=%zz), which the
		// servers must answer with a 400 themselves.
		pr.Out.URL.RawQuery = pr.In.URL.RawQuery
	}})
	t.Cleanup(f.proxy.Close)
	f.base = f.proxy.URL
	db := servedEngines()[1].args(t) // -database-url (a schema of its own) -data-dir
	f.dbURL = db[1]
	dataDir := t.TempDir() // shared: Binary bytes and the URL key
	for i := range n {
		addr := freeAddr(t)
		args := append([]string{"serve", "-addr", addr, "-base-url", f.base + "/", "-definitions=false",
			"-admin-password", "fleet-admin-password", "-log-level", "error", "-bcrypt-cost", "10",
			"-subscription-allow-private-endpoints", "-allowed-origins", "http://app.compat.test",
			"-database-url", db[1], "-data-dir", dataDir}, extra...)
		f.addrs = append(f.addrs, addr)
		f.procs = append(f.procs, launchChild(t, args))
		f.alive[i].Store(true)
	}
	for i, addr := range f.addrs {
		waitHealthy(t, "http://"+addr, f.procs[i])
	}
	t.Cleanup(func() {
		for _, p := range f.procs {
			p.Process.Kill()
		}
	})
	return f
}

// pick is the next live process, round robin (a balancer's health check
// has taken a dead one out).
func (f *fleet) pick() string {
	for {
		i := int(f.next.Add(1) % uint64(len(f.addrs)))
		if f.alive[i].Load() {
			return f.addrs[i]
		}
	}
}

// kill9 kills process i with SIGKILL and takes it out of the rotation.
func (f *fleet) kill9(t *testing.T, i int) {
	t.Helper()
	f.alive[i].Store(false)
	if err := f.procs[i].Process.Kill(); err != nil {
		t.Fatal(err)
	}
}

// launchChild starts `ward serve args` without waiting for it.
func launchChild(t *testing.T, args []string) *exec.Cmd {
	t.Helper()
	cmd := execServe(t, args)
	go cmd.Wait()
	return cmd
}

func waitHealthy(t *testing.T, base string, cmd *exec.Cmd) {
	t.Helper()
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cmd.ProcessState != nil {
			t.Fatalf("a fleet process exited: %v", cmd.ProcessState)
		}
		if resp, err := http.Get(base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
	}
	t.Fatal("a fleet process did not come up")
}

// TestFleet runs three processes on one PostgreSQL behind a round-robin
// proxy: sign-in and every request after it cross processes; the Medplum
// client scenarios (isolation among them) pass through the proxy, and the
// Go wire suite's HTTP-only tests through a second fleet's (fleetWire); one
// process is killed with SIGKILL mid-load — every acknowledged create is
// read back through the others, and its $export job is taken over and
// completed by another process; a revoked login is refused by every process, and the time
// from the revocation's answer to each other process's refusal is logged
// (the revocation race, docs/benchmarks.md).
func TestFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	f := startFleet(t, 3)
	c := &kill9Client{base: f.base}
	c.token = c.register(t) // newuser, newproject and token on three processes

	t.Run("revocation", func(t *testing.T) { fleetRevocation(t, f, 12) })
	t.Run("key rotation", func(t *testing.T) { fleetKeyRotation(t, f) })
	t.Run("compat", func(t *testing.T) { fleetCompat(t, f) })
	t.Run("wire", func(t *testing.T) { fleetWire(t) })
	t.Run("kill", func(t *testing.T) { fleetKill(t, f, c) })
}

// fleetCompat runs @medplum/core scenarios through the proxy.
func fleetCompat(t *testing.T, f *fleet) {
	node := nodetest.FindNode(t, "WARD_COMPAT_REQUIRED")
	nodetest.EnsureInstalled(t, "../../compat", "@medplum/core")
	files := strings.Fields(env("WARD_FLEET_COMPAT_FILES", "isolation.test.mjs fhir.test.mjs login.test.mjs policy.test.mjs"))
	args := append(nodetest.NodeFlags(t, node), "--test-timeout=60000")
	nodetest.RunSuite(t, node, "../../compat", 2*time.Minute, append(args, files...), []string{
		"WARD_BASE_URL=" + f.base + "/",
		"WARD_SHORT_TOKEN_BASE_URL=" + f.base + "/",
		"WARD_ADMIN_EMAIL=admin@example.com",
		"WARD_ADMIN_PASSWORD=fleet-admin-password",
		"WARD_APP_ORIGIN=http://app.compat.test",
	}, nil)
}

// wireCORSApp is the origin the wire suite's CORS test signs in from
// (internal/wire corsApp); the wire suite's fleet allows it.
const wireCORSApp = "https://app.example.com"

// fleetWireTests are the Go wire suite's tests run through the fleet: the
// isolation, auth, MSO (policies, $everything, exports), search
// conformance, bad-input, CORS and concurrency families, all HTTP only. The rest of the suite
// reaches into the store or configures its handler in-process.
var fleetWireTests = []string{
	"TestProjectWallsWithTokens", "TestProjectWalls",
	"TestAuthEndToEnd", "TestAuthMembershipChangeTakesEffect",
	"TestMSOClinicWalls", "TestMSOConsentGating", "TestMSOPractitionerAssignment", "TestMSOEverything", "TestOneOutputGate",
	"TestChartExports", "TestListCSV", "TestMedplumStatusStrings",
	"TestSearchConformance", "TestSearchPost", "TestSearchSortByID", "TestSearchPaging", "TestSearchElements", "TestSearchBadQueries",
	"TestBadInput", "TestBadBytes", "TestNULAndBadUTF8", "TestNULInBatchEntry", "TestNULInGraphQLArgument",
	"TestCORSAcrossRoutes", "TestCORSPreflightEveryRoute",
	"TestHotPatientTransactionsDoNotFail", "TestConcurrentWritesWithoutIfMatchApply",
}

// fleetWire compiles the wire suite's test binary and runs fleetWireTests
// against the proxy (WARD_WIRE_TARGET, internal/wire helpers_test.go) of
// a fleet of its own: every request of those tests crosses processes.
// Its own, because sign-in limits are the fleet's (10 attempts per
// account, then one every 30 s): the compat suite has spent the super
// admin's. Each test runs once (no PostgreSQL URL is passed on: the fleet
// is the engine under test).
func fleetWire(t *testing.T) {
	f := startFleet(t, 3, "-max-body", "1048576", "-allowed-origins", wireCORSApp) // the wire suite's limit and app
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the wire suite is compiled with the go command: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "wire.test")
	start := time.Now()
	if out, err := exec.Command(goTool, "test", "-c", "-o", bin, "../../internal/wire").CombinedOutput(); err != nil {
		t.Fatalf("go test -c internal/wire: %v\n%s", err, out)
	}
	built := time.Since(start)
	run := env("WARD_FLEET_WIRE_RUN", "^("+strings.Join(fleetWireTests, "|")+")$")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-test.run", run, "-test.v", "-test.timeout", "4m")
	cmd.Dir = "../../internal/wire" // its testdata
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, storetest.PostgresURLEnv+"=") && !strings.HasPrefix(kv, "WARD_WIRE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "WARD_WIRE_TARGET="+f.base, "WARD_WIRE_ADMIN_EMAIL=admin@example.com",
		"WARD_WIRE_ADMIN_PASSWORD=fleet-admin-password", "WARD_WIRE_ALLOWED_ORIGINS="+wireCORSApp)
	out, err := cmd.CombinedOutput()
	ran, skipped := wireOutcomes(string(out))
	if err != nil || len(ran) == 0 {
		t.Fatalf("the wire suite through the fleet: %v\n%s", err, out)
	}
	// A check that passed only when tried again, because a process still
	// served a grant just changed (internal/wire staleGrantWindow), logs
	// "… old grant meanwhile".
	stale := 0
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "old grant meanwhile") {
			stale++
			t.Log(strings.TrimSpace(line))
		}
	}
	t.Logf("wire suite through the fleet: %d tests ran, %d skipped %v; %d checks passed only on a retry (old grant); built in %v, ran in %v",
		len(ran), len(skipped), skipped, stale, built.Round(100*time.Millisecond), (time.Since(start) - built).Round(100*time.Millisecond))
}

// wireOutcomes reads a -test.v log: the top-level tests that ran (passed
// or failed) and those skipped — wholly, or in every engine subtest.
func wireOutcomes(log string) (ran, skipped []string) {
	status := map[string]string{}
	var order []string
	for _, line := range strings.Split(log, "\n") {
		line = strings.TrimSpace(line)
		for _, s := range []string{"PASS", "FAIL", "SKIP"} {
			if name, ok := strings.CutPrefix(line, "--- "+s+": "); ok {
				name, _, _ = strings.Cut(name, " ")
				status[name] = s
				order = append(order, name)
			}
		}
	}
	for _, name := range order {
		if strings.Contains(name, "/") {
			continue
		}
		engines := 0
		for _, e := range []string{"/sqlite", "/postgres"} {
			if st, ok := status[name+e]; ok && st != "SKIP" {
				engines++
			}
		}
		_, hasEngine := status[name+"/sqlite"]
		if status[name] == "SKIP" || hasEngine && engines == 0 {
			skipped = append(skipped, name)
		} else {
			ran = append(ran, name)
		}
	}
	return ran, skipped
}

// fleetKill kills process 0 in the middle of creates and reads through
// the proxy, just after it accepted an $export.
func fleetKill(t *testing.T, f *fleet, c *kill9Client) {
	patient := c.mustCreate(t, "Patient", `{"resourceType":"Patient","name":[{"family":"Fleet"}]}`)
	var mu sync.Mutex
	var created []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	untilStopped(&wg, 12, stop, func(w, i int) {
		if (w+i)%2 == 1 {
			c.send("GET", "/fhir/R4/Patient/"+patient, "", "")
			return
		}
		status, _, body := c.send("POST", "/fhir/R4/Observation", fmt.Sprintf(
			`{"resourceType":"Observation","status":"final","code":{"text":"f%d"},"subject":{"reference":"Patient/%s"}}`, i, patient), "application/fhir+json")
		var res struct{ ID string }
		if status == 201 && json.Unmarshal(body, &res) == nil {
			mu.Lock()
			created = append(created, res.ID)
			mu.Unlock()
		}
	})
	time.Sleep(700 * time.Millisecond)
	victim := &kill9Client{base: "http://" + f.addrs[0], token: c.token}
	req, _ := http.NewRequest("GET", victim.base+"/fhir/R4/$export", nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Prefer", "respond-async")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 202 {
		t.Fatalf("$export on the victim: %v %v", resp, err)
	}
	resp.Body.Close()
	job := resp.Header.Get("Content-Location")
	f.kill9(t, 0)
	time.Sleep(700 * time.Millisecond)
	close(stop)
	wg.Wait()
	if len(created) < 20 {
		t.Fatalf("only %d creates acknowledged: the load did not run", len(created))
	}
	lost := 0
	for _, id := range created {
		if status, _ := c.do("GET", "/fhir/R4/Observation/"+id, ""); status != 200 {
			lost++
			if lost <= 5 {
				t.Errorf("Observation/%s was acknowledged (201) but reads %d through the survivors", id, status)
			}
		}
	}
	// .../job/{id}/export: read the AsyncJob itself (the owner administers the project).
	parts := strings.Split(job, "/")
	jobID := parts[len(parts)-2]
	status := ""
	start := time.Now()
	for deadline := start.Add(jobLeaseTTL + 2*jobLeaseRenew + 30*time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if status, _ = c.mustJSON(t, "GET", "/fhir/R4/AsyncJob/"+jobID, "", "")["status"].(string); status != "accepted" {
			break
		}
	}
	if status != "completed" {
		t.Errorf("the killed process's $export is %q after its lease expired, want completed by another process", status)
	}
	fleetExportHasObservations(t, c, job)
	t.Logf("SIGKILL under load: %d creates acknowledged, %d lost; the victim's $export ended %q %v after the kill",
		len(created), lost, status, time.Since(start).Round(100*time.Millisecond))
}

// fleetExportHasObservations fetches the export's manifest and its
// Observation file through the proxy: the file a surviving process wrote
// is served, with the Observations created before the export.
func fleetExportHasObservations(t *testing.T, c *kill9Client, job string) {
	manifest := c.mustJSON(t, "GET", strings.TrimPrefix(job, c.base), "", "")
	outputs, _ := manifest["output"].([]any)
	for _, o := range outputs {
		out, _ := o.(map[string]any)
		if out["type"] != "Observation" {
			continue
		}
		url, _ := out["url"].(string)
		status, _, body := c.send("GET", strings.TrimPrefix(url, c.base), "", "")
		if status != 200 || !strings.Contains(string(body), `"Observation"`) {
			t.Errorf("the taken-over export's Observation file answers %d, %d bytes", status, len(body))
		}
		return
	}
	t.Errorf("the taken-over export's manifest names no Observation file: %v", manifest)
}

// fleetRevocation signs in n times, warms every process's caller cache
// with the token, revokes the login (POST /oauth2/logout) through process
// 0 and measures how long each other process still accepts the token.
func fleetRevocation(t *testing.T, f *fleet, n int) {
	var race []time.Duration
	for round := range n {
		c := &kill9Client{base: f.base}
		email := fmt.Sprintf("revoke%d@example.com", round)
		nu := c.mustJSON(t, "POST", "/auth/newuser", fmt.Sprintf(`{"firstName":"Rev","lastName":"Oke","email":%q,
			"password":"revocation-password","codeChallenge":"xyz","codeChallengeMethod":"plain","scope":"openid"}`, email), "application/json")
		np := c.mustJSON(t, "POST", "/auth/newproject", fmt.Sprintf(`{"login":%q,"projectName":"Revoke %d"}`, nu["login"], round), "application/json")
		form := url.Values{"grant_type": {"authorization_code"}, "code": {np["code"].(string)}, "code_verifier": {"xyz"}}
		token := c.mustJSON(t, "POST", "/oauth2/token", form.Encode(), "application/x-www-form-urlencoded")["access_token"].(string)
		direct := func(i int) *kill9Client { return &kill9Client{base: "http://" + f.addrs[i], token: token} }
		for i := range f.addrs {
			if status, _ := direct(i).do("GET", "/fhir/R4/Patient?_count=1", ""); status != 200 {
				t.Fatalf("process %d before the revocation: %d", i, status)
			}
		}
		if status, _ := direct(0).do("POST", "/oauth2/logout", ""); status != 200 {
			t.Fatalf("logout: %d", status)
		}
		revoked := time.Now()
		for i := 1; i < len(f.addrs); i++ {
			for {
				status, _ := direct(i).do("GET", "/fhir/R4/Patient?_count=1", "")
				if status == 401 {
					race = append(race, time.Since(revoked))
					break
				}
				if time.Since(revoked) > 5*time.Second {
					t.Fatalf("process %d still answers %d to a login revoked 5 s ago", i, status)
				}
			}
			// Never served from the stale grant afterwards.
			for range 3 {
				if status, _ := direct(i).do("GET", "/fhir/R4/Patient?_count=1", ""); status != 401 {
					t.Fatalf("process %d answers %d after it refused the revoked login", i, status)
				}
			}
		}
	}
	slices.Sort(race)
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d.Microseconds())/1000) }
	t.Logf("revocation race, %d process refusals: min %s ms, median %s ms, p90 %s ms, max %s ms",
		len(race), ms(race[0]), ms(race[len(race)/2]), ms(race[len(race)*9/10]), ms(race[len(race)-1]))
	if race[len(race)-1] > time.Second {
		t.Errorf("a process accepted a revoked login for %v, goal ≤ 1 s", race[len(race)-1])
	}
}

// TestFleetReadThroughput measures reads/s by id through the proxy with
// 1, 2 and 3 processes of one fleet in the rotation (docs/benchmarks.md,
// "Past one machine"). It runs only with WARD_FLEET_BENCH=1: a figure,
// not a check.
func TestFleetReadThroughput(t *testing.T) {
	if os.Getenv("WARD_FLEET_BENCH") == "" {
		t.Skip("set WARD_FLEET_BENCH=1 to measure")
	}
	// No rate limit: the project's is the fleet's, split between the three
	// processes, and this measures the processes, not the limit.
	f := startFleet(t, 3, "-audit=false", "-project-rate-limit=0")
	c := &kill9Client{base: f.base}
	c.token = c.register(t)
	var ids []string
	for i := range 50 {
		ids = append(ids, c.mustCreate(t, "Patient", fmt.Sprintf(`{"resourceType":"Patient","name":[{"family":"Bench%d"}]}`, i)))
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	const workers = 32
	d := 5 * time.Second
	if s := os.Getenv("WARD_FLEET_BENCH_SECONDS"); s != "" {
		v, _ := time.ParseDuration(s + "s")
		d = v
	}
	var base float64
	// A warm-up with every process in (pools, plans, caches), then each
	// size twice, in both orders, as the machine's other load drifts.
	for round, n := range []int{3, 1, 2, 3, 3, 2, 1} {
		for i := range f.alive {
			f.alive[i].Store(i < n)
		}
		var reads, failed atomic.Int64
		stop := time.Now().Add(d)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for i := w; time.Now().Before(stop); i++ {
					req, _ := http.NewRequest("GET", f.base+"/fhir/R4/Patient/"+ids[i%len(ids)], nil)
					req.Header.Set("Authorization", "Bearer "+c.token)
					resp, err := client.Do(req)
					if err != nil {
						failed.Add(1)
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == 200 {
						reads.Add(1)
					} else {
						failed.Add(1)
					}
				}
			})
		}
		wg.Wait()
		rate := float64(reads.Load()) / d.Seconds()
		if round == 0 {
			continue
		}
		if base == 0 {
			base = rate
		}
		t.Logf("%d process(es): %.0f reads/s (%.2f× one), %d failed", n, rate, rate/base, failed.Load())
	}
}

// fleetKeyRotation runs `ward rotate-key` on the fleet's database while
// it serves: every process signs its next token with the new key, no
// restart (the JsonWebKey write reaches them by NOTIFY).
func fleetKeyRotation(t *testing.T, f *fleet) {
	kidOf := func(i int) string {
		c := &kill9Client{base: "http://" + f.addrs[i]}
		email := fmt.Sprintf("rotate%d-%d@example.com", i, time.Now().UnixNano())
		nu := c.mustJSON(t, "POST", "/auth/newuser", fmt.Sprintf(`{"firstName":"Ro","lastName":"Tate","email":%q,
			"password":"rotation-password","codeChallenge":"xyz","codeChallengeMethod":"plain","scope":"openid"}`, email), "application/json")
		np := c.mustJSON(t, "POST", "/auth/newproject", fmt.Sprintf(`{"login":%q,"projectName":"Rotate"}`, nu["login"]), "application/json")
		form := url.Values{"grant_type": {"authorization_code"}, "code": {np["code"].(string)}, "code_verifier": {"xyz"}}
		token := c.mustJSON(t, "POST", "/oauth2/token", form.Encode(), "application/x-www-form-urlencoded")["access_token"].(string)
		header, _ := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
		var h struct{ Kid string }
		json.Unmarshal(header, &h)
		return h.Kid
	}
	before := kidOf(1)
	if err := run(context.Background(), []string{"rotate-key", "-database-url", f.dbURL, "-data-dir", t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the notification's way (the revocation race above)
	for i := range f.addrs {
		if !f.alive[i].Load() {
			continue
		}
		if kid := kidOf(i); kid == before || kid == "" {
			t.Errorf("process %d signs with key %q after the rotation, want a new one (was %q)", i, kid, before)
		}
	}
}
