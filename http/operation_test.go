package wardhttp_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
	wardhttp "github.com/wardhealth/ward/http"
	"github.com/wardhealth/ward/search"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// opFixture serves the API over a real store. The caller is picked by the
// X-Test-Caller header: "admin" (default), "clinician" (a member without
// admin rights) or "stranger" (the admin of another project).
type opFixture struct {
	h                http.Handler
	project, other   string
	patient, obs, dr string
	o1, o2           string
}

// newOpFixture serves s, or served (a wrapper of s) when given.
func newOpFixture(t *testing.T, s *store.Store, served ...ward.ResourceStore) *opFixture {
	f := &opFixture{project: uuid.NewString(), other: uuid.NewString(),
		o1: "Organization/" + uuid.NewString(), o2: "Organization/" + uuid.NewString()}
	callers := map[string]*ward.Principal{
		"admin":     {ProjectID: f.project, Admin: true, Author: "Practitioner/admin"},
		"clinician": {ProjectID: f.project, Author: "Practitioner/clinician"},
		"stranger":  {ProjectID: f.other, Admin: true, Author: "Practitioner/stranger"},
	}
	var api ward.ResourceStore = s
	if len(served) > 0 {
		api = served[0]
	}
	srv := wardhttp.NewServer(wardhttp.Options{
		Store:   api,
		Logger:  discardLogger(),
		BaseURL: base + "/",
		Authenticate: func(r *http.Request) (*ward.Principal, error) {
			if c := r.Header.Get("X-Test-Caller"); c != "" {
				return callers[c], nil
			}
			return callers["admin"], nil
		},
		Parse:         search.Parse,
		ResourceTypes: fhir.ResourceTypes(),
	})
	f.h = srv.Handler()
	admin := ward.NewContextWithPrincipal(context.Background(), callers["admin"])
	f.patient = opCreate(t, s, admin, `{"resourceType":"Patient"}`)
	f.obs = opCreate(t, s, admin, `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/`+f.patient+`"}}`)
	f.dr = opCreate(t, s, admin, `{"resourceType":"DiagnosticReport","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/`+f.patient+`"}}`)
	return f
}

func opCreate(t *testing.T, s *store.Store, ctx context.Context, body string) string {
	t.Helper()
	var id string
	err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
		var head struct{ ResourceType string }
		json.Unmarshal([]byte(body), &head)
		res, err := tx.Create(ctx, head.ResourceType, []byte(body))
		if err == nil {
			id = res.ID
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *opFixture) do(method, path, body string, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, base+path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/fhir+json")
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

// params is a $set-accounts Parameters body.
func params(propagate string, accounts ...string) string {
	var ps []string
	for _, a := range accounts {
		ps = append(ps, `{"name":"accounts","valueReference":{"reference":"`+a+`"}}`)
	}
	if propagate != "" {
		ps = append(ps, `{"name":"propagate","valueBoolean":`+propagate+`}`)
	}
	return `{"resourceType":"Parameters","parameter":[` + strings.Join(ps, ",") + `]}`
}

func (f *opFixture) accounts(t *testing.T, typ, id string) []string {
	t.Helper()
	w := f.do("GET", "/fhir/R4/"+typ+"/"+id, "")
	var res struct {
		Meta struct {
			Accounts []struct{ Reference string }
		}
	}
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range res.Meta.Accounts {
		out = append(out, a.Reference)
	}
	return out
}

func TestSetAccountsOperation(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		f := newOpFixture(t, s)
		cases := []struct {
			name   string
			path   string
			body   string
			caller string
			status int
			want   string // the body, or a part of the OperationOutcome
		}{
			{"row 53: propagate", "/fhir/R4/Patient/" + f.patient + "/$set-accounts", params("true", f.o1, f.o2), "", 200,
				`{"resourceType":"Parameters","parameter":[{"name":"resourcesUpdated","valueInteger":3}]}`},
			{"row 61: the target only", "/fhir/R4/Patient/" + f.patient + "/$set-accounts", params("false", f.o2), "", 200,
				`{"resourceType":"Parameters","parameter":[{"name":"resourcesUpdated","valueInteger":1}]}`},
			{"row 58: a clinician", "/fhir/R4/Patient/" + f.patient + "/$set-accounts", params("true", f.o1), "clinician", 403, `"forbidden"`},
			{"row 55: an id that cannot exist", "/fhir/R4/Patient/not-found/$set-accounts", params("true", f.o1), "", 404, `"not-found"`},
			{"another project's patient", "/fhir/R4/Patient/" + f.patient + "/$set-accounts", params("true", f.o1), "stranger", 404, `"not-found"`},
			{"an unknown type", "/fhir/R4/Nope/" + f.patient + "/$set-accounts", params("true"), "", 404, `"not-found"`},
			{"not Parameters", "/fhir/R4/Patient/" + f.patient + "/$set-accounts", `{"resourceType":"Patient"}`, "", 400, "Incorrect resource type"},
			{"an account that is not a reference", "/fhir/R4/Patient/" + f.patient + "/$set-accounts",
				`{"resourceType":"Parameters","parameter":[{"name":"accounts","valueString":"Organization/x"}]}`, "", 400, "parameter 'accounts'"},
			{"propagate that is not a boolean", "/fhir/R4/Patient/" + f.patient + "/$set-accounts",
				`{"resourceType":"Parameters","parameter":[{"name":"propagate","valueString":"yes"}]}`, "", 400, "parameter 'propagate'"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				w := f.do("POST", c.path, c.body, "X-Test-Caller", c.caller)
				if w.Code != c.status || !strings.Contains(w.Body.String(), c.want) {
					t.Fatalf("%d %s, want %d with %s", w.Code, w.Body, c.status, c.want)
				}
			})
		}
		// After rows 53 and 61: the patient has exactly [o2], its record [o1, o2].
		if got := f.accounts(t, "Patient", f.patient); strings.Join(got, " ") != f.o2 {
			t.Errorf("Patient accounts %v, want [%s]", got, f.o2)
		}
		if got := f.accounts(t, "Observation", f.obs); strings.Join(got, " ") != f.o1+" "+f.o2 {
			t.Errorf("Observation accounts %v, want [%s %s]", got, f.o1, f.o2)
		}
		w := f.do("GET", "/fhir/R4/Observation?_compartment="+f.o1, "")
		if w.Code != 200 || !strings.Contains(w.Body.String(), f.obs) {
			t.Errorf("Observation?_compartment=%s: %d %s, want the Observation", f.o1, w.Code, w.Body)
		}
	})
}

