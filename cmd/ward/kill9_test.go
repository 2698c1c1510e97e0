package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wardhealth/ward/store/storetest"
)

// TestHelperServe is not a test: TestKill9 runs the test binary again
// with WARD_HELPER_SERVE_ARGS set, and this runs `ward serve` with those
// arguments in that child process until it is killed.
func TestHelperServe(t *testing.T) {
	raw := os.Getenv("WARD_HELPER_SERVE_ARGS")
	if raw == "" {
		t.Skip("runs only as TestKill9's server process")
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		t.Fatal(err)
	}
	// As main: SIGTERM drains (TestServeDrainsOnSIGTERM); SIGKILL is SIGKILL.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := run(ctx, args); err != nil {
		t.Fatal(err)
	}
}

// TestKill9 kills the server with SIGKILL in the middle of a mixed load
// (reads, searches, creates, refused reads) and starts it again on the
// same database: every answer a client received has its AuditEvent, and
// every create acknowledged exists. On SQLite with synchronous=FULL (as
// ward serve runs) and, when WARD_TEST_POSTGRES_URL is set, on PostgreSQL.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	for _, eng := range servedEngines() {
		t.Run(eng.name, func(t *testing.T) {
			addr := freeAddr(t)
			args := append([]string{"serve", "-addr", addr, "-definitions=false", "-admin-password", "kill9-admin-password",
				"-log-level", "error"}, eng.args(t)...)
			base := "http://" + addr
			server := startChild(t, args, base)
			c := &kill9Client{base: base}
			c.token = c.register(t)
			patient := c.mustCreate(t, "Patient", `{"resourceType":"Patient","name":[{"family":"Killed"}]}`)

			answered, created := c.mixedLoad(t, patient, server, 1500*time.Millisecond)
			if len(answered) < 50 {
				t.Fatalf("only %d answers before the kill: the load did not run", len(answered))
			}
			server = startChild(t, args, base)
			defer server.Process.Kill()

			recorded := c.requestIDsRecorded(t)
			missing := 0
			for _, id := range answered {
				if !recorded[id] {
					missing++
					if missing <= 5 {
						t.Errorf("request %s was answered but has no AuditEvent after the restart", id)
					}
				}
			}
			for _, id := range created {
				if status, _ := c.do("GET", "/fhir/R4/Observation/"+id, ""); status != 200 {
					t.Errorf("Observation/%s was acknowledged (201) but reads %d after the restart", id, status)
				}
			}
			t.Logf("%s: %d answers (%d creates) before SIGKILL; %d without a record", eng.name, len(answered), len(created), missing)
		})
	}
}

// untilStopped starts workers goroutines in wg, each calling step with
// its number and its count of steps until stop is closed.
func untilStopped(wg *sync.WaitGroup, workers int, stop <-chan struct{}, step func(w, i int)) {
	for w := range workers {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				step(w, i)
			}
		})
	}
}

// execServe starts `ward serve args` as this test binary's
// TestHelperServe in a child process.
func execServe(t *testing.T, args []string) *exec.Cmd {
	t.Helper()
	raw, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServe$", "-test.v=false")
	cmd.Env = append(os.Environ(), "WARD_HELPER_SERVE_ARGS="+string(raw))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// startChild starts `ward serve args` as a child process and waits until
// it answers.
func startChild(t *testing.T, args []string, base string) *exec.Cmd {
	t.Helper()
	cmd := execServe(t, args)
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("the server exited: %v", err)
		default:
		}
		if resp, err := http.Get(base + "/healthcheck"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return cmd
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Kill()
	t.Fatal("the server did not come up")
	return nil
}

type kill9Client struct {
	base, token string
}

func (c *kill9Client) do(method, path, body string) (int, http.Header) {
	status, header, _ := c.send(method, path, body, "application/fhir+json")
	return status, header
}

// send makes one request; status 0 is a request that got no complete
// answer (the server died under it).
func (c *kill9Client) send(method, path, body, contentType string) (int, http.Header, []byte) {
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, nil
	}
	if body != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil
	}
	return resp.StatusCode, resp.Header, data
}

