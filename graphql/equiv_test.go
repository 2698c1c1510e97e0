package graphql_test

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
	"github.com/wardhealth/ward/graphql"
	wardhttp "github.com/wardhealth/ward/http"
	"github.com/wardhealth/ward/internal/synth"
	"github.com/wardhealth/ward/search"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

var (
	equivSeed = flag.Uint64("graphql.seed", 1, "seed of the policy-equivalence world and queries")
	equivN    = flag.Int("graphql.n", 100, "number of random queries per caller and engine in the policy-equivalence test")
)

// TestPolicyEquivalence: for random GraphQL queries (random types, search
// arguments, nested references and reverse lookups) over a synthetic
// project of several clinics, each caller (the admin, a clinician of two
// clinics, a restricted member) gets from GraphQL exactly the ids the
// equivalent REST requests give the same caller — over HTTP, through the
// same server: a list equals the REST search, a resolved reference is
// non-null exactly when REST reads it, and a reverse lookup equals the
// REST search with the reference parameter. Every resource shown, listed
// or resolved, shows what the output gate lets it show, alike both ways:
// the restricted member's hidden birthDate never, meta.project, author and
// compartment only with "X-Medplum: extended" (a third of the queries).
//
// Run long: go test ./graphql -run PolicyEquivalence -graphql.n=5000 -graphql.seed=7
func TestPolicyEquivalence(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		rng := rand.New(rand.NewPCG(*equivSeed, 42))
		e := newEquivWorld(t, s, rng)
		total := map[string]int{}
		for _, caller := range []string{"admin", "clinician", "restricted"} {
			t.Run(caller, func(t *testing.T) {
				failures := 0
				for i := 0; i < *equivN && failures < 10; i++ {
					if msg := e.compare(t, caller, e.randomQuery(rng)); msg != "" {
						failures++
						t.Errorf("seed %d, query %d: %s", *equivSeed, i, msg)
					}
				}
				t.Logf("%s: %v", caller, e.stats)
				for k, v := range e.stats {
					total[k] += v
				}
				clear(e.stats)
			})
		}
		// A run that never listed, resolved, hid or reverse-looked-up
		// anything would prove nothing.
		if *equivN >= 50 && (total["ids"] == 0 || total["resolved"] == 0 || total["hidden"] == 0 || total["reverse ids"] == 0 ||
			total["shown"] == 0 || total["shown extended"] == 0) {
			t.Errorf("the random queries exercised too little: %v", total)
		}
	})
}

type equivWorld struct {
	srv      *httptest.Server
	callers  map[string]*ward.Principal
	patients []string // ids
	clinics  []string
	families []string
	stats    map[string]int // what the queries exercised, per caller
}

