package terminology_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/wardhealth/ward/auth"
	"github.com/wardhealth/ward/fhir/definitions"
	"github.com/wardhealth/ward/internal/wire"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// r4Subset is the part of the embedded definitions a Patient form needs:
// Patient's StructureDefinition and search parameters, the
// administrative-gender ValueSet and CodeSystem, and the languages
// ValueSet (loading all of it takes seconds).
func r4Subset(t testing.TB) *definitions.Data {
	t.Helper()
	all, err := definitions.R4()
	if err != nil {
		t.Fatal(err)
	}
	sub := &definitions.Data{Version: "subset"}
	for _, r := range all.Resources {
		var head struct {
			Name string   `json:"name"`
			URL  string   `json:"url"`
			Base []string `json:"base"`
		}
		json.Unmarshal(r.Content, &head)
		switch {
		case r.Type == "StructureDefinition" && head.Name == "Patient",
			r.Type == "SearchParameter" && slices.Contains(head.Base, "Patient"),
			(r.Type == "ValueSet" || r.Type == "CodeSystem") && head.URL == "http://hl7.org/fhir/administrative-gender",
			r.Type == "ValueSet" && (head.URL == "http://hl7.org/fhir/ValueSet/administrative-gender" || head.URL == "http://hl7.org/fhir/ValueSet/languages"):
			sub.Resources = append(sub.Resources, r)
		}
	}
	return sub
}

type client struct {
	t     *testing.T
	srv   *httptest.Server
	authz string
}

func (c client) do(method, path, body string) (int, map[string]any) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.srv.URL+path, strings.NewReader(body))
	if c.authz != "" {
		req.Header.Set("Authorization", c.authz)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	resp, err := c.srv.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	json.Unmarshal(raw, &m)
	return resp.StatusCode, m
}

func (c client) form(path string, form url.Values) map[string]any {
	c.t.Helper()
	resp, err := c.srv.Client().PostForm(c.srv.URL+path, form)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	if resp.StatusCode != 200 {
		c.t.Fatalf("%s: %d %v", path, resp.StatusCode, m)
	}
	return m
}

func (c client) post(path string, v any) map[string]any {
	c.t.Helper()
	b, _ := json.Marshal(v)
	status, m := c.do("POST", path, string(b))
	if status != 200 && status != 201 {
		c.t.Fatalf("%s: %d %v", path, status, m)
	}
	return m
}

