package store

import (
	"slices"
	"testing"

	"github.com/wardhealth/ward"
)

// TestPlanSearch asserts the plan (not the SQL) of each search shape for
// the project admin and for a clinician whose policy confines Observations
// to 1 or to 50 clinics: what drives the page, what is probed, whether the
// policy is checked on index rows, the order pages are cut in, and the
// projects it reads. measurePlan may still turn an index plan with a
// compartment alternative around (TestPlanMeasured).
func TestPlanSearch(t *testing.T) {
	const clinic = "0190b3a4-5c6d-7e8f-9a0b-1c2d3e4f5a6b"
	clinics := []ward.SearchValue{}
	for i := range 50 {
		clinics = append(clinics, ward.SearchValue{Value: "Organization/0190b3a4-5c6d-7e8f-9a0b-1c2d3e4f5a" + string(rune('a'+i/10)) + string(rune('0'+i%10))})
	}
	compartments := func(values []ward.SearchValue) Predicate {
		return func(typ string) ([][]ward.SearchFilter, bool) {
			return [][]ward.SearchFilter{{{Code: "_compartment", Type: "reference", Values: values}}}, true
		}
	}
	// A policy that is not only compartments: it cannot be checked on an
	// index row.
	byStatus := func(typ string) ([][]ward.SearchFilter, bool) {
		return [][]ward.SearchFilter{parseQuery(t, "Observation", "status=final").Filters}, true
	}
	admin := &ward.Principal{ProjectID: "pa", Admin: true}
	clinician := &ward.Principal{ProjectID: "pa"}
	linked := &ward.Principal{ProjectID: "pa", ReadProjects: []string{"pb"}}
	callers := map[string]struct {
		p     *ward.Principal
		extra Predicate
	}{
		"admin":    {admin, nil},
		"clinic1":  {clinician, compartments([]ward.SearchValue{{Value: "Organization/" + clinic}})},
		"clinic50": {clinician, compartments(clinics)},
		"status":   {clinician, byStatus},
		"linked1":  {linked, compartments([]ward.SearchValue{{Value: "Organization/" + clinic}})},
		// A Patient compartment is not in the compartment index.
		"patient1": {clinician, compartments([]ward.SearchValue{{Value: "Patient/" + clinic}})},
	}
	type want struct {
		driver        driverKind
		filter        int
		compartment   string
		probes        []int
		beside        []int
		policyOnIndex bool
		order         pageOrder
		projects      []string
		offset        int
	}
	pa := []string{"pa"}
	cases := []struct {
		who, query string
		want       want
	}{
		// No filter: the table in id order, or the one clinic's compartment.
		{"admin", "_count=20", want{driver: driveTable, filter: -1, projects: pa}},
		{"clinic1", "_count=20", want{driver: driveCompartment, filter: -1, compartment: clinic, projects: pa}},
		{"clinic50", "_count=20", want{driver: driveTable, filter: -1, projects: pa}},
		// code=: the token index in id order; one clinic walks the token's
		// rows in the clinic's compartment index, in the same order; a
		// Patient compartment has the clinic as the alternative measurePlan
		// weighs.
		{"admin", "code=http://loinc.org|8867-4", want{driver: driveIndex, filter: 0, projects: pa}},
		{"clinic1", "code=http://loinc.org|8867-4", want{driver: driveCompartmentIndex, filter: 0, compartment: clinic, projects: pa}},
		{"clinic1", "code=8867-4&date=ge2020-01-01", want{driver: driveCompartmentIndex, filter: 0, compartment: clinic, projects: pa}},
		{"patient1", "code=http://loinc.org|8867-4", want{driver: driveIndex, filter: 0, compartment: clinic, projects: pa}},
		// Not in the compartment index: a reference, a token without a code
		// or with a modifier.
		{"clinic1", "subject=Patient/" + clinic, want{driver: driveIndex, filter: 0, compartment: clinic, projects: pa}},
		{"clinic1", "code=http://loinc.org|", want{driver: driveCompartment, filter: -1, compartment: clinic, projects: pa}},
		{"clinic1", "code:not=8867-4", want{driver: driveCompartment, filter: -1, compartment: clinic, projects: pa}},
		{"clinic50", "code=http://loinc.org|8867-4", want{driver: driveIndex, filter: 0, projects: pa}},
		{"linked1", "code=http://loinc.org|8867-4", want{driver: driveIndex, filter: 0, projects: []string{"pa", "pb"}}},
		// A date range: the date index in date order, the compartments
		// checked on each index row when the policy is only compartments.
		{"admin", "date=ge2020-01-01&date=lt2020-02-01", want{driver: driveDate, filter: 0, order: orderDate, projects: pa}},
		{"clinic1", "date=ge2020-01-01&date=lt2020-02-01", want{driver: driveCompartmentIndex, filter: 0, compartment: clinic, order: orderDate, projects: pa}},
		{"patient1", "date=ge2020-01-01&date=lt2020-02-01", want{driver: driveDate, filter: 0, policyOnIndex: true, order: orderDate, projects: pa}},
		{"clinic50", "date=ge2020-01-01&date=lt2020-02-01", want{driver: driveDate, filter: 0, policyOnIndex: true, order: orderDate, projects: pa}},
		{"status", "date=ge2020-01-01&date=lt2020-02-01", want{driver: driveDate, filter: 0, order: orderDate, projects: pa}},
		{"admin", "date=ge2020-01-01&_compartment=Organization/" + clinic, want{driver: driveDate, filter: 1, order: orderDate, projects: pa}},
		// code= and a date: the equality drives, in id order. (The parser
		// orders filters by code.)
		{"clinic50", "date=ge2020-01-01&code=8867-4", want{driver: driveIndex, filter: 0, projects: pa}},
		// _sort: the table in sort order; a range beside an equality is
		// checked inside the equality's subquery.
		{"admin", "_sort=-date", want{driver: driveTable, filter: -1, order: orderSort, projects: pa}},
		{"clinic1", "_sort=-date", want{driver: driveTable, filter: -1, order: orderSort, projects: pa}},
		{"clinic50", "code=8867-4&date=ge2020-01-01&_sort=-date", want{driver: driveTable, filter: 0, beside: []int{1}, order: orderSort, projects: pa}},
		// Page 2 keeps the plan of page 1.
		{"admin", "code=8867-4&_count=20&_offset=20", want{driver: driveIndex, filter: 0, projects: pa, offset: 20}},
		{"clinic1", "date=ge2020-01-01&_count=20&_offset=20", want{driver: driveCompartmentIndex, filter: 0, compartment: clinic, order: orderDate, projects: pa, offset: 20}},
		{"clinic1", "code=8867-4&_count=20&_offset=20", want{driver: driveCompartmentIndex, filter: 0, compartment: clinic, projects: pa, offset: 20}},
		// A chain never drives: the table (or the clinic) with the chain
		// checked on each row.
		{"admin", "subject:Patient.name=ann", want{driver: driveTable, filter: -1, projects: pa}},
		{"clinic1", "subject:Patient.name=ann", want{driver: driveCompartment, filter: -1, compartment: clinic, projects: pa}},
		// An or of references drives from their union, even beside a date.
		{"clinic50", "_filter=subject eq Patient/a or performer eq Practitioner/b&date=ge2020-01-01", want{driver: driveOr, filter: 0, projects: pa}},
	}
	for _, c := range cases {
		caller := callers[c.who]
		q := parseQuery(t, "Observation", c.query)
		pl, err := planSearch(caller.p, q, caller.extra, 21)
		if err != nil {
			t.Fatalf("%s %s: %v", c.who, c.query, err)
		}
		w := c.want
		got := want{pl.Driver, pl.Filter, pl.Compartment, pl.Probes, pl.RangesBeside, pl.PolicyOnIndex, pl.Order, pl.Projects, pl.Offset}
		if got.driver != w.driver || got.filter != w.filter || got.compartment != w.compartment || !slices.Equal(got.probes, w.probes) ||
			!slices.Equal(got.beside, w.beside) || got.policyOnIndex != w.policyOnIndex || got.order != w.order ||
			!slices.Equal(got.projects, w.projects) || got.offset != w.offset {
			t.Errorf("%s Observation?%s:\n got %+v\nwant %+v", c.who, c.query, got, w)
		}
		if pl.Rows != -1 || pl.Limit != 21 {
			t.Errorf("%s %s: rows %d limit %d before measuring, want -1 and 21", c.who, c.query, pl.Rows, pl.Limit)
		}
		// Every plan compiles, and carries the wall.
		if _, _, err := compilePlan(caller.p, q, caller.extra, SQLite{}, pl); err != nil {
			t.Errorf("%s %s: compile: %v", c.who, c.query, err)
		}
	}
}

// TestPlanFromCompartment: only an index plan with a compartment
// alternative turns into a compartment-driven one, its filter a probe;
// a date plan keeps its date order.
func TestPlanFromCompartment(t *testing.T) {
	cases := []struct {
		in, want searchPlan
	}{
		{searchPlan{Driver: driveIndex, Filter: 0, Compartment: "c"}, searchPlan{Driver: driveCompartment, Filter: 0, Compartment: "c", Probes: []int{0}}},
		{searchPlan{Driver: driveIndex, Filter: 0}, searchPlan{Driver: driveIndex, Filter: 0}},
		{searchPlan{Driver: driveDate, Filter: 0, Order: orderDate}, searchPlan{Driver: driveDate, Filter: 0, Order: orderDate}},
	}
	for _, c := range cases {
		if got := c.in.fromCompartment(); got.String() != c.want.String() {
			t.Errorf("%v.fromCompartment() = %v, want %v", c.in, got, c.want)
		}
	}
}
