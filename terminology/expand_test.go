package terminology_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
	"github.com/wardhealth/ward/terminology"
)

const (
	projectA = "0b7c1f0e-3c1a-4d8e-9a57-2f3c7d1e0aa1"
	projectB = "0b7c1f0e-3c1a-4d8e-9a57-2f3c7d1e0bb2"
)

func as(project string) context.Context {
	return ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: project})
}

// put stores resources (JSON with resourceType) in project.
func put(t *testing.T, s *store.Store, project string, resources ...string) {
	t.Helper()
	err := s.Write(as(project), func(ctx context.Context, tx ward.ResourceTx) error {
		for _, r := range resources {
			var head struct{ ResourceType string }
			json.Unmarshal([]byte(r), &head)
			if _, err := tx.Create(ctx, head.ResourceType, []byte(r)); err != nil {
				return fmt.Errorf("%s: %w", r, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// fixtures: a hierarchical CodeSystem, value sets over it, a nested one
// and one over a system that is not stored.
var fixtures = []string{
	`{"resourceType":"CodeSystem","url":"http://example.com/cs/animals","status":"active","content":"complete","concept":[
		{"code":"animal","display":"Animal","concept":[
			{"code":"mammal","display":"Mammal","concept":[
				{"code":"dog","display":"Domestic dog"},{"code":"cat","display":"House cat"},{"code":"whale","display":"Blue whale"}]},
			{"code":"bird","display":"Bird","concept":[{"code":"robin","display":"European robin"}]}]},
		{"code":"plant","display":"Plant"}]}`,
	`{"resourceType":"ValueSet","url":"http://example.com/vs/all","status":"active","compose":{"include":[{"system":"http://example.com/cs/animals"}]}}`,
	`{"resourceType":"ValueSet","url":"http://example.com/vs/mammals","status":"active","compose":{"include":[
		{"system":"http://example.com/cs/animals","filter":[{"property":"concept","op":"descendent-of","value":"mammal"}]}],
		"exclude":[{"system":"http://example.com/cs/animals","concept":[{"code":"whale"}]}]}}`,
	`{"resourceType":"ValueSet","url":"http://example.com/vs/birds","version":"2","status":"active","compose":{"include":[
		{"system":"http://example.com/cs/animals","filter":[{"property":"concept","op":"is-a","value":"bird"}]}]}}`,
	`{"resourceType":"ValueSet","url":"http://example.com/vs/pets","status":"active","compose":{"include":[
		{"valueSet":["http://example.com/vs/mammals"]},{"valueSet":["http://example.com/vs/birds"]},
		{"system":"http://example.com/cs/animals","concept":[{"code":"plant","display":"Potted plant"}]}]}}`,
	`{"resourceType":"ValueSet","url":"http://example.com/vs/loinc","status":"active","compose":{"include":[
		{"system":"http://loinc.org","concept":[{"code":"8867-4","display":"Heart rate"},{"code":"8310-5","display":"Body temperature"}]},
		{"system":"http://loinc.org","filter":[{"property":"COMPONENT","op":"=","value":"x"}]}]}}`,
	`{"resourceType":"ValueSet","url":"http://example.com/vs/loop","status":"active","compose":{"include":[{"valueSet":["http://example.com/vs/loop"]}]}}`,
}

func codes(vs *terminology.ValueSet) string {
	var out []string
	for _, c := range vs.Expansion.Contains {
		out = append(out, c.Code)
	}
	return strings.Join(out, ",")
}

func TestExpand(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		put(t, s, ward.R4ProjectID, fixtures...)
		// Project A has its own "all" value set under the same url: it wins.
		put(t, s, projectA, `{"resourceType":"ValueSet","url":"http://example.com/vs/all","status":"active","compose":{"include":[
			{"system":"http://example.com/cs/animals","concept":[{"code":"cat"}]}]}}`)
		for _, c := range []struct {
			name    string
			project string
			req     terminology.Request
			want    string
			total   int
			code    string // error code instead
		}{
			{"whole code system, flattened", projectB, terminology.Request{URL: "http://example.com/vs/all", Count: 100}, "animal,mammal,dog,cat,whale,bird,robin,plant", 8, ""},
			{"default count 10", projectB, terminology.Request{URL: "http://example.com/vs/all"}, "animal,mammal,dog,cat,whale,bird,robin,plant", 8, ""},
			{"count and offset", projectB, terminology.Request{URL: "http://example.com/vs/all", Count: 3, Offset: 2}, "dog,cat,whale", 8, ""},
			{"offset past the end", projectB, terminology.Request{URL: "http://example.com/vs/all", Offset: 50}, "", 8, ""},
			{"offset near MaxInt", projectB, terminology.Request{URL: "http://example.com/vs/all", Offset: math.MaxInt}, "", 8, ""},
			{"filter: word prefix of display", projectB, terminology.Request{URL: "http://example.com/vs/all", Filter: "CA"}, "cat", 1, ""},
			{"filter: every word", projectB, terminology.Request{URL: "http://example.com/vs/all", Filter: "dom do"}, "dog", 1, ""},
			{"filter: not a substring", projectB, terminology.Request{URL: "http://example.com/vs/all", Filter: "ouse"}, "", 0, ""},
			{"filter: code prefix", projectB, terminology.Request{URL: "http://example.com/vs/all", Filter: "rob"}, "robin", 1, ""},
			{"descendent-of and exclude", projectB, terminology.Request{URL: "http://example.com/vs/mammals"}, "dog,cat", 2, ""},
			{"is-a", projectB, terminology.Request{URL: "http://example.com/vs/birds"}, "bird,robin", 2, ""},
			{"url|version", projectB, terminology.Request{URL: "http://example.com/vs/birds|2"}, "bird,robin", 2, ""},
			{"versionless value set answers any version", projectB, terminology.Request{URL: "http://example.com/vs/mammals|4.0.1"}, "dog,cat", 2, ""},
			{"unknown version", projectB, terminology.Request{URL: "http://example.com/vs/birds|3"}, "", 0, ward.ENOTFOUND},
			{"nested valueSet includes, explicit display", projectB, terminology.Request{URL: "http://example.com/vs/pets"}, "dog,cat,bird,robin,plant", 5, ""},
			{"system not stored: explicit concepts only", projectB, terminology.Request{URL: "http://example.com/vs/loinc"}, "8867-4,8310-5", 2, ""},
			{"cycle ends", projectB, terminology.Request{URL: "http://example.com/vs/loop"}, "", 0, ""},
			{"own project first", projectA, terminology.Request{URL: "http://example.com/vs/all"}, "cat", 1, ""},
			{"unknown url", projectB, terminology.Request{URL: "http://example.com/vs/nope"}, "", 0, ward.ENOTFOUND},
			{"other project's value set is unknown", projectB, terminology.Request{ID: "0b7c1f0e-3c1a-4d8e-9a57-2f3c7d1e0000"}, "", 0, ward.ENOTFOUND},
			{"no url", projectB, terminology.Request{}, "", 0, ward.EINVALID},
			{"count too large", projectB, terminology.Request{URL: "http://example.com/vs/all", Count: 5000}, "", 0, ward.EINVALID},
			{"negative offset", projectB, terminology.Request{URL: "http://example.com/vs/all", Offset: -1}, "", 0, ward.EINVALID},
			{"inline value set", projectB, terminology.Request{ValueSet: json.RawMessage(`{"resourceType":"ValueSet","compose":{"include":[{"valueSet":["http://example.com/vs/birds"]}]}}`)}, "bird,robin", 2, ""},
		} {
			t.Run(c.name, func(t *testing.T) {
				vs, err := terminology.Expand(as(c.project), s, c.req)
				if c.code != "" {
					if ward.ErrorCode(err) != c.code {
						t.Fatalf("err = %v, want code %s", err, c.code)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if got := codes(vs); got != c.want || vs.Expansion.Total != c.total {
					t.Errorf("codes %q total %d, want %q total %d", got, vs.Expansion.Total, c.want, c.total)
				}
				if vs.Expansion.Timestamp == "" {
					t.Error("no expansion.timestamp")
				}
			})
		}
		t.Run("display and system", func(t *testing.T) {
			vs, err := terminology.Expand(as(projectB), s, terminology.Request{URL: "http://example.com/vs/mammals", Count: 1})
			if err != nil {
				t.Fatal(err)
			}
			if c := vs.Expansion.Contains[0]; c.System != "http://example.com/cs/animals" || c.Display != "Domestic dog" {
				t.Errorf("first concept %+v", c)
			}
		})
		t.Run("http", func(t *testing.T) { expandHTTP(t, s) })
	})
}

// expandHTTP runs the routes behind a stand-in for the caller resolution.
func expandHTTP(t *testing.T, s *store.Store) {
	mux := http.NewServeMux()
	for _, r := range terminology.Routes(s) {
		mux.Handle(r.Pattern, r.Handler)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r.WithContext(as(projectB)))
	}))
	defer srv.Close()
	var birdsID string
	{
		res, err := s.Search(as(projectB), &ward.SearchQuery{ResourceType: "ValueSet", Filters: []ward.SearchFilter{
			{Code: "url", Type: "uri", Values: []ward.SearchValue{{Value: "http://example.com/vs/birds"}}}}})
		if err != nil || len(res.Matches) != 1 {
			t.Fatalf("birds: %v %v", res, err)
		}
		birdsID = res.Matches[0].ID
	}
	vsURL := url.QueryEscape("http://example.com/vs/all")
	for _, c := range []struct {
		name, method, path, body string
		status                   int
		want                     string
	}{
		{"GET filter", "GET", "/fhir/R4/ValueSet/$expand?url=" + vsURL + "&filter=bird&count=5", "", 200, "bird"},
		{"GET instance", "GET", "/fhir/R4/ValueSet/" + birdsID + "/$expand?filter=eur", "", 200, "robin"},
		{"POST Parameters", "POST", "/fhir/R4/ValueSet/$expand", `{"resourceType":"Parameters","parameter":[
			{"name":"url","valueUri":"http://example.com/vs/all"},{"name":"filter","valueString":"pla"},{"name":"count","valueInteger":2}]}`, 200, "plant"},
		{"unknown url", "GET", "/fhir/R4/ValueSet/$expand?url=http://nope", "", 404, ""},
		{"missing url", "GET", "/fhir/R4/ValueSet/$expand?filter=x", "", 400, ""},
		{"count not a number", "GET", "/fhir/R4/ValueSet/$expand?url=" + vsURL + "&count=ten", "", 400, ""},
		{"count zero", "GET", "/fhir/R4/ValueSet/$expand?url=" + vsURL + "&count=0", "", 400, ""},
		{"offset not a number", "GET", "/fhir/R4/ValueSet/$expand?url=" + vsURL + "&offset=x", "", 400, ""},
		{"repeated filter", "GET", "/fhir/R4/ValueSet/$expand?url=" + vsURL + "&filter=a&filter=b", "", 400, ""},
		{"POST not Parameters", "POST", "/fhir/R4/ValueSet/$expand", `{"resourceType":"Patient"}`, 400, ""},
		{"POST bad count", "POST", "/fhir/R4/ValueSet/$expand", `{"resourceType":"Parameters","parameter":[
			{"name":"url","valueUri":"http://example.com/vs/all"},{"name":"count","valueInteger":-3}]}`, 400, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, srv.URL+c.path, strings.NewReader(c.body))
			req.Header.Set("Content-Type", "application/fhir+json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			json.NewDecoder(resp.Body).Decode(&body)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, c.status, body)
			}
			if c.status != 200 {
				if body["resourceType"] != "OperationOutcome" {
					t.Errorf("error body %v", body)
				}
				return
			}
			raw, _ := json.Marshal(body["expansion"])
			if !strings.Contains(string(raw), `"code":"`+c.want+`"`) {
				t.Errorf("expansion %s lacks %s", raw, c.want)
			}
		})
	}
	t.Run("a changed CodeSystem is read again", func(t *testing.T) {
		get := func() string {
			resp, err := http.Get(srv.URL + "/fhir/R4/ValueSet/$expand?url=" + vsURL + "&filter=fish")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var vs terminology.ValueSet
			json.NewDecoder(resp.Body).Decode(&vs)
			return codes(&vs)
		}
		if got := get(); got != "" {
			t.Fatalf("fish before the change: %q", got)
		}
		err := s.Write(as(ward.R4ProjectID), func(ctx context.Context, tx ward.ResourceTx) error {
			res, err := tx.Search(ctx, &ward.SearchQuery{ResourceType: "CodeSystem"})
			if err != nil || len(res.Matches) != 1 {
				return fmt.Errorf("code system: %v", err)
			}
			changed := strings.Replace(string(res.Matches[0].Content), `{"code":"plant"`, `{"code":"fish","display":"Fish"},{"code":"plant"`, 1)
			_, _, err = tx.Update(ctx, "CodeSystem", res.Matches[0].ID, []byte(changed), "")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if got := get(); got != "fish" {
			t.Errorf("after the change: %q, want fish", got)
		}
	})
}
