package wire_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// searchCase is one search over testdata/fixture.json. Names are the
// fixture's local names (entry.id); {name} in query stands for its id.
type searchCase struct {
	query   string   // relative to /fhir/R4/
	want    []string // matches (search.mode = match)
	ordered bool     // want is in the order the server must return
	include []string // included resources (search.mode = include)
	total   *int     // Bundle.total when the search must report it
}

func n(i int) *int { return &i }

// Observations of each patient in the fixture.
var (
	obsAnn = []string{"obs-hr-ann-1", "obs-hr-ann-2", "obs-bp-ann", "obs-wt-ann"}
	obsBob = []string{"obs-hr-bob", "obs-spo2-bob", "obs-smoke-bob"}
	obsDan = []string{"obs-wt-dan", "obs-spo2-dan", "obs-note-dan"}
)

func join(groups ...[]string) []string { return slices.Concat(groups...) }

// conformanceCases exercise each parameter type, modifier and prefix and
// the result parameters as FHIR R4 defines them.
var conformanceCases = []searchCase{
	// string: starts-with, case and accent insensitive, any name part.
	{query: "Patient?name=smith", want: []string{"pat-ann", "pat-bob"}},
	{query: "Patient?name=SMITH", want: []string{"pat-ann", "pat-bob"}},
	{query: "Patient?name=marie", want: []string{"pat-ann"}},
	{query: "Patient?given=patrick", want: []string{"pat-dan"}},
	{query: "Patient?name=müller", want: []string{"pat-cleo"}},
	{query: "Patient?name=muller", want: []string{"pat-cleo"}},
	{query: "Patient?given=cleo", want: []string{"pat-cleo"}},
	{query: "Patient?family=nguyen", want: []string{"pat-eve"}},
	{query: "Patient?name=zoe", want: []string{"pat-zoe"}},
	{query: "Patient?name=o'brien", want: []string{"pat-dan"}},
	{query: "Patient?name=mith", want: nil},
	{query: "Patient?name:exact=Smith", want: []string{"pat-ann"}},
	{query: "Patient?name:exact=smith", want: nil},
	{query: "Patient?name:exact=Zoë", want: []string{"pat-zoe"}},
	{query: "Patient?name:contains=mith", want: []string{"pat-ann", "pat-bob"}},
	{query: "Patient?name:contains=RI", want: []string{"pat-ann", "pat-dan"}},
	{query: "Patient?address-city=bost", want: []string{"pat-ann"}},
	{query: "Patient?address-city:missing=true", want: []string{"pat-cleo", "pat-dan", "pat-eve", "pat-zoe"}},
	{query: "Patient?name=ann,bob", want: []string{"pat-ann", "pat-bob"}},
	{query: "Patient?family=smith&given=bob", want: []string{"pat-bob"}},
	{query: "Patient?name=smith&name=ann", want: []string{"pat-ann"}},
	{query: "Observation?value-string=patient%20feels", want: []string{"obs-note-cleo"}},
	{query: "Observation?value-string:contains=dizzy", want: []string{"obs-note-dan"}},
	{query: "Observation?value-string=former", want: []string{"obs-smoke-bob"}},
	{query: "Organization?name=acme", want: []string{"org-acme"}},
	{query: "Practitioner?name=greg", want: []string{"pr-house"}},

	// token: code, system|code, |code, system|, :not, :text, :missing.
	{query: "Patient?gender=female", want: []string{"pat-ann", "pat-cleo"}},
	{query: "Patient?gender=male,other", want: []string{"pat-bob", "pat-dan", "pat-zoe"}},
	{query: "Patient?gender:not=female", want: []string{"pat-bob", "pat-dan", "pat-eve", "pat-zoe"}},
	{query: "Patient?gender:not=female&gender:not=male", want: []string{"pat-eve", "pat-zoe"}},
	{query: "Patient?identifier=http://example.org/mrn|MRN-001", want: []string{"pat-ann"}},
	{query: "Patient?identifier=MRN-001", want: []string{"pat-ann", "pat-eve"}},
	{query: "Patient?identifier=http://example.org/mrn|", want: []string{"pat-ann", "pat-bob", "pat-cleo", "pat-dan"}},
	{query: "Patient?identifier=|Z-1", want: []string{"pat-zoe"}},
	{query: "Patient?identifier=|MRN-001", want: nil},
	{query: "Patient?identifier=http://example.org/ssn|999-11-2222", want: []string{"pat-cleo"}},
	{query: "Patient?telecom=phone|555-0101", want: []string{"pat-ann"}},
	{query: "Patient?email=cleo@example.org", want: []string{"pat-cleo"}},
	{query: "Patient?phone=555-0104", want: []string{"pat-dan"}},
	{query: "Patient?active=true", want: []string{"pat-ann", "pat-zoe"}},
	{query: "Patient?active=false", want: []string{"pat-bob"}},
	{query: "Patient?active:missing=true", want: []string{"pat-cleo", "pat-dan", "pat-eve"}},
	{query: "Observation?code=http://loinc.org|8867-4", want: []string{"obs-hr-ann-1", "obs-hr-ann-2", "obs-hr-bob", "obs-hr-nosubject"}},
	{query: "Observation?code=http://snomed.info/sct|8867-4", want: nil},
	{query: "Observation?code=8867-4,29463-7", want: []string{"obs-hr-ann-1", "obs-hr-ann-2", "obs-hr-bob", "obs-hr-nosubject", "obs-wt-ann", "obs-wt-dan"}},
	{query: "Observation?code=http://loinc.org|&_total=accurate", total: n(13), want: join(obsAnn, obsBob, obsDan, []string{"obs-bp-cleo", "obs-note-cleo", "obs-hr-nosubject"})},
	{query: "Observation?code:not=http://loinc.org|8867-4", want: []string{"obs-bp-ann", "obs-wt-ann", "obs-spo2-bob", "obs-smoke-bob", "obs-bp-cleo", "obs-note-cleo", "obs-wt-dan", "obs-spo2-dan", "obs-note-dan"}},
	{query: "Observation?code:text=heart%20rate", want: []string{"obs-hr-ann-1", "obs-hr-ann-2", "obs-hr-bob", "obs-hr-nosubject"}},
	{query: "Observation?code:text=body", want: []string{"obs-wt-ann", "obs-wt-dan"}},
	{query: "Observation?category=social-history", want: []string{"obs-smoke-bob"}},
	{query: "Observation?category:missing=true", want: []string{"obs-note-cleo", "obs-note-dan"}},
	{query: "Observation?code=8867-4&status=amended", want: []string{"obs-hr-ann-2"}},
	{query: "Observation?component-code=8462-4", want: []string{"obs-bp-ann", "obs-bp-cleo"}},
	{query: "Observation?combo-code=8480-6,29463-7", want: []string{"obs-bp-ann", "obs-bp-cleo", "obs-wt-ann", "obs-wt-dan"}},
	{query: "Observation?value-concept=http://snomed.info/sct|8517006", want: []string{"obs-smoke-bob"}},
	{query: "Encounter?class=AMB", want: []string{"enc-ann-1", "enc-cleo-1"}},
	{query: "Condition?clinical-status=active", want: []string{"cond-ann-htn", "cond-bob-dm"}},
	{query: "Condition?code=http://snomed.info/sct|38341003", want: []string{"cond-ann-htn", "cond-cleo-htn"}},

	// date on a date element of several precisions: eq means the target
	// lies within the value's range.
	{query: "Patient?birthdate=1970-05-01", want: []string{"pat-ann"}},
	{query: "Patient?birthdate=1970", want: []string{"pat-ann"}},
	{query: "Patient?birthdate=eq1985", want: []string{"pat-bob"}},
	{query: "Patient?birthdate=1985-06", want: nil},
	{query: "Patient?birthdate=1992-11", want: []string{"pat-cleo"}},
	{query: "Patient?birthdate=ne1985", want: []string{"pat-ann", "pat-cleo", "pat-dan", "pat-zoe"}},
	{query: "Patient?birthdate=lt1970", want: []string{"pat-zoe"}},
	{query: "Patient?birthdate=le1970", want: []string{"pat-ann", "pat-zoe"}},
	{query: "Patient?birthdate=gt1990", want: []string{"pat-cleo", "pat-dan"}},
	{query: "Patient?birthdate=ge1992-11-15", want: []string{"pat-cleo", "pat-dan"}},
	{query: "Patient?birthdate=sa1985", want: []string{"pat-cleo", "pat-dan"}},
	{query: "Patient?birthdate=eb1985", want: []string{"pat-ann", "pat-zoe"}},
	{query: "Patient?birthdate=ap1970-05-01", want: []string{"pat-ann", "pat-zoe"}},
	{query: "Patient?birthdate:missing=true", want: []string{"pat-eve"}},
	{query: "Patient?birthdate:missing=false", want: []string{"pat-ann", "pat-bob", "pat-cleo", "pat-dan", "pat-zoe"}},
	{query: "Patient?birthdate=ge1970&birthdate=lt2000", want: []string{"pat-ann", "pat-bob", "pat-cleo"}},
	{query: "Patient?birthdate=1985,2001-02-03", want: []string{"pat-bob", "pat-dan"}},

	// date on dateTime and Period (open ends reach to the infinite).
	{query: "Observation?date=2021-03-04", want: []string{"obs-hr-ann-1", "obs-bp-ann", "obs-hr-nosubject"}},
	{query: "Observation?date=2021-03", want: []string{"obs-hr-ann-1", "obs-bp-ann", "obs-hr-nosubject", "obs-hr-bob"}},
	{query: "Observation?date=2021-03-04T05:06:07Z", want: []string{"obs-hr-ann-1"}},
	{query: "Observation?date=2021-03-04T07:06:07%2B02:00", want: []string{"obs-hr-ann-1"}},
	{query: "Observation?date=gt2021-03-04T05:08:00Z&date=lt2021-03-04T07:00:00Z", want: []string{"obs-bp-ann", "obs-hr-nosubject"}},
	{query: "Observation?date=2023-01", want: []string{"obs-bp-cleo"}},
	{query: "Observation?date=2023-01-01", want: nil},
	{query: "Observation?date=gt2024-03-01", want: []string{"obs-wt-dan", "obs-note-dan", "obs-spo2-dan"}},
	{query: "Observation?date=ge2024-07-02", want: []string{"obs-note-dan", "obs-spo2-dan"}},
	{query: "Observation?date=lt2019-01-01", want: []string{"obs-spo2-bob"}},
	{query: "Observation?date=le2019-07-01", want: []string{"obs-spo2-bob"}},
	{query: "Observation?date=sa2023-12-31", want: []string{"obs-wt-dan", "obs-note-dan", "obs-spo2-dan"}},
	{query: "Observation?date=eb2020-02-01", want: []string{"obs-wt-ann", "obs-spo2-bob"}},
	{query: "Observation?date=ne2021-03-04", want: []string{"obs-hr-ann-2", "obs-hr-bob", "obs-bp-cleo", "obs-wt-ann", "obs-wt-dan", "obs-spo2-dan", "obs-spo2-bob", "obs-note-cleo", "obs-note-dan", "obs-smoke-bob"}},
	{query: "Encounter?date=ge2025-01-01", want: []string{"enc-bob-1"}},
	{query: "Encounter?date=2021-03-04", want: []string{"enc-ann-1"}},
	{query: "Condition?onset-date=lt2016", want: []string{"cond-ann-htn"}},
	{query: "Condition?onset-date=ge2030", want: []string{"cond-bob-dm"}},
	{query: "Patient?_lastUpdated=gt2000-01-01", want: []string{"pat-ann", "pat-bob", "pat-cleo", "pat-dan", "pat-eve", "pat-zoe"}},
	{query: "Patient?_lastUpdated=lt2000-01-01", want: nil},
	{query: "Patient?_lastUpdated=ge2000-01-01&_lastUpdated=le2999-12-31&gender=male", want: []string{"pat-bob", "pat-dan"}},

	// number: a value's precision implies its range for eq.
	{query: "RiskAssessment?probability=0.2", want: []string{"risk-ann"}},
	{query: "RiskAssessment?probability=eq0.75", want: []string{"risk-bob"}},
	{query: "RiskAssessment?probability=ne0.2", want: []string{"risk-bob", "risk-dan"}},
	{query: "RiskAssessment?probability=gt0.5", want: []string{"risk-bob"}},
	{query: "RiskAssessment?probability=ge0.5", want: []string{"risk-bob", "risk-dan"}},
	{query: "RiskAssessment?probability=lt0.1", want: []string{"risk-dan"}},
	{query: "RiskAssessment?probability=le0.2", want: []string{"risk-ann", "risk-dan"}},
	{query: "RiskAssessment?probability=sa0.7", want: []string{"risk-bob"}},
	{query: "RiskAssessment?probability=eb0.1", want: []string{"risk-dan"}},
	{query: "RiskAssessment?probability=ap0.75", want: []string{"risk-bob"}},
	{query: "RiskAssessment?probability=0.2,0.75", want: []string{"risk-ann", "risk-bob"}},

	// quantity: number[|system|code]; with no system the code also matches the unit.
	{query: "Observation?value-quantity=72", want: []string{"obs-hr-ann-1"}},
	{query: "Observation?value-quantity=eq72", want: []string{"obs-hr-ann-1"}},
	{query: "Observation?value-quantity=70.5|http://unitsofmeasure.org|kg", want: []string{"obs-wt-ann"}},
	{query: "Observation?value-quantity=70.5|http://unitsofmeasure.org|g", want: nil},
	{query: "Observation?value-quantity=154||lbs", want: []string{"obs-wt-dan"}},
	{query: "Observation?value-quantity=154||[lb_av]", want: []string{"obs-wt-dan"}},
	{query: "Observation?value-quantity=lt72", want: []string{"obs-hr-bob", "obs-wt-ann"}},
	{query: "Observation?value-quantity=le72", want: []string{"obs-hr-bob", "obs-wt-ann", "obs-hr-ann-1"}},
	{query: "Observation?value-quantity=gt97", want: []string{"obs-hr-nosubject", "obs-wt-dan"}},
	{query: "Observation?value-quantity=ge97", want: []string{"obs-hr-nosubject", "obs-wt-dan", "obs-spo2-dan"}},
	{query: "Observation?value-quantity=ne72", want: []string{"obs-hr-ann-2", "obs-hr-bob", "obs-hr-nosubject", "obs-wt-ann", "obs-wt-dan", "obs-spo2-dan", "obs-spo2-bob"}},
	{query: "Observation?value-quantity=sa97", want: []string{"obs-hr-nosubject", "obs-wt-dan"}},
	{query: "Observation?value-quantity=eb61", want: []string{"obs-hr-bob"}},
	{query: "Observation?value-quantity=ap100", want: []string{"obs-spo2-bob", "obs-spo2-dan", "obs-hr-nosubject"}},
	{query: "Observation?value-quantity=gt50|http://unitsofmeasure.org|/min", want: []string{"obs-hr-ann-1", "obs-hr-ann-2", "obs-hr-bob", "obs-hr-nosubject"}},
	{query: "Observation?value-quantity=gt50|http://unitsofmeasure.org|/min&value-quantity=lt80", want: []string{"obs-hr-ann-1", "obs-hr-bob"}},
	{query: "Observation?value-quantity:missing=true", want: []string{"obs-bp-ann", "obs-bp-cleo", "obs-note-cleo", "obs-note-dan", "obs-smoke-bob"}},
	{query: "Observation?component-value-quantity=gt130", want: []string{"obs-bp-cleo"}},

	// reference: Type/id, id, :Type, :identifier, :missing.
	{query: "Observation?subject=Patient/{pat-ann}", want: obsAnn},
	{query: "Observation?subject={pat-ann}", want: obsAnn},
	{query: "Observation?subject:Patient={pat-ann}", want: obsAnn},
	{query: "Observation?subject:Group={pat-ann}", want: nil},
	{query: "Observation?patient={pat-bob}", want: obsBob},
	{query: "Observation?subject=Patient/{pat-ann},Patient/{pat-dan}", want: join(obsAnn, obsDan)},
	{query: "Observation?subject:missing=true", want: []string{"obs-hr-nosubject"}},
	{query: "Observation?performer=Practitioner/{pr-house}", want: []string{"obs-hr-ann-1"}},
	{query: "Observation?encounter=Encounter/{enc-ann-1}", want: []string{"obs-hr-ann-1"}},
	{query: "Patient?general-practitioner=Practitioner/{pr-house}", want: []string{"pat-ann"}},
	{query: "Patient?general-practitioner:Organization={org-acme}", want: []string{"pat-bob"}},
	{query: "Patient?general-practitioner:identifier=http://example.org/npi|999", want: []string{"pat-dan"}},
	{query: "Patient?organization=Organization/{org-acme}", want: []string{"pat-ann"}},
	{query: "Provenance?target=Observation/{obs-bp-ann}", want: []string{"prov-1"}},

	// uri: exact, :below, :above.
	{query: "Questionnaire?url=http://example.org/Questionnaire/phq-9", want: []string{"q-phq9"}},
	{query: "Questionnaire?url=http://example.org/Questionnaire", want: nil},
	{query: "Questionnaire?url:below=http://example.org/Questionnaire", want: []string{"q-phq9", "q-gad7"}},
	{query: "Questionnaire?url:below=http://example.org/Questionnaire/gad-7", want: []string{"q-gad7"}},
	{query: "Questionnaire?url:above=http://example.org/Questionnaire/phq-9/extra", want: []string{"q-phq9"}},

	// chains and reverse chains.
	{query: "Observation?subject:Patient.name=smith", want: join(obsAnn, obsBob)},
	{query: "Observation?subject:Patient.birthdate=lt1980", want: obsAnn},
	{query: "Observation?patient.gender=male", want: join(obsBob, obsDan)},
	{query: "Observation?subject:Patient.identifier=http://example.org/mrn|MRN-003", want: []string{"obs-bp-cleo", "obs-note-cleo"}},
	{query: "Observation?subject:Patient.name=smith&code=8867-4", want: []string{"obs-hr-ann-1", "obs-hr-ann-2", "obs-hr-bob"}},
	{query: "Patient?general-practitioner:Practitioner.name=house", want: []string{"pat-ann"}},
	{query: "Encounter?subject:Patient.name=cleo", want: []string{"enc-cleo-1"}},
	{query: "Patient?_has:Observation:subject:code=8867-4", want: []string{"pat-ann", "pat-bob"}},
	{query: "Patient?_has:Observation:patient:code=29463-7", want: []string{"pat-ann", "pat-dan"}},
	{query: "Patient?_has:Condition:subject:code=38341003", want: []string{"pat-ann", "pat-cleo"}},
	{query: "Patient?_has:Observation:subject:code=8867-4&gender=female", want: []string{"pat-ann"}},
	{query: "Practitioner?_has:Observation:performer:code=8867-4", want: []string{"pr-house", "pr-wilson"}},
	{query: "Patient?_has:Observation:subject:_has:Provenance:target:agent=Practitioner/{pr-wilson}", want: []string{"pat-dan"}},

	// _id and _compartment.
	{query: "Patient?_id={pat-ann}", want: []string{"pat-ann"}},
	{query: "Patient?_id={pat-ann},{pat-bob}", want: []string{"pat-ann", "pat-bob"}},
	{query: "Patient?_id={pat-ann}&_id={pat-bob}", want: nil},
	{query: "Patient?_id={obs-hr-ann-1}", want: nil},
	{query: "Patient?_id:not={pat-ann}", want: []string{"pat-bob", "pat-cleo", "pat-dan", "pat-eve", "pat-zoe"}},
	{query: "Observation?_compartment=Patient/{pat-ann}", want: obsAnn},
	{query: "Observation?_compartment=Patient/{pat-ann},Patient/{pat-bob}", want: join(obsAnn, obsBob)},
	{query: "Encounter?_compartment=Patient/{pat-bob}", want: []string{"enc-bob-1"}},
	{query: "RiskAssessment?_compartment=Patient/{pat-dan}", want: []string{"risk-dan"}},

	// _sort: several keys, descending; rows without a value come last.
	{query: "Patient?_sort=birthdate", ordered: true, want: []string{"pat-zoe", "pat-ann", "pat-bob", "pat-cleo", "pat-dan", "pat-eve"}},
	{query: "Patient?_sort=-birthdate", ordered: true, want: []string{"pat-dan", "pat-cleo", "pat-bob", "pat-ann", "pat-zoe", "pat-eve"}},
	{query: "Patient?_sort=gender,-birthdate", ordered: true, want: []string{"pat-cleo", "pat-ann", "pat-dan", "pat-bob", "pat-zoe", "pat-eve"}},
	{query: "Patient?_sort=family", ordered: true, want: []string{"pat-cleo", "pat-eve", "pat-dan", "pat-ann", "pat-bob", "pat-zoe"}},
	{query: "Observation?code=8867-4&_sort=date", ordered: true, want: []string{"obs-hr-ann-1", "obs-hr-nosubject", "obs-hr-bob", "obs-hr-ann-2"}},
	{query: "Observation?code=8867-4&_sort=-date", ordered: true, want: []string{"obs-hr-ann-2", "obs-hr-bob", "obs-hr-nosubject", "obs-hr-ann-1"}},
	{query: "RiskAssessment?_sort=-probability", ordered: true, want: []string{"risk-bob", "risk-dan", "risk-ann"}},
	{query: "RiskAssessment?_sort=probability", ordered: true, want: []string{"risk-dan", "risk-ann", "risk-bob"}},

	// totals, counts and _summary=count.
	{query: "Patient?gender=female&_total=accurate", want: []string{"pat-ann", "pat-cleo"}, total: n(2)},
	{query: "Patient?gender=female&_total=accurate&_count=1&_sort=birthdate", want: []string{"pat-ann"}, total: n(2)},
	{query: "Patient?gender=female&_summary=count", want: nil, total: n(2)},
	{query: "Observation?_summary=count", want: nil, total: n(13)},
	{query: "Patient?_count=0&_total=accurate", want: nil, total: n(6)},

	// _include, _revinclude and :iterate.
	{query: "Observation?code=29463-7&_include=Observation:subject", want: []string{"obs-wt-ann", "obs-wt-dan"}, include: []string{"pat-ann", "pat-dan"}},
	{query: "Observation?code=29463-7&_include=Observation:subject:Group", want: []string{"obs-wt-ann", "obs-wt-dan"}},
	{query: "Patient?_id={pat-ann}&_include=Patient:general-practitioner", want: []string{"pat-ann"}, include: []string{"pr-house"}},
	{query: "Patient?_id={pat-ann},{pat-bob}&_include=Patient:general-practitioner:Organization", want: []string{"pat-ann", "pat-bob"}, include: []string{"org-acme"}},
	{query: "Observation?_id={obs-hr-ann-1}&_include=Observation:*", want: []string{"obs-hr-ann-1"}, include: []string{"pat-ann", "pr-house", "enc-ann-1"}},
	{query: "Observation?_id={obs-hr-ann-1}&_revinclude=Provenance:target", want: []string{"obs-hr-ann-1"}, include: []string{"prov-1"}},
	{query: "Patient?_id={pat-ann}&_revinclude=Observation:subject", want: []string{"pat-ann"}, include: obsAnn},
	{query: "Patient?_id={pat-ann}&_revinclude=Observation:subject&_revinclude=Condition:subject", want: []string{"pat-ann"}, include: join(obsAnn, []string{"cond-ann-htn"})},
	{query: "Observation?_id={obs-hr-ann-1}&_include=Observation:subject&_include=Patient:general-practitioner", want: []string{"obs-hr-ann-1"}, include: []string{"pat-ann"}},
	{query: "Observation?_id={obs-hr-ann-1}&_include=Observation:subject&_include:iterate=Patient:general-practitioner", want: []string{"obs-hr-ann-1"}, include: []string{"pat-ann", "pr-house"}},
	{query: "Observation?_id={obs-hr-ann-1}&_include=Observation:subject&_include:iterate=Patient:organization", want: []string{"obs-hr-ann-1"}, include: []string{"pat-ann", "org-acme"}},
	{query: "Patient?_id={pat-ann}&_revinclude=Observation:subject&_revinclude:iterate=Provenance:target", want: []string{"pat-ann"}, include: join(obsAnn, []string{"prov-1"})},
	{query: "Patient?_id={pat-eve}&_revinclude=Observation:subject&_include=Patient:general-practitioner", want: []string{"pat-eve"}},
}

