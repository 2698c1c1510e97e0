package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/index"
	"github.com/wardhealth/ward/search"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// Two projects share the database. Project B holds look-alikes of A's
// resources and references into A, so a search in A that leaks across the
// wall returns something it must not.
const (
	projA = "aaaaaaaa-0000-4000-8000-000000000001"
	projB = "bbbbbbbb-0000-4000-8000-000000000002"
	orgID = "0f0f0f0f-0000-4000-8000-000000000003" // compartment of pat-ann
)

// fixture writes rows straight into the resources and index tables, so
// these tests pin the SQL the compiler writes, not the indexer.
type fixture struct {
	t  *testing.T
	db *sql.DB
	d  store.Dialect
}

func (f *fixture) exec(query string, args ...any) {
	f.t.Helper()
	if _, err := f.db.ExecContext(context.Background(), f.d.Rebind(query), args...); err != nil {
		f.t.Fatalf("%s: %v", query, err)
	}
}

// resource inserts a current version; updated is a FHIR date.
func (f *fixture) resource(project, typ, id, updated string) {
	f.t.Helper()
	low, _, ok := index.DateRange(updated)
	if !ok {
		f.t.Fatalf("bad date %s", updated)
	}
	content := fmt.Sprintf(`{"resourceType":%q,"id":%q}`, typ, id)
	f.exec("INSERT INTO resources (project_id, resource_type, id, version_id, last_updated, deleted, content) VALUES (?, ?, ?, ?, ?, 0, ?)",
		project, typ, id, "v-"+id, low, content)
}

func (f *fixture) deleted(project, typ, id string) {
	f.exec("INSERT INTO resources (project_id, resource_type, id, version_id, last_updated, deleted, content) VALUES (?, ?, ?, ?, 0, 1, '')",
		project, typ, id, "v-"+id)
}

func (f *fixture) token(project, typ, id, param, system, code, text string) {
	f.exec("INSERT INTO search_token (project_id, resource_type, resource_id, param, system, code, text) VALUES (?, ?, ?, ?, ?, ?, ?)",
		project, typ, id, param, system, code, text)
}

func (f *fixture) str(project, typ, id, param, exact string) {
	f.exec("INSERT INTO search_string (project_id, resource_type, resource_id, param, value, exact) VALUES (?, ?, ?, ?, ?, ?)",
		project, typ, id, param, index.NormalizeString(exact), exact)
}

// date indexes a FHIR date, dateTime or instant with the range it covers.
func (f *fixture) date(project, typ, id, param, value string) {
	f.t.Helper()
	low, high, ok := index.DateRange(value)
	if !ok {
		f.t.Fatalf("bad date %s", value)
	}
	f.dateRange(project, typ, id, param, low, high)
}

// dateRange indexes [low, high] and grows the parameter's widest range as
// the store does on a write (searches bound their scans by it).
func (f *fixture) dateRange(project, typ, id, param string, low, high int64) {
	f.exec("INSERT INTO search_date (project_id, resource_type, resource_id, param, low, high) VALUES (?, ?, ?, ?, ?, ?)",
		project, typ, id, param, low, high)
	width := int64(math.MaxInt64)
	if low > math.MinInt64/2 && high < math.MaxInt64/2 {
		width = high - low
	}
	f.exec(`INSERT INTO search_date_width (project_id, resource_type, param, width) VALUES (?, ?, ?, ?)
		ON CONFLICT (project_id, resource_type, param) DO UPDATE SET width = excluded.width
		WHERE excluded.width > search_date_width.width`, project, typ, param, width)
}

func (f *fixture) number(project, typ, id, param, value string) {
	f.t.Helper()
	v, low, high, ok := index.NumberRange(value)
	if !ok {
		f.t.Fatalf("bad number %s", value)
	}
	f.exec("INSERT INTO search_number (project_id, resource_type, resource_id, param, value, low, high) VALUES (?, ?, ?, ?, ?, ?, ?)",
		project, typ, id, param, v, low, high)
}

