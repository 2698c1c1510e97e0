package graphql_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/access"
	"github.com/wardhealth/ward/graphql"
	"github.com/wardhealth/ward/store"
)

// world is one project with two clinics, their patients and observations,
// the R4 definitions requestSchema reads, and three callers: the project
// admin, a clinician of clinic A (Medplum's MSO policy: criteria on
// _compartment) and a restricted member (Patient only, birthDate hidden).
type world struct {
	s       *store.Store
	h       *graphql.Handler
	project string
	ids     map[string]string // local name → "Type/id"
	callers map[string]*ward.Principal
}

func sysCtx() context.Context {
	return ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal())
}

// create writes body (with {name} placeholders) into project as the system.
func (w *world) create(t testing.TB, project, name, body string) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(w.expand(t, body)), &m); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	meta, _ := m["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	meta["project"] = project
	m["meta"] = meta
	data, _ := json.Marshal(m)
	typ := m["resourceType"].(string)
	err := w.s.Write(sysCtx(), func(ctx context.Context, tx ward.ResourceTx) error {
		res, err := tx.Create(ctx, typ, data)
		if err == nil {
			w.ids[name] = res.Reference()
		}
		return err
	})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
}

var placeholder = regexp.MustCompile(`\{[a-zA-Z0-9-]+\}`)

// expand replaces {name} by the id of name and {ref:name} is not needed:
// bodies write "Type/{name}".
func (w *world) expand(t testing.TB, s string) string {
	t.Helper()
	return placeholder.ReplaceAllStringFunc(s, func(m string) string {
		ref, ok := w.ids[m[1:len(m)-1]]
		if !ok {
			t.Fatalf("test bug: no resource %s", m)
		}
		_, id, _ := strings.Cut(ref, "/")
		return id
	})
}

