package wardhttp_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// createPatients stores n patients named p0…p{n-1}.
func createPatients(t *testing.T, f *fixture, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i], _ = f.create(t, fmt.Sprintf(`{"resourceType":"Patient","name":[{"family":"p%d"}],"gender":"other","birthDate":"2000-01-01"}`, i))
	}
	return ids
}

func links(t *testing.T, body map[string]any) map[string]string {
	out := map[string]string{}
	for _, l := range path(body, "link").([]any) {
		out[path(l, "relation").(string)] = path(l, "url").(string)
	}
	return out
}

func TestSearchBundle(t *testing.T) {
	f := newFixture(t)
	ids := createPatients(t, f, 3)
	w := f.do(t, "GET", "/fhir/R4/Patient?_total=accurate", "")
	expectStatus(t, w, 200)
	body := tree(t, w)
	if body["resourceType"] != "Bundle" || body["type"] != "searchset" || body["total"] != 3.0 {
		t.Fatalf("bundle %s", w.Body)
	}
	for i, id := range ids {
		e := path(body, "entry", i)
		if path(e, "fullUrl") != base+"/fhir/R4/Patient/"+id || path(e, "search", "mode") != "match" || path(e, "resource", "id") != id {
			t.Errorf("entry %d = %v", i, e)
		}
	}
	if got := links(t, body)["self"]; got != base+"/fhir/R4/Patient?_total=accurate" {
		t.Errorf("self link %s", got)
	}
	// Without _total the store does not count and the Bundle has no total.
	if body := tree(t, f.do(t, "GET", "/fhir/R4/Patient", "")); body["total"] != nil {
		t.Errorf("uncounted search has total %v", body["total"])
	}
	ext := tree(t, f.do(t, "GET", "/fhir/R4/Patient", "", "X-Medplum", "extended"))
	if path(ext, "entry", 0, "resource", "meta", "project") != "p1" {
		t.Errorf("extended search hides meta.project")
	}
}

func TestSearchPaging(t *testing.T) {
	f := newFixture(t)
	createPatients(t, f, 5)
	tests := []struct {
		query        string
		entries      int
		next, prev   string // expected _offset of the link, "" = no link
		wantNextPage string
	}{
		{"_count=2", 2, "2", "", ""},
		{"_count=2&_offset=2", 2, "4", "0", ""},
		{"_count=2&_offset=4", 1, "", "2", ""},
		{"_count=10", 5, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			body := tree(t, f.do(t, "GET", "/fhir/R4/Patient?"+tt.query, ""))
			entries, _ := body["entry"].([]any)
			if len(entries) != tt.entries {
				t.Errorf("%d entries, want %d", len(entries), tt.entries)
			}
			l := links(t, body)
			for rel, want := range map[string]string{"next": tt.next, "previous": tt.prev} {
				got, ok := l[rel]
				if want == "" {
					if ok {
						t.Errorf("unexpected %s link %s", rel, got)
					}
					continue
				}
				u, err := url.Parse(got)
				if err != nil || u.Query().Get("_offset") != want || u.Query().Get("_count") != "2" {
					t.Errorf("%s link %s, want _offset=%s&_count=2", rel, got, want)
				}
				if !strings.HasPrefix(got, base+"/fhir/R4/Patient?") {
					t.Errorf("%s link %s not absolute", rel, got)
				}
			}
		})
	}
	// Following next links visits every patient once.
	seen := map[string]bool{}
	next := "/fhir/R4/Patient?_count=2"
	for next != "" {
		body := tree(t, f.do(t, "GET", strings.TrimPrefix(next, base), ""))
		entries, _ := body["entry"].([]any)
		for _, e := range entries {
			id := path(e, "resource", "id").(string)
			if seen[id] {
				t.Fatalf("%s seen twice", id)
			}
			seen[id] = true
		}
		next = links(t, body)["next"]
	}
	if len(seen) != 5 {
		t.Errorf("paging saw %d patients, want 5", len(seen))
	}
}

func TestSearchSummaryCount(t *testing.T) {
	f := newFixture(t)
	createPatients(t, f, 3)
	body := tree(t, f.do(t, "GET", "/fhir/R4/Patient?_summary=count", ""))
	if body["total"] != 3.0 || body["entry"] != nil {
		t.Errorf("_summary=count bundle %v", body)
	}
}

