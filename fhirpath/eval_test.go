package fhirpath

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/wardhealth/ward"
)

func decode(t testing.TB, src string) map[string]any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(src))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

const testPatient = `{"resourceType": "Patient", "id": "p1", "active": true, "gender": "female",
 "birthDate": "1980-05-01", "_birthDate": {"extension": [{"url": "http://e/time", "valueDateTime": "1980-05-01T10:00:00Z"}]},
 "name": [{"use": "official", "family": "Smith", "given": ["Ann", "Marie"]}, {"family": "Jones", "given": ["Ann"]}],
 "telecom": [{"system": "phone", "value": "555"}, {"system": "email", "value": "a@x.org"}],
 "generalPractitioner": [{"reference": "Practitioner/d1"}, {"reference": "Organization/o1/_history/2"}, {"reference": "#c1"}],
 "deceasedBoolean": false,
 "extension": [{"url": "http://e/a", "valueString": "one"}, {"url": "http://e/a", "valueString": "two"}]}`

const testObservation = `{"resourceType": "Observation", "id": "o1", "status": "final",
 "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
 "subject": {"reference": "Patient/p1"}, "effectiveDateTime": "2024-03-04T10:00:00+01:00",
 "valueQuantity": {"value": 72.50, "unit": "bpm", "system": "http://unitsofmeasure.org", "code": "/min"},
 "component": [{"code": {"text": "a"}, "valueQuantity": {"value": 1, "unit": "x"}}, {"code": {"text": "b"}, "valueString": "s"}]}`

// show renders a result as JSON data, typed items as type:value.
func show(vs []Value) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		b, _ := json.Marshal(v.Data)
		parts[i] = string(b)
	}
	return "[" + strings.Join(parts, ",") + "]"
}