// TestSearchConformance runs every conformance case over the fixture on
// each backend.
func TestSearchConformance(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		c := newClient(t, startServer(t, s), projectA)
		f := loadFixture(c)
		for _, sc := range conformanceCases {
			checkSearch(t, c, f, "GET", sc)
		}
	})
}

// checkSearch runs sc (GET, or POST _search with the query as a form)
// and reports every difference from what it wants.
func checkSearch(t *testing.T, c fhirClient, f fixture, method string, sc searchCase) {
	t.Helper()
	fail := failer(t, sc.query)
	query := f.expand(sc.query)
	var r reply
	if method == "POST" {
		typ, form, _ := strings.Cut(query, "?")
		r = c.do("POST", typ+"/_search", form, "Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = c.get(query)
	}
	if r.status != 200 || r.body["resourceType"] != "Bundle" || r.body["type"] != "searchset" {
		fail("%s %s: %d %s", method, sc.query, r.status, r.raw)
		return
	}
	matches := f.names(entryRefs(r.body, "match"))
	if sc.ordered && !slices.Equal(matches, sc.want) || !sc.ordered && !sameSet(matches, sc.want) {
		fail("%s %s\n got  %v\n want %v", method, sc.query, matches, sc.want)
	}
	if included := f.names(entryRefs(r.body, "include")); !sameSet(included, sc.include) {
		fail("%s %s: included\n got  %v\n want %v", method, sc.query, included, sc.include)
	}
	if sc.total != nil && total(r.body) != *sc.total {
		fail("%s %s: total %d, want %d", method, sc.query, total(r.body), *sc.total)
	}
	if strings.Contains(sc.query, "_summary=count") && len(list(r.body, "entry")) > 0 {
		fail("%s %s: _summary=count returned entries", method, sc.query)
	}
}

// TestSearchPost: POST Type/_search with a form body answers as GET
// does, and a query string in the URL is ANDed with the form.
func TestSearchPost(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		c := newClient(t, startServer(t, s), projectA)
		f := loadFixture(c)
		for _, sc := range []searchCase{
			{query: "Patient?name=smith", want: []string{"pat-ann", "pat-bob"}},
			{query: "Patient?birthdate=ge1970&birthdate=lt2000", want: []string{"pat-ann", "pat-bob", "pat-cleo"}},
			{query: "Observation?subject:Patient.name=smith&code=8867-4", want: []string{"obs-hr-ann-1", "obs-hr-ann-2", "obs-hr-bob"}},
			{query: "Patient?_id={pat-ann}&_revinclude=Observation:subject", want: []string{"pat-ann"}, include: obsAnn},
			{query: "Patient?gender=female&_summary=count", total: n(2)},
		} {
			checkSearch(t, c, f, "POST", sc)
		}
		r := c.do("POST", "Patient/_search?gender=male", "name=smith", "Content-Type", "application/x-www-form-urlencoded")
		if got := f.names(entryRefs(r.body, "match")); r.status != 200 || !sameSet(got, []string{"pat-bob"}) {
			t.Errorf("POST Patient/_search?gender=male with name=smith: %d %v, want [pat-bob]", r.status, got)
		}
	})
}

