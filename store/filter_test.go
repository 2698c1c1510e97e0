package store_test

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/search"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestSearchFilterExpr: a _filter with or, not and parentheses returns
// exactly the rows the plain searches of its comparisons, joined as unions,
// intersections and complements, return — on every engine, under the
// project wall (project B holds look-alikes of A's rows), across two
// projects, with an access policy, sorted and counted.
func TestSearchFilterExpr(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		seed(t, s)
		femaleOrCompartment := func(typ string) ([][]ward.SearchFilter, bool) {
			if typ == "Patient" {
				return [][]ward.SearchFilter{criteria(t, "Patient?gender=female"), criteria(t, "Patient?_compartment=Organization/"+orgID)}, true
			}
			return nil, false
		}
		cases := []struct {
			typ, filter string
		}{
			{"Observation", "subject eq Patient/pat-ann or subject eq Patient/pat-bob or code eq 8310-5"},
			{"Observation", "subject eq Patient/pat-ann or patient eq Patient/pat-bob"},
			{"Observation", "not (code eq " + loinc + "|8867-4)"},
			{"Observation", "code ne 8867-4 or date ge 2022"},
			{"Observation", "(code eq 8867-4 and subject eq Patient/pat-ann) or (code eq 8310-5 and not (subject eq Patient/pat-ann))"},
			{"Observation", "value-quantity gt 50 or value-quantity lt 30"},
			{"Observation", "subject:Patient.name eq Ann or subject:Patient.gender eq male"},
			{"Observation", "subject pr false or code eq 8310-5"},
			{"Patient", "name eq Ann or name co on"},
			{"Patient", "not (gender eq female) and name sw b"},
			{"Patient", "family ne Smith"},
			{"Patient", "birthdate lt 1980 or birthdate eq 1985 or identifier eq abc"},
			{"Patient", "_id eq pat-ann or _id eq pat-b1 or not (_lastUpdated lt 2022)"},
			{"Patient", "_has:Observation:subject:code eq 8310-5 or _compartment eq Organization/" + orgID},
			{"Patient", "organization:Organization.name eq Acme or gender eq male"},
			{"Organization", "name eq Acme or not (name eq Acme)"},
			{"RiskAssessment", "probability ge 100 or not (probability ap 0.5)"},
			{"ValueSet", "url eq http://hl7.org/fhir/ValueSet/x or url ne http://example.org/vs"},
			{"Encounter", "date sa 2020-12-31 or date eb 2019-06-01"},
		}
		for _, c := range cases {
			for _, who := range []struct {
				name   string
				p      *ward.Principal
				policy store.Predicate
			}{{"A", inA, nil}, {"B", inB, nil}, {"A and B", inAandB, nil}, {"A with a policy", inA, femaleOrCompartment}} {
				t.Run(who.name+"/"+c.typ+"?"+c.filter, func(t *testing.T) {
					e, err := search.ParseFilter(c.typ, c.filter)
					if err != nil {
						t.Fatal(err)
					}
					search := func(q *ward.SearchQuery) *ward.SearchResult {
						t.Helper()
						q.Count = 1000
						res, err := store.SearchWithPredicate(principalCtx(who.p), s, q, who.policy)
						if err != nil {
							t.Fatalf("%+v: %v", q, err)
						}
						return res
					}
					all := rowKeys(search(&ward.SearchQuery{ResourceType: c.typ}).Matches)
					want := evalFilter(e, all, func(f ward.SearchFilter) []string {
						return rowKeys(search(&ward.SearchQuery{ResourceType: c.typ, Filters: []ward.SearchFilter{f}}).Matches)
					})
					q := parse(t, c.typ, url.Values{"_filter": {c.filter}, "_total": {"accurate"}})
					res := search(q)
					if got := rowKeys(res.Matches); !slices.Equal(got, want) {
						t.Errorf("matches = %v, want %v (of %v)", got, want, all)
					}
					if res.Total != len(want) {
						t.Errorf("total = %d, want %d", res.Total, len(want))
					}
					// Sorted, and in pages of one: the same rows.
					q = parse(t, c.typ, url.Values{"_filter": {c.filter}, "_sort": {"-_lastUpdated"}})
					if got := rowKeys(search(q).Matches); !sameSet(got, want) {
						t.Errorf("sorted: %v, want %v", got, want)
					}
				})
			}
		}
	})
}

