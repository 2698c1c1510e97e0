package graphql_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/auth"
	"github.com/wardhealth/ward/internal/wire"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestWire runs $graphql through the binary's handler with real tokens: two
// projects, an MSO project with clinics and a clinician invited into one of
// them with Medplum's MSO policy (%organization), and the R4 definitions
// every signed-in user reads.
func TestWire(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		srv := startWard(t, s)
		sd := &world{s: s, ids: map[string]string{}}
		sd.create(t, ward.R4ProjectID, "sd-patient", patientSD("Patient", 5))

		owner, _ := registerOwner(t, srv, "owner@mso.example.com", "Clinics Group")
		other, _ := registerOwner(t, srv, "owner@other.example.com", "Other Group")
		h := &httpClient{t: t, srv: srv}
		clinicA := h.create(owner, `{"resourceType":"Organization","name":"Clinic A"}`)
		clinicB := h.create(owner, `{"resourceType":"Organization","name":"Clinic B"}`)
		inA := `"meta":{"accounts":[{"reference":"` + clinicA + `"}]}`
		inB := `"meta":{"accounts":[{"reference":"` + clinicB + `"}]}`
		ann := h.create(owner, `{"resourceType":"Patient",`+inA+`,"name":[{"family":"Wire","given":["Ann"]}]}`, "X-Medplum", "extended")
		ben := h.create(owner, `{"resourceType":"Patient",`+inB+`,"name":[{"family":"Wire","given":["Ben"]}]}`, "X-Medplum", "extended")
		cross := h.create(owner, `{"resourceType":"Observation",`+inA+`,"status":"final","code":{"text":"x"},"subject":{"reference":"`+ben+`"}}`, "X-Medplum", "extended")
		h.create(other, `{"resourceType":"Patient","name":[{"family":"Wire","given":["Otto"]}]}`)
		policy := h.create(owner, `{"resourceType":"AccessPolicy","name":"MSO","compartment":{"reference":"%organization"},"resource":[
			{"resourceType":"Organization","readonly":true},
			{"resourceType":"Patient","criteria":"Patient?_compartment=%organization"},
			{"resourceType":"Observation","criteria":"Observation?_compartment=%organization"}]}`)
		status, inv := h.call("POST", "/admin/projects/:projectId/invite", owner, `{"resourceType":"Practitioner","firstName":"Cleo","lastName":"Clinician",
			"email":"cleo@mso.example.com","password":"clinician-password-1","sendEmail":false,
			"membership":{"accessPolicy":{"reference":"`+policy+`"},"access":[{"policy":{"reference":"`+policy+`"},
			"parameter":[{"name":"organization","valueReference":{"reference":"`+clinicA+`"}}]}]}}`)
		if status != 200 {
			t.Fatalf("invite: %d %v", status, inv)
		}
		clinician := signIn(t, srv, "cleo@mso.example.com", "clinician-password-1")

		names := `{ PatientList(family: "wire") { name { given } } }`
		for _, c := range []struct {
			who, token, query, want string
		}{
			{"owner", owner, names, `{"data":{"PatientList":[{"name":[{"given":["Ann"]}]},{"name":[{"given":["Ben"]}]}]}}`},
			{"other project", other, names, `{"data":{"PatientList":[{"name":[{"given":["Otto"]}]}]}}`},
			{"clinician", clinician, names, `{"data":{"PatientList":[{"name":[{"given":["Ann"]}]}]}}`},
			{"clinician, nested", clinician, `{ Observation(id: "` + strings.TrimPrefix(cross, "Observation/") + `") { subject { reference resource { ... on Patient { id } } } } }`,
				`{"data":{"Observation":{"subject":{"reference":"` + ben + `","resource":null}}}}`},
			{"clinician, reverse", clinician, `{ Patient(id: "` + strings.TrimPrefix(ann, "Patient/") + `") { ObservationList(_reference: subject) { id } } }`,
				`{"data":{"Patient":{"ObservationList":[]}}}`},
			{"clinician, definitions", clinician, `{ StructureDefinitionList(_filter: "name eq Patient") { name } }`,
				`{"data":{"StructureDefinitionList":[{"name":"Patient"}]}}`},
		} {
			status, body := h.graphql(c.token, c.query)
			if status != 200 || body != c.want {
				t.Errorf("%s: %s\n got %d %s\nwant %s", c.who, c.query, status, body, c.want)
			}
		}

		// REST takes the same _filter: translated, or a 400 naming it.
		if status, b := h.call("GET", "/fhir/R4/Patient?_filter="+url.QueryEscape(`family eq Wire and given sw an`), owner, ""); status != 200 || len(b["entry"].([]any)) != 1 {
			t.Errorf("REST _filter: %d %v", status, b)
		}
		if status, b := h.call("GET", "/fhir/R4/Patient?_filter="+url.QueryEscape("(family eq Wire and given sw an) or family eq Nobody"), owner, ""); status != 200 || len(b["entry"].([]any)) != 1 {
			t.Errorf("REST _filter with or: %d %v", status, b)
		}
		if status, b := h.call("GET", "/fhir/R4/Patient?_filter="+url.QueryEscape("family eq a or (family eq b"), owner, ""); status != 400 || !strings.Contains(mustJSON(b), `"expression":["_filter"]`) || !strings.Contains(mustJSON(b), "position 16") {
			t.Errorf("REST _filter unclosed: %d %v, want a 400 naming _filter and the position", status, b)
		}

		// GET with ?query= answers the same; no token is 401.
		status, body := h.raw("GET", "/fhir/R4/$graphql?query="+url.QueryEscape(names), clinician, "")
		if status != 200 || body != `{"data":{"PatientList":[{"name":[{"given":["Ann"]}]}]}}` {
			t.Errorf("GET $graphql: %d %s", status, body)
		}
		if status, _ := h.raw("POST", "/fhir/R4/$graphql", "", `{"query":"{ PatientList { id } }"}`); status != 401 {
			t.Errorf("$graphql without a token: %d, want 401", status)
		}
	})
}

