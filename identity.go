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

// IsProtectedType reports whether only system principals may touch t
// (spec 1.7); everyone else gets 403 on every interaction.
func IsProtectedType(t string) bool {
	switch t {
	case "DomainConfiguration", "JsonWebKey", "Login":
		return true
	}
	return false
}

// IsServerSecretType reports whether t holds the server's own secrets: its
// signing keys and its users' logins. Only server internals (an Internal
// principal) create, update or delete them; a super admin reads them
// without their SecretFields.
func IsServerSecretType(t string) bool {
	return t == "JsonWebKey" || t == "Login"
}

// IsProjectAdminType reports whether t is a project-admin type (spec 1.7,
// ProjectAdminTypes):
// never granted by a "*" rule; regular members get 403, project admins get
// the synthetic rules of spec 2.9.
func IsProjectAdminType(t string) bool {
	switch t {
	case "Project", "ProjectMembership", "User", "UserSecurityRequest":
		return true
	}
	return false
}
