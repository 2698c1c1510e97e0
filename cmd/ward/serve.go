package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // only served with -pprof, on its own address
	"os"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir/definitions"
	wardhttp "github.com/wardhealth/ward/http"
	"github.com/wardhealth/ward/internal/egress"
	"github.com/wardhealth/ward/internal/wire"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/subscription"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

type serveConfig struct {
	addr    string
	baseURL string
	maxBody int64
	db      dbConfig
	binary  binaryConfig
	auth    authConfig
	tls     tlsConfig
	feed    feedConfig
	prune   pruneConfig
	drain   drainConfig

	// metricsAddr, when set, is the only address /metrics is served on.
	metricsAddr string
}

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var c serveConfig
	fs.StringVar(&c.addr, "addr", env("WARD_ADDR", ":8103"), "listen address [WARD_ADDR]")
	fs.StringVar(&c.baseURL, "base-url", env("WARD_BASE_URL", "http://localhost:8103/"), "public base URL; with TLS on and this unset, https://localhost:8103/ [WARD_BASE_URL]")
	fs.Int64Var(&c.maxBody, "max-body", envInt("WARD_MAX_BODY_BYTES", wardhttp.DefaultMaxBodyBytes), "request body limit in bytes [WARD_MAX_BODY_BYTES]")
	bodiesInFlight := fs.Int64("max-body-in-flight", envInt("WARD_MAX_BODY_IN_FLIGHT", wardhttp.DefaultBodyBytesInFlight), "bytes of large (over 256 KiB) request bodies handled at once, server-wide; more wait, then 429 [WARD_MAX_BODY_IN_FLIGHT]")
	memoryLimit := fs.String("memory-limit", env("WARD_MEMORY_LIMIT", defaultMemoryLimit), "soft limit of the Go heap (e.g. 1GiB, 512MiB; off = none); the default gives way to GOMEMLIMIT [WARD_MEMORY_LIMIT]")
	logLevel := fs.String("log-level", env("WARD_LOG_LEVEL", "info"), "debug, info (one line per request), warn or error [WARD_LOG_LEVEL]")
	origins := fs.String("allowed-origins", env("WARD_ALLOWED_ORIGINS", ""), "comma-separated browser origins allowed to call the API cross-origin (CORS), e.g. https://app.example.com; * = any; empty = none [WARD_ALLOWED_ORIGINS]")
	loadDefs := fs.Bool("definitions", envBool("WARD_DEFINITIONS", true), "load the base FHIR R4 definitions into the FHIR R4 project (in the background; a no-op once loaded) [WARD_DEFINITIONS]")
	fs.StringVar(&c.metricsAddr, "metrics-addr", env("WARD_METRICS_ADDR", ""), "serve /metrics only on this address (e.g. 127.0.0.1:9090), not on -addr; empty = /metrics on -addr [WARD_METRICS_ADDR]")
	pprofAddr := fs.String("pprof", env("WARD_PPROF_ADDR", ""), "serve net/http/pprof on this address (e.g. 127.0.0.1:6060); empty = off [WARD_PPROF_ADDR]")
	audit := fs.Bool("audit", envBool("WARD_AUDIT", true), "record every access, allowed or refused, as an AuditEvent in its project's hash-chained trail before answering; off = no trail (reads are many times faster, see docs/benchmarks.md) [WARD_AUDIT]")
	subscriptions := fs.Bool("subscriptions", envBool("WARD_SUBSCRIPTIONS", true), "deliver active rest-hook and websocket Subscriptions (matched under their author's access policy) [WARD_SUBSCRIPTIONS]")
	privateHooks := fs.Bool("subscription-allow-private-endpoints", envBool("WARD_SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS", false), "let rest-hook Subscriptions reach loopback and private addresses (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7); off by default because any project admin can create a Subscription, and a hook must not be a way into the server's own network. Link-local and cloud metadata addresses are never reached [WARD_SUBSCRIPTION_ALLOW_PRIVATE_ENDPOINTS]")
	auditLog := fs.String("audit-log", env("WARD_AUDIT_LOG", ""), "also write every committed AuditEvent as one JSON line here, for a SIEM: stdout or a file path (appended); empty = off [WARD_AUDIT_LOG]")
	c.db.flags(fs)
	c.binary.flags(fs)
	c.auth.flags(fs)
	c.tls.flags(fs)
	c.feed.flags(fs)
	c.prune.flags(fs)
	c.drain.flags(fs)
	var fair fairConfig
	fair.flags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	limit, err := applyMemoryLimit(*memoryLimit, flagSet(fs, "memory-limit") || os.Getenv("WARD_MEMORY_LIMIT") != "")
	if err != nil {
		return err
	}
	if *pprofAddr != "" {
		go http.ListenAndServe(*pprofAddr, nil) // DefaultServeMux carries net/http/pprof
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	tlsConf, err := c.tls.load()
	if err != nil {
		return err
	}
	baseURLSet := flagSet(fs, "base-url") || os.Getenv("WARD_BASE_URL") != ""
	if tlsConf != nil {
		c.baseURL = tlsBaseURL(c.baseURL, baseURLSet, logger)
	}
	s, err := c.db.open(ctx, logger)
	if err != nil {
		return err
	}
	defer s.Close()
	s.SetHookEndpoints(egress.Policy{AllowPrivate: *privateHooks})
	// The change feed's publishers start before any write (their commit
	// hooks must be registered first) and stop before the store closes.
	feedCtx, stopFeed := context.WithCancel(ctx)
	feedDone, feedMetrics := c.feed.start(feedCtx, s, logger)
	defer func() { stopFeed(); feedDone() }()
	pruneCtx, stopPrune := context.WithCancel(ctx)
	pruneDone, outboxMetrics := c.prune.start(pruneCtx, s, c.feed.sinkNames(), logger)
	defer func() { stopPrune(); pruneDone() }()
	// Async jobs are leased by the process running them; the jobs of a
	// process that stopped are ended by the others (jobs.go).
	jobs, stopJobs := startJobLeases(ctx, s, logger)
	defer stopJobs()
	sink, closeSink, err := auditSink(*auditLog)
	if err != nil {
		return err
	}
	defer closeSink()
	// Every access is recorded before its answer leaves; the trail closes
	// after the server drained (deferred later, so it runs first), committing
	// what is still queued before the store closes.
	var trail ward.AuditLog // nil: no trail (an interface, never a nil *store.AuditLog)
	if *audit {
		l := s.NewAuditLog(store.AuditOptions{Sink: sink})
		defer l.Close()
		trail = l
	} else {
		logger.Warn("audit trail off (-audit=false): accesses are not recorded")
	}
	c.auth.feed = c.feed.settings()
	identity, err := c.auth.service(s, c.baseURL, logger, trail)
	if err != nil {
		return err
	}
	jobs.resumeWith(jobRunner(s, identity, logger)) // orphaned jobs are taken over, not only ended
	var subsRoutes, subsOperations []wardhttp.Route // WebSocket subscriptions
	var subsMetrics *subscription.Metrics
	if *subscriptions {
		subsCtx, stopSubs := context.WithCancel(ctx)
		var subsDone func()
		subsRoutes, subsOperations, subsMetrics, subsDone = startSubscriptions(subsCtx, s, identity, trail, c.baseURL, *privateHooks, logger)
		defer func() { stopSubs(); subsDone() }() // before the trail and the store close
	}
	// Seed before listening: the first request must find the signing key,
	// and an empty database gets its super admin (credentials logged once).
	if err := identity.Seed(ctx); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	blobs, err := c.binary.blobs(ctx, c.db.dataDir)
	if err != nil {
		return err
	}
	binary, err := c.binary.options(blobs, c.db.dataDir)
	if err != nil {
		return err
	}
	wc := wire.Config{BaseURL: c.baseURL, MaxBodyBytes: c.maxBody, BodyBytesInFlight: *bodiesInFlight, Version: version, Auth: identity,
		AllowedOrigins: splitList(*origins), Audit: trail, Binary: binary, Routes: subsRoutes, Operations: subsOperations, Jobs: jobs}
	if subsMetrics != nil {
		wc.Collectors = append(wc.Collectors, subsMetrics)
	}
	if feedMetrics != nil {
		wc.Collectors = append(wc.Collectors, feedMetrics)
	}
	wc.Collectors = append(wc.Collectors, outboxMetrics)
	// Fair shares per project; the usage report's last counts are stored
	// after the server drained, before the store closes.
	fairCtx, stopFair := context.WithCancel(ctx)
	var fairDone func()
	wc.FairShare, fairDone = fair.start(fairCtx, s, logger)
	defer func() { stopFair(); fairDone() }()
	var handler http.Handler
	if c.metricsAddr == "" {
		// /metrics stays on the public address, as before the flag
		// existed, so existing scrape configs keep working.
		handler = wire.Handler(s, wc, logger)
	} else {
		api, metrics := wire.Handlers(s, wc, logger)
		addr, stop, err := serveMetrics(c.metricsAddr, metrics, logger)
		if err != nil {
			return err
		}
		defer stop()
		logger.Info("metrics listening", "addr", addr.String())
		handler = api
	}
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	if tlsConf != nil && c.tls.redirectAddr != "" {
		addr, stop, err := serveRedirect(c.tls.redirectAddr, redirectPort(c.baseURL, baseURLSet, ln.Addr()), logger)
		if err != nil {
			ln.Close()
			return err
		}
		defer stop()
		logger.Info("HTTP redirect listening", "addr", addr.String())
	}
	logger.Info("ward listening", "addr", ln.Addr().String(), "tls", tlsConf != nil, "base_url", c.baseURL,
		"database", c.db.engine(), "version", version, "memory_limit", limit)
	// The first load takes seconds (more on PostgreSQL), so it runs while
	// serving; it resumes where it stopped if the server stops first.
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		if *loadDefs {
			// One process of a fleet loads; the others wait for its lease
			// and then find the load done (lease.go).
			l := &leaser{s: s, holder: processID(), ttl: leaseTTL, logger: logger}
			l.once(ctx, store.LeaseRef{ProjectID: ward.SystemProjectID, Name: "definitions"}, func(ctx context.Context) {
				if err := definitions.Load(ctx, s, logger); err != nil && ctx.Err() == nil {
					logger.Error("definitions: load failed", "error", err)
				}
			})
		}
	}()
	defer func() { <-loaded }() // before the store closes
	return serveUntilDone(ctx, ln, handler, tlsConf, c.drain, logger)
}

