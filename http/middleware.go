package wardhttp

import (
	"context"
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/wardhealth/ward"
)

// statusWriter remembers the status and size of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) statusCode() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

func wrapWriter(w http.ResponseWriter) *statusWriter {
	if sw, ok := w.(*statusWriter); ok {
		return sw
	}
	return &statusWriter{ResponseWriter: w}
}

// logRequests gives each request an id (the X-Request-Id response header,
// the audit record's RequestID), logs one line per request with it, and
// puts the logger in the context for Error.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := wrapWriter(w)
		id := ward.NewID()
		sw.Header().Set("X-Request-Id", id)
		r = r.WithContext(contextWithRequestID(contextWithLogger(r.Context(), s.logger), id))
		next.ServeHTTP(sw, r)
		s.logger.InfoContext(r.Context(), "request",
			"request_id", id,
			"method", r.Method,
			"path", r.URL.Path,
			"route", r.Pattern, // set by the mux on this same *Request
			"status", sw.statusCode(),
			"bytes", sw.bytes,
			"duration", time.Since(start),
		)
	})
}

type requestIDKey struct{}

func contextWithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// requestIDFrom returns the id logRequests gave the request.
func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// recoverPanics turns a panic into a logged 500 OperationOutcome.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := wrapWriter(w)
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.logger.ErrorContext(r.Context(), "panic", "method", r.Method, "path", r.URL.Path,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if sw.status == 0 {
				Error(sw, r, ward.Errorf(ward.EINTERNAL, "panic: %v", v))
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// limitBody caps request bodies at maxBodyBytes: a declared larger body is
// refused at once, a longer stream fails when read (readBody maps it to 413).
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.maxBodyBytes {
			Error(w, r, tooLarge(s.maxBodyBytes))
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, s.maxBodyBytes)
		}
		next.ServeHTTP(w, r)
	})
}

func tooLarge(limit int64) error {
	return ward.Errorf(ward.ETOOLARGE, "Request body exceeds the limit of %d bytes", limit)
}

// requirePrincipal runs next only with a Principal from Authenticate in the
// context; without one the answer is 401.
func (s *Server) requirePrincipal(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.authenticate == nil {
			Error(w, r, ward.Errorf(ward.EUNAUTHORIZED, "Unauthorized"))
			return
		}
		p, err := s.authenticate(r)
		if err != nil {
			Error(w, r, err)
			return
		}
		if p == nil {
			Error(w, r, ward.Errorf(ward.EUNAUTHORIZED, "Unauthorized"))
			return
		}
		noteCaller(r.Context(), p)
		r = r.WithContext(ward.NewContextWithPrincipal(r.Context(), withExtended(p, extended(r))))
		s.admit(w, r, p, next)
	}
}

// withExtended returns p with Extended set to ext. Authenticate may hand
// out one cached principal to many requests, so a differing flag goes on
// a copy, never on p itself.
func withExtended(p *ward.Principal, ext bool) *ward.Principal {
	if p.Extended == ext {
		return p
	}
	c := *p
	c.Extended = ext
	return &c
}

// metrics are the server's Prometheus collectors.
type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ward_http_requests_total",
			Help: "HTTP requests by route pattern, method and status.",
		}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ward_http_request_duration_seconds",
			Help:    "HTTP request duration by route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
	}
	m.requests = register(reg, m.requests)
	m.duration = register(reg, m.duration)
	return m
}

// register registers c, or returns the equal collector already registered
// (two Servers may share a registry, e.g. in tests).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

// instrument counts and times requests of one route. route is the mux
// pattern, never the raw path, so label cardinality stays bounded.
func (s *Server) instrument(route string, next http.Handler) http.Handler {
	observer := s.metrics.duration.WithLabelValues(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := wrapWriter(w)
		defer func() {
			status := sw.statusCode()
			v := recover()
			if v != nil {
				status = http.StatusInternalServerError // recoverPanics answers it
			}
			observer.Observe(time.Since(start).Seconds())
			s.metrics.requests.WithLabelValues(route, methodLabel(r.Method), strconv.Itoa(status)).Inc()
			if v != nil {
				panic(v)
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// methodLabel bounds the method label to the methods the API knows.
func methodLabel(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}
