package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestServeMetricsAddr: with -metrics-addr, /metrics is served there and is
// 404 on the public address; without it, /metrics stays on the public
// address.
func TestServeMetricsAddr(t *testing.T) {
	for _, tc := range []struct {
		name           string
		separate       bool
		publicMetrics  int
		privateMetrics int // status on the metrics address (0: nothing listens)
	}{
		{"without -metrics-addr", false, 200, 0},
		{"with -metrics-addr", true, 404, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			public, private := freeAddr(t), freeAddr(t)
			args := []string{"serve", "-addr", public, "-data-dir", t.TempDir(), "-definitions=false",
				"-admin-password", "metrics-test-password", "-log-level", "error"}
			if tc.separate {
				args = append(args, "-metrics-addr", private)
			}
			ctx, stop := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- run(ctx, args) }()
			defer func() {
				stop()
				if err := <-done; err != nil {
					t.Errorf("serve: %v", err)
				}
			}()
			waitUp(t, "http://"+public+"/healthcheck", done)

			if status, _ := get(t, "http://"+public+"/metrics"); status != tc.publicMetrics {
				t.Errorf("GET /metrics on -addr: %d, want %d", status, tc.publicMetrics)
			}
			status, body := get(t, "http://"+private+"/metrics")
			if status != tc.privateMetrics {
				t.Errorf("GET /metrics on -metrics-addr: %d, want %d", status, tc.privateMetrics)
			}
			if tc.separate && !strings.Contains(body, `ward_http_requests_total{method="GET",route="GET /healthcheck",status="200"}`) {
				t.Errorf("the metrics address does not count the public requests:\n%s", body)
			}
			if tc.separate {
				if status, _ := get(t, "http://"+private+"/fhir/R4/metadata"); status != 404 {
					t.Errorf("the metrics address serves the API: %d", status)
				}
			}
		})
	}
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitUp polls url until it answers, failing if serve returns first.
func waitUp(t *testing.T, url string, done chan error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("serve returned early: %v", err)
		default:
		}
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never answered", url)
}

// get returns the status and body of GET url; status 0 when nothing answers.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
