package wire_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/access"
	"github.com/wardhealth/ward/blob"
	"github.com/wardhealth/ward/blob/blobtest"
	wardhttp "github.com/wardhealth/ward/http"
	"github.com/wardhealth/ward/internal/wire"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// binaryLimit is the upload limit of the binary test server: a 50 MB
// file fits, 52 MB does not.
const binaryLimit = 51 << 20

// binaryWorld is a server with Binary content on one blob store; callers
// pick their project (X-Ward-Test-Project) and, optionally, a clinician's
// access policy (X-Test-Policy: "patients-only" grants Patient alone,
// "binary-filtered" every Binary but only the Patients named "visible", so
// a Binary whose securityContext is another Patient is hidden).
type binaryWorld struct {
	srv   *httptest.Server
	store *store.Store
	blobs blob.Store
	now   *atomic.Int64 // the server's clock, Unix seconds
}

func startBinaryWorld(t testing.TB, s *store.Store, kind string) *binaryWorld {
	t.Helper()
	return startAuditedBinaryWorld(t, s, kind, nil)
}

// startAuditedBinaryWorld is startBinaryWorld recording into trail.
func startAuditedBinaryWorld(t testing.TB, s *store.Store, kind string, trail ward.AuditLog) *binaryWorld {
	t.Helper()
	return startBinaryWorldOn(t, s, blobtest.New(t, kind), trail)
}

// startBinaryWorldOn is startAuditedBinaryWorld over blobs.
func startBinaryWorldOn(t testing.TB, s *store.Store, blobs blob.Store, trail ward.AuditLog) *binaryWorld {
	t.Helper()
	w := &binaryWorld{store: s, blobs: blobs, now: &atomic.Int64{}}
	w.now.Store(time.Now().Unix())
	policies := map[string]*ward.Policy{
		"patients-only":   clinicianPolicy(t, `[{"resourceType":"Patient"}]`),
		"binary-filtered": clinicianPolicy(t, `[{"resourceType":"Binary"},{"resourceType":"Patient","criteria":"Patient?name=visible"}]`),
		"media-filtered":  clinicianPolicy(t, `[{"resourceType":"Binary"},{"resourceType":"Media"},{"resourceType":"Patient","criteria":"Patient?name=visible"}]`),
	}
	authenticate := func(r *http.Request) (*ward.Principal, error) {
		if r.Header.Get("X-Ward-Test-Project") == "" {
			return nil, ward.Errorf(ward.EUNAUTHORIZED, "Unauthorized")
		}
		p, err := wire.HeaderProject(r)
		if err == nil && r.Header.Get("X-Test-Policy") != "" {
			p.Policy = policies[r.Header.Get("X-Test-Policy")]
		}
		return p, err
	}
	w.srv = httptest.NewServer(nil)
	t.Cleanup(w.srv.Close)
	w.srv.Config.Handler = wire.Handler(s, wire.Config{
		BaseURL: w.srv.URL + "/", MaxBodyBytes: maxBody, Authenticate: authenticate, Audit: trail,
		Binary: &wardhttp.BinaryOptions{
			Blobs: w.blobs, MaxBytes: binaryLimit, URLSecret: []byte("test secret"),
			Deny: []string{"application/x-forbidden", "video/*"},
			Now:  func() time.Time { return time.Unix(w.now.Load(), 0) },
		},
	}, slog.New(slog.NewTextHandler(logTo(t), &slog.HandlerOptions{Level: slog.LevelError})))
	return w
}

// logTo is the test's log, or nowhere for a benchmark.
func logTo(t testing.TB) io.Writer {
	if tt, ok := t.(*testing.T); ok {
		return testLog{tt}
	}
	return io.Discard
}