func TestSearchElements(t *testing.T) {
	f := newFixture(t)
	createPatients(t, f, 1)
	for _, param := range []string{"_elements", "_fields"} {
		t.Run(param, func(t *testing.T) {
			w := f.do(t, "GET", "/fhir/R4/Patient?"+param+"=name,gender", "")
			expectStatus(t, w, 200)
			res := path(tree(t, w), "entry", 0, "resource").(map[string]any)
			for _, want := range []string{"resourceType", "id", "meta", "name", "gender"} {
				if _, ok := res[want]; !ok {
					t.Errorf("%s dropped: %v", want, res)
				}
			}
			if _, ok := res["birthDate"]; ok {
				t.Errorf("birthDate kept: %v", res)
			}
			tag := path(res, "meta", "tag", 0)
			if path(tag, "code") != "SUBSETTED" || path(tag, "system") != "http://terminology.hl7.org/CodeSystem/v3-ObservationValue" {
				t.Errorf("no SUBSETTED tag: %v", res["meta"])
			}
		})
	}
}

func TestSearchPost(t *testing.T) {
	f := newFixture(t)
	createPatients(t, f, 3)
	r := f.do(t, "POST", "/fhir/R4/Patient/_search?_total=accurate", "")
	expectStatus(t, r, 200)

	w := f.doForm(t, "/fhir/R4/Patient/_search?_total=accurate", "name=p1")
	expectStatus(t, w, 200)
	body := tree(t, w)
	if body["total"] != 1.0 || path(body, "entry", 0, "resource", "name", 0, "family") != "p1" {
		t.Errorf("POST _search merged badly: %s", w.Body)
	}
	bad := f.do(t, "POST", "/fhir/R4/Patient/_search", `{"name":"p1"}`, "Content-Type", "application/json")
	expectStatus(t, bad, 415)
}

func TestSearchInclude(t *testing.T) {
	f := newFixture(t)
	pid := createPatients(t, f, 1)[0]
	f.create(t, `{"resourceType":"Observation","subject":{"reference":"Patient/`+pid+`"}}`)
	body := tree(t, f.do(t, "GET", "/fhir/R4/Observation?_include=Observation:subject:Patient", ""))
	if path(body, "entry", 0, "search", "mode") != "match" || path(body, "entry", 1, "search", "mode") != "include" ||
		path(body, "entry", 1, "resource", "id") != pid {
		t.Errorf("include entries %v", body["entry"])
	}
}

func TestHistory(t *testing.T) {
	f := newFixture(t)
	id, v1 := f.create(t, patientJSON)
	expectStatus(t, f.do(t, "PUT", "/fhir/R4/Patient/"+id, `{"resourceType":"Patient","id":"`+id+`","active":true}`), 200)
	expectStatus(t, f.do(t, "DELETE", "/fhir/R4/Patient/"+id, ""), 200)
	f.create(t, `{"resourceType":"Observation"}`)

	body := tree(t, f.do(t, "GET", "/fhir/R4/Patient/"+id+"/_history", ""))
	if body["type"] != "history" || body["total"] != 3.0 {
		t.Fatalf("history bundle %v", body)
	}
	// Medplum's shape: each entry is the read of its version, "410" with a
	// "gone" outcome for the deletion.
	newest, oldest := path(body, "entry", 0), path(body, "entry", 2)
	if path(newest, "response", "status") != "410" || path(newest, "response", "outcome", "id") != "gone" || path(newest, "resource") != nil {
		t.Errorf("deleted version entry %v", newest)
	}
	if path(oldest, "request", "method") != "GET" || path(oldest, "request", "url") != "Patient/"+id+"/_history/"+v1 ||
		path(oldest, "response", "status") != "200" || path(oldest, "resource", "meta", "versionId") != v1 ||
		path(oldest, "response", "etag") != `W/"`+v1+`"` {
		t.Errorf("first version entry %v", oldest)
	}
	if path(body, "entry", 1, "response", "status") != "200" || path(body, "entry", 1, "resource", "active") != true {
		t.Errorf("update entry %v", path(body, "entry", 1))
	}

	typeHist := tree(t, f.do(t, "GET", "/fhir/R4/Patient/_history", ""))
	if typeHist["total"] != 3.0 {
		t.Errorf("type history total %v", typeHist["total"])
	}
	sys := tree(t, f.do(t, "GET", "/fhir/R4/_history?_count=2", ""))
	if sys["total"] != 4.0 || len(sys["entry"].([]any)) != 2 || links(t, sys)["next"] == "" {
		t.Errorf("system history %v", sys)
	}
	page2 := tree(t, f.do(t, "GET", "/fhir/R4/_history?_count=2&_offset=2", ""))
	if len(page2["entry"].([]any)) != 2 || links(t, page2)["next"] != "" || links(t, page2)["previous"] == "" {
		t.Errorf("system history page 2 %v", page2)
	}
	since := tree(t, f.do(t, "GET", "/fhir/R4/_history?_since=2024-01-02T03:04:08Z", ""))
	if since["total"] != 2.0 {
		t.Errorf("_since total %v, want 2", since["total"])
	}
	expectStatus(t, f.do(t, "GET", "/fhir/R4/Patient/missing/_history", ""), 404)
}
