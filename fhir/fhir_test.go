package fhir

import (
	"slices"
	"testing"
)

func TestLookupSearchParam(t *testing.T) {
	tests := []struct {
		resourceType, code string
		wantType, wantExpr string
		wantTarget         string // one of the targets, "" for none
	}{
		{"Patient", "name", "string", "Patient.name", ""},
		{"Patient", "_id", "token", "Resource.id", ""},
		{"Observation", "_lastUpdated", "date", "Resource.meta.lastUpdated", ""},
		{"Patient", "_tag", "token", "Resource.meta.tag", ""},
		{"Patient", "_profile", "uri", "Resource.meta.profile", ""},
		{"Binary", "_security", "token", "Resource.meta.security", ""},
		// a multi-base parameter keeps only its own part of the expression
		{"Observation", "patient", "reference", "Observation.subject.where(resolve() is Patient)", "Patient"},
		{"AllergyIntolerance", "patient", "reference", "AllergyIntolerance.patient", "Patient"},
		{"Observation", "subject", "reference", "Observation.subject", "Group"},
		{"Observation", "value-quantity", "quantity", "(Observation.value.ofType(Quantity)) | (Observation.value.ofType(SampledData))", ""},
		{"ConceptMap", "source-uri", "reference", "(ConceptMap.source.ofType(uri))", "ValueSet"},
		// Medplum's own resource types and parameters
		{"Project", "name", "string", "Project.name", ""},
		{"ProjectMembership", "user", "reference", "ProjectMembership.user", "User"},
		{"User", "email", "string", "User.email", ""},
		{"ClientApplication", "name", "string", "ClientApplication.name", ""},
		{"Task", "priority-order", "number", "iif(priority = 'stat', 50, iif(priority = 'asap', 40, iif(priority = 'urgent', 30, iif(priority = 'routine', 20, 10))))", ""},
	}
	for _, tt := range tests {
		p, ok := LookupSearchParam(tt.resourceType, tt.code)
		if !ok {
			t.Errorf("%s?%s not found", tt.resourceType, tt.code)
			continue
		}
		if p.Type != tt.wantType || (tt.wantExpr != "" && p.Expression != tt.wantExpr) {
			t.Errorf("%s?%s = %s %q, want %s %q", tt.resourceType, tt.code, p.Type, p.Expression, tt.wantType, tt.wantExpr)
		}
		if tt.wantTarget != "" && !slices.Contains(p.Targets, tt.wantTarget) {
			t.Errorf("%s?%s targets %v, want %s among them", tt.resourceType, tt.code, p.Targets, tt.wantTarget)
		}
	}
	for _, missing := range [][2]string{{"Patient", "nope"}, {"NotAType", "_id"}, {"Patient", ""}} {
		if _, ok := LookupSearchParam(missing[0], missing[1]); ok {
			t.Errorf("%s?%s found, want not found", missing[0], missing[1])
		}
	}
}

func TestCompositeSearchParam(t *testing.T) {
	p, ok := LookupSearchParam("Observation", "code-value-quantity")
	if !ok || p.Type != "composite" {
		t.Fatalf("code-value-quantity = %+v, %v", p, ok)
	}
	want := []Component{
		{"code", "code", "http://hl7.org/fhir/SearchParameter/clinical-code"},
		{"value-quantity", "value.as(Quantity)", "http://hl7.org/fhir/SearchParameter/Observation-value-quantity"},
	}
	if len(p.Components) != len(want) || p.Components[0] != want[0] || p.Components[1].Code != want[1].Code {
		t.Errorf("components = %+v, want %+v", p.Components, want)
	}
}

