package store

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/search"
)

func parseQuery(t *testing.T, typ, query string) *ward.SearchQuery {
	t.Helper()
	v, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	q, err := search.Parse(typ, v)
	if err != nil {
		t.Fatalf("Parse(%s?%s): %v", typ, query, err)
	}
	return q
}

// wallQueries exercise every kind of table a search opens.
var wallQueries = []struct{ typ, query string }{
	{"Patient", ""},
	{"Patient", "name=ann&gender:not=male&birthdate=ge1970&identifier:missing=true"},
	{"Patient", "_compartment=Organization/0f0f0f0f-0000-4000-8000-000000000003&_sort=-birthdate,name"},
	{"Observation", "subject:Patient.name=ann&value-quantity=gt5||mg&code:text=heart"},
	{"Observation", "code=8867-4&date=ge2020&date=lt2021"},
	{"Observation", "subject=Patient/1"},
	{"Patient", "_has:Observation:subject:_has:Provenance:target:agent=Practitioner/1"},
	{"RiskAssessment", "probability=ap5&_total=accurate"},
	{"Library", "url:above=http://a/b&url:below=http://a"}, // not a definition type: R4 would join the wall
}

// aliasRE finds every table alias a query opens.
var aliasRE = regexp.MustCompile(`(?:FROM|JOIN) (\w+) (\w+)`)

// TestCompileWall: every table the compiler reads — resources, index
// tables, compartments, chain targets, _has sources, sort subqueries — is
// limited to the principal's projects. Only the system principal goes
// without.
func TestCompileWall(t *testing.T) {
	principals := []struct {
		name string
		p    *ward.Principal
		wall string // how a wall on alias %s reads
	}{
		{"own project", &ward.Principal{ProjectID: "pa"}, "%s.project_id = ?"},
		{"linked projects", &ward.Principal{ProjectID: "pa", ReadProjects: []string{"pb"}}, "%s.project_id IN (?, ?)"},
	}
	for _, pr := range principals {
		for _, wq := range wallQueries {
			t.Run(pr.name+"/"+wq.typ+"?"+wq.query, func(t *testing.T) {
				sql, args, err := compileSearch(pr.p, parseQuery(t, wq.typ, wq.query), nil, 21, SQLite{})
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range aliasRE.FindAllStringSubmatch(sql, -1) {
					alias := m[2]
					correlated := regexp.MustCompile(regexp.QuoteMeta(alias) + `\.project_id = \w+\.project_id`)
					if !strings.Contains(sql, fmt.Sprintf(pr.wall, alias)) && !correlated.MatchString(sql) {
						t.Errorf("%s %s is not limited to the principal's projects:\n%s", m[1], alias, sql)
					}
				}
				if !strings.Contains(sql, "r.deleted = 0") {
					t.Errorf("deleted rows not excluded:\n%s", sql)
				}
				if n := strings.Count(sql, "?"); n != len(args) {
					t.Errorf("%d placeholders, %d args", n, len(args))
				}
			})
		}
	}
	t.Run("system", func(t *testing.T) {
		sql, _, err := compileSearch(ward.SystemPrincipal(), parseQuery(t, "Patient", "name=ann"), nil, 21, SQLite{})
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(sql, "project_id = ?") || strings.Contains(sql, "project_id IN") {
			t.Errorf("system search is walled:\n%s", sql)
		}
	})
}

// TestCompileValuesAreArgs: a value never becomes SQL text, whatever it
// holds and whichever parameter carries it.
func TestCompileValuesAreArgs(t *testing.T) {
	const hostile = `x') OR 1=1; DROP TABLE resources; --`
	escaped := url.QueryEscape(hostile)
	cases := []struct{ typ, query string }{
		{"Patient", "name=" + escaped},
		{"Patient", "name:exact=" + escaped},
		{"Patient", "name:contains=" + escaped},
		{"Patient", "gender=" + escaped + "|" + escaped},
		{"Patient", "gender:text=" + escaped},
		{"Patient", "_id=" + escaped},
		{"Patient", "_compartment=" + escaped},
		{"Patient", "_project=" + escaped},
		{"Patient", "organization=" + escaped},
		{"Observation", "subject:identifier=" + escaped},
		{"Observation", "value-quantity=5|" + escaped + "|" + escaped},
		{"ValueSet", "url:above=" + escaped},
		{"Observation", "subject:Patient.name=" + escaped},
		{"Patient", "_has:Observation:subject:code=" + escaped},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			sql, _, err := compileSearch(&ward.Principal{ProjectID: "pa"}, parseQuery(t, c.typ, c.query), nil, 21, Postgres{})
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(sql, "1=1") || strings.Contains(sql, "DROP") {
				t.Errorf("value written into the SQL text:\n%s", sql)
			}
		})
	}
}