func (f *fixture) quantity(project, typ, id, param, value, system, code, unit string) {
	f.t.Helper()
	v, low, high, ok := index.NumberRange(value)
	if !ok {
		f.t.Fatalf("bad number %s", value)
	}
	f.exec("INSERT INTO search_quantity (project_id, resource_type, resource_id, param, system, code, unit, value, low, high) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		project, typ, id, param, system, code, unit, v, low, high)
}

// ref indexes a reference value as the indexer does ("Type/id" or a URL).
func (f *fixture) ref(project, typ, id, param, value string) {
	targetType, targetID, _ := index.ParseReference(value)
	f.exec("INSERT INTO search_reference (project_id, resource_type, resource_id, param, target_type, target_id) VALUES (?, ?, ?, ?, ?, ?)",
		project, typ, id, param, targetType, targetID)
}

func (f *fixture) uri(project, typ, id, param, value string) {
	f.exec("INSERT INTO search_uri (project_id, resource_type, resource_id, param, value) VALUES (?, ?, ?, ?, ?)",
		project, typ, id, param, value)
}

func (f *fixture) compartment(project, typ, id, compartment string) {
	f.exec("INSERT INTO resource_compartments (project_id, compartment, resource_type, resource_id) VALUES (?, ?, ?, ?)",
		project, compartment, typ, id)
}

const gender = "http://hl7.org/fhir/administrative-gender"
const loinc = "http://loinc.org"
const ucum = "http://unitsofmeasure.org"

func seed(t *testing.T, s *store.Store) {
	f := &fixture{t: t, db: s.WriterDB(), d: s.Dialect()}
	a, b := projA, projB

	f.resource(a, "Patient", "pat-ann", "2020-01-01")
	f.str(a, "Patient", "pat-ann", "name", "Ann")
	f.str(a, "Patient", "pat-ann", "name", "Smith")
	f.str(a, "Patient", "pat-ann", "family", "Smith")
	f.token(a, "Patient", "pat-ann", "gender", gender, "female", "")
	f.token(a, "Patient", "pat-ann", "identifier", "urn:mrn", "123", "")
	f.date(a, "Patient", "pat-ann", "birthdate", "1970-05-01")
	f.ref(a, "Patient", "pat-ann", "organization", "Organization/org-1")
	f.compartment(a, "Patient", "pat-ann", orgID)

	f.resource(a, "Patient", "pat-bob", "2021-06-01")
	f.str(a, "Patient", "pat-bob", "name", "Bob")
	f.str(a, "Patient", "pat-bob", "name", "Jones")
	f.str(a, "Patient", "pat-bob", "family", "Jones")
	f.token(a, "Patient", "pat-bob", "gender", gender, "male", "")
	f.date(a, "Patient", "pat-bob", "birthdate", "1985")

	f.resource(a, "Patient", "pat-zoe", "2022-02-02")
	f.str(a, "Patient", "pat-zoe", "name", "Zoë")
	f.str(a, "Patient", "pat-zoe", "family", "100%_pure")
	f.token(a, "Patient", "pat-zoe", "gender", gender, "female", "")
	f.token(a, "Patient", "pat-zoe", "identifier", "", "abc", "")

	f.deleted(a, "Patient", "pat-del")
	f.str(a, "Patient", "pat-del", "name", "Ann")

	f.resource(a, "Organization", "org-1", "2020-01-01")
	f.str(a, "Organization", "org-1", "name", "Acme")

	f.resource(a, "Observation", "obs-1", "2021-03-04")
	f.ref(a, "Observation", "obs-1", "subject", "Patient/pat-ann")
	f.ref(a, "Observation", "obs-1", "patient", "Patient/pat-ann")
	f.token(a, "Observation", "obs-1", "code", loinc, "8867-4", "heart rate")
	f.quantity(a, "Observation", "obs-1", "value-quantity", "72", ucum, "/min", "beats/min")
	f.date(a, "Observation", "obs-1", "date", "2021-03-04T10:00:00Z")

	f.resource(a, "Observation", "obs-2", "2022-01-15")
	f.ref(a, "Observation", "obs-2", "subject", "Patient/pat-bob")
	f.ref(a, "Observation", "obs-2", "patient", "Patient/pat-bob")
	f.token(a, "Observation", "obs-2", "subject:identifier", "urn:mrn", "456", "")
	f.token(a, "Observation", "obs-2", "code", loinc, "8310-5", "body temperature")
	f.quantity(a, "Observation", "obs-2", "value-quantity", "37.5", ucum, "Cel", "C")
	f.date(a, "Observation", "obs-2", "date", "2022-01")

	f.resource(a, "Observation", "obs-3", "2022-01-16")
	f.ref(a, "Observation", "obs-3", "subject", "http://other.example/Patient/x")
	f.token(a, "Observation", "obs-3", "code", "urn:other", "8867-4", "")

	// obs-4 refers to B's patient by id: neither include nor chain may
	// follow it across the wall.
	f.resource(a, "Observation", "obs-4", "2022-01-17")
	f.ref(a, "Observation", "obs-4", "subject", "Patient/pat-b1")

	// Encounter periods: enc-open started in 2019 and has not ended.
	f.resource(a, "Encounter", "enc-open", "2020-01-01")
	f.dateRange(a, "Encounter", "enc-open", "date", mustLow(t, "2019-01-01"), math.MaxInt64)
	f.resource(a, "Encounter", "enc-2020", "2020-01-01")
	f.dateRange(a, "Encounter", "enc-2020", "date", mustLow(t, "2020-03-01"), mustHigh(t, "2020-03-05"))

	f.resource(a, "RiskAssessment", "ra-1", "2020-01-01")
	f.number(a, "RiskAssessment", "ra-1", "probability", "0.5")
	f.resource(a, "RiskAssessment", "ra-2", "2020-01-01")
	f.number(a, "RiskAssessment", "ra-2", "probability", "100")
	f.resource(a, "RiskAssessment", "ra-3", "2020-01-01")
	f.number(a, "RiskAssessment", "ra-3", "probability", "100.4")

	f.resource(a, "ValueSet", "vs-1", "2020-01-01")
	f.uri(a, "ValueSet", "vs-1", "url", "http://hl7.org/fhir/ValueSet/x")
	f.resource(a, "ValueSet", "vs-2", "2020-01-01")
	f.uri(a, "ValueSet", "vs-2", "url", "http://hl7.org/fhir/ValueSet/x/y")
	f.resource(a, "ValueSet", "vs-3", "2020-01-01")
	f.uri(a, "ValueSet", "vs-3", "url", "http://example.org/vs")

	// Project B: the same names, codes, dates and target ids as A.
	f.resource(b, "Patient", "pat-b1", "2020-01-01")
	f.str(b, "Patient", "pat-b1", "name", "Ann")
	f.str(b, "Patient", "pat-b1", "family", "100%_pure")
	f.token(b, "Patient", "pat-b1", "gender", gender, "female", "")
	f.token(b, "Patient", "pat-b1", "identifier", "urn:mrn", "123", "")
	f.date(b, "Patient", "pat-b1", "birthdate", "1970-05-01")
	f.ref(b, "Patient", "pat-b1", "organization", "Organization/org-1")
	f.compartment(b, "Patient", "pat-b1", orgID)
	f.resource(b, "Organization", "org-1", "2020-01-01") // same id as A's
	f.str(b, "Organization", "org-1", "name", "Acme B")
	f.resource(b, "Observation", "obs-b1", "2020-01-01")
	f.ref(b, "Observation", "obs-b1", "subject", "Patient/pat-ann")
	f.ref(b, "Observation", "obs-b1", "patient", "Patient/pat-ann")
	f.token(b, "Observation", "obs-b1", "code", loinc, "b-only", "heart rate")
	f.resource(b, "RiskAssessment", "ra-b", "2020-01-01")
	f.number(b, "RiskAssessment", "ra-b", "probability", "100")
	f.resource(b, "ValueSet", "vs-b", "2020-01-01")
	f.uri(b, "ValueSet", "vs-b", "url", "http://hl7.org/fhir/ValueSet/x")
}

func mustLow(t *testing.T, date string) int64 {
	low, _, ok := index.DateRange(date)
	if !ok {
		t.Fatalf("bad date %s", date)
	}
	return low
}

func mustHigh(t *testing.T, date string) int64 {
	_, high, ok := index.DateRange(date)
	if !ok {
		t.Fatalf("bad date %s", date)
	}
	return high
}

func principalCtx(p *ward.Principal) context.Context {
	return ward.NewContextWithPrincipal(context.Background(), p)
}

var (
	inA      = &ward.Principal{ProjectID: projA}
	inB      = &ward.Principal{ProjectID: projB}
	inAandB  = &ward.Principal{ProjectID: projA, ReadProjects: []string{projB}}
	asSystem = ward.SystemPrincipal()
)

// run parses query for typ and searches as p.
func run(t *testing.T, s *store.Store, p *ward.Principal, typ, query string) *ward.SearchResult {
	t.Helper()
	v, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	q, err := search.Parse(typ, v)
	if err != nil {
		t.Fatalf("Parse(%s?%s): %v", typ, query, err)
	}
	res, err := s.Search(principalCtx(p), q)
	if err != nil {
		t.Fatalf("Search(%s?%s): %v", typ, query, err)
	}
	return res
}

// ids lists "id" (or "project:id" across projects) in result order.
func ids(rs []*ward.Resource) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

// TestSearchMatches: each parameter type, prefix and modifier selects the
// rows FHIR R4 says it does, in id order, and never a row of project B.
func TestSearchMatches(t *testing.T) {
	cases := []struct {
		typ, query string
		want       []string
	}{
		// string
		{"Patient", "name=ann", []string{"pat-ann"}},
		{"Patient", "name=AN", []string{"pat-ann"}},
		{"Patient", "name=zoe", []string{"pat-zoe"}},
		{"Patient", "name=Zoë", []string{"pat-zoe"}},
		{"Patient", "name=nn", nil},
		{"Patient", "name:exact=Ann", []string{"pat-ann"}},
		{"Patient", "name:exact=ann", nil},
		{"Patient", "name:contains=MIT", []string{"pat-ann"}},
		{"Patient", "family:contains=%25", []string{"pat-zoe"}},
		{"Patient", "family:contains=_", []string{"pat-zoe"}},
		{"Patient", "family:contains=0%25_p", []string{"pat-zoe"}},
		{"Patient", "name=ann,bob", []string{"pat-ann", "pat-bob"}},
		{"Patient", "name=ann&name=smith", []string{"pat-ann"}},
		{"Patient", "name=ann&name=jones", nil},
		{"Patient", "family:missing=true", nil},
		// token
		{"Patient", "gender=female", []string{"pat-ann", "pat-zoe"}},
		{"Patient", "gender=" + gender + "|male", []string{"pat-bob"}},
		{"Patient", "gender=urn:other|male", nil},
		{"Patient", "identifier=|abc", []string{"pat-zoe"}},
		{"Patient", "identifier=|123", nil},
		{"Patient", "identifier=urn:mrn|", []string{"pat-ann"}},
		{"Patient", "gender:not=female", []string{"pat-bob"}},
		{"Patient", "identifier:not=urn:mrn|123", []string{"pat-bob", "pat-zoe"}},
		{"Patient", "identifier:missing=true", []string{"pat-bob"}},
		{"Observation", "code:text=heart", []string{"obs-1"}},
		{"Observation", "code:text=TEMP", []string{"obs-2"}},
		{"Observation", "code=8867-4", []string{"obs-1", "obs-3"}},
		{"Observation", "code=" + loinc + "|8867-4,8310-5", []string{"obs-1", "obs-2"}},
		{"Patient", "_id=pat-ann,pat-bob,pat-b1", []string{"pat-ann", "pat-bob"}},
		{"Patient", "_id:not=pat-ann", []string{"pat-bob", "pat-zoe"}},
		// reference
		{"Observation", "subject=Patient/pat-ann", []string{"obs-1"}},
		{"Observation", "subject=pat-bob", []string{"obs-2"}},
		{"Observation", "subject:Patient=pat-bob", []string{"obs-2"}},
		{"Observation", "subject:Group=pat-bob", nil},
		{"Observation", "subject=http://other.example/Patient/x", []string{"obs-3"}},
		{"Observation", "subject:identifier=urn:mrn|456", []string{"obs-2"}},
		{"Patient", "organization:missing=true", []string{"pat-bob", "pat-zoe"}},
		{"Patient", "organization:missing=false", []string{"pat-ann"}},
		// chains and _has
		{"Observation", "subject:Patient.name=ann", []string{"obs-1"}},
		{"Observation", "patient.name=bob", []string{"obs-2"}},
		{"Observation", "subject:Patient.gender=female", []string{"obs-1"}},
		{"Patient", "_has:Observation:subject:code=8867-4", []string{"pat-ann"}},
		{"Patient", "_has:Observation:subject:code=b-only", nil},
		{"Organization", "_has:Patient:organization:_has:Observation:subject:code=8867-4", []string{"org-1"}},
		{"Organization", "_has:Patient:organization:_has:Observation:subject:code=b-only", nil},
		// date
		{"Patient", "birthdate=1970", []string{"pat-ann"}},
		{"Patient", "birthdate=1970-05", []string{"pat-ann"}},
		{"Patient", "birthdate=1985-03", nil},
		{"Patient", "birthdate=1985", []string{"pat-bob"}},
		{"Patient", "birthdate=ne1970", []string{"pat-bob"}},
		{"Patient", "birthdate=lt1980", []string{"pat-ann"}},
		{"Patient", "birthdate=gt1980", []string{"pat-bob"}},
		{"Patient", "birthdate=le1970-05-01", []string{"pat-ann"}},
		{"Patient", "birthdate=lt1970-05-01", nil},
		{"Patient", "birthdate=ge1985-12-31", []string{"pat-bob"}},
		{"Patient", "birthdate=gt1985-12-31", nil},
		{"Patient", "birthdate=sa1980", []string{"pat-bob"}},
		{"Patient", "birthdate=sa1985-06", nil},
		{"Patient", "birthdate=eb1980", []string{"pat-ann"}},
		{"Patient", "birthdate=ap1971", []string{"pat-ann"}},
		{"Patient", "birthdate:missing=true", []string{"pat-zoe"}},
		{"Patient", "birthdate=ge1970&birthdate=lt1971", []string{"pat-ann"}},
		{"Observation", "date=2021-03-04", []string{"obs-1"}},
		{"Observation", "date=2021-03-04T10:00:00Z", []string{"obs-1"}},
		{"Observation", "date=2021-03-04T11:00:00%2B01:00", []string{"obs-1"}},
		{"Observation", "date=2021-03-04T10:00:01Z", nil},
		{"Patient", "_lastUpdated=gt2021-01-01", []string{"pat-bob", "pat-zoe"}},
		{"Patient", "_lastUpdated=2020-01-01", []string{"pat-ann"}},
		{"Patient", "_lastUpdated=lt2020-01-01,ge2022", []string{"pat-zoe"}},
		{"Encounter", "date=gt2025", []string{"enc-open"}},
		// A search a date drives comes in date order (the start of each
		// period), not id order.
		{"Encounter", "date=ge2020-03-04", []string{"enc-open", "enc-2020"}},
		{"Encounter", "date=ap2020-03-03", []string{"enc-open", "enc-2020"}},
		{"Encounter", "date=sa2020-02", []string{"enc-2020"}},
		{"Encounter", "date=eb2020-04", []string{"enc-2020"}},
		{"Encounter", "date=2020-03", []string{"enc-2020"}},
		{"Encounter", "date=lt2019-06", []string{"enc-open"}},
		// number
		{"RiskAssessment", "probability=100", []string{"ra-2", "ra-3"}},
		{"RiskAssessment", "probability=100.0", []string{"ra-2"}},
		{"RiskAssessment", "probability=1e2", []string{"ra-2", "ra-3"}},
		{"RiskAssessment", "probability=lt1", []string{"ra-1"}},
		{"RiskAssessment", "probability=gt99", []string{"ra-2", "ra-3"}},
		{"RiskAssessment", "probability=ne100", []string{"ra-1"}},
		{"RiskAssessment", "probability=ap100", []string{"ra-2", "ra-3"}},
		{"RiskAssessment", "probability=ge100.4", []string{"ra-3"}},
		{"RiskAssessment", "probability=le0.5", []string{"ra-1"}},
		// quantity
		{"Observation", "value-quantity=72", []string{"obs-1"}},
		{"Observation", "value-quantity=72|" + ucum + "|/min", []string{"obs-1"}},
		{"Observation", "value-quantity=72||beats/min", []string{"obs-1"}},
		{"Observation", "value-quantity=72||/min", []string{"obs-1"}},
		{"Observation", "value-quantity=72|urn:other|/min", nil},
		{"Observation", "value-quantity=gt37|" + ucum + "|Cel", []string{"obs-2"}},
		{"Observation", "value-quantity=lt37", nil},
		{"Observation", "value-quantity=37.5", []string{"obs-2"}},
		// uri
		{"ValueSet", "url=http://hl7.org/fhir/ValueSet/x", []string{"vs-1"}},
		{"ValueSet", "url:below=http://hl7.org/fhir", []string{"vs-1", "vs-2"}},
		{"ValueSet", "url:above=http://hl7.org/fhir/ValueSet/x/y/z", []string{"vs-1", "vs-2"}},
		// _compartment, _project
		{"Patient", "_compartment=Organization/" + orgID, []string{"pat-ann"}},
		{"Patient", "_compartment=" + orgID, []string{"pat-ann"}},
		{"Patient", "_compartment=Organization/org-1", nil},
		{"Patient", "_compartment=" + orgID + "&_compartment=" + projA, nil},
		{"Patient", "_compartment:not=" + orgID, []string{"pat-bob", "pat-zoe"}},
		{"Patient", "_project=" + projB, nil},
		{"Patient", "_project=Project/" + projA, []string{"pat-ann", "pat-bob", "pat-zoe"}},
		// result parameters do not filter
		{"Patient", "_sort=-_id&_total=accurate&_elements=id", []string{"pat-zoe", "pat-bob", "pat-ann"}},
	}
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		seed(t, s)
		for _, c := range cases {
			t.Run(c.typ+"?"+c.query, func(t *testing.T) {
				got := ids(run(t, s, inA, c.typ, c.query).Matches)
				if !slices.Equal(got, c.want) {
					t.Errorf("matches = %v, want %v", got, c.want)
				}
			})
		}
	})
}