func TestSearchParamsSortedAndComplete(t *testing.T) {
	for _, rt := range ResourceTypes() {
		params := SearchParams(rt)
		if !slices.IsSortedFunc(params, func(a, b *SearchParam) int { return compareStrings(a.Code, b.Code) }) {
			t.Errorf("%s: parameters not sorted", rt)
		}
		for _, code := range []string{"_id", "_lastUpdated", "_tag", "_profile", "_security", "_source"} {
			if _, ok := LookupSearchParam(rt, code); !ok {
				t.Errorf("%s: missing %s", rt, code)
			}
		}
	}
	if n := len(SearchParams("Observation")); n < 40 {
		t.Errorf("Observation has %d parameters, want all of R4's (>40)", n)
	}
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestResourceTypes(t *testing.T) {
	for _, name := range []string{"Patient", "Observation", "Bundle", "Binary", "Parameters", "Project", "ProjectMembership", "User", "ClientApplication", "AccessPolicy", "Login", "Bot"} {
		if !IsResourceType(name) {
			t.Errorf("IsResourceType(%q) = false", name)
		}
	}
	for _, name := range []string{"", "Resource", "DomainResource", "HumanName", "string", "Patient.contact", "patient"} {
		if IsResourceType(name) {
			t.Errorf("IsResourceType(%q) = true", name)
		}
	}
	types := ResourceTypes()
	if !slices.IsSorted(types) || len(types) < 160 {
		t.Errorf("ResourceTypes: %d types, sorted %v", len(types), slices.IsSorted(types))
	}
}

func TestPatientCompartmentParams(t *testing.T) {
	tests := map[string][]string{
		"Observation":        {"subject", "performer"},
		"AllergyIntolerance": {"patient", "recorder", "asserter"},
		"Patient":            {"link"},
		"Organization":       nil,
	}
	for rt, want := range tests {
		if got := PatientCompartmentParams(rt); !slices.Equal(got, want) {
			t.Errorf("PatientCompartmentParams(%s) = %v, want %v", rt, got, want)
		}
	}
}

func TestLookupElement(t *testing.T) {
	tests := []struct {
		typeName, name string
		want           Element
	}{
		{"Patient", "name", Element{Name: "name", Types: []string{"HumanName"}, Array: true}},
		{"Patient", "id", Element{Name: "id", Types: []string{"id"}}},
		{"Patient", "contact", Element{Name: "contact", Types: []string{"Patient.contact"}, Array: true}},
		{"Patient.contact", "name", Element{Name: "name", Types: []string{"HumanName"}}},
		{"Observation", "status", Element{Name: "status", Types: []string{"code"}, Min: 1}},
		{"Observation", "valueQuantity", Element{Name: "value", Types: []string{"Quantity"}, Choice: true}},
		{"Observation", "effectiveDateTime", Element{Name: "effective", Types: []string{"dateTime"}, Choice: true}},
		{"Patient", "deceasedBoolean", Element{Name: "deceased", Types: []string{"boolean"}, Choice: true}},
		{"Questionnaire.item", "item", Element{Name: "item", Types: []string{"Questionnaire.item"}, Array: true}},
		{"Extension", "url", Element{Name: "url", Types: []string{"uri"}, Min: 1}},
		{"HumanName", "id", Element{Name: "id", Types: []string{"string"}}},
		{"Bundle.entry", "resource", Element{Name: "resource", Types: []string{"Resource"}}},
		{"Project", "name", Element{Name: "name", Types: []string{"string"}}},
		{"ProjectMembership", "profile", Element{Name: "profile", Types: []string{"Reference"}, Min: 1}},
		{"Meta", "project", Element{Name: "project", Types: []string{"uri"}}},
	}
	for _, tt := range tests {
		got, ok := LookupElement(tt.typeName, tt.name)
		if !ok {
			t.Errorf("%s.%s not found", tt.typeName, tt.name)
			continue
		}
		if got.Name != tt.want.Name || !slices.Equal(got.Types, tt.want.Types) || got.Array != tt.want.Array || got.Min != tt.want.Min || got.Choice != tt.want.Choice {
			t.Errorf("%s.%s = %+v, want %+v", tt.typeName, tt.name, *got, tt.want)
		}
	}
	if e, ok := LookupElement("Observation", "value"); !ok || !e.Choice || len(e.Types) < 10 {
		t.Errorf("Observation.value = %+v, want the choice of all its types", e)
	}
	if e, _ := LookupElement("Observation", "subject"); !slices.Contains(e.Targets, "Patient") {
		t.Errorf("Observation.subject targets = %v, want Patient among them", e.Targets)
	}
	for _, missing := range [][2]string{{"Patient", "value"}, {"Observation", "valueFoo"}, {"Nope", "id"}, {"Patient", "_birthDate"}} {
		if _, ok := LookupElement(missing[0], missing[1]); ok {
			t.Errorf("%s.%s found, want not found", missing[0], missing[1])
		}
	}
}

func TestElements(t *testing.T) {
	els := Elements("Patient")
	if len(els) == 0 || els[0].Name != "id" {
		t.Fatalf("Elements(Patient) = %d elements starting with %v", len(els), els)
	}
	if Elements("Nope") != nil {
		t.Error("Elements(Nope) is not nil")
	}
}

func TestIsPrimitiveType(t *testing.T) {
	for _, code := range []string{"string", "boolean", "dateTime", "positiveInt", "code", "xhtml", "uuid"} {
		if !IsPrimitiveType(code) {
			t.Errorf("IsPrimitiveType(%q) = false", code)
		}
	}
	for _, code := range []string{"", "HumanName", "Patient", "Element", "String"} {
		if IsPrimitiveType(code) {
			t.Errorf("IsPrimitiveType(%q) = true", code)
		}
	}
}
