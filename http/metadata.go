package wardhttp

import (
	"slices"
	"time"
)

// The CapabilityStatement lists exactly what this package serves: keep it in
// step with the routes in Handler.

type capabilityStatement struct {
	ResourceType string           `json:"resourceType"`
	Status       string           `json:"status"`
	Date         string           `json:"date"`
	Kind         string           `json:"kind"`
	Software     capSoftware      `json:"software"`
	FHIRVersion  string           `json:"fhirVersion"`
	Format       []string         `json:"format"`
	PatchFormat  []string         `json:"patchFormat"`
	Rest         []capabilityRest `json:"rest"`
}

type capSoftware struct {
	Name string `json:"name"`
}

type capabilityRest struct {
	Mode        string          `json:"mode"`
	Resource    []capResource   `json:"resource"`
	Interaction []capCode       `json:"interaction"`
	SearchParam []capSearchParm `json:"searchParam,omitempty"`
	Operation   []capOperation  `json:"operation,omitempty"`
}

// capOperation names an operation and its OperationDefinition.
type capOperation struct {
	Name       string `json:"name"`
	Definition string `json:"definition"`
}

// typeOperations are the type- and instance-level operations served for
// typ; systemOperations the others. The
// operations mounted by other packages (wire) are listed here too, so a
// client reading /metadata finds them.
func typeOperations(typ string) []capOperation {
	ops := []capOperation{{"set-accounts", "https://medplum.com/fhir/OperationDefinition/set-accounts"},
		{"expunge", "https://medplum.com/fhir/OperationDefinition/expunge"},
		{"csv", "https://medplum.com/fhir/OperationDefinition/csv"}}
	switch typ {
	case "Patient":
		ops = append(ops, capOperation{"everything", "http://hl7.org/fhir/OperationDefinition/Patient-everything"},
			capOperation{"summary", "http://hl7.org/fhir/uv/ips/OperationDefinition/summary"})
	case "ValueSet":
		ops = append(ops, capOperation{"expand", "http://hl7.org/fhir/OperationDefinition/ValueSet-expand"})
	}
	return ops
}

// typeDocumentation says what a type does not offer that Medplum does.
func typeDocumentation(typ string) string {
	if typ == "Patient" {
		return "Patient/{id}/$ccda-export (C-CDA) is not supported yet; $everything and $summary (IPS) are."
	}
	return ""
}

func systemOperations() []capOperation {
	return []capOperation{{"graphql", "http://hl7.org/fhir/OperationDefinition/Resource-graphql"}}
}

type capResource struct {
	Type              string          `json:"type"`
	Documentation     string          `json:"documentation,omitempty"`
	Interaction       []capCode       `json:"interaction"`
	Versioning        string          `json:"versioning"`
	ReadHistory       bool            `json:"readHistory"`
	UpdateCreate      bool            `json:"updateCreate"`
	ConditionalCreate bool            `json:"conditionalCreate"`
	ConditionalRead   string          `json:"conditionalRead"`
	ConditionalUpdate bool            `json:"conditionalUpdate"`
	ConditionalDelete string          `json:"conditionalDelete"`
	SearchInclude     []string        `json:"searchInclude,omitempty"`
	SearchRevInclude  []string        `json:"searchRevInclude,omitempty"`
	SearchParam       []capSearchParm `json:"searchParam,omitempty"`
	Operation         []capOperation  `json:"operation,omitempty"`
}

type capCode struct {
	Code string `json:"code"`
}

type capSearchParm struct {
	Name          string `json:"name"`
	Type          string `json:"type"`
	Documentation string `json:"documentation,omitempty"`
}

func codes(cs ...string) []capCode {
	out := make([]capCode, len(cs))
	for i, c := range cs {
		out[i] = capCode{c}
	}
	return out
}

// buildCapabilityStatement describes the server for /metadata.
func buildCapabilityStatement(types []string, params func(string) []SearchParam) []byte {
	if params == nil {
		params = func(string) []SearchParam { return nil }
	}
	sorted := slices.Clone(types)
	slices.Sort(sorted)
	revIncludes := revIncludeIndex(sorted, params)

	resources := make([]capResource, 0, len(sorted))
	for _, t := range sorted {
		res := capResource{
			Type: t,
			Interaction: codes("read", "vread", "update", "patch", "delete",
				"history-instance", "history-type", "create", "search-type"),
			Versioning:        "versioned",
			ReadHistory:       true,
			UpdateCreate:      true,
			ConditionalCreate: true,
			ConditionalRead:   "not-supported",
			ConditionalUpdate: true,
			ConditionalDelete: "single",
			SearchRevInclude:  revIncludes[t],
			Operation:         typeOperations(t),
			Documentation:     typeDocumentation(t),
		}
		for _, p := range params(t) {
			res.SearchParam = append(res.SearchParam, capSearchParm{Name: p.Code, Type: p.Type, Documentation: p.Documentation})
			if p.Type == "reference" {
				res.SearchInclude = append(res.SearchInclude, t+":"+p.Code)
			}
		}
		if len(res.SearchInclude) > 0 {
			res.SearchInclude = append([]string{"*"}, res.SearchInclude...)
		}
		resources = append(resources, res)
	}
	return mustJSON(capabilityStatement{
		ResourceType: "CapabilityStatement",
		Status:       "active",
		Date:         time.Now().UTC().Format(time.RFC3339),
		Kind:         "instance",
		Software:     capSoftware{Name: "Ward"},
		FHIRVersion:  "4.0.1",
		Format:       []string{"json"},
		PatchFormat:  []string{mediaJSONPatch},
		Rest: []capabilityRest{{
			Mode:        "server",
			Resource:    resources,
			Interaction: codes("transaction", "batch", "history-system"),
			SearchParam: []capSearchParm{
				{Name: "_count", Type: "number"},
				{Name: "_offset", Type: "number"},
				{Name: "_sort", Type: "string"},
				{Name: "_total", Type: "token"},
				{Name: "_summary", Type: "token"},
				{Name: "_elements", Type: "string"},
			},
			Operation: systemOperations(),
		}},
	})
}

// revIncludeIndex maps each target type to the "Source:param" values that
// can _revinclude it.
func revIncludeIndex(types []string, params func(string) []SearchParam) map[string][]string {
	index := make(map[string][]string)
	for _, source := range types {
		for _, p := range params(source) {
			if p.Type != "reference" {
				continue
			}
			for _, target := range p.Targets {
				index[target] = append(index[target], source+":"+p.Code)
			}
		}
	}
	return index
}