// TestSearchProjectWall: the same searches from project B, from a
// principal reading both, and from the system principal see exactly their
// projects' rows.
func TestSearchProjectWall(t *testing.T) {
	cases := []struct {
		p          *ward.Principal
		typ, query string
		want       []string
	}{
		{inB, "Patient", "name=ann", []string{"pat-b1"}},
		{inB, "Patient", "_compartment=" + orgID, []string{"pat-b1"}},
		{inB, "Patient", "_project=" + projA, nil},
		{inB, "Patient", "_has:Observation:subject:code=8867-4", nil},
		{inB, "Observation", "subject:Patient.name=ann", nil},
		{inB, "RiskAssessment", "probability=100", []string{"ra-b"}},
		{inB, "ValueSet", "url:below=http://hl7.org", []string{"vs-b"}},
		{inAandB, "Patient", "name=ann", []string{"pat-ann", "pat-b1"}},
		{inAandB, "Observation", "subject:Patient.name=ann", []string{"obs-1", "obs-4", "obs-b1"}},
		{inAandB, "Patient", "_has:Observation:subject:code=b-only", []string{"pat-ann"}},
		{asSystem, "Patient", "gender=female", []string{"pat-ann", "pat-b1", "pat-zoe"}},
		{asSystem, "Patient", "_project=" + projB, []string{"pat-b1"}},
	}
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		seed(t, s)
		for _, c := range cases {
			t.Run(c.p.ProjectID+"/"+c.typ+"?"+c.query, func(t *testing.T) {
				got := ids(run(t, s, c.p, c.typ, c.query).Matches)
				if !slices.Equal(got, c.want) {
					t.Errorf("matches = %v, want %v", got, c.want)
				}
			})
		}
	})
}