func TestEval(t *testing.T) {
	patient, obs := decode(t, testPatient), decode(t, testObservation)
	tests := []struct {
		src      string
		resource map[string]any
		want     string
	}{
		// Paths, indexers, resource type at the start of a path
		{"Patient.name.given", patient, `["Ann","Marie","Ann"]`},
		{"name.family", patient, `["Smith","Jones"]`},
		{"Practitioner.name", patient, `[]`},
		{"Patient.name[1].family", patient, `["Jones"]`},
		{"Patient.name[2]", patient, `[]`},
		{"Patient.nothing", patient, `[]`},
		{"Patient.birthDate", patient, `["1980-05-01"]`},
		{"Patient.birthDate.extension.value", patient, `["1980-05-01T10:00:00Z"]`},
		// Choice elements
		{"Observation.value", obs, `[{"code":"/min","system":"http://unitsofmeasure.org","unit":"bpm","value":72.50}]`},
		{"Observation.value.ofType(Quantity).value", obs, `[72.50]`},
		{"Observation.component.value.ofType(string)", obs, `["s"]`},
		{"Observation.component.value is Quantity", obs, `[]`},
		{"Observation.value is Quantity", obs, `[true]`},
		{"Observation.value as Quantity", obs, `[{"code":"/min","system":"http://unitsofmeasure.org","unit":"bpm","value":72.50}]`},
		{"Observation.value.as(Period)", obs, `[]`},
		{"Patient.deceased", patient, `[false]`},
		{"Patient.deceased.exists() and Patient.deceased != false", patient, `[false]`},
		// where, resolve, extension
		{"Patient.generalPractitioner.where(resolve() is Practitioner).reference", patient, `["Practitioner/d1"]`},
		{"Patient.generalPractitioner.resolve()", patient, `[{"id":"d1","resourceType":"Practitioner"},{"id":"o1","resourceType":"Organization"}]`},
		{"Observation.subject.resolve() is Patient", obs, `[true]`},
		{"Patient.telecom.where(system = 'email').value", patient, `["a@x.org"]`},
		{"Patient.extension('http://e/a').value", patient, `["one"]`},
		{"Patient.extension('http://e/none')", patient, `[]`},
		// Existence, subsetting, combining
		{"Patient.name.exists()", patient, `[true]`},
		{"Patient.photo.exists()", patient, `[false]`},
		{"Patient.photo.empty()", patient, `[true]`},
		{"Patient.name.given.exists($this = 'Marie')", patient, `[true]`},
		{"Patient.name.all(given.exists())", patient, `[true]`},
		{"Patient.name.given.count()", patient, `[3]`},
		{"Patient.name.given.distinct()", patient, `["Ann","Marie"]`},
		{"Patient.name.given.isDistinct()", patient, `[false]`},
		{"Patient.name.given.first()", patient, `["Ann"]`},
		{"Patient.name.given.last()", patient, `["Ann"]`},
		{"Patient.name.given.tail()", patient, `["Marie","Ann"]`},
		{"Patient.name.given.skip(1).take(1)", patient, `["Marie"]`},
		{"Patient.name.given.where($index > 0)", patient, `["Marie","Ann"]`},
		{"Patient.name.select(family)", patient, `["Smith","Jones"]`},
		{"Patient.name.given | Patient.name.family", patient, `["Ann","Marie","Smith","Jones"]`},
		{"(1 | 2).combine(2 | 3)", nil, `[1,2,2,3]`},
		{"(1 | 2 | 3).exclude(2)", nil, `[1,3]`},
		{"(1 | 2 | 3).intersect(2 | 4)", nil, `[2]`},
		{"(1 | 2).subsetOf(1 | 2 | 3)", nil, `[true]`},
		{"(1 | 2).supersetOf(3)", nil, `[false]`},
		{"(1 | 2).single()", nil, `error`},
		{"{}.single()", nil, `[]`},
		{"(true | false).anyTrue()", nil, `[true]`},
		{"(true | false).allTrue()", nil, `[false]`},
		{"Patient.children().count() > 5", patient, `[true]`},
		{"Patient.name.descendants().ofType(string)", patient, `["Smith","Ann","Marie","Jones","Ann"]`},
		{"(1 | 2).repeat($this)", nil, `[1,2]`},
		// Boolean logic with empty operands
		{"true and {}", nil, `[]`},
		{"false and {}", nil, `[false]`},
		{"true or {}", nil, `[true]`},
		{"{} implies false", nil, `[]`},
		{"false implies {}", nil, `[true]`},
		{"true xor true", nil, `[false]`},
		{"(1 = 1).not()", nil, `[false]`},
		{"{}.not()", nil, `[]`},
		{"Patient.name and true", patient, `error`},
		// Equality, equivalence, comparison
		{"Patient.gender = 'female'", patient, `[true]`},
		{"Patient.gender != 'female'", patient, `[false]`},
		{"Patient.nothing = 'x'", patient, `[]`},
		{"(1 | 2) = (1 | 2)", nil, `[true]`},
		{"1 = 1.0", nil, `[true]`},
		{"'ABC' ~ 'abc'", nil, `[true]`},
		{"'ABC' !~ 'abd'", nil, `[true]`},
		{"(1 | 2) ~ (2 | 1)", nil, `[true]`},
		{"2 > 1.5", nil, `[true]`},
		{"'a' < 'b'", nil, `[true]`},
		{"@2020-01-01 < @2020-01-02", nil, `[true]`},
		{"@2020-01 < @2020-01-15", nil, `[]`},
		{"@2020-01 < @2020-02-15", nil, `[true]`},
		{"@2020-01-01T10:00:00+02:00 = @2020-01-01T08:00:00Z", nil, `[true]`},
		{"@2020-01-01T10:00:00+02:00 > @2020-01-01T08:30:00Z", nil, `[false]`},
		{"Observation.effective > @2024-03-04T08:59:00Z", obs, `[true]`},
		{"@T10:00 < @T10:30", nil, `[true]`},
		{"Patient.birthDate >= @1980", patient, `[]`},
		{"Patient.birthDate < @1981", patient, `[true]`},
		{"5 'mg' = 5 'mg'", nil, `[true]`},
		{"Observation.value > 70 'bpm'", obs, `[true]`},
		{"1 < 'a'", nil, `error`},
		// Membership
		{"'Ann' in Patient.name.given", patient, `[true]`},
		{"Patient.name.given contains 'Bob'", patient, `[false]`},
		{"{} in (1 | 2)", nil, `[]`},
		// Arithmetic and strings
		{"1 + 2 * 3", nil, `[7]`},
		{"(1 + 2) * 3", nil, `[9]`},
		{"7 div 2", nil, `[3]`},
		{"7 mod 2", nil, `[1]`},
		{"1 / 4", nil, `[0.25]`},
		{"1 / 0", nil, `[]`},
		{"-5 + 2", nil, `[-3]`},
		{"0.1 + 0.2", nil, `[0.30000000000000004]`},
		{"Observation.value * 2", obs, `[{"code":"/min","system":"http://unitsofmeasure.org","unit":"bpm","value":145}]`},
		{"'a' + 'b'", nil, `["ab"]`},
		{"'a' & {} & 'c'", nil, `["ac"]`},
		{"1 & 'a'", nil, `error`},
		{"{} + 1", nil, `[]`},
		{"'Smith'.startsWith('Sm')", nil, `[true]`},
		{"'Smith'.endsWith('th')", nil, `[true]`},
		{"'Smith'.contains('mit')", nil, `[true]`},
		{"'Smith'.indexOf('i')", nil, `[2]`},
		{"'Smith'.substring(1, 2)", nil, `["mi"]`},
		{"'Smith'.substring(3)", nil, `["th"]`},
		{"'Smith'.substring(9)", nil, `[]`},
		{"'Smith'.upper() & 'Smith'.lower()", nil, `["SMITHsmith"]`},
		{"'Smith'.length()", nil, `[5]`},
		{"'Smith'.replace('S', 'Z')", nil, `["Zmith"]`},
		{"'Smith'.matches('^S.*h$')", nil, `[true]`},
		{"'Smith'.matches('(')", nil, `error`},
		{"'a1b22'.replaceMatches('[0-9]+', '#')", nil, `["a#b#"]`},
		{"'ab'.toChars()", nil, `["a","b"]`},
		{"' x '.trim()", nil, `["x"]`},
		{"'a,b'.split(',')", nil, `["a","b"]`},
		{"('a' | 'b').join('-')", nil, `["a-b"]`},
		{"Patient.name.given.startsWith('A')", patient, `error`},
		{"Patient.active.startsWith('A')", patient, `error`},
		// Conversions
		{"'12'.toInteger() + 1", nil, `[13]`},
		{"'1.5'.toDecimal()", nil, `[1.5]`},
		{"'x'.toInteger()", nil, `[]`},
		{"1.5.toInteger()", nil, `[]`},
		{"12.toString()", nil, `["12"]`},
		{"1.50.toString()", nil, `["1.5"]`},
		{"5 'mg'.toString()", nil, `["5 'mg'"]`},
		{"'yes'.toBoolean()", nil, `[true]`},
		{"'maybe'.convertsToBoolean()", nil, `[false]`},
		{"'2020-01-02'.toDate()", nil, `["2020-01-02"]`},
		{"'2020-01-02T10:00:00+02:00'.toDateTime()", nil, `["2020-01-02T08:00:00.000Z"]`},
		{"'10:20:30'.toTime()", nil, `["10:20:30"]`},
		{"'5.5 mg'.toQuantity().value", nil, `[5.5]`},
		{"2.5.round()", nil, `[3]`},
		{"3.14159.round(2)", nil, `[3.14]`},
		{"(-2).abs()", nil, `[2]`},
		{"2.1.ceiling() + 2.9.floor() + 2.9.truncate()", nil, `[7]`},
		{"4.sqrt()", nil, `[2]`},
		{"(-1).sqrt()", nil, `[]`},
		{"2.power(10)", nil, `[1024]`},
		{"100.log(10)", nil, `[2]`},
		// iif, variables, literals
		{"iif(Observation.status = 'final', 'done', 'open')", obs, `["done"]`},
		{"iif(Observation.status = 'draft', 'done')", obs, `[]`},
		{"iif('x', 1, 2)", nil, `error`},
		{"%resource.id", patient, `["p1"]`},
		{"%context.resourceType", obs, `["Observation"]`},
		{"%ucum", nil, `["http://unitsofmeasure.org"]`},
		{"%undefined", nil, `error`},
		{"{}", nil, `[]`},
		{"@2020-01-02T", nil, `["2020-01-02"]`},
		{"Patient.id.getResourceKey()", patient, `[]`},
		{"Patient.getResourceKey()", patient, `["p1"]`},
		{"Observation.subject.getReferenceKey(Patient)", obs, `["p1"]`},
		{"Observation.subject.getReferenceKey(Group)", obs, `[]`},
		{"Patient.conformsTo('http://hl7.org/fhir/StructureDefinition/Patient')", patient, `[true]`},
		{"Patient.trace('x').id", patient, `["p1"]`},
		{"Patient.name.given.hasValue()", patient, `[true]`},
	}
	ctx := context.Background()
	for _, tt := range tests {
		got, err := Evaluate(ctx, tt.src, tt.resource)
		if tt.want == "error" {
			if err == nil {
				t.Errorf("%s = %s, want an error", tt.src, show(got))
			} else if ward.ErrorCode(err) != ward.EINVALID {
				t.Errorf("%s: error code %s, want %s", tt.src, ward.ErrorCode(err), ward.EINVALID)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.src, err)
			continue
		}
		if s := show(got); s != tt.want {
			t.Errorf("%s = %s, want %s", tt.src, s, tt.want)
		}
	}
}

