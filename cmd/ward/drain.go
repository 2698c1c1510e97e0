package main

import (
	"flag"
	"net/http"
	"sync/atomic"
	"time"
)

// Stopping one process of a fleet without failing a request: on SIGTERM
// (or Ctrl-C) GET /readyz turns 503 at once, so the load balancer stops
// sending new requests; the server keeps serving for -drain-delay (the
// time a balancer takes to notice), then stops accepting connections and
// waits up to -drain-timeout for the requests in flight before it exits.
// GET /healthcheck stays the liveness check: a draining process is alive.

type drainConfig struct {
	delay   time.Duration
	timeout time.Duration
}

func (c *drainConfig) flags(fs *flag.FlagSet) {
	fs.DurationVar(&c.delay, "drain-delay", envDuration("WARD_DRAIN_DELAY", 0), "on SIGTERM, keep serving this long with /readyz answering 503 before refusing new connections — the time a load balancer (a Kubernetes readiness probe: periodSeconds × failureThreshold) takes to stop sending requests; 0 = stop accepting at once [WARD_DRAIN_DELAY]")
	fs.DurationVar(&c.timeout, "drain-timeout", envDuration("WARD_DRAIN_TIMEOUT", 20*time.Second), "on SIGTERM, wait this long for requests in flight to finish before exiting (keep it under the orchestrator's grace period: Kubernetes' terminationGracePeriodSeconds, 30 s by default, less -drain-delay) [WARD_DRAIN_TIMEOUT]")
}

// readiness answers GET /readyz: 200 while the process takes requests,
// 503 once it drains.
type readiness struct {
	draining atomic.Bool
}

func (r *readiness) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/readyz" || (req.Method != http.MethodGet && req.Method != http.MethodHead) {
			h.ServeHTTP(w, req)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		if r.draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"ok":false,"status":"draining"}`))
			return
		}
		_, _ = w.Write([]byte(`{"ok":true,"status":"ready"}`))
	})
}
