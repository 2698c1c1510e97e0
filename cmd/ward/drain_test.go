package main

import (
	"io"
	"net/http"
	"net/url"
	"syscall"
	"testing"
	"time"
)

// TestServeDrainsOnSIGTERM: /readyz is 200 while serving; on SIGTERM it
// turns 503 at once while /healthcheck stays 200 and new requests are
// still served for -drain-delay; then new connections are refused, a
// request in flight (its body still arriving) is answered and committed,
// and the process exits cleanly. Both engines.
func TestServeDrainsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts server processes")
	}
	for _, eng := range servedEngines() {
		t.Run(eng.name, func(t *testing.T) {
			addr := freeAddr(t)
			delay := 1500 * time.Millisecond
			args := append([]string{"serve", "-addr", addr, "-definitions=false", "-admin-password", "drain-admin-password",
				"-log-level", "error", "-drain-delay", delay.String(), "-drain-timeout", "10s"}, eng.args(t)...)
			base := "http://" + addr
			server := startChild(t, args, base)
			defer server.Process.Kill()
			c := &kill9Client{base: base}
			c.token = c.register(t)
			fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
			status := func(path string) int {
				resp, err := fresh.Get(base + path)
				if err != nil {
					return 0 // refused: nothing listens
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			if got := status("/readyz"); got != 200 {
				t.Fatalf("GET /readyz while serving: %d, want 200", got)
			}

			// A create whose body is still arriving when SIGTERM comes.
			body, feed := io.Pipe()
			req, _ := http.NewRequest("POST", base+"/fhir/R4/Patient", body)
			req.Header.Set("Content-Type", "application/fhir+json")
			req.Header.Set("Authorization", "Bearer "+c.token)
			answered := make(chan *http.Response, 1)
			go func() {
				resp, err := fresh.Do(req)
				if err != nil {
					t.Errorf("the request in flight failed: %v", err)
				}
				answered <- resp
			}()
			feed.Write([]byte(`{"resourceType":"Patient",`))
			time.Sleep(200 * time.Millisecond) // the server has the headers
			if err := server.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			if got := status("/readyz"); got != 503 {
				t.Errorf("GET /readyz while draining: %d, want 503", got)
			}
			if got := status("/healthcheck"); got != 200 {
				t.Errorf("GET /healthcheck while draining: %d, want 200 (alive)", got)
			}
			time.Sleep(delay)
			if got := status("/healthcheck"); got != 0 {
				t.Errorf("a new connection after the drain delay: %d, want refused", got)
			}
			feed.Write([]byte(`"name":[{"family":"Drained"}]}`))
			feed.Close()
			resp := <-answered
			if resp == nil || resp.StatusCode != 201 {
				t.Fatalf("the request in flight at SIGTERM: %v, want 201", resp)
			}
			resp.Body.Close()
			loc := resp.Header.Get("Location")
			// startChild waits for the process; its state appears once it exited.
			for deadline := time.Now().Add(15 * time.Second); server.ProcessState == nil; time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatal("the server did not exit after draining")
				}
			}
			if !server.ProcessState.Success() {
				t.Fatalf("the drained server exited with %v, want 0", server.ProcessState)
			}

			server = startChild(t, args, base)
			defer server.Process.Kill()
			u, err := url.Parse(loc)
			if loc == "" || err != nil {
				t.Fatalf("Location %q on the 201", loc)
			}
			path := u.Path
			if st, _ := c.do("GET", path, ""); st != 200 {
				t.Errorf("the Patient created while draining reads %d after the restart, want 200", st)
			}
		})
	}
}
