package fhir

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/wardhealth/ward"
)

func decode(t testing.TB, s string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("decode %s: %v", s, err)
	}
	return m
}

func TestValidateResourceValid(t *testing.T) {
	valid := []string{
		`{"resourceType":"Patient"}`,
		`{"resourceType":"Patient","id":"a-1.B","active":true,"gender":"female","birthDate":"1970-02-28",
		  "name":[{"use":"official","family":"Smith","given":["Alice","B."]}],
		  "telecom":[{"system":"phone","value":"+1 555"}],"deceasedDateTime":"2020-01-01T10:00:00+02:00",
		  "multipleBirthInteger":2,"contact":[{"name":{"text":"Bob"}}],
		  "meta":{"versionId":"1","lastUpdated":"2023-01-01T00:00:00.000Z","project":"p1","tag":[{"code":"x"}]},
		  "text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">x</div>"}}`,
		// primitive extensions, including null array items carried by them
		`{"resourceType":"Patient","birthDate":"2000","_birthDate":{"extension":[{"url":"http://x","valueString":"a"}]},
		  "name":[{"given":[null,"x"],"_given":[{"id":"g1"},null]}]}`,
		`{"resourceType":"Patient","_gender":{"extension":[{"url":"http://x","valueCode":"u"}]}}`,
		`{"resourceType":"Observation","status":"final","code":{"text":"hr"},"valueQuantity":{"value":72.5,"unit":"/min"},
		  "effectivePeriod":{"start":"2020-01","end":"2020-02-03T04Z"},"issued":"2020-01-01T00:00:00.123Z",
		  "component":[{"code":{"text":"a"},"valueInteger":-3}]}`,
		`{"resourceType":"Patient","contained":[{"resourceType":"Organization","id":"o1","name":"Acme"}],"managingOrganization":{"reference":"#o1"}}`,
		`{"resourceType":"Bundle","type":"collection","entry":[{"fullUrl":"urn:uuid:0c3b1d5e-5a6b-4c7d-8e9f-0a1b2c3d4e5f","resource":{"resourceType":"Patient"}}]}`,
		`{"resourceType":"Parameters","parameter":[{"name":"r","resource":{"resourceType":"Patient"}},{"name":"n","valueDecimal":1e3}]}`,
		`{"resourceType":"Questionnaire","status":"active","item":[{"linkId":"1","type":"group","item":[{"linkId":"1.1","type":"string"}]}]}`,
		`{"resourceType":"Project","name":"p","strictMode":true,"setting":[{"name":"a","valueString":"b"}]}`,
		`{"resourceType":"AsyncJob","status":"completed","requestTime":"2020-01-01T00:00:00Z","request":"x","output":{"resourceType":"Parameters"}}`,
		`{"resourceType":"Appointment","status":"booked","participant":[{"status":"accepted","actor":{"reference":"Patient/1"}}],
		  "minutesDuration":30,"start":"2020-01-01T10:00:00Z"}`,
	}
	for _, s := range valid {
		if err := ValidateResource(decode(t, s)); err != nil {
			t.Errorf("%s\n  unexpected error: %v", s, err)
		}
	}
}

