// Package wire assembles Ward's HTTP handler from a store: the REST API,
// the identity endpoints (when Config.Auth is set), /metrics (on the same
// handler, or apart with Handlers), and the caller resolution. cmd/ward and end-to-end tests use it,
// so tests exercise exactly what the binary serves.
package wire

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/auth"
	"github.com/wardhealth/ward/console"
	"github.com/wardhealth/ward/csvexport"
	"github.com/wardhealth/ward/fairshare"
	"github.com/wardhealth/ward/fhir"
	"github.com/wardhealth/ward/graphql"
	wardhttp "github.com/wardhealth/ward/http"
	"github.com/wardhealth/ward/ips"
	"github.com/wardhealth/ward/search"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/postgres"
	"github.com/wardhealth/ward/terminology"
)

// DefaultProjectID is the one project every request acts in until
// identity lands (issue 3).
const DefaultProjectID = "6b7c1f0e-3c1a-4d8e-9a57-2f3c7d1e0a01"

// Config is what the handler needs besides the store.
type Config struct {
	BaseURL      string
	MaxBodyBytes int64
	// BodyBytesInFlight bounds the large request bodies handled at once
	// (0: wardhttp.DefaultBodyBytesInFlight).
	BodyBytesInFlight int64
	Version           string
	// Authenticate resolves the caller; nil means the default project.
	// Ignored when Auth is set.
	Authenticate func(r *http.Request) (*ward.Principal, error)
	// Auth, when set, serves identity (/auth/, /oauth2/, /.well-known/,
	// /admin/) and authenticates every FHIR request with its tokens.
	Auth *auth.Service
	// AllowedOrigins are the browser origins allowed to call the API
	// cross-origin (WARD_ALLOWED_ORIGINS).
	AllowedOrigins []string
	// Audit records every FHIR access before its answer leaves (nil:
	// auditing off).
	Audit ward.AuditLog
	// Binary stores and serves Binary content; the store then erases and
	// archives the bytes with their resources (nil: Binary is JSON only).
	Binary *wardhttp.BinaryOptions
	// Collectors are more metrics served on /metrics (the change feed's).
	Collectors []prometheus.Collector
	// Routes (authenticating their own callers) and Operations (behind the
	// caller resolution) are more handlers served by other packages: the
	// WebSocket subscriptions' socket and $get-ws-binding-token.
	Routes, Operations []wardhttp.Route
	// FairShare, when set, limits each project's requests, labels the
	// busiest projects on /metrics and serves the usage report at
	// GET /admin/usage (package fairshare). Its Project settings are
	// invalidated with the caller cache.
	FairShare *fairshare.Shares
	// Jobs fences the async jobs of this process under their leases (ward
	// serve's job leases); nil: unfenced.
	Jobs wardhttp.JobLeases
}

// Handler returns the whole HTTP surface of Ward over s, GET /metrics
// included (what ward serve answers without -metrics-addr).
func Handler(s *store.Store, c Config, logger *slog.Logger) http.Handler {
	api, metrics := Handlers(s, c, logger)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.Handle("/", api)
	return mux
}

