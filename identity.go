package ward

// Fixed project ids shared with Medplum (spec 1.1).
const (
	// SystemProjectID is the project column of resources that belong to no
	// project: server-scoped Users, Logins, JsonWebKeys. Only system and
	// super-admin principals can see it.
	SystemProjectID = "65897e4f-7add-55f3-9b17-035b5a4e6d52"
	// R4ProjectID holds the base FHIR R4 definitions (StructureDefinition,
	// SearchParameter, ValueSet, CodeSystem), readable by every project.
	R4ProjectID = "161452d9-43b7-5c29-aa7b-c85680fa45c6"
)
