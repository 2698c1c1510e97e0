package wardhttp

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fairshare"
)

// DefaultMaxBodyBytes is the request body limit when Options leaves it zero.
const DefaultMaxBodyBytes = 16 << 20

// SearchParam describes one search parameter for the CapabilityStatement
// (filled from package fhir by the wiring).
type SearchParam struct {
	Code          string
	Type          string   // token, string, reference, date, …
	Documentation string   // optional
	Targets       []string // resource types a reference parameter may point to
}

// Options configures a Server. Store and Authenticate are required for the
// FHIR routes; the rest have defaults.
type Options struct {
	Store  ward.ResourceStore
	Logger *slog.Logger // default slog.Default()

	// BaseURL is the public URL of the server, e.g. "https://ward.example.com".
	// Empty: taken from each request's Host.
	BaseURL string

	MaxBodyBytes int64                // default DefaultMaxBodyBytes
	Registry     *prometheus.Registry // default a new registry
	// BodyBytesInFlight bounds the bytes of large request bodies handled
	// at once (body.go); default DefaultBodyBytesInFlight.
	BodyBytesInFlight int64

	// Authenticate returns the caller of r. No FHIR route runs without it
	// having returned a Principal: when it is nil every such route is 401.
	Authenticate func(r *http.Request) (*ward.Principal, error)

	// Parse turns a resource type and URL query into a search (search.Parse).
	Parse func(resourceType string, q url.Values) (*ward.SearchQuery, error)

	// ResourceTypes lists the known resource types (fhir.ResourceTypes());
	// a type not listed is 404 on every route.
	ResourceTypes []string
	// SearchParams lists a type's search parameters for the
	// CapabilityStatement (adapted from fhir.SearchParams). May be nil.
	SearchParams func(resourceType string) []SearchParam

	Version  string // reported by /healthcheck
	Database string // "postgres" or "sqlite": the /healthcheck key for Ping

	// Routes are further handlers (identity, admin) served behind the same
	// request log, panic recovery, body limit and metrics as the FHIR API.
	// They authenticate their callers themselves.
	Routes []Route

	// Operations are further FHIR routes (e.g. "POST /fhir/R4/$graphql",
	// "GET /fhir/R4/ValueSet/$expand") served exactly like the REST
	// routes: they run only once the caller is resolved, with its
	// Principal in the request context (ward.PrincipalFromContext).
	Operations []Route

	// Fallback serves the GET and HEAD requests no API route matches (the
	// built-in console). Nil: those are 404 OperationOutcomes.
	Fallback http.Handler

	// AllowedOrigins are the browser origins (e.g. "https://app.example.com")
	// allowed to call the API from another origin, with credentials (CORS).
	// "*" allows any origin. Empty: no cross-origin access.
	AllowedOrigins []string

	// Audit records every FHIR access, allowed or refused, before its
	// answer leaves (audit.go). Nil: auditing off.
	Audit ward.AuditLog

	// Binary stores and serves Binary content (binary.go). Nil: a Binary
	// is an ordinary FHIR JSON resource.
	Binary *BinaryOptions

	// FairShare limits each project's request rate and expensive work
	// (fairshare.go). Nil: no per-project limits.
	FairShare *fairshare.Shares
	// Usage serves the usage report at GET /admin/usage to super admins
	// (usage.go). Nil: no such route.
	Usage ward.UsageStore
	// Jobs fences the async jobs this process runs under their leases
	// (jobrun.go). Nil: a job runs unfenced (one process).
	Jobs JobLeases
}

// Route mounts Handler at a net/http ServeMux Pattern.
type Route struct {
	Pattern string
	Handler http.Handler
}

// Pinger is implemented by stores that can check their database connection.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Server serves the FHIR R4 REST API over a ward.ResourceStore.
type Server struct {
	store        ward.ResourceStore
	logger       *slog.Logger
	baseURL      string
	maxBodyBytes int64
	bodies       *bodyBudget
	bodyWait     time.Duration // how long a large body waits for bodies
	registry     *prometheus.Registry
	metrics      *metrics
	authenticate func(r *http.Request) (*ward.Principal, error)
	parse        func(resourceType string, q url.Values) (*ward.SearchQuery, error)
	types        map[string]bool
	version      string
	database     string

	capabilities []byte // the CapabilityStatement, built once
	routes       []Route
	operations   []Route
	fallback     http.Handler
	origins      []string
	audit        ward.AuditLog
	anon         *anonTrail // bounds the records of unauthenticated refusals
	binary       *BinaryOptions
	shares       *fairshare.Shares
	usage        ward.UsageStore
	jobs         JobLeases
}

