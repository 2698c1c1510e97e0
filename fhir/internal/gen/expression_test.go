package main

import (
	"slices"
	"testing"
)

func TestSplitUnion(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"Patient.name", []string{"Patient.name"}},
		{"A.x | B.y", []string{"A.x", "B.y"}},
		{"(A.x as Quantity) | (A.x as SampledData)", []string{"(A.x as Quantity)", "(A.x as SampledData)"}},
		{"A.x.where(a = 'p|q') | B.y", []string{"A.x.where(a = 'p|q')", "B.y"}},
		{"A.x.where((b | c).exists()) | B.y", []string{"A.x.where((b | c).exists())", "B.y"}},
		{"A.`weird|name` | B.y", []string{"A.`weird|name`", "B.y"}},
		{"A.x.where(s = 'it\\'s|') | B", []string{"A.x.where(s = 'it\\'s|')", "B"}},
		{"", nil},
	}
	for _, tt := range tests {
		if got := splitUnion(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("splitUnion(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestExpressionFor(t *testing.T) {
	multi := "AllergyIntolerance.patient | CarePlan.subject.where(resolve() is Patient) | Observation.subject.where(resolve() is Patient)"
	tests := []struct {
		expr, base, want string
	}{
		{multi, "CarePlan", "CarePlan.subject.where(resolve() is Patient)"},
		{multi, "AllergyIntolerance", "AllergyIntolerance.patient"},
		{multi, "Patient", ""},
		{"Resource.meta.lastUpdated", "Resource", "Resource.meta.lastUpdated"},
		{"(ConceptMap.source as uri)", "ConceptMap", "(ConceptMap.source as uri)"},
		{"Observation.value.as(Quantity) | Observation.value.as(SampledData)", "Observation", "Observation.value.as(Quantity) | Observation.value.as(SampledData)"},
		// relative parts (Medplum's) apply to every base
		{"iif(priority = 'stat', 50, 10)", "Task", "iif(priority = 'stat', 50, 10)"},
		{"name | alias", "InsurancePlan", "name | alias"},
		// a part about a type's ancestor applies
		{"DomainResource.text | Patient.name", "Patient", "DomainResource.text | Patient.name"},
	}
	for _, tt := range tests {
		if got := expressionFor(tt.expr, tt.base); got != tt.want {
			t.Errorf("expressionFor(%q, %s) = %q, want %q", tt.expr, tt.base, got, tt.want)
		}
	}
}
