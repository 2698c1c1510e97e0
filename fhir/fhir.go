package fhir

import (
	"slices"
	"sort"
	"strings"
	"sync"
)

// SearchParam is one search parameter as it applies to one resource type.
// Values returned by this package are shared: callers must not modify them.
type SearchParam struct {
	Code       string   // e.g. "subject", "_lastUpdated"
	Type       string   // token, string, reference, date, number, quantity, uri, composite, special
	Expression string   // FHIRPath, only the `|`-parts that apply to this resource type (or Resource/DomainResource); "" when none
	Targets    []string // reference target types
	URL        string
	Components []Component // for composite parameters
}

// Component is one part of a composite search parameter.
type Component struct {
	Code       string // code of the component's own search parameter, e.g. "code"
	Expression string // FHIRPath relative to the composite parameter's expression
	Definition string // URL of the component's search parameter
}

// Element describes one child element of a type, from the StructureDefinition
// snapshots.
type Element struct {
	Name   string   // without [x], e.g. "value"
	Types  []string // type codes; >1 for choice elements; for backbone children the nested path type name, e.g. "Patient.contact"
	Array  bool     // max != "1"
	Min    int
	Choice bool

	// Targets are the resource types a Reference (or canonical) element may
	// point at ("Resource" for any); nil for other types.
	Targets []string
}

// Type kinds of typeDef.Kind.
const (
	kindPrimitive = iota
	kindComplex   // datatypes such as HumanName
	kindResource
	kindBackbone // nested elements such as Patient.contact
	kindAbstract // Resource, DomainResource, Element, BackboneElement
)

// typeDef is one generated type with its child elements in definition order.
type typeDef struct {
	Name     string
	Kind     int
	Elements []Element
}

// searchParamGroup holds the generated search parameters of one base type.
type searchParamGroup struct {
	Base   string
	Params []SearchParam
}

// tables are the indexes built once from the generated slices.
type tables struct {
	types        map[string]*typeDef
	elements     map[string]map[string]*Element // type → name (and typed choice names) → element
	params       map[string]map[string]*SearchParam
	sortedParams map[string][]*SearchParam
	resources    []string
	compartment  map[string][]string
}

var index = sync.OnceValue(buildTables)

func buildTables() *tables {
	t := &tables{
		types:        make(map[string]*typeDef, len(typeDefs)),
		elements:     make(map[string]map[string]*Element, len(typeDefs)),
		params:       make(map[string]map[string]*SearchParam),
		sortedParams: make(map[string][]*SearchParam),
		compartment:  make(map[string][]string, len(patientCompartment)),
	}
	for i := range typeDefs {
		td := &typeDefs[i]
		t.types[td.Name] = td
		t.elements[td.Name] = indexElements(td)
		if td.Kind == kindResource {
			t.resources = append(t.resources, td.Name)
		}
	}
	sort.Strings(t.resources)
	t.indexSearchParams()
	for _, c := range patientCompartment {
		t.compartment[c.ResourceType] = c.Params
	}
	return t
}

func indexElements(td *typeDef) map[string]*Element {
	m := make(map[string]*Element, len(td.Elements)*2)
	for i := range td.Elements {
		e := &td.Elements[i]
		m[e.Name] = e
	}
	for i := range td.Elements {
		e := &td.Elements[i]
		if !e.Choice {
			continue
		}
		for _, typ := range e.Types {
			typed := e.Name + upperFirst(typ)
			if _, taken := m[typed]; !taken {
				m[typed] = &Element{Name: e.Name, Types: []string{typ}, Array: e.Array, Min: e.Min, Choice: true, Targets: e.Targets}
			}
		}
	}
	return m
}

func (t *tables) indexSearchParams() {
	var common []*SearchParam
	byBase := make(map[string][]*SearchParam)
	for i := range searchParamGroups {
		g := &searchParamGroups[i]
		for j := range g.Params {
			p := &g.Params[j]
			if g.Base == "Resource" || g.Base == "DomainResource" {
				common = append(common, p)
			} else {
				byBase[g.Base] = append(byBase[g.Base], p)
			}
		}
	}
	for _, rt := range t.resources {
		m := make(map[string]*SearchParam, len(common)+len(byBase[rt]))
		for _, p := range common {
			m[p.Code] = p
		}
		for _, p := range byBase[rt] { // later definitions (Medplum's) win
			m[p.Code] = p
		}
		for _, code := range withdrawnParams(rt) {
			delete(m, code)
		}
		sorted := make([]*SearchParam, 0, len(m))
		for _, p := range m {
			sorted = append(sorted, p)
		}
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].Code < sorted[j].Code })
		t.params[rt] = m
		t.sortedParams[rt] = sorted
	}
}

// withdrawnParams are the R4 search parameters of resourceType that Ward
// does not offer: unknown to search (400), never indexed, absent from the
// CapabilityStatement and GraphQL. The audit trail is the one case: one
// AuditEvent per request, and each index row costs every request; these
// parameters either have no value in the AuditEvents Ward writes
// (agent-name, entity-name, policy, site), hold one constant (source), or
// repeat what agent, entity and subtype find (agent-role, altid,
// entity-role, entity-type).
func withdrawnParams(resourceType string) []string {
	if resourceType == "AuditEvent" {
		return []string{"agent-name", "agent-role", "altid", "entity-name", "entity-role", "entity-type", "policy", "site", "source"}
	}
	return nil
}

// upperFirst turns a type code into its choice suffix: "dateTime" → "DateTime".
func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// LookupSearchParam returns the search parameter code of resourceType,
// including the ones defined on Resource and DomainResource.
func LookupSearchParam(resourceType, code string) (*SearchParam, bool) {
	p, ok := index().params[resourceType][code]
	return p, ok
}

// SearchParams returns every search parameter of resourceType, sorted by code.
func SearchParams(resourceType string) []*SearchParam {
	return slices.Clone(index().sortedParams[resourceType])
}

// IsResourceType reports whether name is a concrete resource type (R4 or Medplum's).
func IsResourceType(name string) bool {
	td, ok := index().types[name]
	return ok && td.Kind == kindResource
}

// ResourceTypes returns every concrete resource type, sorted.
func ResourceTypes() []string {
	return slices.Clone(index().resources)
}

// PatientCompartmentParams returns the search parameters that put a resource
// of resourceType into a Patient compartment; nil when it is never in one.
func PatientCompartmentParams(resourceType string) []string {
	return index().compartment[resourceType]
}

// LookupElement returns the child element name of typeName (a resource,
// datatype or backbone path such as "Patient.contact"). For choice elements
// the typed name resolves too: "valueQuantity" gives the value element
// narrowed to Quantity.
func LookupElement(typeName, name string) (*Element, bool) {
	e, ok := index().elements[typeName][name]
	return e, ok
}

// Elements returns the child elements of typeName in definition order.
func Elements(typeName string) []*Element {
	td, ok := index().types[typeName]
	if !ok {
		return nil
	}
	out := make([]*Element, len(td.Elements))
	for i := range td.Elements {
		out[i] = &td.Elements[i]
	}
	return out
}

// IsPrimitiveType reports whether code is a FHIR primitive type such as
// "string", "dateTime" or "positiveInt".
func IsPrimitiveType(code string) bool {
	td, ok := index().types[code]
	return ok && td.Kind == kindPrimitive
}

// compartmentEntry is one resource type of the generated Patient compartment.
type compartmentEntry struct {
	ResourceType string
	Params       []string
}