// TestSearchSortByID: _sort=_id and -_id order by id.
func TestSearchSortByID(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		c := newClient(t, startServer(t, s), projectA)
		loadFixture(c)
		for _, q := range []string{"Patient?_sort=_id", "Patient?_sort=-_id"} {
			refs := entryRefs(c.mustGet(q).body, "match")
			want := slices.Clone(refs)
			slices.Sort(want)
			if strings.Contains(q, "-_id") {
				slices.Reverse(want)
			}
			if len(refs) != 6 || !slices.Equal(refs, want) {
				t.Errorf("%s: %v", q, refs)
			}
		}
	})
}

// TestSearchPaging follows next links to the end and previous links back
// to the start: every match appears exactly once, in a stable order.
func TestSearchPaging(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		c := newClient(t, startServer(t, s), projectA)
		f := loadFixture(c)
		for _, pc := range []struct {
			query string
			count int
			want  []string
		}{
			{"Patient?_count=2", 2, []string{"pat-ann", "pat-bob", "pat-cleo", "pat-dan", "pat-eve", "pat-zoe"}},
			{"Patient?_count=4&_sort=-birthdate&_total=accurate", 4, []string{"pat-dan", "pat-cleo", "pat-bob", "pat-ann", "pat-zoe", "pat-eve"}},
			{"Observation?_count=5&_sort=date&category=vital-signs", 5, nil},
			{"Observation?_count=3&subject:Patient.name=smith&_revinclude=Provenance:target", 3, join(obsAnn, obsBob)},
		} {
			forward := followPages(t, c, f, pc.query, "next", pc.count)
			if len(pc.want) > 0 && !sameSet(forward, pc.want) {
				t.Errorf("%s: pages hold %v, want %v", pc.query, forward, pc.want)
			}
			if strings.Contains(pc.query, "_sort") && len(pc.want) > 0 && !slices.Equal(forward, pc.want) {
				t.Errorf("%s: pages in order %v, want %v", pc.query, forward, pc.want)
			}
			if len(forward) == 0 {
				t.Errorf("%s: no matches", pc.query)
			}
		}

		// From an offset page, previous links lead back to offset 0.
		r := c.mustGet("Patient?_count=2&_offset=4&_sort=birthdate")
		if got := f.names(entryRefs(r.body, "match")); !slices.Equal(got, []string{"pat-dan", "pat-eve"}) {
			t.Errorf("_offset=4: %v", got)
		}
		if link(r.body, "next") != "" {
			t.Errorf("last page has a next link: %s", link(r.body, "next"))
		}
		var back []string
		for url, pages := link(r.body, "previous"), 0; url != ""; pages++ {
			if pages > 5 {
				t.Fatal("previous links do not end")
			}
			p := c.mustGet(url)
			back = append(f.names(entryRefs(p.body, "match")), back...)
			url = link(p.body, "previous")
		}
		if want := []string{"pat-zoe", "pat-ann", "pat-bob", "pat-cleo"}; !slices.Equal(back, want) {
			t.Errorf("previous pages: %v, want %v", back, want)
		}
	})
}

