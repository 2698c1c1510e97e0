package index

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/wardhealth/ward/fhir"
)

// rowsOf indexes one value of a parameter of type paramType named "p".
func rowsOf(paramType, valueType, data string) *Rows {
	r := &Rows{}
	r.add(&fhir.SearchParam{Code: "p", Type: paramType}, value{data: decode(data), typ: valueType})
	r.finish()
	return r
}

func decode(s string) any {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		panic(err)
	}
	return v
}

func TestTokenRows(t *testing.T) {
	tests := []struct {
		name, typ, data string
		want            []Token
	}{
		{"coding", "Coding", `{"system":"http://loinc.org","code":"1234-5","display":"Body Weight"}`,
			[]Token{{"p", "http://loinc.org", "1234-5", "body weight"}}},
		{"coding without code", "Coding", `{"system":"s","display":"x"}`, nil},
		{"codeable concept with text", "CodeableConcept",
			`{"coding":[{"system":"s","code":"a","display":"Alpha"},{"system":"s","code":"b"}],"text":"Some Text"}`,
			[]Token{{"p", "", "", "some text"}, {"p", "s", "a", "alpha"}, {"p", "s", "b", "some text"}}},
		{"codeable concept without text", "CodeableConcept", `{"coding":[{"system":"s","code":"a"}]}`,
			[]Token{{"p", "s", "a", ""}}},
		{"codeable concept text only", "CodeableConcept", `{"text":"Headache"}`,
			[]Token{{"p", "", "", "headache"}}},
		{"identifier", "Identifier", `{"system":"urn:mrn","value":"123","type":{"text":"MRN"}}`,
			[]Token{{"p", "urn:mrn", "123", "mrn"}}},
		{"identifier without value", "Identifier", `{"system":"urn:mrn"}`, nil},
		{"contact point", "ContactPoint", `{"system":"email","value":"a@b.c","use":"home"}`,
			[]Token{{"p", "email", "a@b.c", ""}}},
		{"code", "code", `"final"`, []Token{{"p", "", "final", ""}}},
		{"empty code", "code", `""`, nil},
		{"boolean true", "boolean", `true`, []Token{{"p", "", "true", ""}}},
		{"boolean false", "boolean", `false`, []Token{{"p", "", "false", ""}}},
		{"uri", "uri", `"http://x"`, []Token{{"p", "", "http://x", ""}}},
		{"untyped codeable concept", "", `{"coding":[{"system":"s","code":"a"}]}`, []Token{{"p", "s", "a", ""}}},
		{"untyped coding", "", `{"system":"s","code":"a","display":"A"}`, []Token{{"p", "s", "a", "a"}}},
		{"untyped identifier", "", `{"system":"urn:x","value":"v"}`, []Token{{"p", "urn:x", "v", ""}}},
		{"untyped contact point", "", `{"system":"phone","value":"555"}`, []Token{{"p", "phone", "555", ""}}},
		{"untyped string", "", `"abc"`, []Token{{"p", "", "abc", ""}}},
		{"integer", "integer", `7`, []Token{{"p", "", "7", ""}}},
		{"quantity is not a token", "Quantity", `{"value":1}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rowsOf("token", tt.typ, tt.data)
			if !reflect.DeepEqual(got.Tokens, tt.want) {
				t.Errorf("tokens = %q, want %q", got.Tokens, tt.want)
			}
		})
	}
}

func TestStringRows(t *testing.T) {
	tests := []struct {
		name, typ, data string
		want            []String
	}{
		{"string", "string", `"Zoë Smith"`, []String{{"p", "zoe smith", "Zoë Smith"}}},
		{"blank string", "string", `"  "`, nil},
		{"human name", "HumanName",
			`{"use":"official","family":"Müller","given":["Anna","Maria"],"prefix":["Dr."],"suffix":["PhD"],"text":"Dr. Anna Müller"}`,
			[]String{
				{"p", "anna", "Anna"}, {"p", "dr.", "Dr."}, {"p", "dr. anna muller", "Dr. Anna Müller"},
				{"p", "maria", "Maria"}, {"p", "muller", "Müller"}, {"p", "phd", "PhD"},
			}},
		{"address", "Address",
			`{"use":"home","line":["1 Main St","Apt 2"],"city":"Springfield","state":"IL","postalCode":"62701","country":"US","district":"Sangamon"}`,
			[]String{
				{"p", "1 main st", "1 Main St"}, {"p", "62701", "62701"}, {"p", "apt 2", "Apt 2"}, {"p", "il", "IL"},
				{"p", "sangamon", "Sangamon"}, {"p", "springfield", "Springfield"}, {"p", "us", "US"},
			}},
		{"untyped human name", "", `{"family":"Doe","given":["Jane"]}`, []String{{"p", "doe", "Doe"}, {"p", "jane", "Jane"}}},
		{"other complex: its string leaves", "ContactDetail",
			`{"name":"Desk","telecom":[{"system":"phone","value":"555"}],"extension":[{"url":"x","valueString":"hidden"}]}`,
			[]String{{"p", "555", "555"}, {"p", "desk", "Desk"}, {"p", "phone", "phone"}}},
		{"number is not a string", "integer", `5`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rowsOf("string", tt.typ, tt.data)
			if !reflect.DeepEqual(got.Strings, tt.want) {
				t.Errorf("strings = %q, want %q", got.Strings, tt.want)
			}
		})
	}
}

func TestDateRows(t *testing.T) {
	day := func(s string) (int64, int64) {
		low, high, ok := DateRange(s)
		if !ok {
			panic(s)
		}
		return low, high
	}
	d2020low, d2020high := day("2020")
	jan1low, _ := day("2020-01-01")
	_, jan2high := day("2020-01-02")
	instLow, instHigh := day("2020-01-01T10:00:00.000Z")
	tests := []struct {
		name, typ, data string
		want            []Date
	}{
		{"year", "date", `"2020"`, []Date{{"p", d2020low, d2020high}}},
		{"instant", "instant", `"2020-01-01T10:00:00.000Z"`, []Date{{"p", instLow, instHigh}}},
		{"period", "Period", `{"start":"2020-01-01","end":"2020-01-02"}`, []Date{{"p", jan1low, jan2high}}},
		{"period open end", "Period", `{"start":"2020-01-01"}`, []Date{{"p", jan1low, math.MaxInt64}}},
		{"period open start", "Period", `{"end":"2020-01-02"}`, []Date{{"p", math.MinInt64, jan2high}}},
		{"empty period", "Period", `{}`, nil},
		{"untyped period", "", `{"start":"2020-01-01","end":"2020-01-02"}`, []Date{{"p", jan1low, jan2high}}},
		{"timing", "Timing", `{"event":["2020","2020-01-01"],"repeat":{"boundsPeriod":{"start":"2020-01-01"}}}`,
			[]Date{{"p", jan1low, jan1low + 86400e6 - 1}, {"p", d2020low, d2020high}, {"p", jan1low, math.MaxInt64}}},
		{"time of day is skipped", "time", `"10:00:00"`, nil},
		{"age is not a date", "Age", `{"value":5,"unit":"a"}`, nil},
		{"junk string", "string", `"yesterday"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rowsOf("date", tt.typ, tt.data)
			if !reflect.DeepEqual(got.Dates, tt.want) {
				t.Errorf("dates = %v, want %v", got.Dates, tt.want)
			}
		})
	}
}