// TestSearchIncludes: _include and _revinclude stay inside the wall, do not
// repeat matches or each other, and :iterate follows further hops.
func TestSearchIncludes(t *testing.T) {
	cases := []struct {
		p              *ward.Principal
		typ, query     string
		matches, extra []string
	}{
		{inA, "Observation", "_id=obs-1&_include=Observation:subject", []string{"obs-1"}, []string{"pat-ann"}},
		{inA, "Observation", "_id=obs-1&_include=Observation:subject:Group", []string{"obs-1"}, nil},
		{inA, "Observation", "_id=obs-1&_include=Observation:*", []string{"obs-1"}, []string{"pat-ann"}},
		{inA, "Observation", "_id=obs-1&_include=Observation:subject&_include=Patient:organization", []string{"obs-1"}, []string{"pat-ann"}},
		{inA, "Observation", "_id=obs-1&_include=Observation:subject&_include:iterate=Patient:organization", []string{"obs-1"}, []string{"pat-ann", "org-1"}},
		{inA, "Observation", "_id=obs-4&_include=Observation:subject", []string{"obs-4"}, nil},
		{inA, "Observation", "_include=Observation:subject&_include=Observation:patient", []string{"obs-1", "obs-2", "obs-3", "obs-4"}, []string{"pat-ann", "pat-bob"}},
		{inA, "Patient", "_id=pat-ann&_revinclude=Observation:subject", []string{"pat-ann"}, []string{"obs-1"}},
		{inA, "Patient", "_id=pat-ann&_revinclude=Observation:subject&_include:iterate=Observation:subject", []string{"pat-ann"}, []string{"obs-1"}},
		{inA, "Organization", "_revinclude=Patient:organization&_revinclude:iterate=Observation:subject", []string{"org-1"}, []string{"pat-ann", "obs-1"}},
		{inB, "Patient", "_revinclude=Observation:subject", []string{"pat-b1"}, nil},
		{inB, "Observation", "_include=Observation:subject", []string{"obs-b1"}, nil},
		{inAandB, "Observation", "_id=obs-4&_include=Observation:subject", []string{"obs-4"}, []string{"pat-b1"}},
	}
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		seed(t, s)
		for _, c := range cases {
			t.Run(c.p.ProjectID+"/"+c.typ+"?"+c.query, func(t *testing.T) {
				res := run(t, s, c.p, c.typ, c.query)
				if got := ids(res.Matches); !slices.Equal(got, c.matches) {
					t.Errorf("matches = %v, want %v", got, c.matches)
				}
				if got := ids(res.Included); !slices.Equal(got, c.extra) {
					t.Errorf("included = %v, want %v", got, c.extra)
				}
			})
		}
	})
}

