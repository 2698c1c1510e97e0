package wardhttp_test

import (
	"net/http"
	"strings"
	"testing"

	wardhttp "github.com/wardhealth/ward/http"
)

const patientJSON = `{"resourceType":"Patient","name":[{"family":"Smith"}]}`

func TestCreate(t *testing.T) {
	f := newFixture(t)
	w := f.do(t, "POST", "/fhir/R4/Patient", patientJSON)
	expectStatus(t, w, 201)
	body := tree(t, w)
	id, vid := body["id"].(string), path(body, "meta", "versionId").(string)
	for header, want := range map[string]string{
		"Content-Type":  "application/fhir+json; charset=utf-8",
		"Location":      base + "/fhir/R4/Patient/" + id + "/_history/" + vid,
		"ETag":          `W/"` + vid + `"`,
		"Last-Modified": "Tue, 02 Jan 2024 03:04:06 GMT",
	} {
		if got := w.Header().Get(header); got != want {
			t.Errorf("%s = %q, want %q", header, got, want)
		}
	}
	if path(body, "name", 0, "family") != "Smith" {
		t.Errorf("body lost content: %s", w.Body)
	}
}

func TestCreatePrefer(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		prefer   string
		wantBody string // substring; "" = empty body
	}{
		{"return=minimal", ""},
		{"return=representation", `"resourceType":"Patient"`},
		{"return=OperationOutcome", `"id":"created"`},
	}
	for _, tt := range tests {
		t.Run(tt.prefer, func(t *testing.T) {
			w := f.do(t, "POST", "/fhir/R4/Patient", patientJSON, "Prefer", tt.prefer)
			expectStatus(t, w, 201)
			if tt.wantBody == "" && w.Body.Len() != 0 {
				t.Errorf("body %s, want none", w.Body)
			}
			if !strings.Contains(w.Body.String(), tt.wantBody) {
				t.Errorf("body %s, want %s", w.Body, tt.wantBody)
			}
			if w.Header().Get("Location") == "" {
				t.Error("no Location")
			}
		})
	}
}

// TestResourceBytesPassThrough: http serves the bytes the store returned,
// extended or not: what a caller may see (meta, secrets, hidden fields)
// is the store's output gate's decision (store/present_test.go), not a
// second one here.
func TestResourceBytesPassThrough(t *testing.T) {
	f := newFixture(t)
	id, _ := f.create(t, patientJSON)
	stored := f.store.state.versions["Patient/"+id][0].Content
	for _, headers := range [][]string{nil, {"X-Medplum", "extended"}} {
		w := f.do(t, "GET", "/fhir/R4/Patient/"+id, "", headers...)
		expectStatus(t, w, 200)
		if w.Body.String() != string(stored) {
			t.Errorf("%v: body is not the stored bytes:\n got %s\nwant %s", headers, w.Body, stored)
		}
	}
}

func TestReadVRead(t *testing.T) {
	f := newFixture(t)
	id, vid := f.create(t, patientJSON)
	deleted, _ := f.create(t, patientJSON)
	expectStatus(t, f.do(t, "DELETE", "/fhir/R4/Patient/"+deleted, ""), 200)

	tests := []struct {
		name, method, path string
		want               int
		wantID             string // OperationOutcome id
	}{
		{"read", "GET", "/fhir/R4/Patient/" + id, 200, ""},
		{"vread", "GET", "/fhir/R4/Patient/" + id + "/_history/" + vid, 200, ""},
		{"missing", "GET", "/fhir/R4/Patient/nope", 404, "not-found"},
		{"missing version", "GET", "/fhir/R4/Patient/" + id + "/_history/nope", 404, "not-found"},
		{"deleted", "GET", "/fhir/R4/Patient/" + deleted, 410, "gone"},
		{"unknown type", "GET", "/fhir/R4/Foo/1", 404, "not-found"},
		{"unknown path", "GET", "/fhir/R4/Patient/1/x/y/z", 404, "not-found"},
		{"method not allowed", "POST", "/fhir/R4/Patient/" + id, 405, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.do(t, tt.method, tt.path, "")
			expectStatus(t, w, tt.want)
			body := tree(t, w)
			if tt.want == 200 {
				if body["id"] != id || w.Header().Get("ETag") != `W/"`+vid+`"` {
					t.Errorf("got %s etag %s", w.Body, w.Header().Get("ETag"))
				}
				return
			}
			if body["resourceType"] != "OperationOutcome" {
				t.Errorf("error body is not an OperationOutcome: %s", w.Body)
			}
			if tt.wantID != "" && body["id"] != tt.wantID {
				t.Errorf("outcome id %v, want %s", body["id"], tt.wantID)
			}
		})
	}
	if w := f.do(t, "GET", "/fhir/R4/Foo/1", ""); issueText(t, w) != "Unknown resource type" {
		t.Errorf("unknown type text %q", issueText(t, w))
	}
	if w := f.do(t, "POST", "/fhir/R4/Patient/"+id, ""); w.Header().Get("Allow") == "" {
		t.Error("405 without Allow header")
	}
}