// TestCompileSemantics pins the condition each modifier and prefix
// compiles to (x stands for any index-table alias).
func TestCompileSemantics(t *testing.T) {
	cases := []struct{ typ, query, want string }{
		{"Patient", "name=ann", "(x.value >= ? AND x.value < ?)"},
		{"Patient", "name:exact=Ann", "x.exact = ?"},
		{"Patient", "name:contains=an", `x.value LIKE ? ESCAPE '\'`},
		{"Patient", "name:missing=true", "NOT (r.project_id, r.id) IN (SELECT x.project_id, x.resource_id FROM search_string "},
		{"Patient", "name:missing=false", "AND (r.project_id, r.id) IN (SELECT x.project_id, x.resource_id FROM search_string "},
		{"Patient", "gender:not=male", "NOT (r.project_id, r.id) IN (SELECT x.project_id, x.resource_id FROM search_token "},
		{"Patient", "identifier=urn:mrn|", "(x.system = ?)"},
		{"Patient", "identifier=|123", "(x.system = ? AND x.code = ?)"},
		{"Observation", "subject:identifier=urn:mrn|1", "FROM search_token "},
		{"Patient", "birthdate=1970", "(x.low >= ? AND x.high <= ?)"},
		{"Patient", "birthdate=ne1970", "NOT (x.low >= ? AND x.high <= ?)"},
		{"Patient", "birthdate=lt1970", "x.low < ?"},
		{"Patient", "birthdate=gt1970", "x.high > ?"},
		{"Patient", "birthdate=le1970", "x.low <= ?"},
		{"Patient", "birthdate=ge1970", "x.high >= ?"},
		{"Patient", "birthdate=sa1970", "x.low > ?"},
		{"Patient", "birthdate=eb1970", "x.high < ?"},
		{"Patient", "birthdate=ap1970", "(x.low <= ? AND x.high >= ?)"},
		{"RiskAssessment", "probability=100", "(x.value >= ? AND x.value < ?)"},
		{"ValueSet", "url=http://a", "x.value = ?"},
		{"ValueSet", "url:below=http://a", "(x.value >= ? AND x.value < ?)"},
		{"Patient", "_lastUpdated=ge2020", "(r.last_updated >= ?)"},
		{"Patient", "_project:missing=true", "r.project_id = ''"},
		{"Patient", "", "ORDER BY r.id LIMIT ? OFFSET ?"},
		{"Patient", "_sort=-birthdate", "(SELECT MAX(x.high) FROM search_date "},
		{"Patient", "_sort=birthdate", "(SELECT MIN(x.low) FROM search_date "},
	}
	for _, c := range cases {
		t.Run(c.typ+"?"+c.query, func(t *testing.T) {
			sql, _, err := compileSearch(&ward.Principal{ProjectID: "pa"}, parseQuery(t, c.typ, c.query), nil, 21, SQLite{})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(normalizeAliases(sql), c.want) {
				t.Errorf("SQL lacks %q:\n%s", c.want, sql)
			}
		})
	}
}

// normalizeAliases writes every index-table alias (t1, d2, s3…) as x, so
// the snippets above do not depend on which plan the compiler picked.
func normalizeAliases(sql string) string { return indexAliasRE.ReplaceAllString(sql, "x.") }

var indexAliasRE = regexp.MustCompile(`\b[tdsw]\d+\.`)

// TestCompileArgs: the search values reach the database in the form the
// index stores them.
func TestCompileArgs(t *testing.T) {
	cases := []struct {
		typ, query string
		want       []any // expected among the args
	}{
		{"Patient", "name=Zoë", []any{"zoe", "zoe\U0010FFFF"}},
		{"Patient", "name:contains=50%25_x", []any{`%50\%\_x%`}},
		{"Patient", "gender:text=Heart", []any{"%heart%"}},
		{"Patient", `identifier=a\|b|c`, []any{"a|b", "c"}},
		{"RiskAssessment", "probability=100", []any{99.5, 100.5}},
		{"Patient", "_compartment=Organization/not-a-uuid", []any{nilUUID}},
		{"Patient", "_project=Project/pb", []any{"pb"}},
		{"Observation", "subject=Patient/p1", []any{"Patient", "p1"}},
		{"Observation", "subject=http://x/Patient/p1", []any{"http://x/Patient/p1"}},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			_, args, err := compileSearch(&ward.Principal{ProjectID: "pa"}, parseQuery(t, c.typ, c.query), nil, 21, SQLite{})
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				found := false
				for _, a := range args {
					found = found || a == w
				}
				if !found {
					t.Errorf("args %q lack %q", args, w)
				}
			}
		})
	}
}