func TestValidateResourceInvalid(t *testing.T) {
	tests := []struct {
		in       string
		wantMsg  string // contained in the message
		wantExpr string // first expression
	}{
		{`{}`, "Missing resource type", "resourceType"},
		{`{"resourceType":"Patients"}`, `Unknown resource type "Patients"`, "resourceType"},
		{`{"resourceType":"HumanName"}`, `Unknown resource type "HumanName"`, "resourceType"},
		{`{"resourceType":7}`, "Unknown resource type number", "resourceType"},
		{`{"resourceType":"Patient","foo":1}`, `Invalid additional property "foo"`, "Patient.foo"},
		{`{"resourceType":"Patient","name":[{"given":"Alice"}]}`, "Expected array of values for property", "Patient.name[0].given"},
		{`{"resourceType":"Patient","gender":["male"]}`, "Expected single value for property", "Patient.gender"},
		{`{"resourceType":"Patient","active":"true"}`, "Invalid JSON type: expected boolean, but got string", "Patient.active"},
		{`{"resourceType":"Patient","gender":1}`, "Invalid JSON type: expected string, but got number", "Patient.gender"},
		{`{"resourceType":"Patient","name":"Alice"}`, "Expected array of values for property", "Patient.name"},
		{`{"resourceType":"Patient","maritalStatus":"M"}`, "Invalid JSON type: expected object, but got string", "Patient.maritalStatus"},
		{`{"resourceType":"Patient","name":["Alice"]}`, "Invalid JSON type: expected object, but got string", "Patient.name[0]"},
		{`{"resourceType":"Patient","multipleBirthInteger":"2"}`, "expected number, but got string", "Patient.multipleBirthInteger"},
		{`{"resourceType":"Patient","id":"a b"}`, `Invalid id format: "a b"`, "Patient.id"},
		{`{"resourceType":"Patient","id":"` + strings.Repeat("a", 65) + `"}`, "Invalid id format", "Patient.id"},
		{`{"resourceType":"Patient","birthDate":"2020-02-30"}`, "Invalid date format", "Patient.birthDate"},
		{`{"resourceType":"Patient","birthDate":"2020-01-01T00:00:00Z"}`, "Invalid date format", "Patient.birthDate"},
		{`{"resourceType":"Patient","deceasedDateTime":"yesterday"}`, "Invalid dateTime format", "Patient.deceasedDateTime"},
		{`{"resourceType":"Patient","deceasedDateTime":"2020-01-01T25:00:00Z"}`, "Invalid dateTime format", "Patient.deceasedDateTime"},
		{`{"resourceType":"Observation","status":"final","code":{"text":"x"},"issued":"2020-01-01T10:00:00"}`, "Invalid instant format", "Observation.issued"},
		{`{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueTime":"10:00"}`, "Invalid time format", "Observation.valueTime"},
		{`{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueInteger":1.5}`, "Expected number to be an integer: 1.5", "Observation.valueInteger"},
		{`{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueInteger":3000000000}`, "out of range", "Observation.valueInteger"},
		{`{"resourceType":"Appointment","status":"booked","participant":[{"status":"accepted"}],"minutesDuration":0}`, "Expected number to be positive", "Appointment.minutesDuration"},
		{`{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":"1"}}`, "expected number", "Observation.valueQuantity.value"},
		{`{"resourceType":"Patient","gender":"fe male"}`, "", ""}, // a code may contain single spaces
		{`{"resourceType":"Patient","gender":" male"}`, "Invalid code format", "Patient.gender"},
		{`{"resourceType":"Patient","implicitRules":"http://a b"}`, "Invalid uri format", "Patient.implicitRules"},
		{`{"resourceType":"Patient","gender":""}`, "Invalid empty value", "Patient.gender"},
		{`{"resourceType":"Patient","name":[{"family":"  "}]}`, "String must contain non-whitespace content", "Patient.name[0].family"},
		{`{"resourceType":"Patient","name":[{}]}`, "Invalid empty value", "Patient.name[0]"},
		{`{"resourceType":"Patient","name":[]}`, "Invalid empty value", "Patient.name"},
		{`{"resourceType":"Patient","gender":null}`, "Invalid null value", "Patient.gender"},
		{`{"resourceType":"Patient","name":[null]}`, "Invalid null value", "Patient.name[0]"},
		{`{"resourceType":"Observation","code":{"text":"x"}}`, "Missing required property", "Observation.status"},
		{`{"resourceType":"Extension"}`, "Unknown resource type", "resourceType"},
		{`{"resourceType":"Patient","extension":[{"valueString":"x"}]}`, "Missing required property", "Patient.extension[0].url"},
		{`{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueString":"a","valueBoolean":true}`, "Multiple values for choice element", "Observation.value[x]"},
		{`{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueFoo":"a"}`, `Invalid additional property "valueFoo"`, "Observation.valueFoo"},
		{`{"resourceType":"Observation","status":"final","code":{"text":"x"},"value":"a"}`, `Invalid additional property "value"`, "Observation.value"},
		{`{"resourceType":"Patient","_name":{"id":"x"}}`, `Invalid additional property "_name"`, "Patient._name"},
		{`{"resourceType":"Patient","_birthDate":"x"}`, "expected object, but got string", "Patient._birthDate"},
		{`{"resourceType":"Patient","name":[{"given":["a"],"_given":[null,{"id":"x"}]}]}`, "Expected 1 items to match given", "Patient.name[0]._given"},
		{`{"resourceType":"Patient","contained":[{"resourceType":"Nope"}]}`, `Unknown resource type "Nope"`, "Patient.contained[0].resourceType"},
		{`{"resourceType":"Patient","contained":[{"id":"x"}]}`, "Missing resource type", "Patient.contained[0].resourceType"},
		{`{"resourceType":"Bundle","type":"collection","entry":[{"resource":{"resourceType":"Patient","gender":1}}]}`, "expected string", "Bundle.entry[0].resource.gender"},
		{`{"resourceType":"Parameters","parameter":[{"name":"r","resource":{"resourceType":"Patient","x":1}}]}`, `Invalid additional property "x"`, "Parameters.parameter[0].resource.x"},
		{`{"resourceType":"AsyncJob","status":"completed","requestTime":"2020-01-01T00:00:00Z","request":"x","output":{"resourceType":"Patient"}}`, `Expected resource type "Parameters"`, "AsyncJob.output.resourceType"},
		{`{"resourceType":"Questionnaire","status":"active","item":[{"linkId":"1","type":"group","item":[{"linkId":"1.1","type":"string","text":7}]}]}`, "expected string", "Questionnaire.item[0].item[0].text"},
		{`{"resourceType":"Project","name":"p","foo":true}`, `Invalid additional property "foo"`, "Project.foo"},
		{`{"resourceType":"Patient","meta":{"lastUpdated":"today"}}`, "Invalid instant format", "Patient.meta.lastUpdated"},
	}
	for _, tt := range tests {
		err := ValidateResource(decode(t, tt.in))
		if tt.wantMsg == "" {
			if err != nil {
				t.Errorf("%s\n  unexpected error: %v", tt.in, err)
			}
			continue
		}
		var e *ward.Error
		if !errors.As(err, &e) {
			t.Errorf("%s\n  error = %v, want *ward.Error", tt.in, err)
			continue
		}
		if e.Code != ward.EINVALID || !strings.Contains(e.Message, tt.wantMsg) || len(e.Expression) == 0 || e.Expression[0] != tt.wantExpr {
			t.Errorf("%s\n  got  %s %q %q\n  want invalid, message containing %q, expression %q", tt.in, e.Code, e.Message, e.Expression, tt.wantMsg, tt.wantExpr)
		}
	}
}