func TestNotFoundShape(t *testing.T) {
	f := newFixture(t)
	w := f.do(t, "GET", "/fhir/R4/Patient/nope", "")
	want := `{"resourceType":"OperationOutcome","id":"not-found","issue":[{"severity":"error","code":"not-found","details":{"text":"Not found"}}]}`
	if w.Body.String() != want {
		t.Errorf("404 body\n got %s\nwant %s", w.Body, want)
	}
}

func TestUpdate(t *testing.T) {
	f := newFixture(t)
	id, vid := f.create(t, patientJSON)
	body := func(id string) string {
		return `{"resourceType":"Patient","id":"` + id + `","name":[{"family":"Jones"}]}`
	}
	tests := []struct {
		name    string
		path    string
		body    string
		ifMatch string
		want    int
		text    string // substring of the outcome text
	}{
		{"update", "/fhir/R4/Patient/" + id, body(id), "", 200, ""},
		{"if-match stale", "/fhir/R4/Patient/" + id, body(id), `W/"` + vid + `"`, 412, ""},
		{"create by put", "/fhir/R4/Patient/new1", body("new1"), "", 201, ""},
		{"id mismatch", "/fhir/R4/Patient/" + id, body("other"), "", 400, "Incorrect id"},
		{"missing id", "/fhir/R4/Patient/" + id, patientJSON, "", 400, "Missing id"},
		{"wrong type", "/fhir/R4/Patient/" + id, `{"resourceType":"Observation","id":"` + id + `"}`, "", 400, "Incorrect resource type"},
		{"unknown type", "/fhir/R4/Nope/" + id, body(id), "", 404, "Unknown resource type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var headers []string
			if tt.ifMatch != "" {
				headers = []string{"If-Match", tt.ifMatch}
			}
			w := f.do(t, "PUT", tt.path, tt.body, headers...)
			expectStatus(t, w, tt.want)
			if tt.text != "" && !strings.Contains(issueText(t, w), tt.text) {
				t.Errorf("text %q, want %q", issueText(t, w), tt.text)
			}
			if tt.want == 201 && w.Header().Get("Location") == "" {
				t.Error("201 without Location")
			}
		})
	}
	// If-Match with the current version succeeds.
	cur := f.do(t, "GET", "/fhir/R4/Patient/"+id, "")
	w := f.do(t, "PUT", "/fhir/R4/Patient/"+id, body(id), "If-Match", cur.Header().Get("ETag"))
	expectStatus(t, w, 200)
}