// TestSearchPagingSortTotal: pages are stable and complete, sort keys put
// missing values last, totals are counted only when asked.
func TestSearchPagingSortTotal(t *testing.T) {
	cases := []struct {
		typ, query string
		want       []string
		total      int
		hasMore    bool
	}{
		{"Patient", "", []string{"pat-ann", "pat-bob", "pat-zoe"}, -1, false},
		{"Patient", "_count=2", []string{"pat-ann", "pat-bob"}, -1, true},
		{"Patient", "_count=2&_offset=2", []string{"pat-zoe"}, -1, false},
		{"Patient", "_count=3", []string{"pat-ann", "pat-bob", "pat-zoe"}, -1, false},
		{"Patient", "_count=1&_offset=1&_total=accurate", []string{"pat-bob"}, 3, true},
		{"Patient", "gender=female&_total=accurate", []string{"pat-ann", "pat-zoe"}, 2, false},
		{"Patient", "gender=female&_count=1&_offset=1", []string{"pat-zoe"}, -1, false},
		{"Patient", "_total=none", []string{"pat-ann", "pat-bob", "pat-zoe"}, -1, false},
		{"Patient", "_summary=count", nil, 3, false},
		{"Patient", "name=ann&_summary=count", nil, 1, false},
		{"Patient", "_sort=birthdate", []string{"pat-ann", "pat-bob", "pat-zoe"}, -1, false},
		{"Patient", "_sort=-birthdate", []string{"pat-bob", "pat-ann", "pat-zoe"}, -1, false},
		{"Patient", "_sort=-_lastUpdated", []string{"pat-zoe", "pat-bob", "pat-ann"}, -1, false},
		{"Patient", "_sort=_lastUpdated&_count=1&_offset=2", []string{"pat-zoe"}, -1, false},
		{"Patient", "_sort=family", []string{"pat-zoe", "pat-bob", "pat-ann"}, -1, false},
		{"Patient", "_sort=gender,-_id", []string{"pat-zoe", "pat-ann", "pat-bob"}, -1, false},
		{"RiskAssessment", "_sort=-probability", []string{"ra-3", "ra-2", "ra-1"}, -1, false},
		{"Observation", "_sort=date&code=8867-4,8310-5", []string{"obs-1", "obs-2", "obs-3"}, -1, false},
		// A sorted search with an equality and a date range checks the range
		// inside the equality's subquery (probeRangesBeside): same rows.
		{"Observation", "subject=Patient/pat-ann&date=ge2021-01-01&_sort=-date", []string{"obs-1"}, -1, false},
		{"Observation", "subject=Patient/pat-ann&date=ge2021-04-01&_sort=-date", nil, -1, false},
		{"Observation", "code=8867-4&date=ge2021-01-01&date=lt2021-12-31&_sort=date", []string{"obs-1"}, -1, false},
		{"Observation", "code=8867-4,8310-5&date=ge2021-01-01&_sort=-date", []string{"obs-2", "obs-1"}, -1, false},
		{"Observation", "code=8310-5&date=ge2021-06-01,lt2021-03-05&_sort=date", []string{"obs-2"}, -1, false},
		{"Observation", "patient=Patient/pat-bob&date=ge2021-01-01&_sort=-date&_total=accurate", []string{"obs-2"}, 1, false},
	}
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		seed(t, s)
		for _, c := range cases {
			t.Run(c.typ+"?"+c.query, func(t *testing.T) {
				res := run(t, s, inA, c.typ, c.query)
				if got := ids(res.Matches); !slices.Equal(got, c.want) {
					t.Errorf("matches = %v, want %v", got, c.want)
				}
				if res.Total != c.total || res.HasMore != c.hasMore {
					t.Errorf("total %d, hasMore %v; want %d, %v", res.Total, res.HasMore, c.total, c.hasMore)
				}
			})
		}
	})
}