// All problems are reported together, sorted by path, each naming its path.
func TestValidateResourceReportsAll(t *testing.T) {
	err := ValidateResource(decode(t, `{"resourceType":"Patient","foo":1,"gender":2,"birthDate":"x"}`))
	var e *ward.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v", err)
	}
	want := []string{"Patient.birthDate", "Patient.foo", "Patient.gender"}
	if !slices.Equal(e.Expression, want) {
		t.Errorf("expressions = %q, want %q", e.Expression, want)
	}
	for _, p := range want {
		if !strings.Contains(e.Message, "("+p+")") {
			t.Errorf("message %q does not name %s", e.Message, p)
		}
	}
}

func TestValidateResourceLimits(t *testing.T) {
	if err := ValidateResource(nil); err == nil {
		t.Error("nil resource accepted")
	}
	// many problems: capped
	many := map[string]any{"resourceType": "Patient"}
	for i := 0; i < 100; i++ {
		many["x"+strings.Repeat("y", i)] = 1
	}
	var e *ward.Error
	if !errors.As(ValidateResource(many), &e) || len(e.Expression) != maxIssues || !strings.HasSuffix(e.Message, "and more") {
		t.Errorf("100 problems gave %d expressions", len(e.Expression))
	}
	// deep nesting: rejected, not a stack overflow
	item := map[string]any{"linkId": "x", "type": "group"}
	root := map[string]any{"resourceType": "Questionnaire", "status": "active", "item": []any{item}}
	for i := 0; i < 200; i++ {
		child := map[string]any{"linkId": "x", "type": "group"}
		item["item"] = []any{child}
		item = child
	}
	if err := ValidateResource(root); err == nil || !strings.Contains(err.Error(), "Too deeply nested") {
		t.Errorf("deep nesting: %v", err)
	}
}