func TestConditionalCreate(t *testing.T) {
	f := newFixture(t)
	id, _ := f.create(t, `{"resourceType":"Patient","identifier":[{"value":"one"}]}`)
	f.create(t, `{"resourceType":"Patient","identifier":[{"value":"two"}]}`)
	f.create(t, `{"resourceType":"Patient","identifier":[{"value":"two"}]}`)
	tests := []struct {
		name, ifNoneExist string
		want              int
		wantID            string
	}{
		{"no match creates", "identifier=three", 201, ""},
		{"one match returns it", "identifier=one", 200, id},
		{"with type prefix", "Patient?identifier=one", 200, id},
		{"several matches", "identifier=two", 412, ""},
		{"bad parameter", "bogus=1", 400, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.do(t, "POST", "/fhir/R4/Patient", `{"resourceType":"Patient","identifier":[{"value":"three"}]}`, "If-None-Exist", tt.ifNoneExist)
			expectStatus(t, w, tt.want)
			if tt.wantID != "" && tree(t, w)["id"] != tt.wantID {
				t.Errorf("got %s, want id %s", w.Body, tt.wantID)
			}
		})
	}
}

func TestConditionalUpdateAndDelete(t *testing.T) {
	f := newFixture(t)
	id, _ := f.create(t, `{"resourceType":"Patient","identifier":[{"value":"one"}]}`)
	f.create(t, `{"resourceType":"Patient","identifier":[{"value":"two"}]}`)
	f.create(t, `{"resourceType":"Patient","identifier":[{"value":"two"}]}`)
	body := `{"resourceType":"Patient","identifier":[{"value":"one"}],"active":true}`

	w := f.do(t, "PUT", "/fhir/R4/Patient?identifier=one", body)
	expectStatus(t, w, 200)
	if tree(t, w)["id"] != id {
		t.Errorf("conditional update changed %s, want %s", tree(t, w)["id"], id)
	}
	expectStatus(t, f.do(t, "PUT", "/fhir/R4/Patient?identifier=zzz", `{"resourceType":"Patient","identifier":[{"value":"zzz"}]}`), 201)
	expectStatus(t, f.do(t, "PUT", "/fhir/R4/Patient?identifier=two", body), 412)
	expectStatus(t, f.do(t, "PUT", "/fhir/R4/Patient?identifier=one", `{"resourceType":"Patient","id":"other"}`), 400)

	expectStatus(t, f.do(t, "DELETE", "/fhir/R4/Patient?identifier=two", ""), 412)
	expectStatus(t, f.do(t, "DELETE", "/fhir/R4/Patient?identifier=one", ""), 200)
	expectStatus(t, f.do(t, "GET", "/fhir/R4/Patient/"+id, ""), 410)
	expectStatus(t, f.do(t, "DELETE", "/fhir/R4/Patient?identifier=nothing", ""), 200)
}

func TestDelete(t *testing.T) {
	f := newFixture(t)
	id, _ := f.create(t, patientJSON)
	w := f.do(t, "DELETE", "/fhir/R4/Patient/"+id, "")
	expectStatus(t, w, 200)
	if b := tree(t, w); b["resourceType"] != "OperationOutcome" || path(b, "issue", 0, "severity") != "information" {
		t.Errorf("delete body %s", w.Body)
	}
	expectStatus(t, f.do(t, "DELETE", "/fhir/R4/Patient/"+id, ""), 200) // again: idempotent
	expectStatus(t, f.do(t, "DELETE", "/fhir/R4/Patient/missing", ""), 404)
	expectStatus(t, f.do(t, "GET", "/fhir/R4/Patient/"+id, ""), 410)
}

