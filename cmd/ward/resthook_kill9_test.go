package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// retryHook answers 500 to its first call and 200 after, and keeps the
// id of the resource in each call.
type retryHook struct {
	*httptest.Server
	mu    sync.Mutex
	calls []string
}

func newRetryHook(t *testing.T) *retryHook {
	h := &retryHook{}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var res struct{ ID string }
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &res)
		h.mu.Lock()
		h.calls = append(h.calls, res.ID)
		first := len(h.calls) == 1
		h.mu.Unlock()
		if first {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *retryHook) waitCalls(t *testing.T, n int, within time.Duration) []string {
	t.Helper()
	for end := time.Now().Add(within); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		h.mu.Lock()
		calls := append([]string(nil), h.calls...)
		h.mu.Unlock()
		if len(calls) >= n {
			return calls
		}
	}
	t.Fatalf("the hook got fewer than %d calls in %v", n, within)
	return nil
}

// TestKill9RestHookRetry kills `ward serve` with SIGKILL while a rest-hook
// delivery waits for its retry (the hook answered 500) and starts it
// again: the retry is made after the restart and the hook gets the
// resource. On SQLite and, with WARD_TEST_POSTGRES_URL set, on PostgreSQL.
func TestKill9RestHookRetry(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills server processes")
	}
	for _, eng := range servedEngines() {
		t.Run(eng.name, func(t *testing.T) {
			hook := newRetryHook(t)
			addr := freeAddr(t)
			args := append([]string{"serve", "-addr", addr, "-definitions=false", "-admin-password", "kill9-admin-password",
				"-log-level", "error", "-subscription-allow-private-endpoints"}, eng.args(t)...)
			base := "http://" + addr
			srv := startChild(t, args, base)
			defer func() { srv.Process.Kill() }()
			c := &kill9Client{base: base}
			c.token = c.register(t)
			c.mustCreate(t, "Subscription", fmt.Sprintf(`{"resourceType":"Subscription","status":"active","reason":"kill9",
				"criteria":"Patient","channel":{"type":"rest-hook","endpoint":%q}}`, hook.URL))
			patient := c.mustCreate(t, "Patient", `{"resourceType":"Patient"}`)

			hook.waitCalls(t, 1, 10*time.Second)
			time.Sleep(300 * time.Millisecond) // the failure is back in the queue; the retry is due after 1 s
			if err := srv.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			_ = srv.Wait()
			srv = startChild(t, args, base)
			calls := hook.waitCalls(t, 2, 30*time.Second)
			if calls[0] != patient || calls[1] != patient {
				t.Fatalf("the hook got %v, want Patient/%s twice (the 500 and the retry after the restart)", calls, patient)
			}
			// The restarted process counts the retry it made; the queue is empty.
			var metrics string
			for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
				_, _, raw := c.send("GET", "/metrics", "", "")
				metrics = string(raw)
				if strings.Contains(metrics, "ward_subscription_deliveries_queued 0\n") &&
					strings.Contains(metrics, `ward_subscription_deliveries_total{outcome="delivered"} 1`+"\n") {
					return
				}
			}
			t.Errorf("/metrics never showed the delivery done and the queue empty:\n%s", grepLines(metrics, "ward_subscription"))
		})
	}
}

// TestServePrivateHookEndpoints: by default a Subscription naming a
// loopback address is 400 at write; with
// -subscription-allow-private-endpoints it is accepted; a metadata
// address is 400 either way. On SQLite and PostgreSQL.
func TestServePrivateHookEndpoints(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	for _, eng := range servedEngines() {
		t.Run(eng.name, func(t *testing.T) {
			for _, allow := range []bool{false, true} {
				addr := freeAddr(t)
				args := append([]string{"serve", "-addr", addr, "-definitions=false", "-admin-password", "kill9-admin-password",
					"-log-level", "error", fmt.Sprintf("-subscription-allow-private-endpoints=%v", allow)}, eng.args(t)...)
				base := "http://" + addr
				srv := startChild(t, args, base)
				c := &kill9Client{base: base}
				c.token = c.register(t)
				for endpoint, wantOK := range map[string]bool{
					"http://127.0.0.1:9/hook":                 allow,
					"http://169.254.169.254/latest/meta-data": false,
					"https://hooks.example.com/in":            true,
				} {
					status, _ := c.do("POST", "/fhir/R4/Subscription", fmt.Sprintf(`{"resourceType":"Subscription","status":"active",
						"reason":"t","criteria":"Patient","channel":{"type":"rest-hook","endpoint":%q}}`, endpoint))
					if wantOK && status != 201 || !wantOK && status != 400 {
						t.Errorf("allow private=%v: Subscription to %s answered %d, want ok=%v (else 400)", allow, endpoint, status, wantOK)
					}
				}
				srv.Process.Kill()
				_ = srv.Wait()
			}
		})
	}
}

// grepLines are the lines of text containing substr.
func grepLines(text, substr string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
