package wardhttp_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/wardhealth/ward"
	wardhttp "github.com/wardhealth/ward/http"
	"github.com/wardhealth/ward/mock"
)

func TestMetricsByRoutePattern(t *testing.T) {
	f := newFixture(t)
	id, _ := f.create(t, patientJSON)
	f.do(t, "GET", "/fhir/R4/Patient/"+id, "")
	f.do(t, "GET", "/fhir/R4/Patient/other", "")
	f.do(t, "GET", "/fhir/R4/Observation/x", "")
	f.do(t, "DELETE", "/fhir/R4/Patient/x/y/z/w", "")

	counts, err := testutil.GatherAndCount(f.server.Registry(), "ward_http_requests_total")
	if err != nil {
		t.Fatal(err)
	}
	if counts != 4 { // create 201, read 200, read 404, unmatched 404
		t.Errorf("%d series, want 4", counts)
	}
	want := `
# HELP ward_http_requests_total HTTP requests by route pattern, method and status.
# TYPE ward_http_requests_total counter
ward_http_requests_total{method="DELETE",route="unmatched",status="404"} 1
ward_http_requests_total{method="GET",route="GET /fhir/R4/{type}/{id}",status="200"} 1
ward_http_requests_total{method="GET",route="GET /fhir/R4/{type}/{id}",status="404"} 2
ward_http_requests_total{method="POST",route="POST /fhir/R4/{type}",status="201"} 1
`
	if err := testutil.GatherAndCompare(f.server.Registry(), strings.NewReader(want), "ward_http_requests_total"); err != nil {
		t.Error(err)
	}
	if n := histogramCount(t, f.server, "GET /fhir/R4/{type}/{id}"); n != 3 {
		t.Errorf("duration of reads observed %d times, want 3", n)
	}
}