func (c *kill9Client) mustJSON(t *testing.T, method, path, body, contentType string) map[string]any {
	t.Helper()
	status, _, data := c.send(method, path, body, contentType)
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil || status >= 300 {
		t.Fatalf("%s %s: %d %s", method, path, status, data)
	}
	return out
}

// register signs up a project owner and returns their token.
func (c *kill9Client) register(t *testing.T) string {
	t.Helper()
	nu := c.mustJSON(t, "POST", "/auth/newuser", `{"firstName":"Kay","lastName":"Nine","email":"kill9@example.com",
		"password":"kill9-owner-password","codeChallenge":"xyz","codeChallengeMethod":"plain","scope":"openid"}`, "application/json")
	np := c.mustJSON(t, "POST", "/auth/newproject", fmt.Sprintf(`{"login":%q,"projectName":"Kill Nine"}`, nu["login"]), "application/json")
	form := url.Values{"grant_type": {"authorization_code"}, "code": {np["code"].(string)}, "code_verifier": {"xyz"}}
	tok := c.mustJSON(t, "POST", "/oauth2/token", form.Encode(), "application/x-www-form-urlencoded")
	return tok["access_token"].(string)
}

func (c *kill9Client) mustCreate(t *testing.T, typ, body string) string {
	t.Helper()
	return c.mustJSON(t, "POST", "/fhir/R4/"+typ, body, "application/fhir+json")["id"].(string)
}

// mixedLoad runs 16 clients against the server and kills it after d. It
// returns the request ids of every complete answer and the ids of the
// Observations whose creation was acknowledged.
func (c *kill9Client) mixedLoad(t *testing.T, patient string, server *exec.Cmd, d time.Duration) (answered, created []string) {
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var status int
				var header http.Header
				var body []byte
				switch (w + i) % 4 {
				case 0:
					status, header, body = c.send("POST", "/fhir/R4/Observation", fmt.Sprintf(
						`{"resourceType":"Observation","status":"final","code":{"text":"k%d"},"subject":{"reference":"Patient/%s"}}`, i, patient), "application/fhir+json")
				case 1:
					status, header, body = c.send("GET", "/fhir/R4/Patient/"+patient, "", "")
				case 2:
					status, header, body = c.send("GET", "/fhir/R4/Observation?subject=Patient/"+patient+"&_count=5", "", "")
				default:
					status, header, body = c.send("GET", "/fhir/R4/Patient/00000000-0000-4000-8000-000000000000", "", "")
				}
				if status == 0 {
					continue // no answer: the server is gone
				}
				mu.Lock()
				answered = append(answered, header.Get("X-Request-Id"))
				if status == 201 {
					var res struct{ ID string }
					if json.Unmarshal(body, &res) == nil {
						created = append(created, res.ID)
					}
				}
				mu.Unlock()
			}
		}()
	}
	time.Sleep(d)
	if err := server.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // clients see the connections drop
	close(stop)
	wg.Wait()
	return answered, created
}

// requestIDsRecorded pages through the project's trail and returns the
// request ids it holds.
func (c *kill9Client) requestIDsRecorded(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	next := "/fhir/R4/AuditEvent?_count=1000&_sort=_lastUpdated"
	for next != "" {
		bundle := c.mustJSON(t, "GET", next, "", "")
		next = ""
		for _, l := range bundle["link"].([]any) {
			link := l.(map[string]any)
			if link["relation"] == "next" {
				u, _ := url.Parse(link["url"].(string))
				next = u.RequestURI()
			}
		}
		entries, _ := bundle["entry"].([]any)
		for _, e := range entries {
			var ev struct {
				Entity []struct {
					What struct{ Identifier struct{ Value string } }
					Type struct{ Code string }
				}
			}
			raw, _ := json.Marshal(e.(map[string]any)["resource"])
			if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&ev); err != nil {
				t.Fatal(err)
			}
			for _, en := range ev.Entity {
				if en.Type.Code == "XrequestId" {
					out[en.What.Identifier.Value] = true
				}
			}
		}
	}
	return out
}