func newEquivWorld(t *testing.T, s *store.Store, rng *rand.Rand) *equivWorld {
	w := &world{s: s, project: uuid.NewString(), ids: map[string]string{}}
	e := &equivWorld{stats: map[string]int{}}
	for i := 0; i < 4; i++ {
		name := fmt.Sprintf("clinic-%d", i)
		w.create(t, w.project, name, `{"resourceType":"Organization","name":"Clinic `+name+`"}`)
		e.clinics = append(e.clinics, w.ids[name])
	}
	for i := 0; i < 24; i++ {
		p := synth.Patient(rng)
		clinic := e.clinics[rng.IntN(len(e.clinics))]
		p["meta"] = map[string]any{"accounts": []any{map[string]any{"reference": clinic}}}
		p["managingOrganization"] = map[string]any{"reference": e.clinics[rng.IntN(len(e.clinics))]}
		name := fmt.Sprintf("p%d", i)
		w.create(t, w.project, name, mustJSON(p))
		e.patients = append(e.patients, strings.TrimPrefix(w.ids[name], "Patient/"))
		fam := p["name"].([]any)[0].(map[string]any)["family"].(string)
		if !slices.Contains(e.families, fam) {
			e.families = append(e.families, fam)
		}
		for j := rng.IntN(4); j > 0; j-- {
			o := synth.Observation(rng, w.ids[name])
			// Some observations are stamped with another clinic than
			// their patient's: the nested subject must follow the
			// patient's own walls, not the observation's.
			stamp := clinic
			if rng.IntN(4) == 0 {
				stamp = e.clinics[rng.IntN(len(e.clinics))]
			}
			o["meta"] = map[string]any{"accounts": []any{map[string]any{"reference": stamp}}}
			w.create(t, w.project, fmt.Sprintf("o%d-%d", i, j), mustJSON(o))
		}
	}
	// Whatever the seed: a female patient of clinic 3 with a heart rate
	// stamped with clinic 0, so the clinician sees an Observation whose
	// subject it must not see, and the restricted member (female
	// patients, some codes) has a reverse lookup to check.
	w.create(t, w.project, "fixed", `{"resourceType":"Patient","gender":"female","name":[{"family":"Fixed"}],"meta":{"accounts":[{"reference":"`+e.clinics[3]+`"}]}}`)
	e.patients = append(e.patients, strings.TrimPrefix(w.ids["fixed"], "Patient/"))
	w.create(t, w.project, "fixed-obs", `{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"subject":{"reference":"`+w.ids["fixed"]+`"},"valueQuantity":{"value":80},"meta":{"accounts":[{"reference":"`+e.clinics[0]+`"}]}}`)
	c0, c1 := e.clinics[0], e.clinics[1]
	clinician := `[{"resourceType":"Organization","readonly":true},
	 {"resourceType":"Patient","criteria":"Patient?_compartment=` + c0 + `"},{"resourceType":"Patient","criteria":"Patient?_compartment=` + c1 + `"},
	 {"resourceType":"Observation","criteria":"Observation?_compartment=` + c0 + `"},{"resourceType":"Observation","criteria":"Observation?_compartment=` + c1 + `"}]`
	restrictedPolicy := `[{"resourceType":"Patient","criteria":"Patient?gender=female","hiddenFields":["birthDate"]},
	 {"resourceType":"Observation","criteria":"Observation?code=8867-4,8310-5,29463-7"}]`
	e.callers = map[string]*ward.Principal{
		"admin":      {ProjectID: w.project, Admin: true, Author: "Practitioner/admin"},
		"clinician":  {ProjectID: w.project, Author: "Practitioner/c", Policy: policy(t, clinician)},
		"restricted": {ProjectID: w.project, Author: "Practitioner/r", Policy: policy(t, restrictedPolicy)},
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	api := wardhttp.NewServer(wardhttp.Options{
		Store: s, Logger: logger, Parse: search.Parse, ResourceTypes: fhir.ResourceTypes(),
		Authenticate: func(r *http.Request) (*ward.Principal, error) {
			if p := e.callers[r.Header.Get("X-Test-Caller")]; p != nil {
				return p, nil
			}
			return nil, ward.Errorf(ward.EUNAUTHORIZED, "no caller")
		},
		Operations: []wardhttp.Route{{Pattern: "POST /fhir/R4/$graphql", Handler: graphql.New(s, logger)}},
	})
	e.srv = httptest.NewServer(api.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

func mustJSON(v any) string {
	data, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(data)
}

// equivQuery is one random list query: its type, search arguments (as
// url.Values for REST and GraphQL literals) and what it nests.
type equivQuery struct {
	typ       string
	args      url.Values
	nestRef   bool       // Observation: subject { resource { … on Patient { id } } }
	reverse   url.Values // Patient: ObservationList(_reference: subject, …); nil: none
	orgNested bool       // Patient: managingOrganization { resource { … on Organization { id } } }
	conn      bool       // <Type>Connection { count edges { resource { … } } } instead of <Type>List
	extended  bool       // both ways with "X-Medplum: extended"
}

func (e *equivWorld) randomQuery(rng *rand.Rand) equivQuery {
	q := equivQuery{args: url.Values{}}
	count := func(v url.Values) {
		if rng.IntN(2) == 0 {
			v.Set("_count", fmt.Sprint(1+rng.IntN(30)))
		}
		if rng.IntN(3) == 0 {
			v.Set("_sort", []string{"_id", "-_id", "_lastUpdated"}[rng.IntN(3)])
		}
	}
	code := func() string { return synth.ObservationCodes[rng.IntN(len(synth.ObservationCodes))].Code }
	patient := func() string { return "Patient/" + e.patients[rng.IntN(len(e.patients))] }
	obsArgs := func(v url.Values) {
		switch rng.IntN(5) {
		case 3: // _filter with or / not: the same rows through both surfaces
			v.Set("_filter", []string{
				fmt.Sprintf("code eq %s or code eq %s or value-quantity gt %d", code(), code(), 50+rng.IntN(100)),
				fmt.Sprintf("not (code eq %s) and (date ge %d-01-01 or value-quantity lt %d)", code(), 2015+rng.IntN(10), 10+rng.IntN(150)),
				fmt.Sprintf("subject eq %s or subject eq %s or code eq %s", patient(), patient(), code()),
			}[rng.IntN(3)])
		case 0:
			v.Set("code", synth.ObservationCodes[rng.IntN(len(synth.ObservationCodes))].Code)
		case 1:
			v.Set("value-quantity", fmt.Sprintf("gt%d", 10+rng.IntN(150)))
		case 2:
			v.Set("date", fmt.Sprintf("ge%d-01-01", 2015+rng.IntN(10)))
		}
	}
	switch rng.IntN(3) {
	case 0:
		q.typ = "Patient"
		switch rng.IntN(6) {
		case 0:
			q.args.Set("name", strings.ToLower(e.families[rng.IntN(len(e.families))][:3]))
		case 1:
			q.args.Set("gender", []string{"male", "female", "other"}[rng.IntN(3)])
		case 2:
			q.args.Set("birthdate", fmt.Sprintf("lt%d", 1930+rng.IntN(90)))
		case 3:
			q.args.Set("_filter", fmt.Sprintf("birthdate ge %d-01-01", 1930+rng.IntN(90)))
		case 4:
			q.args.Set("_filter", []string{
				fmt.Sprintf("gender eq male or birthdate lt %d", 1930+rng.IntN(90)),
				fmt.Sprintf("not (gender eq female) and (name sw %s or birthdate ge %d)", strings.ToLower(e.families[rng.IntN(len(e.families))][:3]), 1930+rng.IntN(90)),
				fmt.Sprintf("_has:Observation:subject:code eq %s or not (gender pr true)", code()),
			}[rng.IntN(3)])
		}
		q.orgNested = rng.IntN(2) == 0
		if rng.IntN(2) == 0 {
			q.reverse = url.Values{}
			obsArgs(q.reverse)
			count(q.reverse)
		}
	case 1:
		q.typ = "Observation"
		obsArgs(q.args)
		if rng.IntN(3) == 0 {
			q.args.Set("subject", "Patient/"+e.patients[rng.IntN(len(e.patients))])
		}
		q.nestRef = rng.IntN(3) > 0
	default:
		q.typ = "Organization"
		switch rng.IntN(3) {
		case 0:
			q.args.Set("name", "clinic")
		case 1:
			q.args.Set("_filter", "name eq nobody or not (name sw clinic)")
		}
	}
	count(q.args)
	q.conn = rng.IntN(4) == 0
	q.extended = rng.IntN(3) == 0
	return q
}

// literal renders v as GraphQL arguments (names '-' → '_').
func literal(v url.Values) string {
	var parts []string
	for k, vs := range v {
		name := strings.ReplaceAll(k, "-", "_")
		if k == "_count" {
			parts = append(parts, name+": "+vs[0])
		} else {
			parts = append(parts, name+": "+mustJSON(vs[0]))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

func (q equivQuery) graphql() string {
	sel := "id " + gateSelection(q.typ)
	if q.nestRef {
		sel += " subject { reference resource { ... on Patient { id " + gateSelection("Patient") + " } } }"
	}
	if q.orgNested {
		sel += " managingOrganization { reference resource { ... on Organization { id " + gateSelection("Organization") + " } } }"
	}
	if q.reverse != nil {
		args := literal(q.reverse)
		if args != "" {
			args = ", " + args
		}
		sel += " ObservationList(_reference: subject" + args + ") { id }"
	}
	args := literal(q.args)
	if args != "" {
		args = "(" + args + ")"
	}
	if q.conn {
		return "{ " + q.typ + "Connection" + args + " { count edges { resource { " + sel + " } } } }"
	}
	return "{ " + q.typ + "List" + args + " { " + sel + " } }"
}

// compare runs q both ways as caller and describes the first difference.
func (e *equivWorld) compare(t *testing.T, caller string, q equivQuery) string {
	t.Helper()
	gq := q.graphql()
	status, body := e.do(t, caller, q.extended, "POST", "/fhir/R4/$graphql", mustJSON(map[string]any{"query": gq}))
	if status != 200 {
		return fmt.Sprintf("%s: GraphQL %d %v", gq, status, body)
	}
	restQuery := q.args.Encode()
	data, _ := body["data"].(map[string]any)
	list, isList := data[q.typ+"List"].([]any)
	var count any
	if q.conn {
		// A connection is the page of the REST search with its accurate total.
		restQuery += "&_total=accurate"
		conn, ok := data[q.typ+"Connection"].(map[string]any)
		edges, _ := conn["edges"].([]any)
		list, isList, count = []any{}, ok, conn["count"]
		for _, e := range edges {
			list = append(list, e.(map[string]any)["resource"])
		}
	}
	restStatus, bundle := e.do(t, caller, q.extended, "GET", "/fhir/R4/"+q.typ+"?"+restQuery, "")
	if restStatus != 200 {
		if isList || body["errors"] == nil {
			return fmt.Sprintf("%s: REST %d but GraphQL answered %v", gq, restStatus, body)
		}
		return ""
	}
	if !isList {
		return fmt.Sprintf("%s: REST 200 but GraphQL answered %v", gq, body)
	}
	if got, want := idsOf(list), bundleIDs(bundle); !slices.Equal(got, want) {
		return fmt.Sprintf("%s: GraphQL ids %v, REST %v", gq, got, want)
	}
	e.stats["ids"] += len(list)
	if q.conn {
		if fmt.Sprint(count) != fmt.Sprint(bundle["total"]) {
			return fmt.Sprintf("%s: count %v, REST total %v", gq, count, bundle["total"])
		}
		e.stats["connections"]++
	}
	restMatches := bundleMatches(bundle)
	for i, item := range list {
		m := item.(map[string]any)
		if msg := e.compareShown(caller, gq, q, q.typ, m, restMatches[i]); msg != "" {
			return msg
		}
		if msg := e.compareNested(t, caller, gq, q, m); msg != "" {
			return msg
		}
	}
	return ""
}

// gateSelection selects what the output gate decides for a resource of
// typ: the restricted member's hidden field (Patient.birthDate), a plain
// field, and the meta members shown in extended mode only.
func gateSelection(typ string) string {
	return gateFields[typ] + " meta { versionId project author { reference } compartment { reference } }"
}

var gateFields = map[string]string{"Patient": "birthDate gender", "Observation": "status", "Organization": "name"}

// shown is what a resource of typ shows of gateSelection, canonically
// (absent and null alike), from a GraphQL answer or a REST resource.
func shown(typ string, res map[string]any) map[string]any {
	out := map[string]any{}
	for _, f := range strings.Fields(gateFields[typ]) {
		if v := res[f]; v != nil {
			out[f] = v
		}
	}
	meta, _ := res["meta"].(map[string]any)
	for _, k := range []string{"versionId", "project"} {
		if v := meta[k]; v != nil {
			out["meta."+k] = v
		}
	}
	if a, _ := meta["author"].(map[string]any); a["reference"] != nil {
		out["meta.author"] = a["reference"]
	}
	if cs, _ := meta["compartment"].([]any); len(cs) > 0 {
		var refs []string
		for _, c := range cs {
			refs = append(refs, fmt.Sprint(c.(map[string]any)["reference"]))
		}
		slices.Sort(refs)
		out["meta.compartment"] = refs
	}
	return out
}

// compareShown checks that the output gate shows a resource alike both
// ways — hidden fields and meta members — and that what it shows keeps
// its rules: no birthDate for the restricted member (its policy hides it),
// meta.project, author and compartment only in extended mode.
func (e *equivWorld) compareShown(caller, gq string, q equivQuery, typ string, gqlRes, restRes map[string]any) string {
	got, want := shown(typ, gqlRes), shown(typ, restRes)
	if mustJSON(got) != mustJSON(want) {
		return fmt.Sprintf("%s (extended=%v): GraphQL shows %s %v, REST %v", gq, q.extended, typ, got, want)
	}
	if _, ok := got["birthDate"]; ok && caller == "restricted" {
		return fmt.Sprintf("%s: the restricted member sees the hidden birthDate: %v", gq, got)
	}
	for _, k := range []string{"meta.project", "meta.author", "meta.compartment"} {
		if _, ok := got[k]; ok != q.extended {
			return fmt.Sprintf("%s: %s shown = %v with extended=%v: %v", gq, k, ok, q.extended, got)
		}
	}
	e.stats["shown"]++
	if q.extended {
		e.stats["shown extended"]++
	}
	return ""
}

func (e *equivWorld) compareNested(t *testing.T, caller, gq string, q equivQuery, m map[string]any) string {
	for _, field := range []string{"subject", "managingOrganization"} {
		ref, _ := m[field].(map[string]any)
		if ref == nil || (field == "subject" && !q.nestRef) || (field == "managingOrganization" && !q.orgNested) {
			continue
		}
		target, _ := ref["reference"].(string)
		res, _ := ref["resource"].(map[string]any)
		status, read := e.do(t, caller, q.extended, "GET", "/fhir/R4/"+target, "")
		if (status == 200) != (res != nil) {
			return fmt.Sprintf("%s: %s.%s resolved %v, REST read %s answered %d", gq, m["id"], field, res != nil, target, status)
		}
		if res != nil {
			if msg := e.compareShown(caller, gq, q, strings.Split(target, "/")[0], res, read); msg != "" {
				return msg
			}
			e.stats["resolved"]++
		} else {
			e.stats["hidden"]++
		}
	}
	if q.reverse != nil {
		v := url.Values{}
		for k, vs := range q.reverse {
			v[k] = vs
		}
		v.Set("subject", "Patient/"+m["id"].(string))
		status, bundle := e.do(t, caller, q.extended, "GET", "/fhir/R4/Observation?"+v.Encode(), "")
		list, isList := m["ObservationList"].([]any)
		if status != 200 {
			if isList {
				return fmt.Sprintf("%s: reverse lookup of %s answered %v, REST %d", gq, m["id"], list, status)
			}
			return ""
		}
		if got, want := idsOf(list), bundleIDs(bundle); !slices.Equal(got, want) {
			return fmt.Sprintf("%s: reverse lookup of %s gave %v, REST %v", gq, m["id"], got, want)
		}
		e.stats["reverse ids"] += len(list)
	}
	return ""
}

func (e *equivWorld) do(t *testing.T, caller string, extended bool, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), method, e.srv.URL+path, strings.NewReader(body))
	req.Header.Set("X-Test-Caller", caller)
	if extended {
		req.Header.Set("X-Medplum", "extended")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

func idsOf(list []any) []string {
	out := []string{}
	for _, item := range list {
		m, _ := item.(map[string]any)
		out = append(out, fmt.Sprint(m["id"]))
	}
	return out
}

func bundleIDs(bundle map[string]any) []string {
	out := []string{}
	for _, res := range bundleMatches(bundle) {
		out = append(out, fmt.Sprint(res["id"]))
	}
	return out
}

// bundleMatches is the resources of a search bundle's matches, in order.
func bundleMatches(bundle map[string]any) []map[string]any {
	var out []map[string]any
	entries, _ := bundle["entry"].([]any)
	for _, e := range entries {
		m, _ := e.(map[string]any)
		if mode, _ := m["search"].(map[string]any)["mode"].(string); mode != "" && mode != "match" {
			continue
		}
		res, _ := m["resource"].(map[string]any)
		out = append(out, res)
	}
	return out
}