// TestSearchResultContent: a match carries the stored version as read.
func TestSearchResultContent(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		seed(t, s)
		res := run(t, s, inA, "Patient", "_id=pat-bob")
		if len(res.Matches) != 1 {
			t.Fatalf("matches = %v", ids(res.Matches))
		}
		m := res.Matches[0]
		want := time.Date(2021, 6, 1, 0, 0, 0, 0, time.UTC)
		if m.Type != "Patient" || m.VersionID != "v-pat-bob" || m.ProjectID != projA || !m.LastUpdated.Equal(want) ||
			!strings.Contains(string(m.Content), `"id":"pat-bob"`) {
			t.Errorf("match = %+v (%s)", m, m.Content)
		}
	})
}

// TestSearchWithoutPrincipal: no caller, no query.
func TestSearchWithoutPrincipal(t *testing.T) {
	s := storetest.OpenSQLite(t)
	q, _ := search.Parse("Patient", url.Values{})
	if _, err := s.Search(context.Background(), q); err == nil {
		t.Fatal("search without a principal ran")
	}
}

// criteria parses AccessPolicy-style criteria into a predicate entry.
func criteria(t *testing.T, c string) []ward.SearchFilter {
	t.Helper()
	q, err := search.ParseCriteria(c)
	if err != nil {
		t.Fatalf("ParseCriteria(%s): %v", c, err)
	}
	return q.Filters
}