func TestEvalTypes(t *testing.T) {
	patient, obs := decode(t, testPatient), decode(t, testObservation)
	tests := []struct {
		src      string
		resource map[string]any
		want     string
	}{
		{"Observation.value", obs, "Quantity"},
		{"Observation.code", obs, "CodeableConcept"},
		{"Observation.code.coding", obs, "Coding"},
		{"Observation.code.coding.code", obs, "code"},
		{"Observation.effective", obs, "dateTime"},
		{"Observation.subject", obs, "Reference"},
		{"Observation.subject.resolve()", obs, "Patient"},
		{"Observation.component", obs, "Observation.component"},
		{"Observation.component[1].value", obs, "string"},
		{"Patient.id", patient, "string"},
		{"Patient.name", patient, "HumanName"},
		{"Patient.deceased", patient, "boolean"},
		{"Patient.birthDate", patient, "date"},
		{"Patient", patient, "Patient"},
		{"1", nil, "integer"},
		{"1.5", nil, "decimal"},
		{"'x'", nil, "string"},
		{"true", nil, "boolean"},
		{"@2020", nil, "date"},
		{"@2020-01-01T10:00Z", nil, "dateTime"},
		{"@T10:00", nil, "time"},
		{"5 'mg'", nil, "Quantity"},
		{"1 + 1.5", nil, "decimal"},
		{"Observation.exists()", obs, "boolean"},
	}
	for _, tt := range tests {
		got, err := Evaluate(context.Background(), tt.src, tt.resource)
		if err != nil || len(got) == 0 {
			t.Errorf("%s: %v %v", tt.src, show(got), err)
			continue
		}
		if got[0].Type != tt.want {
			t.Errorf("%s: type %q, want %q", tt.src, got[0].Type, tt.want)
		}
	}
}

