package ward

// Interaction is a set of FHIR interactions a policy rule grants.
type Interaction uint8

// The interactions of AccessPolicy.resource.interaction. Update covers PATCH.
const (
	InteractionCreate Interaction = 1 << iota
	InteractionRead
	InteractionUpdate
	InteractionDelete
	InteractionSearch
	InteractionHistory
	InteractionVRead

	// InteractionAll is what a rule without interaction (and not readonly) grants.
	InteractionAll = InteractionCreate | InteractionRead | InteractionUpdate | InteractionDelete |
		InteractionSearch | InteractionHistory | InteractionVRead
	// InteractionReadOnly is what the deprecated readonly flag grants.
	InteractionReadOnly = InteractionRead | InteractionSearch | InteractionHistory | InteractionVRead
)

// Policy is a caller's effective access policy, compiled from its
// membership (package access builds it). The store enforces it on every
// path; nothing else interprets it.
type Policy struct {
	// Rules are OR-ed: a resource is reachable for an interaction when any
	// rule of its type (or "*") granting that interaction matches it.
	Rules []PolicyRule
	// Compartment is the account reference stamped into meta.accounts of
	// resources this caller creates ("" for none).
	Compartment string
}

// PolicyRule is one AccessPolicy.resource entry after parameter substitution.
type PolicyRule struct {
	// ResourceType is a FHIR type, or "*" for every type except the
	// protected and project-admin types.
	ResourceType string
	// Criteria are AND-ed search filters a matching resource satisfies;
	// nil matches every resource of the type.
	Criteria []SearchFilter
	// Interactions granted; never 0 once built.
	Interactions Interaction
	// HiddenFields are dot paths removed from every output and never written.
	HiddenFields []string
	// ReadonlyFields are dot paths whose submitted values are discarded.
	ReadonlyFields []string
	// WriteConstraints are FHIRPath expressions that must all be true for
	// the written resource (%before, %after).
	WriteConstraints []string
}

// Grants reports whether r applies to resourceType for interaction i.
func (r *PolicyRule) Grants(resourceType string, i Interaction) bool {
	if r.Interactions&i == 0 {
		return false
	}
	if r.ResourceType == "*" {
		return !IsProtectedType(resourceType) && !IsProjectAdminType(resourceType)
	}
	return r.ResourceType == resourceType
}

// RulesFor returns the rules granting interaction i on resourceType, in
// policy order. None means the interaction is forbidden (403) for the type.
func (p *Policy) RulesFor(resourceType string, i Interaction) []*PolicyRule {
	var out []*PolicyRule
	for k := range p.Rules {
		if p.Rules[k].Grants(resourceType, i) {
			out = append(out, &p.Rules[k])
		}
	}
	return out
}