// TestSearchPredicate: the extra predicate (the seam for access policies)
// limits matches, chain targets, _has sources and included resources of
// each restricted type, and leaves other types alone.
func TestSearchPredicate(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		seed(t, s)
		policies := map[string]store.Predicate{
			"female patients": func(typ string) ([][]ward.SearchFilter, bool) {
				if typ == "Patient" {
					return [][]ward.SearchFilter{criteria(t, "Patient?gender=female")}, true
				}
				return nil, false
			},
			"male or zoe": func(typ string) ([][]ward.SearchFilter, bool) {
				if typ == "Patient" {
					return [][]ward.SearchFilter{criteria(t, "Patient?gender=male"), criteria(t, "Patient?name=zoe")}, true
				}
				return nil, false
			},
			"heart rate only": func(typ string) ([][]ward.SearchFilter, bool) {
				if typ == "Observation" {
					return [][]ward.SearchFilter{criteria(t, "Observation?code=8867-4&subject:Patient.name=ann")}, true
				}
				return nil, false
			},
			"organization compartment": func(typ string) ([][]ward.SearchFilter, bool) {
				return [][]ward.SearchFilter{criteria(t, typ+"?_compartment=Organization/"+orgID)}, true
			},
			"nothing": func(string) ([][]ward.SearchFilter, bool) { return nil, true },
		}
		cases := []struct {
			policy, typ, query string
			matches, included  []string
			total              int
		}{
			{"female patients", "Patient", "_total=accurate", []string{"pat-ann", "pat-zoe"}, nil, 2},
			{"female patients", "Patient", "name=bob", nil, nil, -1},
			{"female patients", "Observation", "subject:Patient.name=bob", nil, nil, -1},
			{"female patients", "Observation", "subject:Patient.name=ann", []string{"obs-1"}, nil, -1},
			{"female patients", "Observation", "code=" + loinc + "|8867-4,8310-5&_include=Observation:subject", []string{"obs-1", "obs-2"}, []string{"pat-ann"}, -1},
			{"female patients", "Observation", "code=" + loinc + "|8867-4,8310-5&_include=Observation:*", []string{"obs-1", "obs-2"}, []string{"pat-ann"}, -1},
			{"female patients", "Organization", "_has:Patient:organization:gender=female", []string{"org-1"}, nil, -1},
			{"male or zoe", "Patient", "", []string{"pat-bob", "pat-zoe"}, nil, -1},
			{"male or zoe", "Organization", "_has:Patient:organization:name=ann", nil, nil, -1},
			{"heart rate only", "Observation", "_total=accurate", []string{"obs-1"}, nil, 1},
			{"heart rate only", "Patient", "_revinclude=Observation:subject", []string{"pat-ann", "pat-bob", "pat-zoe"}, []string{"obs-1"}, -1},
			{"organization compartment", "Patient", "", []string{"pat-ann"}, nil, -1},
			{"organization compartment", "Observation", "_include=Observation:subject", nil, nil, -1},
			{"nothing", "Patient", "_total=accurate", nil, nil, 0},
		}
		for _, c := range cases {
			t.Run(c.policy+"/"+c.typ+"?"+c.query, func(t *testing.T) {
				v, _ := url.ParseQuery(c.query)
				q, err := search.Parse(c.typ, v)
				if err != nil {
					t.Fatal(err)
				}
				res, err := store.SearchWithPredicate(principalCtx(inA), s, q, policies[c.policy])
				if err != nil {
					t.Fatal(err)
				}
				if got := ids(res.Matches); !slices.Equal(got, c.matches) {
					t.Errorf("matches = %v, want %v", got, c.matches)
				}
				if got := ids(res.Included); !slices.Equal(got, c.included) {
					t.Errorf("included = %v, want %v", got, c.included)
				}
				if res.Total != c.total {
					t.Errorf("total = %d, want %d", res.Total, c.total)
				}
			})
		}
	})
}

