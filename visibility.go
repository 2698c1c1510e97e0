package ward

// What a caller may see and touch: the type and field lists that decide
// it, in one place. The store enforces them (store/present.go is the output
// gate, store/policy.go and store/scope.go the walls); nothing else keeps
// its own copy of these lists.

// Page sizes of searches, histories and GraphQL lists (Medplum's).
const (
	// DefaultPageSize is the page size when _count is absent.
	DefaultPageSize = 20
	// MaxPageSize is the largest page a search, history or $everything
	// returns, whatever _count asks.
	MaxPageSize = 1000
)

// SecretFields returns the members of resourceType that no API ever
// returns, to anyone, super admins included: password and MFA secrets,
// login codes and refresh secrets, private key material. Only server
// internals (an Internal principal) read them, to check a password or sign
// a token. A super admin's stolen token must not yield what mints tokens
// for someone else.
func SecretFields(resourceType string) []string {
	switch resourceType {
	case "User":
		return []string{"passwordHash", "mfaSecret"}
	case "Login":
		return []string{"code", "cookie", "refreshSecret"}
	case "JsonWebKey":
		// RFC 7518 §6.3.2 (RSA private key members), §6.2.2 (EC d) and
		// §6.4.1 (symmetric k).
		return []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
	}
	return nil
}

// ClientSecretFields are the members of a ClientApplication that only its
// project's admins see (the admin app shows them); /auth/me leaves them out
// of the profile it answers to the client itself.
func ClientSecretFields() []string {
	return []string{"secret", "retiringSecret"}
}

// NonExtendedMetaFields are the meta members shown only to callers that
// send "X-Medplum: extended" (spec 2.8).
func NonExtendedMetaFields() []string {
	return []string{"author", "project", "account", "compartment"}
}

// DefinitionTypes are the base FHIR R4 definition types the R4 project
// holds and every project reads.
func DefinitionTypes() []string {
	return []string{"StructureDefinition", "SearchParameter", "ValueSet", "CodeSystem", "OperationDefinition"}
}

// IsDefinitionType reports whether t is one of DefinitionTypes.
func IsDefinitionType(t string) bool {
	switch t {
	case "StructureDefinition", "SearchParameter", "ValueSet", "CodeSystem", "OperationDefinition":
		return true
	}
	return false
}

// ProjectAdminTypes are the types of IsProjectAdminType (spec 1.7).
func ProjectAdminTypes() []string {
	return []string{"Project", "ProjectMembership", "User", "UserSecurityRequest"}
}

// IsProtectedType reports whether only system principals may touch t
// (spec 1.7); everyone else gets 403 on every interaction.
func IsProtectedType(t string) bool {
	switch t {
	case "DomainConfiguration", "JsonWebKey", "Login":
		return true
	}
	return false
}

// IsServerWrittenType reports whether only server internals (an Internal
// principal) may create, update or delete t, whoever asks, a super admin
// included: the server's own secrets (its signing keys, its users' logins —
// a super admin reads them without their SecretFields) and the append-only
// audit trail. Reads stay governed by the walls and policies.
func IsServerWrittenType(t string) bool {
	switch t {
	case "JsonWebKey", "Login", "AuditEvent":
		return true
	}
	return false
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

// IsIdentityType reports the types a caller's identity is built from
// (logins, memberships, projects, policies, users, clients, signing keys,
// user configurations): a committed write of one empties the caller cache
// of every process.
func IsIdentityType(t string) bool {
	switch t {
	case "Login", "ProjectMembership", "Project", "AccessPolicy", "User", "ClientApplication", "JsonWebKey", "UserConfiguration":
		return true
	}
	return false
}
