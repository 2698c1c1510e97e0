package console

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
)

func TestHandler(t *testing.T) {
	files := fstest.MapFS{
		"index.html":              {Data: []byte("<!doctype html><title>Ward console</title>")},
		"assets/index-abc123.js":  {Data: []byte("console.log(1)")},
		"assets/index-abc123.css": {Data: []byte("body{}")},
	}
	h := handler(files)
	tests := []struct {
		name, method, path string
		status             int
		contentType, cache string
		body               string
	}{
		{"root is index.html", "GET", "/", 200, "text/html; charset=utf-8", "no-cache", "Ward console"},
		{"client-side route", "GET", "/patients/123", 200, "text/html; charset=utf-8", "no-cache", "Ward console"},
		{"sign-in route", "GET", "/signin?project=x", 200, "text/html; charset=utf-8", "no-cache", "Ward console"},
		{"hashed script", "GET", "/assets/index-abc123.js", 200, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", "console.log(1)"},
		{"hashed stylesheet", "GET", "/assets/index-abc123.css", 200, "text/css; charset=utf-8", "public, max-age=31536000, immutable", "body{}"},
		{"missing asset is 404, not index.html", "GET", "/assets/old-999.js", 404, "", "", ""},
		{"HEAD of index", "HEAD", "/clinics", 200, "text/html; charset=utf-8", "no-cache", ""},
		{"HEAD of an asset", "HEAD", "/assets/index-abc123.js", 200, "text/javascript; charset=utf-8", "public, max-age=31536000, immutable", ""},
		{"path traversal stays inside", "GET", "/../../etc/passwd", 200, "text/html; charset=utf-8", "no-cache", "Ward console"},
		{"POST is refused", "POST", "/", 405, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d (%s)", rec.Code, tt.status, rec.Body)
			}
			if tt.contentType != "" && rec.Header().Get("Content-Type") != tt.contentType {
				t.Errorf("Content-Type %q, want %q", rec.Header().Get("Content-Type"), tt.contentType)
			}
			if rec.Header().Get("Cache-Control") != tt.cache && tt.cache != "" {
				t.Errorf("Cache-Control %q, want %q", rec.Header().Get("Cache-Control"), tt.cache)
			}
			if !strings.Contains(rec.Body.String(), tt.body) {
				t.Errorf("body %q does not contain %q", rec.Body, tt.body)
			}
			if tt.method == "HEAD" && rec.Body.Len() != 0 {
				t.Errorf("HEAD wrote a body of %d bytes", rec.Body.Len())
			}
		})
	}
}

// TestEmbeddedBuild checks the committed build: index.html loads scripts
// that are embedded and served as JavaScript.
func TestEmbeddedBuild(t *testing.T) {
	h := Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `<div id="root">`) {
		t.Fatalf("GET / = %d %q: is console/dist built?", rec.Code, body)
	}
	i := strings.Index(body, `src="/assets/`)
	if i < 0 {
		t.Fatalf("index.html loads no /assets/ script: %s", body)
	}
	src := body[i+len(`src="`):]
	src = src[:strings.IndexByte(src, '"')]
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, src, nil))
	if rec.Code != 200 || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/javascript") {
		t.Fatalf("GET %s = %d %s", src, rec.Code, rec.Header().Get("Content-Type"))
	}
}

// TestGzip: scripts and stylesheets go compressed to browsers that accept
// it, plain to the others.
func TestGzip(t *testing.T) {
	script := strings.Repeat("console.log('ward');", 200)
	h := handler(fstest.MapFS{
		"index.html":         {Data: []byte("<!doctype html>")},
		"assets/app-1a2b.js": {Data: []byte(script)},
	})
	tests := []struct {
		accept   string
		encoding string
	}{
		{"gzip, deflate, br", "gzip"},
		{"br", ""},
		{"gzip;q=0", ""},
		{"", ""},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodGet, "/assets/app-1a2b.js", nil)
		req.Header.Set("Accept-Encoding", tt.accept)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if got := rec.Header().Get("Content-Encoding"); got != tt.encoding {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want %q", tt.accept, got, tt.encoding)
		}
		if rec.Header().Get("Vary") != "Accept-Encoding" || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/javascript") {
			t.Errorf("Accept-Encoding %q: headers %v", tt.accept, rec.Header())
		}
		body := rec.Body.Bytes()
		if tt.encoding == "gzip" {
			if len(body) >= len(script) {
				t.Errorf("gzip body is %d bytes, the script %d", len(body), len(script))
			}
			zr, err := gzip.NewReader(rec.Body)
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		if string(body) != script {
			t.Errorf("Accept-Encoding %q: body differs from the script", tt.accept)
		}
	}
}