// NewServer returns a Server for opts.
func NewServer(opts Options) *Server {
	s := &Server{
		store:        opts.Store,
		logger:       opts.Logger,
		baseURL:      strings.TrimRight(opts.BaseURL, "/"),
		maxBodyBytes: opts.MaxBodyBytes,
		registry:     opts.Registry,
		authenticate: opts.Authenticate,
		parse:        opts.Parse,
		types:        make(map[string]bool, len(opts.ResourceTypes)),
		version:      opts.Version,
		database:     opts.Database,
		routes:       opts.Routes,
		operations:   opts.Operations,
		fallback:     opts.Fallback,
		origins:      opts.AllowedOrigins,
		audit:        opts.Audit,
		shares:       opts.FairShare,
		usage:        opts.Usage,
		jobs:         opts.Jobs,
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if opts.Binary != nil {
		s.binary = opts.Binary.withDefaults()
	}
	if s.audit != nil {
		s.anon = newAnonTrail(s.audit.Record, s.logger)
	}
	if s.maxBodyBytes <= 0 {
		s.maxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.BodyBytesInFlight <= 0 {
		opts.BodyBytesInFlight = DefaultBodyBytesInFlight
	}
	s.bodies, s.bodyWait = newBodyBudget(opts.BodyBytesInFlight, s.maxBodyBytes), bodyBudgetWait
	if s.registry == nil {
		s.registry = prometheus.NewRegistry()
	}
	if s.parse == nil {
		s.parse = func(string, url.Values) (*ward.SearchQuery, error) {
			return nil, ward.Errorf(ward.EINTERNAL, "no search parser configured")
		}
	}
	for _, t := range opts.ResourceTypes {
		s.types[t] = true
	}
	s.metrics = newMetrics(s.registry)
	s.capabilities = buildCapabilityStatement(opts.ResourceTypes, opts.SearchParams)
	return s
}

// Registry returns the Prometheus registry the server's metrics live in; the
// wiring mounts it at /metrics.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// mount registers every route on a new mux and returns it with the
// patterns registered (TestEveryFHIRRouteIsAudited walks them) and the set
// of those that need a principal. Every such route goes through private,
// which audits it.
func (s *Server) mount() (mux *http.ServeMux, patterns []string, isPrivate map[string]bool) {
	mux, isPrivate = http.NewServeMux(), make(map[string]bool)
	handle := func(pattern string, h http.Handler) {
		patterns = append(patterns, pattern)
		mux.Handle(pattern, h)
	}
	public := func(pattern string, h http.HandlerFunc) {
		handle(pattern, s.instrument(pattern, h))
	}
	// A private route's body limit and budget apply once the caller is
	// known, so their 413 and 429 are recorded in the caller's project.
	private := func(pattern string, h http.HandlerFunc) {
		isPrivate[pattern] = true
		bounded := s.limitBody(s.budgetBodies(h))
		handle(pattern, s.instrument(pattern, s.audited(pattern, s.requirePrincipal(bounded.ServeHTTP))))
	}

	public("GET /healthcheck", s.handleHealthcheck)
	if s.usage != nil {
		public("GET /admin/usage", s.handleUsage)
	}
	for _, rt := range s.routes {
		handle(rt.Pattern, s.instrument(rt.Pattern, outcomeOnPlainErrors(rt.Handler)))
	}
	public("GET /fhir/R4/metadata", s.handleMetadata)
	public("GET /storage/{id}/{vid}", s.handleStorage)
	// Binary uploads stream to the blob store under their own limit
	// (binary.go), never buffered: no body limit or budget here.
	streamed := func(pattern string, h http.HandlerFunc) {
		isPrivate[pattern] = true
		handle(pattern, s.instrument(pattern, s.audited(pattern, s.requirePrincipal(h))))
	}
	streamed("POST /fhir/R4/Binary", s.handleBinaryWrite)
	streamed("PUT /fhir/R4/Binary/{id}", s.handleBinaryWrite)

	private("POST /fhir/R4", s.handleBundle)
	private("POST /fhir/R4/{$}", s.handleBundle)
	private("GET /fhir/R4/_history", s.handleHistorySystem)

	private("GET /fhir/R4/{type}", s.withType(s.handleSearch))
	private("POST /fhir/R4/{type}/_search", s.withType(s.handleSearch))
	private("POST /fhir/R4/{type}", s.withType(s.handleCreate))
	private("PUT /fhir/R4/{type}", s.withType(s.handleConditionalUpdate))
	private("DELETE /fhir/R4/{type}", s.withType(s.handleConditionalDelete))
	private("GET /fhir/R4/{type}/_history", s.withType(s.handleHistoryType))
	private("GET /fhir/R4/{type}/{id}", s.withType(s.handleRead))
	private("PUT /fhir/R4/{type}/{id}", s.withType(s.handleUpdate))
	private("PATCH /fhir/R4/{type}/{id}", s.withType(s.handlePatch))
	private("DELETE /fhir/R4/{type}/{id}", s.withType(s.handleDelete))
	private("GET /fhir/R4/{type}/{id}/_history", s.withType(s.handleHistoryInstance))
	private("GET /fhir/R4/{type}/{id}/_history/{vid}", s.withType(s.handleVRead))
	private("POST /fhir/R4/{type}/{id}/$set-accounts", s.withType(s.handleSetAccounts))
	private("POST /fhir/R4/{type}/{id}/$expunge", s.withType(s.handleExpunge))
	for _, level := range []struct{ pattern, name string }{
		{"/fhir/R4/$export", "system"}, {"/fhir/R4/Patient/$export", "Patient"}, {"/fhir/R4/Group/{id}/$export", "Group"},
	} {
		private("GET "+level.pattern, s.handleExport(level.name))
		private("POST "+level.pattern, s.handleExport(level.name))
	}
	private("GET /fhir/R4/job/{id}/export", s.handleExportStatus)
	private("DELETE /fhir/R4/job/{id}/export", s.handleExportCancel)
	private("GET /fhir/R4/job/{id}/export/{file}", s.handleExportFile)
	private("GET /fhir/R4/job/{id}/status", s.handleJobStatus)
	private("DELETE /fhir/R4/job/{id}/status", s.handleJobCancel)
	private("POST /fhir/R4/AsyncJob/{id}/$cancel", s.handleJobCancel)
	private("GET /fhir/R4/Patient/{id}/$everything", s.handleEverything)
	private("POST /fhir/R4/Patient/{id}/$everything", s.handleEverything)
	for _, op := range s.operations {
		private(op.Pattern, op.Handler.ServeHTTP)
	}
	return mux, patterns, isPrivate
}

// Patterns lists the route patterns the server registers, in order (the
// audit test walks them to prove every FHIR route is recorded).
func (s *Server) Patterns() []string {
	_, patterns, _ := s.mount()
	return patterns
}

// Handler returns the HTTP handler of the whole API.
func (s *Server) Handler() http.Handler {
	mux, _, isPrivate := s.mount()
	fallback := s.instrument("unmatched", s.unmatched(mux))
	unmatched := s.limitBody(s.budgetBodies(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.fallback != nil && (r.Method == http.MethodGet || r.Method == http.MethodHead) && !isAPIPath(r.URL.Path) {
			s.fallback.ServeHTTP(w, r)
			return
		}
		fallback.ServeHTTP(w, r)
	})))
	unaudited := s.limitBody(s.budgetBodies(mux))
	routed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, pattern := mux.Handler(r)
		switch {
		case pattern == "":
			unmatched.ServeHTTP(w, r)
		case isPrivate[pattern]:
			mux.ServeHTTP(w, r) // bounded inside, once the caller is known
		default:
			unaudited.ServeHTTP(w, r)
		}
	})
	return s.logRequests(s.recoverPanics(s.cors(routed)))
}

