package wardhttp

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/wardhealth/ward"
)

// CORS is hand-written (about a page) rather than taken from a library: the
// rules Ward needs are few and exact — credentials always, the origin echoed
// (never "*"), request headers filtered to an allow-list, "null" never
// trusted — and each library would need the same amount of configuration.

const (
	corsAllowMethods = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
	// corsExposeHeaders are the response headers a browser app may read:
	// @medplum/core reads Content-Location (async jobs), Location (created
	// resources) and RateLimit; ETag and Last-Modified serve conditional
	// requests; X-Request-Id names the request in the log and the audit
	// trail. Content-Type and Content-Length are always readable.
	corsExposeHeaders = "Content-Location, Location, ETag, Last-Modified, RateLimit, X-Request-Id"
	corsMaxAge        = "86400" // a day; browsers cap it lower (Chrome: 2 h)
)

// corsAllowHeaders are the request headers a cross-origin caller may send
// (lower case): what @medplum/core and the FHIR REST API use.
var corsAllowHeaders = map[string]bool{
	"accept": true, "accept-language": true, "content-language": true,
	"authorization": true, "content-type": true, "content-encoding": true,
	"cache-control": true, "prefer": true,
	"if-match": true, "if-none-match": true, "if-none-exist": true, "if-modified-since": true,
	"x-medplum": true, "x-medplum-on-behalf-of": true, "x-security-context": true,
	"x-requested-with": true,
}

// corsPolicy is the parsed Options.AllowedOrigins.
type corsPolicy struct {
	any     bool
	origins map[string]bool // lower case, no trailing slash
}

func newCORSPolicy(origins []string) corsPolicy {
	p := corsPolicy{origins: map[string]bool{}}
	for _, o := range origins {
		o = strings.ToLower(strings.TrimRight(strings.TrimSpace(o), "/"))
		switch o {
		case "":
		case "*":
			p.any = true
		default:
			p.origins[o] = true
		}
	}
	return p
}

func (p corsPolicy) enabled() bool { return p.any || len(p.origins) > 0 }

// allows reports whether a browser page of origin may call the API with
// credentials. "null" (sandboxed frames, file: pages) is allowed only when
// listed by name: "*" would otherwise hand any sandboxed page the user's
// cookies.
func (p corsPolicy) allows(origin string) bool {
	o := strings.ToLower(strings.TrimRight(origin, "/"))
	if p.origins[o] {
		return true
	}
	return p.any && o != "null" && strings.Contains(o, "://")
}

// cors answers CORS preflights and marks responses for the allowed
// origins (Options.AllowedOrigins). A request from any other origin gets no
// CORS headers, so the browser keeps the response from the page; its
// preflight is refused with 403 on every path — also when no origin is
// allowed at all — so the actual request is never sent and the answer
// never depends on which routes exist.
func (s *Server) cors(next http.Handler) http.Handler {
	policy := newCORSPolicy(s.origins)
	for _, o := range s.origins {
		if !validOrigin(o) {
			// A browser's Origin is never a path or a bare host, so such an
			// entry would match nothing; say so rather than fail silently.
			s.logger.Warn("allowed origin ignored: want scheme://host[:port]", "origin", o)
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if policy.enabled() {
			// Responses differ by Origin, so shared caches must key on it.
			w.Header().Add("Vary", "Origin")
		}
		origin := r.Header.Get("Origin")
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		if !policy.allows(origin) {
			if preflight {
				Error(w, r, ward.Errorf(ward.EFORBIDDEN, "Origin not allowed"))
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Credentials", "true")
		if !preflight {
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
			next.ServeHTTP(w, r)
			return
		}
		h.Add("Vary", "Access-Control-Request-Method")
		h.Add("Vary", "Access-Control-Request-Headers")
		h.Set("Access-Control-Allow-Methods", corsAllowMethods)
		if allowed := allowedRequestHeaders(r.Header.Values("Access-Control-Request-Headers")); allowed != "" {
			h.Set("Access-Control-Allow-Headers", allowed)
		}
		h.Set("Access-Control-Max-Age", corsMaxAge)
		w.WriteHeader(http.StatusNoContent)
	})
}

// validOrigin reports whether a configured origin can match a browser's
// Origin header: "*", or scheme://host[:port] with nothing after it.
func validOrigin(o string) bool {
	o = strings.TrimRight(strings.TrimSpace(o), "/")
	if o == "*" || o == "null" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Scheme != "" && u.Host != "" && u.Path == "" && u.RawQuery == "" && u.User == nil
}

// allowedRequestHeaders returns the requested headers that are in the
// allow-list, comma-separated; the browser refuses the request if any it
// asked for is missing.
func allowedRequestHeaders(requested []string) string {
	var out []string
	for _, line := range requested {
		for _, name := range strings.Split(line, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if corsAllowHeaders[name] {
				out = append(out, name)
			}
		}
	}
	return strings.Join(out, ", ")
}