func TestNumberAndQuantityRows(t *testing.T) {
	num := func(typ, data string) []Number { return rowsOf("number", typ, data).Numbers }
	qty := func(typ, data string) []Quantity { return rowsOf("quantity", typ, data).Quantities }

	if got, want := num("decimal", `1.50`), []Number{{"p", 1.5, 1.495, 1.505}}; !reflect.DeepEqual(got, want) {
		t.Errorf("decimal 1.50: %v, want %v", got, want)
	}
	if got, want := num("integer", `-3`), []Number{{"p", -3, -3.5, -2.5}}; !reflect.DeepEqual(got, want) {
		t.Errorf("integer -3: %v, want %v", got, want)
	}
	if got, want := num("Range", `{"low":{"value":0.2},"high":{"value":0.4}}`), []Number{{"p", 0.2, 0.15, 0.45}}; !reflect.DeepEqual(got, want) {
		t.Errorf("number range: %v, want %v", got, want)
	}

	tests := []struct {
		name, typ, data string
		want            []Quantity
	}{
		{"quantity", "Quantity", `{"value":185,"unit":"lbs","system":"http://unitsofmeasure.org","code":"[lb_av]"}`,
			[]Quantity{{"p", "http://unitsofmeasure.org", "[lb_av]", "lbs", 185, 184.5, 185.5}}},
		{"quantity e notation", "Quantity", `{"value":1e2}`, []Quantity{{"p", "", "", "", 100, 50, 150}}},
		{"age", "Age", `{"value":42,"unit":"yr","system":"http://unitsofmeasure.org","code":"a"}`,
			[]Quantity{{"p", "http://unitsofmeasure.org", "a", "yr", 42, 41.5, 42.5}}},
		{"money", "Money", `{"value":10.00,"currency":"USD"}`, []Quantity{{"p", "urn:iso:std:iso:4217", "USD", "", 10, 9.995, 10.005}}},
		{"quantity without value", "Quantity", `{"unit":"mg"}`, nil},
		{"range", "Range", `{"low":{"value":5,"unit":"mg"},"high":{"value":10,"unit":"mg"}}`,
			[]Quantity{{"p", "", "", "mg", 5, 4.5, 10.5}}},
		{"range open high", "Range", `{"low":{"value":5}}`, []Quantity{{"p", "", "", "", 5, 4.5, math.MaxFloat64}}},
		{"range open low", "Range", `{"high":{"value":10}}`, []Quantity{{"p", "", "", "", 10, -math.MaxFloat64, 10.5}}},
		{"untyped quantity", "", `{"value":-0.5,"unit":"mmol/L"}`, []Quantity{{"p", "", "", "mmol/L", -0.5, -0.55, -0.45}}},
		{"sampled data is skipped", "SampledData", `{"origin":{"value":1},"data":"1 2 3"}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := qty(tt.typ, tt.data); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("quantities = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestQuantityKeepsWrittenPrecision(t *testing.T) {
	r := &Rows{}
	r.add(&fhir.SearchParam{Code: "p", Type: "quantity"}, value{
		data: map[string]any{"value": json.Number("1.50"), "unit": "g"}, typ: "Quantity"})
	if want := (Quantity{"p", "", "", "g", 1.5, 1.495, 1.505}); len(r.Quantities) != 1 || r.Quantities[0] != want {
		t.Errorf("quantities = %v, want %v", r.Quantities, want)
	}
}

func TestReferenceRows(t *testing.T) {
	tests := []struct {
		name, typ, data string
		refs            []Reference
		tokens          []Token
	}{
		{"relative", "Reference", `{"reference":"Patient/123"}`, []Reference{{"p", "Patient", "123"}}, nil},
		{"versioned", "Reference", `{"reference":"Patient/123/_history/2"}`, []Reference{{"p", "Patient", "123"}}, nil},
		{"absolute", "Reference", `{"reference":"http://example.org/fhir/Patient/123"}`,
			[]Reference{{"p", "", "http://example.org/fhir/Patient/123"}}, nil},
		{"urn uuid", "Reference", `{"reference":"urn:uuid:0a1b"}`, []Reference{{"p", "", "urn:uuid:0a1b"}}, nil},
		{"contained", "Reference", `{"reference":"#med1"}`, nil, nil},
		{"identifier only", "Reference", `{"identifier":{"system":"urn:npi","value":"99"}}`, nil,
			[]Token{{"p:identifier", "urn:npi", "99", ""}}},
		{"reference and identifier", "", `{"reference":"Practitioner/7","identifier":{"system":"urn:npi","value":"99"}}`,
			[]Reference{{"p", "Practitioner", "7"}}, []Token{{"p:identifier", "urn:npi", "99", ""}}},
		{"canonical", "canonical", `"http://example.org/PlanDefinition/x|1.0"`,
			[]Reference{{"p", "", "http://example.org/PlanDefinition/x|1.0"}}, nil},
		{"conditional", "Reference", `{"reference":"Patient?identifier=x"}`, []Reference{{"p", "", "Patient?identifier=x"}}, nil},
		{"embedded resource", "Composition", `{"resourceType":"Composition","id":"c1"}`, []Reference{{"p", "Composition", "c1"}}, nil},
		{"not a reference", "CodeableConcept", `{"text":"x"}`, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := rowsOf("reference", tt.typ, tt.data)
			if !reflect.DeepEqual(got.References, tt.refs) || !reflect.DeepEqual(got.Tokens, tt.tokens) {
				t.Errorf("references = %q, tokens = %q; want %q, %q", got.References, got.Tokens, tt.refs, tt.tokens)
			}
		})
	}
}

func TestURIRows(t *testing.T) {
	if got, want := rowsOf("uri", "uri", `"http://x/y"`).URIs, []URI{{"p", "http://x/y"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("uris = %v, want %v", got, want)
	}
	if got := rowsOf("uri", "uri", `""`).URIs; got != nil {
		t.Errorf("empty uri indexed: %v", got)
	}
}

func TestRowsAreSortedAndUnique(t *testing.T) {
	r := &Rows{}
	p := &fhir.SearchParam{Code: "code", Type: "token"}
	for _, s := range []string{"b", "a", "b", "a"} {
		r.add(p, value{data: s, typ: "code"})
	}
	r.finish()
	if want := []Token{{"code", "", "a", ""}, {"code", "", "b", ""}}; !reflect.DeepEqual(r.Tokens, want) {
		t.Errorf("tokens = %v, want %v", r.Tokens, want)
	}
}

func TestLongValuesAreClipped(t *testing.T) {
	long := make([]byte, 5000)
	for i := range long {
		long[i] = 'x'
	}
	r := rowsOf("string", "string", `"`+string(long)+`"`)
	if len(r.Strings) != 1 || len(r.Strings[0].Value) != maxIndexedLen || len(r.Strings[0].Exact) != 5000 {
		t.Errorf("long string not clipped as expected")
	}
}