func clinicianPolicy(t testing.TB, resources string) *ward.Policy {
	t.Helper()
	var rs []any
	if err := json.Unmarshal([]byte(resources), &rs); err != nil {
		t.Fatal(err)
	}
	p, _, err := access.Build(access.Input{
		Project:    map[string]any{"id": projectA},
		Membership: map[string]any{"profile": map[string]any{"reference": "Practitioner/me"}, "accessPolicy": map[string]any{"reference": "AccessPolicy/a"}},
		Policies:   map[string]map[string]any{"AccessPolicy/a": {"resource": rs}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// binaryReply is an answer with its body as bytes.
type binaryReply struct {
	status int
	header http.Header
	body   []byte
}

func (b binaryReply) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b.body, &m); err != nil {
		t.Fatalf("not JSON (%d): %.200s", b.status, b.body)
	}
	return m
}

// send makes a request as project (no project: no caller header at all);
// headers are name, value pairs.
func (w *binaryWorld) send(t testing.TB, method, url, project string, body io.Reader, headers ...string) binaryReply {
	t.Helper()
	if strings.HasPrefix(url, "/") {
		url = w.srv.URL + url
	}
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if project != "" {
		req.Header.Set("X-Ward-Test-Project", project)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return binaryReply{resp.StatusCode, resp.Header, data}
}

// get sends a GET as project and leaves the body to the caller.
func (w *binaryWorld) get(path, project string) (*http.Response, error) {
	req, err := http.NewRequest("GET", w.srv.URL+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Ward-Test-Project", project)
	return http.DefaultClient.Do(req)
}

// upload posts data as a file of contentType and returns the Binary JSON.
func (w *binaryWorld) upload(t testing.TB, project, contentType string, data io.Reader) map[string]any {
	t.Helper()
	r := w.send(t, "POST", "/fhir/R4/Binary?_filename=x", project, data, "Content-Type", contentType)
	if r.status != 201 {
		t.Fatalf("upload %s: %d %.300s", contentType, r.status, r.body)
	}
	return r.json(t)
}

// pattern is a reproducible stream of n bytes that is never in memory whole.
func pattern(n int64) io.Reader {
	return io.LimitReader(&patternReader{}, n)
}

type patternReader struct{ i byte }

func (p *patternReader) Read(b []byte) (int, error) {
	for k := range b {
		b[k] = p.i
		p.i = p.i*31 + 7
	}
	return len(b), nil
}

func digest(r io.Reader) [32]byte {
	h := sha256.New()
	_, _ = io.Copy(h, r)
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// TestBinaryRoundTrip: a file posted as itself comes back byte for byte,
// as itself for a non-FHIR Accept and through its signed URL without a
// token, and as Binary JSON (with that URL) for application/fhir+json.
func TestBinaryRoundTrip(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		for _, kind := range blobtest.Kinds {
			t.Run(kind, func(t *testing.T) {
				w := startBinaryWorld(t, s, kind)
				for _, size := range []int64{1, 1 << 20, 50 << 20} {
					// A streamed body (no Content-Length) must not be buffered.
					created := w.upload(t, projectA, "application/pdf", io.NopCloser(pattern(size)))
					id := created["id"].(string)
					url, _ := created["url"].(string)
					if created["contentType"] != "application/pdf" || !strings.Contains(url, "/storage/"+id+"/") {
						t.Fatalf("%d bytes: created %v", size, created)
					}
					want := digest(pattern(size))
					raw := w.send(t, "GET", "/fhir/R4/Binary/"+id, projectA, nil, "Accept", "*/*")
					if raw.status != 200 || raw.header.Get("Content-Type") != "application/pdf" || digest(bytes.NewReader(raw.body)) != want {
						t.Errorf("%d bytes: raw read %d %s, %d bytes", size, raw.status, raw.header.Get("Content-Type"), len(raw.body))
					}
					signed := w.send(t, "GET", url, "", nil)
					if signed.status != 200 || digest(bytes.NewReader(signed.body)) != want {
						t.Errorf("%d bytes: signed URL %d, %d bytes", size, signed.status, len(signed.body))
					}
					asJSON := w.send(t, "GET", "/fhir/R4/Binary/"+id, projectA, nil, "Accept", "application/fhir+json")
					if m := asJSON.json(t); asJSON.status != 200 || m["resourceType"] != "Binary" || !strings.Contains(fmt.Sprint(m["url"]), "/storage/"+id+"/") {
						t.Errorf("%d bytes: JSON read %d %v", size, asJSON.status, m)
					}
				}
			})
		}
	})
}

// TestBinaryRefusals: what the server refuses, and that a refused upload
// leaves no Binary behind.
func TestBinaryRefusals(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		for _, kind := range blobtest.Kinds {
			t.Run(kind, func(t *testing.T) {
				w := startBinaryWorld(t, s, kind)
				created := w.upload(t, projectA, "text/plain", strings.NewReader("hello"))
				id := created["id"].(string)
				url := created["url"].(string)
				other := w.upload(t, projectB, "text/plain", strings.NewReader("project B's secret"))
				hiddenID := w.uploadFor(t, `{"resourceType":"Patient","name":[{"family":"hidden"}]}`, "hidden bytes")
				shownID := w.uploadFor(t, `{"resourceType":"Patient","name":[{"family":"visible"}]}`, "shown bytes")
				otherURL := other["url"].(string)
				before := countBinaries(t, s, projectA)
				swap := func(u, from, to string) string { return strings.Replace(u, from, to, 1) }
				sig := url[strings.Index(url, "Signature=")+len("Signature="):]
				// Another first character: "A"+sig[1:] was the same signature
				// whenever it began with "A" (1 in 64 runs).
				altered := "A" + sig[1:]
				if sig[0] == 'A' {
					altered = "B" + sig[1:]
				}
				otherSig := otherURL[strings.Index(otherURL, "Signature=")+len("Signature="):]
				for _, c := range []struct {
					name, method, url, project string
					body                       io.Reader
					headers                    []string
					want                       int
				}{
					{"over the limit, declared", "POST", "/fhir/R4/Binary", projectA, bytes.NewReader(make([]byte, binaryLimit+1)), []string{"Content-Type", "image/png"}, 413},
					{"over the limit, streamed", "POST", "/fhir/R4/Binary", projectA, io.NopCloser(pattern(binaryLimit + 1)), []string{"Content-Type", "image/png"}, 413},
					{"a type refused by configuration", "POST", "/fhir/R4/Binary", projectA, strings.NewReader("x"), []string{"Content-Type", "application/x-forbidden"}, 415},
					{"a family refused by configuration", "POST", "/fhir/R4/Binary", projectA, strings.NewReader("x"), []string{"Content-Type", "video/mp4"}, 415},
					{"an executable type", "POST", "/fhir/R4/Binary", projectA, strings.NewReader("MZ"), []string{"Content-Type", "application/x-msdownload"}, 400},
					{"an executable file name", "POST", "/fhir/R4/Binary?_filename=setup.exe", projectA, strings.NewReader("MZ"), []string{"Content-Type", "application/octet-stream"}, 400},
					{"no caller", "POST", "/fhir/R4/Binary", "", strings.NewReader("x"), []string{"Content-Type", "text/plain", "Authorization", "Bearer nonsense"}, 401},
					{"a clinician without Binary uploads", "POST", "/fhir/R4/Binary", projectA, strings.NewReader("x"), []string{"Content-Type", "text/plain", "X-Test-Policy", "patients-only"}, 403},
					{"a clinician without Binary reads", "GET", "/fhir/R4/Binary/" + id, projectA, nil, []string{"X-Test-Policy", "patients-only"}, 403},
					{"a policy-filtered Binary", "GET", "/fhir/R4/Binary/" + hiddenID, projectA, nil, []string{"X-Test-Policy", "binary-filtered"}, 404},
					{"a policy-filtered Binary, JSON", "GET", "/fhir/R4/Binary/" + hiddenID, projectA, nil, []string{"X-Test-Policy", "binary-filtered", "Accept", "application/fhir+json"}, 404},
					{"a Binary of a visible Patient", "GET", "/fhir/R4/Binary/" + shownID, projectA, nil, []string{"X-Test-Policy", "binary-filtered"}, 200},
					{"another project's token", "GET", "/fhir/R4/Binary/" + id, projectB, nil, nil, 404},
					{"another project's token, JSON", "GET", "/fhir/R4/Binary/" + id, projectB, nil, []string{"Accept", "application/fhir+json"}, 404},
					{"another project's PUT", "PUT", "/fhir/R4/Binary/" + id, projectB, strings.NewReader("overwrite"), []string{"Content-Type", "text/plain"}, 404},
					{"a URL without signature", "GET", strings.Split(url, "&Signature=")[0], "", nil, nil, 401},
					{"an altered signature", "GET", swap(url, sig, altered), "", nil, nil, 401},
					{"a guessed version", "GET", swap(url, created["meta"].(map[string]any)["versionId"].(string), "00000000-0000-4000-8000-000000000000"), "", nil, nil, 401},
					{"a later expiry", "GET", swap(url, "Expires=", "Expires=9"), "", nil, nil, 401},
					{"another binary's signature", "GET", swap(url, sig, otherSig), "", nil, nil, 401},
					{"another project's binary under this signature", "GET", swap(otherURL, otherSig, sig), "", nil, nil, 401},
				} {
					r := w.send(t, c.method, c.url, c.project, c.body, c.headers...)
					if r.status != c.want {
						t.Errorf("%s: %d %.200s, want %d", c.name, r.status, r.body, c.want)
					}
					if r.status >= 400 && (bytes.Contains(r.body, []byte("hello")) || bytes.Contains(r.body, []byte("secret")) || bytes.Contains(r.body, []byte("hidden"))) {
						t.Errorf("%s: a refusal shows the bytes: %s", c.name, r.body)
					}
				}
				if n := countBinaries(t, s, projectA); n != before {
					t.Errorf("project A holds %d Binaries after the refusals, want the %d uploaded", n, before)
				}
				w.now.Add(2 * 3600)
				if r := w.send(t, "GET", url, "", nil); r.status != 410 || bytes.Contains(r.body, []byte("hello")) {
					t.Errorf("an expired URL: %d %s, want 410", r.status, r.body)
				}
			})
		}
	})
}

// TestBinaryAccessIsAudited: an upload and a download of the bytes are
// records of the project's trail naming the Binary, with their request
// ids; another project's attempt is recorded in its own trail, not A's.
func TestBinaryAccessIsAudited(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		trail := s.NewAuditLog(store.AuditOptions{})
		t.Cleanup(trail.Close)
		w := startAuditedBinaryWorld(t, s, "dir", trail)
		up := w.send(t, "POST", "/fhir/R4/Binary", projectA, strings.NewReader("audited"), "Content-Type", "text/plain")
		if up.status != 201 {
			t.Fatalf("upload: %d %s", up.status, up.body)
		}
		ref := "Binary/" + up.json(t)["id"].(string)
		down := w.send(t, "GET", "/fhir/R4/"+ref, projectA, nil)
		refused := w.send(t, "GET", "/fhir/R4/"+ref, projectB, nil)
		if down.status != 200 || refused.status != 404 {
			t.Fatalf("download %d, another project's %d", down.status, refused.status)
		}
		found := string(w.send(t, "GET", "/fhir/R4/AuditEvent?entity="+ref+"&_count=100", projectA, nil).body)
		for what, id := range map[string]string{"upload": up.header.Get("X-Request-Id"), "download": down.header.Get("X-Request-Id")} {
			if id == "" || !strings.Contains(found, id) {
				t.Errorf("the %s (request %q) is not in the Binary's trail: %.500s", what, id, found)
			}
		}
		if id := refused.header.Get("X-Request-Id"); strings.Contains(found, id) {
			t.Error("project B's attempt is recorded in project A's trail")
		}
		if !strings.Contains(found, `"action":"C"`) || !strings.Contains(found, `"action":"R"`) {
			t.Errorf("the trail lacks a create or a read: %.500s", found)
		}
	})
}