// Handlers returns the API (without /metrics, which is then 404 there) and
// the Prometheus handler of its metrics apart, for serving the metrics on
// an address of their own (-metrics-addr).
func Handlers(s *store.Store, c Config, logger *slog.Logger) (api, metrics http.Handler) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(collectors.NewDBStatsCollector(s.DB(), "ward_read"))
	if s.WriterDB() != s.DB() {
		reg.MustRegister(collectors.NewDBStatsCollector(s.WriterDB(), "ward_write"))
	}
	reg.MustRegister(c.Collectors...)
	if c.Binary != nil {
		s.UseBlobs(c.Binary.Blobs)
	}
	if c.Auth != nil {
		c.Authenticate = c.Auth.Authenticate
	}
	var usage ward.UsageStore
	if c.FairShare != nil {
		reg.MustRegister(c.FairShare)
		usage = s
	}
	if invalidate := identityCaches(c); invalidate != nil {
		// Every committed identity write (a revoked login, a changed
		// membership, policy or project) drops what was cached from it.
		s.OnCommit(func(_ context.Context, written []*ward.Resource) { invalidate(written) })
		if s.Dialect().Name() == "postgres" {
			// Other processes on the same database: their identity writes
			// arrive by NOTIFY. The listener ends when the store closes.
			go postgres.Listen(context.Background(), s, invalidate, logger)
		}
	}
	if c.Authenticate == nil {
		c.Authenticate = DefaultProject
	}
	var routes []wardhttp.Route
	// operations are the FHIR operations served by their own packages
	// ($graphql, ValueSet/$expand); each runs behind the caller resolution.
	var operations []wardhttp.Route
	gq := graphql.New(s, logger)
	operations = append(operations, wardhttp.Route{Pattern: "POST /fhir/R4/$graphql", Handler: gq}, wardhttp.Route{Pattern: "GET /fhir/R4/$graphql", Handler: gq})
	operations = append(operations, terminology.Routes(s)...)
	operations = append(operations, wardhttp.AuditVerifyRoute(s))
	operations = append(operations, csvexport.Route(s, search.Parse))
	operations = append(operations, ips.Routes(s)...)
	operations = append(operations, c.Operations...)
	routes = append(routes, c.Routes...)
	// console serves the built-in web console for the GET requests no API
	// route matches.
	console := console.Handler()
	if c.Auth != nil {
		identity := c.Auth.Handler()
		for _, pattern := range []string{"/auth/", "/oauth2/", "/.well-known/", "/admin/",
			"GET /fhir/R4/.well-known/smart-configuration",
			"GET /oauth", // the built-in sign-in page /oauth2/authorize redirects to
		} {
			routes = append(routes, wardhttp.Route{Pattern: pattern, Handler: identity})
		}
	}
	server := wardhttp.NewServer(wardhttp.Options{
		Store:             s,
		Logger:            logger,
		BaseURL:           c.BaseURL,
		MaxBodyBytes:      c.MaxBodyBytes,
		BodyBytesInFlight: c.BodyBytesInFlight,
		Registry:          reg,
		Authenticate:      c.Authenticate,
		Parse:             search.Parse,
		ResourceTypes:     fhir.ResourceTypes(),
		SearchParams:      capabilityParams,
		Version:           c.Version,
		Database:          s.Dialect().Name(),
		Routes:            routes,
		Operations:        operations,
		Fallback:          console,
		AllowedOrigins:    c.AllowedOrigins,
		Audit:             c.Audit,
		Binary:            c.Binary,
		FairShare:         c.FairShare,
		Usage:             usage,
		Jobs:              c.Jobs,
	})
	return server.Handler(), promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

// identityCaches returns the function that tells every cache built from
// identity resources (the callers, the projects' fair shares) of written
// ones; nil when there is none.
func identityCaches(c Config) func(written []*ward.Resource) {
	var fns []func([]*ward.Resource)
	if c.Auth != nil {
		fns = append(fns, c.Auth.Invalidate)
	}
	if c.FairShare != nil {
		fns = append(fns, c.FairShare.Invalidate)
	}
	if len(fns) == 0 {
		return nil
	}
	return func(written []*ward.Resource) {
		for _, fn := range fns {
			fn(written)
		}
	}
}

// DefaultProject is the caller of every request until identity lands.
func DefaultProject(*http.Request) (*ward.Principal, error) {
	return &ward.Principal{ProjectID: DefaultProjectID}, nil
}

// HeaderProject is for tests: the caller acts in the project named by the
// X-Ward-Test-Project header (or the default project). Never used by ward serve.
func HeaderProject(r *http.Request) (*ward.Principal, error) {
	if p := r.Header.Get("X-Ward-Test-Project"); p != "" {
		return &ward.Principal{ProjectID: p}, nil
	}
	return DefaultProject(r)
}

func capabilityParams(resourceType string) []wardhttp.SearchParam {
	var out []wardhttp.SearchParam
	for _, p := range fhir.SearchParams(resourceType) {
		if p.Type == "composite" || p.Type == "special" {
			continue // not supported yet, so not advertised
		}
		out = append(out, wardhttp.SearchParam{Code: p.Code, Type: p.Type, Targets: p.Targets})
	}
	return out
}