// histogramCount returns the sample count of the duration histogram of route.
func histogramCount(t *testing.T, srv *wardhttp.Server, route string) uint64 {
	families, err := srv.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() != "ward_http_request_duration_seconds" {
			continue
		}
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if l.GetName() == "route" && l.GetValue() == route {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

func TestPanicRecovery(t *testing.T) {
	f := newFixture(t)
	st := f.store.mock()
	st.ReadFn = func(context.Context, string, string) (*ward.Resource, error) { panic("boom") }
	srv := wardhttp.NewServer(wardhttp.Options{
		Store:         st,
		Authenticate:  func(*http.Request) (*ward.Principal, error) { return &ward.Principal{ProjectID: "p1"}, nil },
		ResourceTypes: []string{"Patient"},
		Logger:        discardLogger(),
	})
	f.h = srv.Handler()
	w := f.do(t, "GET", "/fhir/R4/Patient/1", "")
	expectStatus(t, w, 500)
	if issueText(t, w) != "Internal server error" || strings.Contains(w.Body.String(), "boom") {
		t.Errorf("500 body %s", w.Body)
	}
	if path(tree(t, w), "issue", 0, "code") != "exception" {
		t.Errorf("issue code %v", path(tree(t, w), "issue", 0, "code"))
	}
}

func TestInternalErrorsAreHidden(t *testing.T) {
	st := &mock.ResourceStore{ReadFn: func(context.Context, string, string) (*ward.Resource, error) {
		return nil, errors.New("pq: connection refused at 10.0.0.1")
	}}
	srv := wardhttp.NewServer(wardhttp.Options{
		Store:         st,
		Authenticate:  func(*http.Request) (*ward.Principal, error) { return &ward.Principal{ProjectID: "p1"}, nil },
		ResourceTypes: []string{"Patient"},
		Logger:        discardLogger(),
	})
	f := &fixture{h: srv.Handler()}
	w := f.do(t, "GET", "/fhir/R4/Patient/1", "")
	expectStatus(t, w, 500)
	if strings.Contains(w.Body.String(), "10.0.0.1") {
		t.Errorf("internal error leaked: %s", w.Body)
	}
}

func TestAuthentication(t *testing.T) {
	f := newFixture(t)
	for _, route := range []struct{ method, path string }{
		{"GET", "/fhir/R4/Patient/1"},
		{"GET", "/fhir/R4/Patient"},
		{"POST", "/fhir/R4"},
		{"GET", "/fhir/R4/_history"},
	} {
		w := f.do(t, route.method, route.path, "", "X-Test-Anonymous", "1")
		expectStatus(t, w, 401)
		if body := tree(t, w); body["id"] != "unauthorized" || path(body, "issue", 0, "code") != "login" {
			t.Errorf("%s %s: %s", route.method, route.path, w.Body)
		}
	}
	// Public routes need no principal.
	expectStatus(t, f.do(t, "GET", "/fhir/R4/metadata", "", "X-Test-Anonymous", "1"), 200)
	expectStatus(t, f.do(t, "GET", "/healthcheck", "", "X-Test-Anonymous", "1"), 200)

	// Without an Authenticate hook nothing private is reachable.
	noAuth := wardhttp.NewServer(wardhttp.Options{Store: f.store.mock(), ResourceTypes: []string{"Patient"}, Logger: discardLogger()})
	f2 := &fixture{h: noAuth.Handler()}
	expectStatus(t, f2.do(t, "GET", "/fhir/R4/Patient/1", ""), 401)

	// An Authenticate error is passed through with its code.
	forbidden := wardhttp.NewServer(wardhttp.Options{
		Store:         f.store.mock(),
		ResourceTypes: []string{"Patient"},
		Logger:        discardLogger(),
		Authenticate: func(*http.Request) (*ward.Principal, error) {
			return nil, ward.Errorf(ward.EFORBIDDEN, "")
		},
	})
	w := (&fixture{h: forbidden.Handler()}).do(t, "GET", "/fhir/R4/Patient/1", "")
	expectStatus(t, w, 403)
	if issueText(t, w) != "Forbidden" {
		t.Errorf("403 text %q", issueText(t, w))
	}
}

func TestHealthcheck(t *testing.T) {
	f := newFixture(t)
	w := f.do(t, "GET", "/healthcheck", "")
	expectStatus(t, w, 200)
	if w.Body.String() != `{"ok":true,"version":"1.2.3","postgres":true}` {
		t.Errorf("healthcheck %s", w.Body)
	}
	st := f.store.mock()
	st.PingFn = func(context.Context) error { return errors.New("down") }
	srv := wardhttp.NewServer(wardhttp.Options{Store: st, Database: "sqlite", Logger: discardLogger()})
	w = (&fixture{h: srv.Handler()}).do(t, "GET", "/healthcheck", "")
	expectStatus(t, w, 503)
	if w.Body.String() != `{"ok":false,"version":"","sqlite":false}` {
		t.Errorf("healthcheck %s", w.Body)
	}
}

func TestMetadata(t *testing.T) {
	f := newFixture(t)
	w := f.do(t, "GET", "/fhir/R4/metadata", "")
	expectStatus(t, w, 200)
	body := tree(t, w)
	if body["resourceType"] != "CapabilityStatement" || body["fhirVersion"] != "4.0.1" || path(body, "format", 0) != "json" {
		t.Fatalf("capability statement %v", body)
	}
	rest := path(body, "rest", 0)
	var system []string
	for _, i := range path(rest, "interaction").([]any) {
		system = append(system, path(i, "code").(string))
	}
	if strings.Join(system, ",") != "transaction,batch,history-system" {
		t.Errorf("system interactions %v", system)
	}
	resources := map[string]any{}
	for _, r := range path(rest, "resource").([]any) {
		resources[path(r, "type").(string)] = r
	}
	obs := resources["Observation"]
	var interactions []string
	for _, i := range path(obs, "interaction").([]any) {
		interactions = append(interactions, path(i, "code").(string))
	}
	if strings.Join(interactions, ",") != "read,vread,update,patch,delete,history-instance,history-type,create,search-type" {
		t.Errorf("interactions %v", interactions)
	}
	if path(obs, "conditionalCreate") != true || path(obs, "conditionalUpdate") != true || path(obs, "conditionalDelete") != "single" {
		t.Errorf("conditional flags %v", obs)
	}
	if path(obs, "searchParam", 1, "name") != "subject" || path(obs, "searchInclude", 1) != "Observation:subject" {
		t.Errorf("search params/includes %v", obs)
	}
	if path(resources["Patient"], "searchRevInclude", 0) != "Observation:subject" {
		t.Errorf("revincludes %v", path(resources["Patient"], "searchRevInclude"))
	}
	// A client looks operations up by name where it would call them.
	for _, c := range []struct {
		at   any
		want string
	}{
		{rest, "graphql"},
		{resources["Patient"], "everything"},
		{resources["Patient"], "set-accounts"},
		{resources["Observation"], "set-accounts"},
		{resources["Patient"], "expunge"},
		{resources["Patient"], "summary"},
		{resources["Observation"], "csv"},
	} {
		found := false
		ops, _ := path(c.at, "operation").([]any)
		for _, op := range ops {
			found = found || path(op, "name") == c.want
		}
		if !found {
			t.Errorf("operation %s not listed: %v", c.want, ops)
		}
	}
	if ops, _ := path(resources["Observation"], "operation").([]any); len(ops) != 3 {
		t.Errorf("Observation lists operations it does not serve: %v", ops)
	}
	if doc, _ := path(resources["Patient"], "documentation").(string); !strings.Contains(doc, "$ccda-export") {
		t.Errorf("Patient does not say $ccda-export is missing: %q", doc)
	}
}