// TestCompileRequiresPrincipal: without a caller there is no wall to
// write, so nothing is compiled.
func TestCompileRequiresPrincipal(t *testing.T) {
	q := parseQuery(t, "Patient", "name=ann")
	for _, p := range []*ward.Principal{nil, {}, {ReadProjects: []string{"pb"}}} {
		if sql, _, err := compileSearch(p, q, nil, 21, SQLite{}); err == nil {
			t.Errorf("compiled for %+v: %s", p, sql)
		}
	}
}

// TestCompilePredicate: the extra predicate is ORed within, ANDed to the
// search, and a restricted type without criteria matches nothing.
func TestCompilePredicate(t *testing.T) {
	female := parseQuery(t, "Patient", "gender=female").Filters
	named := parseQuery(t, "Patient", "name=zoe").Filters
	extra := func(typ string) ([][]ward.SearchFilter, bool) {
		switch typ {
		case "Patient":
			return [][]ward.SearchFilter{female, named}, true
		case "Organization":
			return nil, true
		}
		return nil, false
	}
	p := &ward.Principal{ProjectID: "pa"}
	sql, _, err := compileSearch(p, parseQuery(t, "Patient", "_id=x"), extra, 21, SQLite{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sql, "AND ((1 = 1 AND (r.project_id, r.id) IN (SELECT t1.project_id") || !strings.Contains(sql, ")) OR (1 = 1 AND") {
		t.Errorf("predicate not ORed into the search:\n%s", sql)
	}
	sql, _, _ = compileSearch(p, parseQuery(t, "Organization", ""), extra, 21, SQLite{})
	if !strings.Contains(sql, "AND 1 = 0") {
		t.Errorf("restricted type without criteria still matches:\n%s", sql)
	}
	sql, _, _ = compileSearch(p, parseQuery(t, "Observation", "subject:Patient.name=x"), extra, 21, SQLite{})
	if !strings.Contains(sql, "r2.deleted = 0 AND ((1 = 1") {
		t.Errorf("chain target not restricted by the predicate:\n%s", sql)
	}
}

// TestCompileCompartmentDriver: a policy that confines a type to one
// compartment (a clinician of one clinic) drives an id-ordered page from the
// compartment's key; several compartments, another sort or a driving filter
// of the query do not. Values that are not UUIDs never reach the SQL.
func TestCompileCompartmentDriver(t *testing.T) {
	const clinic = "0190b3a4-5c6d-7e8f-9a0b-1c2d3e4f5a6b"
	const other = "0190b3a4-5c6d-7e8f-9a0b-1c2d3e4f5a6c"
	one := parseQuery(t, "Observation", "_compartment=%25organization,Organization/"+clinic).Filters
	two := parseQuery(t, "Observation", "_compartment=Organization/"+clinic+",Organization/"+other).Filters
	p := &ward.Principal{ProjectID: "pa"}
	cases := []struct {
		name   string
		rule   []ward.SearchFilter
		query  string
		driven bool
	}{
		{"one clinic, plain page", one, "_count=20", true},
		{"one clinic, with a non-driving filter", one, "status:not=final", true},
		{"one clinic, query driven by its own token", one, "code=http://loinc.org|8867-4", false},
		{"one clinic, sorted", one, "_sort=-_lastUpdated", false},
		{"two clinics", two, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			extra := func(string) ([][]ward.SearchFilter, bool) { return [][]ward.SearchFilter{c.rule}, true }
			sql, args, err := compileSearch(p, parseQuery(t, "Observation", c.query), extra, 21, SQLite{})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Contains(sql, " JOIN resources r ON r.project_id = k"); got != c.driven {
				t.Errorf("driven from the compartment = %v, want %v:\n%s", got, c.driven, sql)
			}
			for _, a := range args {
				if a == "%organization" || a == nilUUID {
					t.Errorf("a value that cannot match reached the SQL: %v", args)
				}
			}
		})
	}
}

// TestPostgresRebind numbers every placeholder once, in order.
func TestPostgresRebind(t *testing.T) {
	sql, args, err := compileSearch(&ward.Principal{ProjectID: "pa", ReadProjects: []string{"pb"}},
		parseQuery(t, "Observation", "subject:Patient.name=ann&_sort=-date&code=a,b"), nil, 21, Postgres{})
	if err != nil {
		t.Fatal(err)
	}
	got := Postgres{}.Rebind(sql)
	if strings.Contains(got, "?") || !strings.Contains(got, fmt.Sprintf("$%d", len(args))) || strings.Contains(got, fmt.Sprintf("$%d", len(args)+1)) {
		t.Errorf("rebind of %d args:\n%s", len(args), got)
	}
}