// member registers a project owner, who invites a plain (non-admin)
// member with an AccessPolicy granting every type; it returns the member.
func member(t *testing.T, srv *httptest.Server) client {
	anon := client{t: t, srv: srv}
	nu := anon.post("/auth/newuser", map[string]any{"firstName": "Olive", "lastName": "Owner", "email": "owner@example.com",
		"password": "owner-password-1", "codeChallenge": "xyz", "codeChallengeMethod": "plain", "scope": "openid"})
	np := anon.post("/auth/newproject", map[string]any{"login": nu["login"], "projectName": "Forms Clinic"})
	token := func(login map[string]any) string {
		return anon.form("/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {login["code"].(string)}, "code_verifier": {"xyz"}})["access_token"].(string)
	}
	owner := client{t: t, srv: srv, authz: "Bearer " + token(np)}
	policy := owner.post("/fhir/R4/AccessPolicy", map[string]any{"resourceType": "AccessPolicy", "name": "Everything",
		"resource": []any{map[string]any{"resourceType": "*"}}})
	m := owner.post("/admin/projects/:projectId/invite", map[string]any{"resourceType": "Practitioner", "firstName": "Mona", "lastName": "Member",
		"email": "member@example.com", "password": "member-password-1", "sendEmail": false,
		"membership": map[string]any{"accessPolicy": map[string]any{"reference": "AccessPolicy/" + policy["id"].(string)}}})
	if m["admin"] == true {
		t.Fatalf("invited member is an admin: %v", m)
	}
	login := anon.post("/auth/login", map[string]any{"email": "member@example.com", "password": "member-password-1",
		"scope": "openid", "codeChallenge": "xyz", "codeChallengeMethod": "plain"})
	return client{t: t, srv: srv, authz: "Bearer " + token(login)}
}

func entries(bundle map[string]any) []map[string]any {
	var out []map[string]any
	list, _ := bundle["entry"].([]any)
	for _, e := range list {
		r, _ := e.(map[string]any)["resource"].(map[string]any)
		out = append(out, r)
	}
	return out
}

// TestDefinitionsThroughTheAPI: a plain member of a project, signed in
// with a real token, reads and searches the definitions of the FHIR R4
// project the way Medplum's React components do, expands a ValueSet, and
// cannot change the definitions.
func TestDefinitionsThroughTheAPI(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		logger := slog.New(slog.NewTextHandler(io.Discard, nil))
		srv := httptest.NewServer(nil)
		defer srv.Close()
		id := auth.New(s, auth.Config{BaseURL: srv.URL + "/", AdminPassword: "terminology-admin-password", BcryptCost: bcrypt.MinCost, Logger: logger})
		if err := id.Seed(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := definitions.LoadData(context.Background(), s, r4Subset(t), logger); err != nil {
			t.Fatal(err)
		}
		srv.Config.Handler = wire.Handler(s, wire.Config{BaseURL: srv.URL + "/", MaxBodyBytes: 1 << 20, Auth: id}, logger)
		c := member(t, srv)

		searches := []struct {
			path string
			min  int
		}{
			{"/fhir/R4/StructureDefinition?name=Patient", 1},
			{"/fhir/R4/SearchParameter?base=Patient&_count=100", 20},
			{"/fhir/R4/ValueSet?url=http://hl7.org/fhir/ValueSet/administrative-gender", 1},
			{"/fhir/R4/CodeSystem?url=http://hl7.org/fhir/administrative-gender", 1},
		}
		var sd map[string]any
		for _, q := range searches {
			status, bundle := c.do("GET", q.path, "")
			if got := entries(bundle); status != 200 || len(got) < q.min {
				t.Fatalf("%s: %d, %d entries, want at least %d", q.path, status, len(got), q.min)
			} else if sd == nil {
				sd = got[0]
			}
		}
		if snap, _ := sd["snapshot"].(map[string]any); snap == nil || len(snap["element"].([]any)) < 20 {
			t.Errorf("StructureDefinition Patient without its snapshot")
		}

		status, vs := c.do("GET", "/fhir/R4/ValueSet/$expand?url="+url.QueryEscape("http://hl7.org/fhir/ValueSet/administrative-gender|4.0.1")+"&filter=fe&count=10", "")
		contains, _ := vs["expansion"].(map[string]any)["contains"].([]any)
		if status != 200 || len(contains) != 1 || contains[0].(map[string]any)["code"] != "female" {
			t.Errorf("$expand administrative-gender filter=fe: %d %v", status, vs)
		}
		status, vs = c.do("GET", "/fhir/R4/ValueSet/$expand?url="+url.QueryEscape("http://hl7.org/fhir/ValueSet/languages")+"&filter=engl&count=20", "")
		if status != 200 || len(vs["expansion"].(map[string]any)["contains"].([]any)) < 3 {
			t.Errorf("$expand languages filter=engl: %d %v", status, vs)
		}

		// The definitions are read-only to the project: a write lands in
		// the caller's project or is refused, never in the R4 project.
		sdID := sd["id"].(string)
		body, _ := json.Marshal(map[string]any{"resourceType": "StructureDefinition", "id": sdID, "url": "http://evil", "name": "Patient",
			"status": "active", "kind": "resource", "abstract": false, "type": "Patient"})
		for _, m := range []string{"PUT", "DELETE"} {
			status, outcome := c.do(m, "/fhir/R4/StructureDefinition/"+sdID, string(body))
			if status != 403 && status != 404 {
				t.Errorf("%s in the R4 project: %d %v", m, status, outcome)
			}
			t.Logf("%s in the R4 project: %d", m, status)
			body = nil
		}
		if status, after := c.do("GET", "/fhir/R4/StructureDefinition/"+sdID, ""); status != 200 || after["url"] != sd["url"] {
			t.Errorf("R4 StructureDefinition after the attempts: %d %v", status, after["url"])
		}
	})
}
