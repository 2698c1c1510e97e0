package wardhttp

import (
	"net/http"
	"strings"

	"github.com/wardhealth/ward"
)

// outcomeOnPlainErrors makes a mounted route's plain-text 404 and 405 —
// net/http's "404 page not found" from the route's own mux (an unknown
// /auth/… or /admin/… path) — an OperationOutcome like every other API
// error, so a Medplum client reads it as one. Answers the route writes
// itself (JSON, HTML pages, redirects) pass untouched.
func outcomeOnPlainErrors(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&plainErrorWriter{ResponseWriter: w, r: r}, r)
	})
}

// plainErrorWriter replaces a plain-text 404 or 405 with an OperationOutcome
// and drops the text written after it.
type plainErrorWriter struct {
	http.ResponseWriter
	r        *http.Request
	replaced bool
	wrote    bool
}

func (w *plainErrorWriter) WriteHeader(status int) {
	if w.wrote {
		return
	}
	w.wrote = true
	if (status == http.StatusNotFound || status == http.StatusMethodNotAllowed) && isPlainText(w.Header()) {
		w.replaced = true
		h := w.Header()
		h.Del("Content-Type")
		h.Del("X-Content-Type-Options")
		if status == http.StatusNotFound {
			Error(w.ResponseWriter, w.r, ward.Errorf(ward.ENOTFOUND, "Not found"))
		} else {
			Error(w.ResponseWriter, w.r, ward.Errorf(ward.ENOTALLOWED, "Method %s not allowed on %s", w.r.Method, w.r.URL.Path))
		}
		return
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *plainErrorWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.replaced {
		return len(p), nil
	}
	return w.ResponseWriter.Write(p)
}

// Flush passes a streaming route's flushes on.
func (w *plainErrorWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		if !w.wrote {
			w.WriteHeader(http.StatusOK)
		}
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection (flushes,
// deadlines) through the wrapper.
func (w *plainErrorWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// isPlainText reports net/http's error answers (http.Error, http.NotFound).
func isPlainText(h http.Header) bool {
	return strings.HasPrefix(h.Get("Content-Type"), "text/plain")
}
