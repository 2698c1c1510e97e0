package wardhttp_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wardhealth/ward"
	wardhttp "github.com/wardhealth/ward/http"
)

const base = "https://ward.test"

type fixture struct {
	store  *memStore
	server *wardhttp.Server
	h      http.Handler
}

func newFixture(t *testing.T, edit ...func(*wardhttp.Options)) *fixture {
	t.Helper()
	st := newMemStore()
	opts := wardhttp.Options{
		Store:   st.mock(),
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
		BaseURL: base + "/",
		Authenticate: func(r *http.Request) (*ward.Principal, error) {
			if r.Header.Get("X-Test-Anonymous") != "" {
				return nil, nil
			}
			return &ward.Principal{ProjectID: "p1", Author: "Practitioner/author"}, nil
		},
		Parse:         fakeParse,
		ResourceTypes: []string{"Patient", "Observation", "Binary"},
		SearchParams: func(t string) []wardhttp.SearchParam {
			switch t {
			case "Observation":
				return []wardhttp.SearchParam{
					{Code: "code", Type: "token"},
					{Code: "subject", Type: "reference", Targets: []string{"Patient"}},
				}
			case "Patient":
				return []wardhttp.SearchParam{{Code: "name", Type: "string"}}
			}
			return nil
		},
		Version:  "1.2.3",
		Database: "postgres",
	}
	for _, e := range edit {
		e(&opts)
	}
	srv := wardhttp.NewServer(opts)
	return &fixture{store: st, server: srv, h: srv.Handler()}
}

// request is one HTTP call; headers alternate name, value.
func (f *fixture) do(t *testing.T, method, path, body string, headers ...string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, base+path, rd)
	if body != "" {
		r.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == remoteAddr {
			r.RemoteAddr = headers[i+1]
			continue
		}
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

// remoteAddr, as a header name given to fixture.do, sets the request's
// remote address instead.
const remoteAddr = ":remote-addr"

// create stores a resource through the API and returns its id and version.
func (f *fixture) create(t *testing.T, body string) (id, vid string) {
	t.Helper()
	w := f.do(t, "POST", "/fhir/R4/"+resourceTypeOf(t, body), body)
	if w.Code != 201 {
		t.Fatalf("create: status %d: %s", w.Code, w.Body)
	}
	var res struct {
		ID   string `json:"id"`
		Meta struct {
			VersionID string `json:"versionId"`
		} `json:"meta"`
	}
	mustUnmarshal(t, w.Body.Bytes(), &res)
	return res.ID, res.Meta.VersionID
}

func resourceTypeOf(t *testing.T, body string) string {
	var v struct{ ResourceType string }
	mustUnmarshal(t, []byte(body), &v)
	return v.ResourceType
}

func mustUnmarshal(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("unmarshal %s: %v", data, err)
	}
}

// tree decodes a JSON body into a generic tree.
func tree(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	mustUnmarshal(t, w.Body.Bytes(), &m)
	return m
}

// path walks a decoded tree: path(m, "entry", 0, "resource", "id").
func path(v any, steps ...any) any {
	for _, s := range steps {
		switch k := s.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

// issueText is the details.text of an OperationOutcome's first issue.
func issueText(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	s, _ := path(tree(t, w), "issue", 0, "details", "text").(string)
	return s
}

func expectStatus(t *testing.T, w *httptest.ResponseRecorder, want int) {
	t.Helper()
	if w.Code != want {
		t.Fatalf("status %d, want %d; body %s", w.Code, want, w.Body)
	}
}

// serve runs a prepared request.
func serve(f *fixture, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

// doForm posts a form body.
func (f *fixture) doForm(t *testing.T, path, form string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("POST", base+path, strings.NewReader(form))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return serve(f, r)
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// TestMountedRoutesAnswerOutcomes: a mounted route's own plain-text 404 or
// 405 (net/http's "404 page not found") reaches the client as an
// OperationOutcome in FHIR JSON; what the route writes itself passes as is.
func TestMountedRoutesAnswerOutcomes(t *testing.T) {
	inner := http.NewServeMux()
	inner.HandleFunc("GET /auth/json-missing", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(404)
		io.WriteString(w, `{"error":"own"}`)
	})
	inner.HandleFunc("POST /auth/only-post", func(w http.ResponseWriter, r *http.Request) {})
	inner.HandleFunc("GET /auth/page", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "hello")
	})
	f := newFixture(t, func(o *wardhttp.Options) {
		o.Routes = []wardhttp.Route{{Pattern: "/auth/", Handler: inner}}
	})
	for _, c := range []struct {
		method, path string
		status       int
		contentType  string
		body         string
	}{
		{"GET", "/auth/nothing-here", 404, "application/fhir+json", `"code":"not-found"`},
		{"GET", "/auth/only-post", 405, "application/fhir+json", `"OperationOutcome"`},
		{"GET", "/auth/json-missing", 404, "application/json", `{"error":"own"}`},
		{"GET", "/auth/page", 200, "text/plain", "hello"},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			w := httptest.NewRecorder()
			f.h.ServeHTTP(w, httptest.NewRequest(c.method, c.path, nil))
			if w.Code != c.status || !strings.HasPrefix(w.Header().Get("Content-Type"), c.contentType) || !strings.Contains(w.Body.String(), c.body) {
				t.Errorf("%d %s %q, want %d %s with %s", w.Code, w.Header().Get("Content-Type"), w.Body, c.status, c.contentType, c.body)
			}
			if strings.Contains(w.Body.String(), "page not found") {
				t.Errorf("plain text leaked: %q", w.Body)
			}
		})
	}
}