func startWard(t *testing.T, s *store.Store) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(nil)
	t.Cleanup(srv.Close)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	id := auth.New(s, auth.Config{BaseURL: srv.URL + "/", AdminPassword: "graphql-admin-password", BcryptCost: bcrypt.MinCost, Logger: logger})
	if err := id.Seed(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = wire.Handler(s, wire.Config{BaseURL: srv.URL + "/", MaxBodyBytes: 1 << 20, Auth: id}, logger)
	return srv
}

type httpClient struct {
	t   *testing.T
	srv *httptest.Server
}

// raw sends one request with a bearer token ("" for none).
func (h *httpClient) raw(method, path, token, body string, headers ...string) (int, string) {
	h.t.Helper()
	req, _ := http.NewRequest(method, h.srv.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", "application/fhir+json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

func (h *httpClient) call(method, path, token, body string, headers ...string) (int, map[string]any) {
	h.t.Helper()
	status, raw := h.raw(method, path, token, body, headers...)
	var m map[string]any
	_ = json.Unmarshal([]byte(raw), &m)
	return status, m
}

// create POSTs a resource and returns its "Type/id".
func (h *httpClient) create(token, body string, headers ...string) string {
	h.t.Helper()
	var typed struct{ ResourceType string }
	_ = json.Unmarshal([]byte(body), &typed)
	status, m := h.call("POST", "/fhir/R4/"+typed.ResourceType, token, body, headers...)
	if status != 201 {
		h.t.Fatalf("create %s: %d %v", typed.ResourceType, status, m)
	}
	return typed.ResourceType + "/" + m["id"].(string)
}

func (h *httpClient) graphql(token, query string) (int, string) {
	h.t.Helper()
	return h.raw("POST", "/fhir/R4/$graphql", token, mustJSON(map[string]any{"query": query}))
}

func registerOwner(t *testing.T, srv *httptest.Server, email, projectName string) (token, projectID string) {
	t.Helper()
	h := &httpClient{t: t, srv: srv}
	status, nu := h.call("POST", "/auth/newuser", "", mustJSON(map[string]any{
		"firstName": "Olive", "lastName": "Owner", "email": email, "password": "owner-password-1",
		"codeChallenge": "xyz", "codeChallengeMethod": "plain", "scope": "openid",
	}))
	if status != 200 {
		t.Fatalf("newuser: %d %v", status, nu)
	}
	status, np := h.call("POST", "/auth/newproject", "", mustJSON(map[string]any{"login": nu["login"], "projectName": projectName}))
	if status != 200 {
		t.Fatalf("newproject: %d %v", status, np)
	}
	token = exchange(t, h, np["code"])
	_, me := h.call("GET", "/auth/me", token, "")
	project, _ := me["project"].(map[string]any)
	projectID, _ = project["id"].(string)
	return token, projectID
}

func signIn(t *testing.T, srv *httptest.Server, email, password string) string {
	t.Helper()
	h := &httpClient{t: t, srv: srv}
	status, login := h.call("POST", "/auth/login", "", mustJSON(map[string]any{
		"email": email, "password": password, "scope": "openid", "codeChallenge": "xyz", "codeChallengeMethod": "plain",
	}))
	if status != 200 {
		t.Fatalf("login %s: %d %v", email, status, login)
	}
	return exchange(t, h, login["code"])
}

func exchange(t *testing.T, h *httpClient, code any) string {
	t.Helper()
	c, _ := code.(string)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {c}, "code_verifier": {"xyz"}}
	req, _ := http.NewRequest("POST", h.srv.URL+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	token, _ := m["access_token"].(string)
	if token == "" {
		t.Fatalf("token exchange: %d %v", resp.StatusCode, m)
	}
	return token
}
