package fhir

import "github.com/wardhealth/ward"

// ValidateResource checks a resource decoded with json.Decoder.UseNumber
// against the R4 (and Medplum) element definitions.
func ValidateResource(resource map[string]any) error {
	rt, _ := resource["resourceType"].(string)
	if !IsResourceType(rt) {
		return &ward.Error{Code: ward.EINVALID, Message: "Unknown resource type", Expression: []string{"resourceType"}}
	}
	return nil
}