func TestPatch(t *testing.T) {
	f := newFixture(t)
	id, vid := f.create(t, patientJSON)
	ok := `[{"op":"add","path":"/active","value":true}]`
	tests := []struct {
		name        string
		id          string
		body        string
		contentType string
		ifMatch     string
		want        int
	}{
		{"ok", id, ok, "application/json-patch+json", "", 200},
		{"stale if-match", id, ok, "application/json-patch+json", `W/"` + vid + `"`, 412},
		{"malformed json", id, `[{"op":`, "application/json-patch+json", "", 400},
		{"not an array", id, `{"op":"add"}`, "application/json-patch+json", "", 400},
		{"bad path", id, `[{"op":"replace","path":"/nothing/here","value":1}]`, "application/json-patch+json", "", 400},
		{"changes id", id, `[{"op":"replace","path":"/id","value":"x"}]`, "application/json-patch+json", "", 400},
		{"changes type", id, `[{"op":"replace","path":"/resourceType","value":"Observation"}]`, "application/json-patch+json", "", 400},
		{"wrong media type", id, ok, "application/fhir+json", "", 415},
		{"missing", "nope", ok, "application/json-patch+json", "", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			headers := []string{"Content-Type", tt.contentType}
			if tt.ifMatch != "" {
				headers = append(headers, "If-Match", tt.ifMatch)
			}
			w := f.do(t, "PATCH", "/fhir/R4/Patient/"+tt.id, tt.body, headers...)
			expectStatus(t, w, tt.want)
			if tt.want == 200 && tree(t, w)["active"] != true {
				t.Errorf("patch not applied: %s", w.Body)
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	f := newFixture(t, func(o *wardhttp.Options) { o.MaxBodyBytes = 1024 })
	big := `{"resourceType":"Patient","text":"` + strings.Repeat("x", 2000) + `"}`
	tests := []struct {
		name, method, path, body, contentType string
		want                                  int
		text                                  string
	}{
		{"malformed json", "POST", "/fhir/R4/Patient", `{"resourceType":"Patient",`, "", 400, "Invalid JSON"},
		{"array body", "POST", "/fhir/R4/Patient", `[1,2]`, "", 400, "JSON object"},
		{"string body", "POST", "/fhir/R4/Patient", `"Patient"`, "", 400, "JSON object"},
		{"missing resourceType", "POST", "/fhir/R4/Patient", `{"name":[]}`, "", 400, "Missing resourceType"},
		{"resourceType not a string", "POST", "/fhir/R4/Patient", `{"resourceType":1}`, "", 400, "resourceType"},
		{"wrong resourceType", "POST", "/fhir/R4/Patient", `{"resourceType":"Observation"}`, "", 400, "Incorrect resource type"},
		{"empty body", "POST", "/fhir/R4/Patient", ``, "", 400, "Missing request body"},
		{"oversized body", "POST", "/fhir/R4/Patient", big, "", 413, ""},
		{"text/plain", "POST", "/fhir/R4/Patient", patientJSON, "text/plain", 415, ""},
		{"application/json ok", "POST", "/fhir/R4/Patient", patientJSON, "application/json", 201, ""},
		{"unknown type", "POST", "/fhir/R4/Foo", `{"resourceType":"Foo"}`, "", 404, "Unknown resource type"},
		{"bundle not object", "POST", "/fhir/R4", `[]`, "", 400, "JSON object"},
		{"bundle wrong type", "POST", "/fhir/R4", `{"resourceType":"Bundle","type":"collection"}`, "", 400, "batch or transaction"},
		{"bundle entry not array", "POST", "/fhir/R4", `{"resourceType":"Bundle","type":"batch","entry":{}}`, "", 400, "Invalid Bundle"},
		{"bad _count", "GET", "/fhir/R4/Patient/_history?_count=x", ``, "", 400, "_count"},
		{"bad _since", "GET", "/fhir/R4/_history?_since=yesterday", ``, "", 400, "_since"},
		{"bad search param", "GET", "/fhir/R4/Patient?bogus=1", ``, "", 400, "bogus"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var headers []string
			if tt.contentType != "" {
				headers = []string{"Content-Type", tt.contentType}
			}
			w := f.do(t, tt.method, tt.path, tt.body, headers...)
			expectStatus(t, w, tt.want)
			if tt.want >= 400 {
				if ct := w.Header().Get("Content-Type"); ct != "application/fhir+json; charset=utf-8" {
					t.Errorf("Content-Type %q", ct)
				}
				if tt.text != "" && !strings.Contains(issueText(t, w), tt.text) {
					t.Errorf("text %q, want it to contain %q", issueText(t, w), tt.text)
				}
			}
		})
	}
	// A chunked body with no Content-Length is cut at the limit too.
	r, _ := http.NewRequest("POST", base+"/fhir/R4/Patient", strings.NewReader(big))
	r.ContentLength = -1
	r.Header.Set("Content-Type", "application/fhir+json")
	w := serve(f, r)
	expectStatus(t, w, 413)
}