// TestBinaryErasure: the bytes go with an expunged Binary and with an
// erased project; a deleted Binary's signed URL serves nothing.
func TestBinaryErasure(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		for _, kind := range blobtest.Kinds {
			t.Run(kind, func(t *testing.T) {
				w := startBinaryWorld(t, s, kind)
				keyOf := func(b map[string]any) string {
					return projectA + "/" + b["id"].(string) + "/" + b["meta"].(map[string]any)["versionId"].(string)
				}
				expunged := w.upload(t, projectA, "text/plain", strings.NewReader("expunged"))
				deleted := w.upload(t, projectA, "text/plain", strings.NewReader("deleted"))
				kept := w.upload(t, projectA, "text/plain", strings.NewReader("kept"))
				other := w.upload(t, projectB, "text/plain", strings.NewReader("project B"))
				admin := ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: projectA, Admin: true})
				if _, err := s.Expunge(admin, "Binary", expunged["id"].(string), false); err != nil {
					t.Fatal(err)
				}
				if hasBlob(t, w.blobs, keyOf(expunged)) || !hasBlob(t, w.blobs, keyOf(kept)) {
					t.Errorf("after $expunge: expunged bytes present %v, others' present %v", hasBlob(t, w.blobs, keyOf(expunged)), hasBlob(t, w.blobs, keyOf(kept)))
				}
				if r := w.send(t, "DELETE", "/fhir/R4/Binary/"+deleted["id"].(string), projectA, nil); r.status != 200 {
					t.Fatalf("delete: %d %s", r.status, r.body)
				}
				if r := w.send(t, "GET", deleted["url"].(string), "", nil); r.status != 401 {
					t.Errorf("a deleted Binary's signed URL: %d %s, want 401", r.status, r.body)
				}
				system := ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal())
				if _, err := s.Expunge(system, "Project", projectA, true); err != nil {
					t.Fatal(err)
				}
				if hasBlob(t, w.blobs, keyOf(kept)) || hasBlob(t, w.blobs, keyOf(deleted)) {
					t.Error("the erased project's bytes are still stored")
				}
				if r := w.send(t, "GET", other["url"].(string), "", nil); r.status != 200 || string(r.body) != "project B" {
					t.Errorf("another project's Binary after the erasure: %d %s", r.status, r.body)
				}
			})
		}
	})
}