// followPages reads a search and its rel pages until there are none,
// checking page sizes and that no match repeats; it returns the matches.
func followPages(t *testing.T, c fhirClient, f fixture, query, rel string, count int) []string {
	t.Helper()
	var all []string
	seen := map[string]bool{}
	next := query
	for pages := 0; next != ""; pages++ {
		if pages > 20 {
			t.Fatalf("%s: more than 20 pages", query)
		}
		r := c.mustGet(next)
		got := f.names(entryRefs(r.body, "match"))
		if len(got) > count {
			t.Errorf("%s: page %d has %d matches, _count is %d", query, pages, len(got), count)
		}
		if strings.Contains(query, "_total=accurate") && total(r.body) != 6 {
			t.Errorf("%s: page %d total %d", query, pages, total(r.body))
		}
		for _, g := range got {
			if seen[g] {
				t.Errorf("%s: %s on two pages", query, g)
			}
			seen[g] = true
		}
		all = append(all, got...)
		next = link(r.body, rel)
		if next != "" && len(got) < count {
			t.Errorf("%s: short page %d (%d) has a %s link", query, pages, len(got), rel)
		}
	}
	return all
}

// TestSearchElements: _elements (and Medplum's _fields) keep the named
// top-level elements, plus what a resource cannot go without.
func TestSearchElements(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		c := newClient(t, startServer(t, s), projectA)
		f := loadFixture(c)
		for _, q := range []string{"Patient?_id={pat-ann}&_elements=name,gender", "Patient?_id={pat-ann}&_fields=name,gender"} {
			r := c.mustGet(f.expand(q))
			entries := list(r.body, "entry")
			if len(entries) != 1 {
				t.Fatalf("%s: %s", q, r.raw)
			}
			res, _ := field(entries[0], "resource").(map[string]any)
			for _, keep := range []string{"resourceType", "id", "name", "gender"} {
				if res[keep] == nil {
					t.Errorf("%s: %s missing from %v", q, keep, res)
				}
			}
			for _, drop := range []string{"birthDate", "telecom", "identifier", "generalPractitioner"} {
				if res[drop] != nil {
					t.Errorf("%s: %s kept in %v", q, drop, res)
				}
			}
		}
	})
}

