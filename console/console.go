// Package console serves Ward's built-in web console: a single-page app
// built with Medplum's own React components (@medplum/react) from app/ and
// embedded from dist/, so `go build` alone yields a complete server and no
// Node is needed to run Ward.
//
// The package owns the static file serving only (content types, cache
// headers, the SPA fallback to index.html). It must not serve or shadow any
// API path: it is mounted as the http server's Fallback, which only sees
// GET and HEAD requests that no API route matched. The app itself talks to
// the API on the same origin like any Medplum app. The serving is
// hand-written over net/http's ServeContent: an SPA fallback, cache headers
// and gzip of the hashed assets are a few lines, no library needed.
//
// Rebuild dist/ after changing app/ (needs Node >= 20.19 and npm):
//
//	npm --prefix console/app ci && npm --prefix console/app run build
package console

//go:generate sh -c "npm --prefix app ci --no-audit --no-fund && npm --prefix app run build"

import (
	"bytes"
	"compress/gzip"
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed all:dist
var dist embed.FS

// Handler serves the console: files of dist/ by path, index.html for any
// other path (the app's client-side routes).
func Handler() http.Handler {
	files, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // the embed pattern guarantees dist/ exists
	}
	return handler(files)
}

// handler serves files; split from Handler so tests can serve a fixture.
func handler(files fs.FS) http.Handler {
	zipped := compressible(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(path.Clean("/"+r.URL.Path), "/")
		if z, ok := zipped[name]; ok && acceptsGzip(r) {
			if gz := z.bytes(files, name); gz != nil {
				serveGzip(w, r, name, gz)
				return
			}
		}
		if name != "" && name != "index.html" && serveFile(w, r, files, name) {
			return
		}
		if isAssetPath(name) {
			// A missing hashed asset is a stale page asking for an old
			// build: a 404, not index.html parsed as JavaScript.
			http.NotFound(w, r)
			return
		}
		serveIndex(w, r, files)
	})
}

// isAssetPath reports paths Vite writes its hashed files to.
func isAssetPath(name string) bool { return strings.HasPrefix(name, "assets/") }

// serveFile writes the regular file name of files and reports whether it
// existed. Hashed assets never change under the same name, so they are
// cached for a year; anything else is revalidated.
func serveFile(w http.ResponseWriter, r *http.Request, files fs.FS, name string) bool {
	f, err := files.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		return false
	}
	if isAssetPath(name) {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		w.Header().Set("Vary", "Accept-Encoding")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	setContentType(w, name)
	http.ServeContent(w, r, name, time.Time{}, f.(readSeeker))
	return true
}

// readSeeker is what embed.FS files (and fstest.MapFS files) implement.
type readSeeker interface {
	Read([]byte) (int, error)
	Seek(int64, int) (int64, error)
}

// serveIndex writes index.html, never cached: a new build must reach the
// browser on the next load.
func serveIndex(w http.ResponseWriter, r *http.Request, files fs.FS) {
	data, err := fs.ReadFile(files, "index.html")
	if err != nil {
		http.Error(w, "the console is not built (see console/console.go)", http.StatusNotFound)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "index.html", time.Time{}, strings.NewReader(string(data)))
}

// setContentType sets the type from the extension, with the types the
// platform's MIME table may lack (minimal containers have none).
func setContentType(w http.ResponseWriter, name string) {
	types := map[string]string{
		".js":    "text/javascript; charset=utf-8",
		".mjs":   "text/javascript; charset=utf-8",
		".css":   "text/css; charset=utf-8",
		".html":  "text/html; charset=utf-8",
		".json":  "application/json",
		".svg":   "image/svg+xml",
		".png":   "image/png",
		".ico":   "image/x-icon",
		".woff2": "font/woff2",
		".txt":   "text/plain; charset=utf-8",
	}
	ext := path.Ext(name)
	ct, ok := types[ext]
	if !ok {
		ct = mime.TypeByExtension(ext)
	}
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("X-Content-Type-Options", "nosniff")
}

// gzipped is one hashed script or stylesheet, compressed on its first
// request (about 40 ms for the largest): assets never change, so neither
// does their compressed form, and a server no browser visits (tests, API-only
// deployments) never pays for it.
type gzipped struct {
	once sync.Once
	data []byte
}

// bytes returns the compressed file, or nil when it cannot be read.
func (g *gzipped) bytes(files fs.FS, name string) []byte {
	g.once.Do(func() {
		data, err := fs.ReadFile(files, name)
		if err != nil {
			return
		}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if _, err := zw.Write(data); err != nil || zw.Close() != nil {
			return
		}
		g.data = buf.Bytes()
	})
	return g.data
}

// compressible lists the hashed scripts and stylesheets; the browser
// downloads about a third of their bytes gzipped.
func compressible(files fs.FS) map[string]*gzipped {
	out := map[string]*gzipped{}
	_ = fs.WalkDir(files, "assets", func(name string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (path.Ext(name) == ".js" || path.Ext(name) == ".css") {
			out[name] = &gzipped{}
		}
		return nil
	})
	return out
}

// acceptsGzip reports whether the request accepts a gzip body.
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		coding, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(coding), "gzip") && strings.TrimSpace(q) != "q=0" {
			return true
		}
	}
	return false
}

// serveGzip writes a compressed hashed asset (no ranges: browsers do not
// ask for parts of scripts).
func serveGzip(w http.ResponseWriter, r *http.Request, name string, gz []byte) {
	h := w.Header()
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("Content-Encoding", "gzip")
	h.Set("Vary", "Accept-Encoding")
	h.Set("Content-Length", strconv.Itoa(len(gz)))
	setContentType(w, name)
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(gz)
	}
}