// patientSD is a StructureDefinition shaped like the real Patient one
// (snapshot elements with base, type and binding), n elements long.
func patientSD(name string, n int) string {
	var els []string
	for i := 0; i < n; i++ {
		els = append(els, `{"id":"`+name+`.e`+itoa(i)+`","path":"`+name+`.e`+itoa(i)+`","definition":"Element number `+itoa(i)+` of the resource, with a definition sentence as long as the real ones tend to be.","min":0,"max":"*","base":{"path":"`+name+`.e`+itoa(i)+`","min":0,"max":"*"},"type":[{"code":"Reference","targetProfile":["http://hl7.org/fhir/StructureDefinition/Organization"]}],"binding":{"strength":"required","valueSet":"http://hl7.org/fhir/ValueSet/administrative-gender|4.0.1"}}`)
	}
	return `{"resourceType":"StructureDefinition","url":"http://hl7.org/fhir/StructureDefinition/` + name + `","name":"` + name + `","status":"active","kind":"resource","abstract":false,"type":"` + name + `","description":"Demographics and other administrative information about an individual.","snapshot":{"element":[` + strings.Join(els, ",") + `]}}`
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

func newWorld(t testing.TB, s *store.Store) *world {
	t.Helper()
	w := &world{s: s, h: graphql.New(s, nil), project: uuid.NewString(), ids: map[string]string{}}
	p := w.project
	w.create(t, ward.R4ProjectID, "sd-patient", patientSD("Patient", 40))
	w.create(t, ward.R4ProjectID, "sd-patientlink", patientSD("PatientLink", 3))
	w.create(t, ward.R4ProjectID, "sp-name", `{"resourceType":"SearchParameter","url":"http://hl7.org/fhir/SearchParameter/Patient-name","name":"name","status":"active","description":"x","code":"name","base":["Patient"],"type":"string","expression":"Patient.name"}`)
	w.create(t, ward.R4ProjectID, "sp-org", `{"resourceType":"SearchParameter","url":"http://hl7.org/fhir/SearchParameter/Patient-organization","name":"organization","status":"active","description":"x","code":"organization","base":["Patient"],"type":"reference","expression":"Patient.managingOrganization","target":["Organization"]}`)
	w.create(t, ward.R4ProjectID, "sp-obs", `{"resourceType":"SearchParameter","url":"http://hl7.org/fhir/SearchParameter/Observation-code","name":"code","status":"active","description":"x","code":"code","base":["Observation"],"type":"token","expression":"Observation.code"}`)

	w.create(t, p, "clinic-a", `{"resourceType":"Organization","name":"Clinic A"}`)
	w.create(t, p, "clinic-b", `{"resourceType":"Organization","name":"Clinic B"}`)
	inA := `"meta":{"accounts":[{"reference":"Organization/{clinic-a}"}]}`
	inB := `"meta":{"accounts":[{"reference":"Organization/{clinic-b}"}]}`
	w.create(t, p, "alice", `{"resourceType":"Patient",`+inA+`,"name":[{"given":["Alice"],"family":"Alpha"}],"birthDate":"1970-01-01","gender":"female","managingOrganization":{"reference":"Organization/{clinic-a}"}}`)
	w.create(t, p, "arthur", `{"resourceType":"Patient",`+inA+`,"name":[{"given":["Arthur"],"family":"Alpha"}],"birthDate":"1980-01-01","gender":"male","managingOrganization":{"reference":"Organization/{clinic-a}"}}`)
	w.create(t, p, "bob", `{"resourceType":"Patient",`+inB+`,"name":[{"given":["Bob"],"family":"Beta"}],"birthDate":"1990-01-01","gender":"male","managingOrganization":{"reference":"Organization/{clinic-b}"}}`)
	obs := func(name, meta, subject, code string) {
		w.create(t, p, name, `{"resourceType":"Observation",`+meta+`,"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"`+code+`"}]},"subject":{"reference":"Patient/{`+subject+`}"},"valueQuantity":{"value":72,"unit":"/min"}}`)
	}
	obs("obs-alice-1", inA, "alice", "8867-4")
	obs("obs-alice-2", inA, "alice", "8310-5")
	obs("obs-bob-1", inB, "bob", "8867-4")
	// Stamped with clinic A only, about clinic B's patient: clinic A sees
	// the Observation but must not see Bob through it (Medplum #4183).
	w.create(t, p, "obs-cross", `{"resourceType":"Observation","meta":{"accounts":[{"reference":"Organization/{clinic-a}"}]},"status":"final","code":{"text":"cross"},"subject":{"reference":"Patient/{bob}"}}`)

	w.callers = map[string]*ward.Principal{
		"admin":      {ProjectID: p, Admin: true, Author: "Practitioner/admin"},
		"clinician":  {ProjectID: p, Author: "Practitioner/c", Policy: policy(t, w.expand(t, mso))},
		"restricted": {ProjectID: p, Author: "Practitioner/r", Policy: policy(t, restricted)},
	}
	return w
}

// mso is Medplum's MSO policy for clinic A, variables already substituted.
const mso = `[{"resourceType":"Organization","readonly":true},
 {"resourceType":"Patient","criteria":"Patient?_compartment=Organization/{clinic-a}"},
 {"resourceType":"Observation","criteria":"Observation?_compartment=Organization/{clinic-a}"},
 {"resourceType":"StructureDefinition","readonly":true},{"resourceType":"SearchParameter","readonly":true}]`

const restricted = `[{"resourceType":"Patient","hiddenFields":["birthDate"]},
 {"resourceType":"StructureDefinition","readonly":true},{"resourceType":"SearchParameter","readonly":true}]`

func policy(t testing.TB, resources string) *ward.Policy {
	t.Helper()
	tree := func(s string) map[string]any {
		var m map[string]any
		if err := json.Unmarshal([]byte(s), &m); err != nil {
			t.Fatalf("%v: %s", err, s)
		}
		return m
	}
	p, _, err := access.Build(access.Input{
		Project:    tree(`{"id":"x"}`),
		Membership: tree(`{"profile":{"reference":"Practitioner/me"},"accessPolicy":{"reference":"AccessPolicy/a"}}`),
		Policies:   map[string]map[string]any{"AccessPolicy/a": tree(`{"resource":` + resources + `}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// gqlReply is one $graphql answer.
type gqlReply struct {
	status int
	body   map[string]any
	raw    string
}

// query posts query (with {name} placeholders) as caller.
func (w *world) query(t testing.TB, caller, query string, vars map[string]any) gqlReply {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": w.expand(t, query), "variables": vars})
	return w.post(t, caller, string(body))
}

func (w *world) post(t testing.TB, caller, body string) gqlReply {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/fhir/R4/$graphql", strings.NewReader(body))
	req = req.WithContext(ward.NewContextWithPrincipal(req.Context(), w.callers[caller]))
	rec := httptest.NewRecorder()
	w.h.ServeHTTP(rec, req)
	out := gqlReply{status: rec.Code, raw: rec.Body.String()}
	d := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
	d.UseNumber()
	_ = d.Decode(&out.body)
	return out
}

// ref names a stored reference by its local name: "Patient/<id>" → "alice".
func (w *world) name(ref string) string {
	for n, r := range w.ids {
		if r == ref {
			return n
		}
	}
	return ref
}