// badQueries must be 400 OperationOutcomes naming the offending parameter.
var badQueries = []struct{ query, names string }{
	{"Patient?foo=bar", "foo"},
	{"Patient?birthdate=2020-13", "birthdate"},
	{"Patient?birthdate=2021-02-30", "birthdate"},
	{"Patient?birthdate=xx2020", "birthdate"},
	{"Observation?value-quantity=abc", "value-quantity"},
	{"RiskAssessment?probability=gt", "probability"},
	{"Patient?_count=abc", "_count"},
	{"Patient?_count=-1", "_count"},
	{"Patient?_offset=x", "_offset"},
	{"Patient?name:foo=x", "name"},
	{"Patient?gender:exact=female", "gender"},
	{"Patient?birthdate:contains=1970", "birthdate"},
	{"Observation?code-value-quantity=8867-4$gt70", "code-value-quantity"},
	{"Patient?_sort=nope", "nope"},
	{"Patient?_include=Patient:nope", "_include"},
	{"Patient?_include=Nope:subject", "_include"},
	{"Patient?_revinclude=Observation", "_revinclude"},
	{"Patient?_total=lots", "_total"},
	{"Patient?_summary=bogus", "_summary"},
	{"Encounter?subject.name=x", "subject"},
	{"Observation?subject:Patient.nope=x", "nope"},
	{"Patient?_has:Observation:nope:code=x", "nope"},
	{"Patient?_has:Nope:subject:code=x", "Nope"},
	{"Patient?name:missing=maybe", "name"},
}

// TestSearchBadQueries: each bad query is a 400 OperationOutcome whose
// text or expression names the parameter, on GET and POST _search.
func TestSearchBadQueries(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		c := newClient(t, startServer(t, s), projectA)
		loadFixture(c)
		for _, bq := range badQueries {
			typ, query, _ := strings.Cut(bq.query, "?")
			for _, r := range []reply{
				c.get(bq.query),
				c.do("POST", typ+"/_search", query, "Content-Type", "application/x-www-form-urlencoded"),
			} {
				fail := failer(t, bq.query)
				if r.status != 400 || !isOutcome(r.body) {
					fail("%s: %d %s, want 400 OperationOutcome", bq.query, r.status, r.raw)
				} else if text := outcomeText(r.body); !strings.Contains(text, bq.names) {
					fail("%s: outcome %q does not name %q", bq.query, text, bq.names)
				}
			}
		}
		// A query that is not even valid URL encoding.
		if r := c.get("Patient?name=%zz"); r.status != 400 || !isOutcome(r.body) {
			failer(t, "Patient?name=%zz")("Patient?name=%%zz: %d %s", r.status, r.raw)
		}
	})
}