func parse(t *testing.T, typ string, v url.Values) *ward.SearchQuery {
	t.Helper()
	q, err := search.Parse(typ, v)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// evalFilter is the oracle: the ids e selects out of all (in id order),
// each comparison answered by a plain search.
func evalFilter(e *ward.FilterExpr, all []string, plain func(ward.SearchFilter) []string) []string {
	switch e.Op {
	case ward.FilterCompare:
		return plain(e.Compare.Filter)
	case ward.FilterNot:
		inner := evalFilter(&e.Operands[0], all, plain)
		return slices.DeleteFunc(slices.Clone(all), func(id string) bool { return slices.Contains(inner, id) })
	}
	sets := make([][]string, len(e.Operands))
	for i := range e.Operands {
		sets[i] = evalFilter(&e.Operands[i], all, plain)
	}
	return slices.DeleteFunc(slices.Clone(all), func(id string) bool {
		for _, s := range sets {
			in := slices.Contains(s, id)
			if e.Op == ward.FilterOr && in {
				return false
			}
			if e.Op == ward.FilterAnd && !in {
				return true
			}
		}
		return e.Op == ward.FilterOr
	})
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// rowKeys are project/id: two projects may hold the same id.
func rowKeys(rs []*ward.Resource) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.ProjectID[:4]+"/"+r.ID)
	}
	return out
}

// TestFilterOrDriven: a timeline's or of references is read from the
// references' index (SQLite's plan seeks search_reference_target and scans
// no Tasks), and its pages — in id order and sorted — are those of the
// union of the plain searches.
func TestFilterOrDriven(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		ctx := as(uuid.NewString())
		patients := loadTasks(t, s, ctx, 300, 30)
		x, y := patients[3], patients[4]
		filter := "based-on eq " + x + " or focus eq " + x + " or subject eq " + x + " or subject eq " + y
		var want []string
		for _, plain := range []url.Values{{"based-on": {x}}, {"focus": {x}}, {"subject": {x}}, {"subject": {y}}} {
			plain.Set("_count", "1000")
			res, err := s.Search(ctx, parse(t, "Task", plain))
			if err != nil {
				t.Fatal(err)
			}
			want = append(want, ids(res.Matches)...)
		}
		slices.Sort(want)
		want = slices.Compact(want)
		if len(want) < 10 {
			t.Fatalf("only %d Tasks point at X or Y", len(want))
		}
		for _, sorted := range []bool{false, true} {
			var got []string
			for offset := 0; offset < len(want)+3; offset += 3 {
				v := url.Values{"_filter": {filter}, "_count": {"3"}, "_offset": {fmt.Sprint(offset)}}
				if sorted {
					v.Set("_sort", "_id")
				}
				res, err := s.Search(ctx, parse(t, "Task", v))
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, ids(res.Matches)...)
			}
			if !slices.Equal(got, want) {
				t.Errorf("sorted %v: pages %v, want %v", sorted, got, want)
			}
		}
		if s.Dialect().Name() != "sqlite" {
			return
		}
		query, args, err := s.SearchSQL(ctx, parse(t, "Task", url.Values{"_filter": {filter}}))
		if err != nil {
			t.Fatal(err)
		}
		rows, err := s.WriterDB().Query("EXPLAIN QUERY PLAN "+query, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		text := strings.Join(plan, "\n")
		if strings.Contains(text, "SCAN r") || !strings.Contains(text, "search_reference_target") {
			t.Errorf("plan reads every Task:\n%s", text)
		}
	})
}