// serveUntilDone serves until ctx ends, then drains (drain.go): /readyz
// turns 503, requests are taken for drain.delay more, then the listener
// closes and requests in flight get up to drain.timeout. With tlsConf, it serves HTTPS only: a plain HTTP request gets Go's 400
// "Client sent an HTTP request to an HTTPS server", never an answer.
func serveUntilDone(ctx context.Context, ln net.Listener, h http.Handler, tlsConf *tls.Config, drain drainConfig, logger *slog.Logger) error {
	var ready readiness
	srv := &http.Server{Handler: ready.wrap(h), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute, TLSConfig: tlsConf,
		// Connection-level errors (failed handshakes from scanners and
		// clients older than TLS 1.2) join the JSON log instead of
		// interleaving plain lines on stderr; handlers recover their own panics.
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	errc := make(chan error, 1)
	go func() {
		if tlsConf != nil {
			errc <- srv.ServeTLS(ln, "", "") // certificates are in TLSConfig; ServeTLS also offers HTTP/2
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	ready.draining.Store(true)
	srv.SetKeepAlivesEnabled(false) // clients reconnect, through the balancer, elsewhere
	logger.Info("draining", "delay", drain.delay, "timeout", drain.timeout)
	select {
	case err := <-errc:
		return err
	case <-time.After(drain.delay):
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), drain.timeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// serveMetrics serves metrics at GET /metrics on addr (and nothing else
// there) until stop is called.
func serveMetrics(addr string, metrics http.Handler, logger *slog.Logger) (net.Addr, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("-metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics server stopped", "error", err)
		}
	}()
	return ln.Addr(), func() { _ = srv.Close() }, nil
}