// A token search with _lastUpdated, sorted: _lastUpdated is the resource
// row's column, never an index row checked beside the token's (that found
// nothing: the reaper of websocket Subscriptions asked exactly this).
func TestSearchLastUpdatedBesideAToken(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		f := newSAFixture(t, s)
		err := s.Write(f.admin, func(ctx context.Context, tx ward.ResourceTx) error {
			_, err := tx.Create(ctx, "Subscription", []byte(`{"resourceType":"Subscription","status":"active","reason":"x","criteria":"Patient","channel":{"type":"websocket"}}`))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		later := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		for _, tc := range []struct {
			query url.Values
			want  int
		}{
			{url.Values{"type": {"websocket"}, "_lastUpdated": {"lt" + later}}, 1},
			{url.Values{"type": {"websocket"}, "_lastUpdated": {"lt" + later}, "_sort": {"_id"}}, 1},
			{url.Values{"type": {"websocket"}, "_lastUpdated": {"lt" + later}, "_sort": {"-_lastUpdated"}}, 1},
			{url.Values{"type": {"websocket"}, "_lastUpdated": {"gt" + later}, "_sort": {"_id"}}, 0},
			{url.Values{"type": {"rest-hook"}, "_lastUpdated": {"lt" + later}, "_sort": {"_id"}}, 0},
		} {
			q, err := search.Parse("Subscription", tc.query)
			if err != nil {
				t.Fatal(err)
			}
			res, err := s.Search(f.admin, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Matches) != tc.want {
				t.Errorf("Subscription?%s: %d matches, want %d", tc.query.Encode(), len(res.Matches), tc.want)
			}
		}
	})
}