// uploadFor creates patient in project A and uploads data with it as
// securityContext; it returns the Binary's id.
func (w *binaryWorld) uploadFor(t *testing.T, patient, data string) string {
	t.Helper()
	p := w.send(t, "POST", "/fhir/R4/Patient", projectA, strings.NewReader(patient), "Content-Type", "application/fhir+json")
	if p.status != 201 {
		t.Fatalf("create patient: %d %s", p.status, p.body)
	}
	r := w.send(t, "POST", "/fhir/R4/Binary", projectA, strings.NewReader(data), "Content-Type", "text/plain",
		"X-Security-Context", "Patient/"+p.json(t)["id"].(string))
	if r.status != 201 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	return r.json(t)["id"].(string)
}

// countBinaries counts project's live Binaries (Binary cannot be searched
// over the API, as on Medplum).
func countBinaries(t *testing.T, s *store.Store, project string) int {
	t.Helper()
	var n int
	err := s.DB().QueryRow(s.Dialect().Rebind(`SELECT COUNT(*) FROM resources WHERE project_id = ? AND resource_type = 'Binary' AND deleted = 0`), project).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func hasBlob(t *testing.T, s blob.Store, key string) bool {
	t.Helper()
	rc, err := s.Open(context.Background(), key)
	if errors.Is(err, blob.ErrNotFound) {
		return false
	} else if err != nil {
		t.Fatal(err)
	}
	rc.Close()
	return true
}

// TestAttachmentURLsStayFresh: a Media written with the signed URL of its
// upload is stored as "Binary/{id}" and shown with a fresh signed URL on
// every read, search, history and batch answer — so it still points at its
// bytes after the URL it was written with expired; a caller who cannot
// read the Binary is shown "Binary/{id}".
func TestAttachmentURLsStayFresh(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		w := startBinaryWorld(t, s, "dir")
		up := w.upload(t, projectA, "image/png", strings.NewReader("png bytes"))
		id := up["id"].(string)
		media := fmt.Sprintf(`{"resourceType":"Media","status":"completed","content":{"contentType":"image/png","url":%q}}`, up["url"])
		created := w.send(t, "POST", "/fhir/R4/Media", projectA, strings.NewReader(media), "Content-Type", "application/fhir+json")
		if created.status != 201 {
			t.Fatalf("create Media: %d %s", created.status, created.body)
		}
		mid := created.json(t)["id"].(string)
		var stored string
		if err := s.DB().QueryRow(s.Dialect().Rebind(`SELECT content FROM resources WHERE project_id = ? AND id = ?`), projectA, mid).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(stored, `"url":"Binary/`+id+`"`) || strings.Contains(stored, "Signature") {
			t.Errorf("stored Media: %s, want its url as Binary/%s", stored, id)
		}
		w.now.Add(2 * 3600) // the upload's URL has expired
		if r := w.send(t, "GET", up["url"].(string), "", nil); r.status != 410 {
			t.Fatalf("the upload's URL after 2 h: %d", r.status)
		}
		urlIn := func(body []byte) string {
			m := regexp.MustCompile(`"url":"([^"]*)"`).FindAllStringSubmatch(string(body), -1)
			for _, g := range m {
				if strings.Contains(g[1], "/storage/") || strings.HasPrefix(g[1], "Binary/") {
					return g[1]
				}
			}
			return ""
		}
		batch := fmt.Sprintf(`{"resourceType":"Bundle","type":"batch","entry":[{"request":{"method":"GET","url":"Media/%s"}}]}`, mid)
		for _, c := range []struct {
			name, method, path, body string
		}{
			{"create's answer", "", "", ""},
			{"read", "GET", "/fhir/R4/Media/" + mid, ""},
			{"search", "GET", "/fhir/R4/Media?_id=" + mid, ""},
			{"history", "GET", "/fhir/R4/Media/" + mid + "/_history", ""},
			{"batch", "POST", "/fhir/R4", batch},
		} {
			body := created.body
			if c.method != "" {
				var rdr io.Reader
				if c.body != "" {
					rdr = strings.NewReader(c.body)
				}
				r := w.send(t, c.method, c.path, projectA, rdr, "Content-Type", "application/fhir+json")
				if r.status != 200 {
					t.Fatalf("%s: %d %s", c.name, r.status, r.body)
				}
				body = r.body
			}
			u := strings.ReplaceAll(urlIn(body), `\u0026`, "&")
			if c.method == "" {
				continue // signed before the clock moved
			}
			got := w.send(t, "GET", u, "", nil)
			if got.status != 200 || string(got.body) != "png bytes" {
				t.Errorf("%s: url %q serves %d %s", c.name, u, got.status, got.body)
			}
		}
		// A clinician who cannot read the Binary's securityContext sees the reference only.
		hidden := w.uploadFor(t, `{"resourceType":"Patient","name":[{"family":"hidden"}]}`, "hidden bytes")
		w2 := fmt.Sprintf(`{"resourceType":"Media","status":"completed","content":{"url":"Binary/%s"}}`, hidden)
		m2 := w.send(t, "POST", "/fhir/R4/Media", projectA, strings.NewReader(w2), "Content-Type", "application/fhir+json").json(t)
		r := w.send(t, "GET", "/fhir/R4/Media/"+m2["id"].(string), projectA, nil, "X-Test-Policy", "media-filtered")
		if u := urlIn(r.body); r.status != 200 || u != "Binary/"+hidden {
			t.Errorf("a clinician who cannot read the Binary: %d, url %q, want Binary/%s", r.status, u, hidden)
		}
	})
}