// servedEngine is a database for a `ward serve` process started by a test.
type servedEngine struct {
	name string
	args func(t *testing.T) []string // the serve flags naming a fresh database
}

// servedEngines are SQLite, and PostgreSQL in a schema of its own (the
// subtest skips without WARD_TEST_POSTGRES_URL).
func servedEngines() []servedEngine {
	return []servedEngine{
		{"sqlite", func(t *testing.T) []string { return []string{"-data-dir", t.TempDir()} }},
		{"postgres", func(t *testing.T) []string {
			base, schema := storetest.PostgresSchema(t)
			u, err := url.Parse(base)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			q.Set("search_path", schema)
			u.RawQuery = q.Encode()
			// -data-dir: the Binary store and its URL key live there.
			return []string{"-database-url", u.String(), "-data-dir", t.TempDir()}
		}},
	}
}

// TestKill9ConcurrentCreates kills the server with SIGKILL while 32
// clients only create, so on SQLite the writes in flight are groups
// sharing one commit (store's group commit) — some of them with a member
// the store refuses (an invalid status, 400) — and starts it again: every
// create acknowledged exists, and every answer has its AuditEvent.
func TestKill9ConcurrentCreates(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	for _, eng := range servedEngines() {
		t.Run(eng.name, func(t *testing.T) {
			addr := freeAddr(t)
			args := append([]string{"serve", "-addr", addr, "-definitions=false", "-admin-password", "kill9-admin-password",
				"-log-level", "error", "-project-rate-limit", "0"}, eng.args(t)...)
			base := "http://" + addr
			server := startChild(t, args, base)
			c := &kill9Client{base: base}
			c.token = c.register(t)
			patient := c.mustCreate(t, "Patient", `{"resourceType":"Patient","name":[{"family":"Grouped"}]}`)

			var mu sync.Mutex
			var answered, created []string
			refused := 0
			stop := make(chan struct{})
			var wg sync.WaitGroup
			untilStopped(&wg, 32, stop, func(w, i int) {
				obsStatus := `"final"`
				if (w+i)%16 == 0 {
					obsStatus = "17" // invalid: refused by the store, in the middle of a group
				}
				status, header, body := c.send("POST", "/fhir/R4/Observation", fmt.Sprintf(
					`{"resourceType":"Observation","status":%s,"code":{"text":"g%d-%d"},"subject":{"reference":"Patient/%s"}}`, obsStatus, w, i, patient), "application/fhir+json")
				if status == 0 {
					return // no answer: the server is gone
				}
				mu.Lock()
				defer mu.Unlock()
				answered = append(answered, header.Get("X-Request-Id"))
				var res struct{ ID string }
				switch {
				case status == 201 && json.Unmarshal(body, &res) == nil:
					created = append(created, res.ID)
				case status >= 400 && status < 500:
					refused++
				default:
					t.Errorf("create answered %d: %s", status, body)
				}
			})
			time.Sleep(1500 * time.Millisecond)
			if err := server.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond) // clients see the connections drop
			close(stop)
			wg.Wait()
			if len(created) < 10 { // a loaded machine's count (≈ 1,000 on a quiet one)
				t.Fatalf("only %d creates acknowledged before the kill: the load did not run", len(created))
			}
			server = startChild(t, args, base)
			defer server.Process.Kill()

			for _, id := range created {
				if status, _ := c.do("GET", "/fhir/R4/Observation/"+id, ""); status != 200 {
					t.Errorf("Observation/%s was acknowledged (201) but reads %d after the restart", id, status)
				}
			}
			recorded := c.requestIDsRecorded(t)
			missing := 0
			for _, id := range answered {
				if !recorded[id] {
					missing++
					if missing <= 5 {
						t.Errorf("request %s was answered but has no AuditEvent after the restart", id)
					}
				}
			}
			t.Logf("%s: %d creates acknowledged, %d refused before SIGKILL", eng.name, len(created), refused)
		})
	}
}