// Row 59: respond-async with propagate is a job whose status URL ends
// with resourcesUpdated; only its own project sees it.
func TestSetAccountsAsync(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		f := newOpFixture(t, s)
		path := "/fhir/R4/Patient/" + f.patient + "/$set-accounts"
		w := f.do("POST", path, params("true", f.o1), "Prefer", "respond-async")
		if w.Code != 202 {
			t.Fatalf("respond-async: %d %s, want 202", w.Code, w.Body)
		}
		loc := w.Header().Get("Content-Location")
		if !strings.HasPrefix(loc, base+"/fhir/R4/job/") || !strings.HasSuffix(loc, "/status") {
			t.Fatalf("Content-Location %q, want %s/fhir/R4/job/<id>/status", loc, base)
		}
		if !strings.Contains(w.Body.String(), `"id":"accepted"`) || !strings.Contains(w.Body.String(), `"diagnostics":"`+loc+`"`) {
			t.Errorf("202 body %s, want Medplum's accepted OperationOutcome naming %s", w.Body, loc)
		}
		statusPath := strings.TrimPrefix(loc, base)
		var job struct {
			ResourceType, Status string
			Output               struct {
				Parameter []struct {
					Name         string
					ValueInteger int
				}
			}
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			w = f.do("GET", statusPath, "")
			if w.Code == 200 || time.Now().After(deadline) {
				break
			}
			if w.Code != 202 {
				t.Fatalf("job status: %d %s", w.Code, w.Body)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err := json.Unmarshal(w.Body.Bytes(), &job); err != nil || w.Code != 200 {
			t.Fatalf("job status: %d %s", w.Code, w.Body)
		}
		if job.ResourceType != "AsyncJob" || job.Status != "completed" || len(job.Output.Parameter) != 1 ||
			job.Output.Parameter[0].Name != "resourcesUpdated" || job.Output.Parameter[0].ValueInteger != 3 {
			t.Errorf("job %s, want completed with resourcesUpdated 3", w.Body)
		}
		if got := f.accounts(t, "DiagnosticReport", f.dr); strings.Join(got, " ") != f.o1 {
			t.Errorf("DiagnosticReport accounts %v after the job, want [%s]", got, f.o1)
		}
		if w := f.do("GET", statusPath, "", "X-Test-Caller", "stranger"); w.Code != 404 {
			t.Errorf("another project reads the job: %d, want 404", w.Code)
		}

		w = f.do("POST", path, params("false", f.o2), "Prefer", "respond-async")
		if w.Code != 200 || !strings.Contains(w.Body.String(), `"valueInteger":1`) {
			t.Errorf("respond-async without propagate: %d %s, want a synchronous 200", w.Code, w.Body)
		}
		for _, c := range []struct{ caller, id string }{{"clinician", f.patient}, {"", uuid.NewString()}} {
			w = f.do("POST", "/fhir/R4/Patient/"+c.id+"/$set-accounts", params("true", f.o1), "Prefer", "respond-async", "X-Test-Caller", c.caller)
			if w.Code != 403 && w.Code != 404 {
				t.Errorf("async run refused late: %d %s, want 403/404 at once", w.Code, w.Body)
			}
		}
	})
}