func TestEvalEnv(t *testing.T) {
	before := decode(t, `{"resourceType": "Patient", "id": "p1", "gender": "male"}`)
	after := decode(t, `{"resourceType": "Patient", "id": "p1", "gender": "female"}`)
	env := &Env{Vars: map[string][]Value{
		"%before": {{Data: before, Type: "Patient"}},
		"after":   {{Data: after, Type: "Patient"}},
		"%none":   nil,
	}}
	tests := []struct{ src, want string }{
		{"%before.gender", `["male"]`},
		{"%after.gender = 'female'", `[true]`},
		{"%before.exists() implies %before.id = %after.id", `[true]`},
		{"%before.gender = %after.gender", `[false]`},
		{"%none.exists() implies false", `[true]`},
		{"%resource.gender", `["female"]`},
	}
	for _, tt := range tests {
		got, err := MustParse(tt.src).Eval(context.Background(), after, env)
		if err != nil {
			t.Errorf("%s: %v", tt.src, err)
			continue
		}
		if s := show(got); s != tt.want {
			t.Errorf("%s = %s, want %s", tt.src, s, tt.want)
		}
	}
}

// staticTypes is a TypeInfo that knows one element.
type staticTypes struct{}

func (staticTypes) ElementTypes(typeName, element string) ([]string, bool, bool) {
	if typeName == "Thing" && element == "size" {
		return []string{"Quantity", "string"}, false, true
	}
	return nil, false, false
}

func TestEvalCustomTypes(t *testing.T) {
	thing := decode(t, `{"resourceType": "Thing", "sizeString": "big", "other": {"code": "x"}}`)
	env := &Env{Types: staticTypes{}}
	for src, want := range map[string]string{
		"Thing.size":                  `["big"]`,
		"Thing.size is string":        `[true]`,
		"Thing.other is Coding":       `[true]`, // guessed from its shape
		"Thing.other.code":            `["x"]`,
		"Thing.size.ofType(Quantity)": `[]`,
	} {
		got, err := MustParse(src).Eval(context.Background(), thing, env)
		if err != nil || show(got) != want {
			t.Errorf("%s = %s %v, want %s", src, show(got), err, want)
		}
	}
}

func TestEvalCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	expr := MustParse("(1 | 2 | 3).select((1 | 2 | 3).select((1 | 2 | 3).select((1 | 2 | 3).select((1 | 2 | 3).select((1|2|3).select($this))))))")
	if _, err := expr.Eval(ctx, nil, nil); err != context.Canceled {
		t.Errorf("cancelled evaluation: %v, want %v", err, context.Canceled)
	}
}

func TestEvalConcurrent(t *testing.T) {
	expr := MustParse("Patient.name.where(use = 'official').given.first() & ' ' & Patient.name.family.first()")
	patient := decode(t, testPatient)
	done := make(chan string)
	for i := 0; i < 8; i++ {
		go func() {
			got, _ := expr.Eval(context.Background(), patient, nil)
			done <- show(got)
		}()
	}
	for i := 0; i < 8; i++ {
		if got := <-done; got != `["Ann Smith"]` {
			t.Errorf("concurrent evaluation = %s", got)
		}
	}
}