// isAPIPath reports whether path belongs to the API (answered with
// OperationOutcomes), never to the console fallback.
func isAPIPath(path string) bool {
	for _, root := range []string{"/fhir", "/auth", "/oauth2", "/admin", "/.well-known", "/healthcheck", "/metrics", "/storage"} {
		if path == root || strings.HasPrefix(path, root+"/") {
			return true
		}
	}
	return false
}

// unmatched answers a request no route matched: 405 with Allow when the path
// exists for other methods, else 404, both as OperationOutcomes (the mux's
// own answers are plain text).
func (s *Server) unmatched(mux *http.ServeMux) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "" {
				allow = append(allow, m)
			}
		}
		if len(allow) == 0 {
			Error(w, r, ward.Errorf(ward.ENOTFOUND, "Not found"))
			return
		}
		w.Header().Set("Allow", strings.Join(allow, ", "))
		Error(w, r, ward.Errorf(ward.ENOTALLOWED, "Method %s not allowed on %s", r.Method, r.URL.Path))
	}
}

// withType rejects an unknown {type} with 404 before h runs.
func (s *Server) withType(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.types[r.PathValue("type")] {
			Error(w, r, ward.Errorf(ward.ENOTFOUND, "Unknown resource type"))
			return
		}
		h(w, r)
	}
}

// baseFor returns the public base URL (no trailing slash) for r.
func (s *Server) baseFor(r *http.Request) string {
	if s.baseURL != "" {
		return s.baseURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// fhirBase is the URL of the FHIR root, e.g. "https://host/fhir/R4".
func (s *Server) fhirBase(r *http.Request) string { return s.baseFor(r) + "/fhir/R4" }

func (s *Server) handleHealthcheck(w http.ResponseWriter, r *http.Request) {
	status, ok := http.StatusOK, true
	body := []byte(`{"ok":`)
	var dbField []byte
	if p, isPinger := s.store.(Pinger); isPinger {
		if err := p.Ping(r.Context()); err != nil {
			s.logger.ErrorContext(r.Context(), "healthcheck: database ping failed", "error", err)
			status, ok = http.StatusServiceUnavailable, false
		}
		key := s.database
		if key == "" {
			key = "database"
		}
		dbField = fmt.Appendf(nil, `,%s:%t`, jsonString(key), ok)
	}
	body = fmt.Appendf(body, `%t,"version":%s`, ok, jsonString(s.version))
	body = append(append(body, dbField...), '}')
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.capabilities)
}
