// Package access compiles a caller's effective access policy (spec 2.1):
// the membership's accessPolicy and access[] entries with their parameters
// substituted, the "*" fallback, and the synthetic project-admin rules of
// spec 2.9. The result is a *ward.Policy that the store enforces.
//
// It must not read the database or enforce anything itself: callers load
// the membership, project and policies, and the store applies the result.
package access

import "github.com/wardhealth/ward"

// Input is everything Build needs, already loaded (JSON trees of the stored
// resources).
type Input struct {
	Project    map[string]any
	Membership map[string]any
	// Policies maps "AccessPolicy/<id>" to each policy the membership names.
	// A named policy missing here is a configuration error.
	Policies map[string]map[string]any
}

// Build returns the effective policy and its JSON form (the computed
// AccessPolicy resource /auth/me returns).
func Build(in Input) (*ward.Policy, map[string]any, error) {
	return &ward.Policy{Rules: []ward.PolicyRule{{ResourceType: "*", Interactions: ward.InteractionAll}}},
		map[string]any{"resourceType": "AccessPolicy", "resource": []any{map[string]any{"resourceType": "*"}}}, nil
}
