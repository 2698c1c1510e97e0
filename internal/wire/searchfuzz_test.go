package wire_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/internal/wire"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// The two clinics of FuzzSearchHandler (compartments are ids: UUIDs).
const (
	clinicA = "0c000000-0000-4000-8000-00000000000a"
	clinicB = "0c000000-0000-4000-8000-00000000000b"
)

// searchFuzzSeeds are search shapes of every plan the store has: a date
// range paged in date order, a token driver, the caller's compartment, a
// sort, deep pages, includes, chains, _filter, counts.
var searchFuzzSeeds = []string{
	"date=ge2020-01-01&date=lt2020-02-01&_count=2",
	"date=ge2020-01-01&_count=1&_offset=3",
	"code=http://loinc.org|8867-4&_count=2&_offset=1",
	"code=http://loinc.org|8867-4&date=lt2021",
	"_sort=-date&_count=3",
	"_include=Observation:subject&_total=accurate",
	"subject:Patient.name=Bravo",
	"_filter=code eq http://loinc.org|8867-4 or date lt 2020-03-01",
	"_compartment=Organization/" + clinicB,
	"_total=accurate&_count=0",
	"name=Bravo&_revinclude=Observation:subject",
	"birthdate=ge1950&_sort=family&_count=1&_offset=2",
}

// FuzzSearchHandler sends fuzzed search query strings for Observation and
// Patient through the whole wired handler over a real store, as a
// clinician whose access policy confines both types to clinic A. Clinic
// B's Patients and Observations are walled: one of clinic A's
// Observations points at a clinic B Patient, so an _include or a chain
// that skips the policy shows up. Every answer is a 200 whose entries and
// total stay inside clinic A, or a 4xx OperationOutcome — never a 5xx.
// TestSearchSeedsUnderPolicy runs the seeds on both engines.
func FuzzSearchHandler(f *testing.F) {
	w := newClinicSearch(f, storetest.OpenSQLite(f))
	for _, q := range searchFuzzSeeds {
		f.Add(true, q)
		f.Add(false, q)
	}
	f.Fuzz(func(t *testing.T, observation bool, query string) { w.check(t, observation, query) })
}

// TestSearchSeedsUnderPolicy is FuzzSearchHandler's seeds on SQLite and
// PostgreSQL (each engine has its own SQL for some plans).
func TestSearchSeedsUnderPolicy(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		w := newClinicSearch(t, s)
		for _, q := range searchFuzzSeeds {
			w.check(t, true, q)
			w.check(t, false, q)
		}
	})
}

// clinicSearch is the wired handler over two clinics' data, serving a
// clinician of clinic A.
type clinicSearch struct {
	h       http.Handler
	walled  map[string]bool
	visible map[string]int
}

func newClinicSearch(tb testing.TB, s *store.Store) *clinicSearch {
	tb.Helper()
	walled, visible := seedClinics(tb, s)
	policy := clinicianPolicy(tb, `[
		{"resourceType":"Patient","criteria":"Patient?_compartment=Organization/`+clinicA+`"},
		{"resourceType":"Observation","criteria":"Observation?_compartment=Organization/`+clinicA+`"}]`)
	h := wire.Handler(s, wire.Config{BaseURL: "http://ward.test/", MaxBodyBytes: maxBody,
		Authenticate: func(*http.Request) (*ward.Principal, error) {
			return &ward.Principal{ProjectID: projectA, Policy: policy, Author: "Practitioner/me"}, nil
		}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	// The check below is not empty: the clinician sees clinic A's six.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/fhir/R4/Observation?_count=100", nil))
	if got := strings.Count(rec.Body.String(), `"fullUrl"`); rec.Code != http.StatusOK || got != visible["Observation"] {
		tb.Fatalf("the clinician's Observations: %d, %d entries, want %d", rec.Code, got, visible["Observation"])
	}
	return &clinicSearch{h: h, walled: walled, visible: visible}
}

// check searches Observation (or Patient) with query as the clinician.
func (w *clinicSearch) check(t *testing.T, observation bool, query string) {
	typ := "Patient"
	if observation {
		typ = "Observation"
	}
	req := httptest.NewRequest("GET", "/fhir/R4/"+typ, nil)
	req.URL.RawQuery = query
	rec := httptest.NewRecorder()
	w.h.ServeHTTP(rec, req)
	if rec.Code >= 500 {
		t.Fatalf("%s?%s: %d %.500s", typ, query, rec.Code, rec.Body)
	}
	if rec.Code != http.StatusOK {
		if !strings.Contains(rec.Body.String(), `"OperationOutcome"`) {
			t.Fatalf("%s?%s: %d without an OperationOutcome: %.500s", typ, query, rec.Code, rec.Body)
		}
		return
	}
	var bundle struct {
		Total *int `json:"total"`
		Entry []struct {
			Resource struct{ ResourceType, ID string } `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &bundle); err != nil {
		t.Fatalf("%s?%s: 200 that is not a Bundle: %v", typ, query, err)
	}
	for _, e := range bundle.Entry {
		if ref := e.Resource.ResourceType + "/" + e.Resource.ID; w.walled[ref] {
			t.Fatalf("LEAK: %s?%s shows clinic B's %s", typ, query, ref)
		}
	}
	if bundle.Total != nil && *bundle.Total > w.visible[typ] {
		t.Fatalf("LEAK: %s?%s counts %d, the clinician sees %d", typ, query, *bundle.Total, w.visible[typ])
	}
}

// seedClinics writes, in projectA, 3 Patients and 6 Observations in each
// of clinic A and clinic B (meta.accounts, as a system write), one of
// clinic A's Observations about a clinic B Patient. It returns clinic B's
// references and how many resources of each type clinic A holds.
func seedClinics(tb testing.TB, s *store.Store) (walled map[string]bool, visible map[string]int) {
	tb.Helper()
	walled, visible = map[string]bool{}, map[string]int{}
	ctx := ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal())
	meta := func(clinic string) string {
		id := map[string]string{"a": clinicA, "b": clinicB}[clinic]
		return fmt.Sprintf(`"meta":{"project":%q,"accounts":[{"reference":"Organization/%s"}]}`, projectA, id)
	}
	err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
		patients := map[string][]string{}
		for _, clinic := range []string{"a", "b"} {
			for i := range 3 {
				body := fmt.Sprintf(`{"resourceType":"Patient",%s,"name":[{"family":"%s%d"}],"birthDate":"19%d0-01-01"}`,
					meta(clinic), map[string]string{"a": "Alpha", "b": "Bravo"}[clinic], i, 5+i)
				r, err := tx.Create(ctx, "Patient", []byte(body))
				if err != nil {
					return err
				}
				patients[clinic] = append(patients[clinic], r.ID)
			}
		}
		for _, clinic := range []string{"a", "b"} {
			for i := range 6 {
				subject := patients[clinic][i%3]
				if clinic == "a" && i == 5 {
					subject = patients["b"][0] // clinic A's record about clinic B's Patient
				}
				body := fmt.Sprintf(`{"resourceType":"Observation",%s,"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"Patient/%s"},"effectiveDateTime":"2020-0%d-15T10:00:00Z"}`,
					meta(clinic), subject, 1+i%3)
				r, err := tx.Create(ctx, "Observation", []byte(body))
				if err != nil {
					return err
				}
				if clinic == "b" {
					walled["Observation/"+r.ID] = true
				}
			}
		}
		for _, id := range patients["b"] {
			walled["Patient/"+id] = true
		}
		visible["Patient"], visible["Observation"] = 3, 6
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return walled, visible
}