func TestPrimitiveFormats(t *testing.T) {
	tests := []struct {
		typ   string
		valid []any
		bad   []any
	}{
		{"date", []any{"2020", "2020-02", "2020-02-29", "1900-12-31"}, []any{"20", "2020-2", "2021-02-29", "2020-00", "0000", "2020-01-01T", "2020/01/01"}},
		{"dateTime", []any{"2020", "2020-01", "2020-01-01", "2020-01-01T10:00:00Z", "2020-01-01T10:00:00.123+05:30", "2020-01-01T10", "2020-01-01T10:00:00", "2020-01Z", "2020-01-01T10-05:00"},
			[]any{"2020-01-01T", "2020-01-01T10:00", "2020-02-30", "2020-01-01 10:00:00Z", "2020-01-01T10:00:00+15:00", "2020-01T10:00:00Z", "2020-01-01T10:00:00.Z", "2020-01-01T10:60:00Z"}},
		{"instant", []any{"2020-01-01T10:00:00Z", "2020-01-01T10:00:00.5-03:00"}, []any{"2020-01-01", "2020-01-01T10:00Z", "2020-01-01T10:00:00"}},
		{"time", []any{"10:00:00", "23:59:60.25"}, []any{"10:00", "24:00:00", "10:00:00Z"}},
		{"id", []any{"a", "A-b.1"}, []any{"a_b", "a/b", "é"}},
		{"code", []any{"a", "a b"}, []any{"a  b", "a\tb", "a "}},
		{"uri", []any{"urn:x", "http://a/b?c=d"}, []any{"a b", 1}},
		{"oid", []any{"urn:oid:1.2.3"}, []any{"1.2.3", "urn:oid:3.1", "urn:oid:1.02"}},
		{"uuid", []any{"urn:uuid:0c3b1d5e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"}, []any{"urn:uuid:0C3B1D5E-5A6B-4C7D-8E9F-0A1B2C3D4E5F", "urn:uuid:x"}},
		{"base64Binary", []any{"SGVsbG8=", "SGVsbA==", "SGVs"}, []any{"SGVsbG8", "SGV$bG8=", "SGVs bG8=", "S===", "SG=s"}},
		{"decimal", []any{json.Number("1.50"), json.Number("-1e3"), 2.5}, []any{"1.5", true, json.Number("1e999")}},
		{"integer", []any{json.Number("-2147483648"), json.Number("1.0"), 3}, []any{json.Number("2147483648"), json.Number("1.5")}},
		{"unsignedInt", []any{json.Number("0")}, []any{json.Number("-1")}},
		{"positiveInt", []any{json.Number("1")}, []any{json.Number("0")}},
		{"boolean", []any{true, false}, []any{"true", 0}},
		{"string", []any{" x ", "multi\nline"}, []any{"", " \n", 1}},
	}
	for _, tt := range tests {
		for _, v := range tt.valid {
			if msg := checkPrimitive(v, tt.typ); msg != "" {
				t.Errorf("%s %#v: %s", tt.typ, v, msg)
			}
		}
		for _, v := range tt.bad {
			if msg := checkPrimitive(v, tt.typ); msg == "" {
				t.Errorf("%s %#v accepted", tt.typ, v)
			}
		}
	}
}

func BenchmarkValidateResource(b *testing.B) {
	r := decode(b, `{"resourceType":"Patient","id":"p1","active":true,"gender":"female","birthDate":"1970-02-28",
	  "name":[{"use":"official","family":"Smith","given":["Alice","B."]}],"identifier":[{"system":"http://x","value":"1"}],
	  "telecom":[{"system":"phone","value":"+1 555"}],"address":[{"line":["1 Main St"],"city":"X","postalCode":"1"}],
	  "meta":{"versionId":"1","lastUpdated":"2023-01-01T00:00:00.000Z"}}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := ValidateResource(r); err != nil {
			b.Fatal(err)
		}
	}
}
