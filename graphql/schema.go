package graphql

import (
	"slices"
	"sort"
	"strings"

	gql "github.com/graphql-go/graphql"

	"github.com/wardhealth/ward/fhir"
)

// schemaBuilder turns package fhir's tables into a GraphQL schema. Object
// types are made on first use and their fields are thunks, so a type's
// fields are built once, when graphql-go walks the schema.
type schemaBuilder struct {
	r              *resolvers
	objects        map[string]*gql.Object             // FHIR type or backbone path → object
	conns          map[string]*gql.Object             // resource type → <Type>Connection
	args           map[string]gql.FieldConfigArgument // resource type → search arguments
	revFields      map[string][]string                // target type → source types with a reference param to it
	resources      *gql.Union                         // ResourceList
	inputs         map[string]*gql.InputObject        // input type name → input object
	resourceScalar *gql.Scalar                        // ResourceJSON
}

func newSchemaBuilder(r *resolvers) *schemaBuilder {
	b := &schemaBuilder{
		r:       r,
		objects: map[string]*gql.Object{},
		conns:   map[string]*gql.Object{},
		args:    map[string]gql.FieldConfigArgument{},
		inputs:  map[string]*gql.InputObject{},
	}
	b.revFields = reverseSources()
	return b
}

// build returns the whole schema.
func (b *schemaBuilder) build() (gql.Schema, error) {
	b.resources = gql.NewUnion(gql.UnionConfig{
		Name: "ResourceList",
		Types: gql.UnionTypesThunk(func() []*gql.Object {
			var out []*gql.Object
			for _, rt := range fhir.ResourceTypes() {
				out = append(out, b.object(rt))
			}
			return out
		}),
		ResolveType: func(p gql.ResolveTypeParams) *gql.Object {
			m, _ := p.Value.(map[string]any)
			rt, _ := m["resourceType"].(string)
			if !fhir.IsResourceType(rt) {
				return nil
			}
			return b.object(rt)
		},
	})
	query := gql.NewObject(gql.ObjectConfig{Name: "QueryType", Fields: gql.FieldsThunk(b.rootFields)})
	mutation := gql.NewObject(gql.ObjectConfig{Name: "MutationType", Fields: gql.FieldsThunk(b.mutationFields)})
	return gql.NewSchema(gql.SchemaConfig{Query: query, Mutation: mutation})
}

// rootFields are <Type>, <Type>List and <Type>Connection of every type.
func (b *schemaBuilder) rootFields() gql.Fields {
	fields := gql.Fields{}
	for _, rt := range fhir.ResourceTypes() {
		fields[rt] = &gql.Field{
			Type:    b.object(rt),
			Args:    gql.FieldConfigArgument{"id": {Type: gql.NewNonNull(gql.ID)}},
			Resolve: b.r.read(rt),
		}
		fields[rt+"List"] = &gql.Field{
			Type:    gql.NewList(b.object(rt)),
			Args:    b.searchArgs(rt),
			Resolve: b.r.list(rt),
		}
		fields[rt+"Connection"] = &gql.Field{
			Type:    b.connection(rt),
			Args:    b.searchArgs(rt),
			Resolve: b.r.connection(rt),
		}
	}
	return fields
}

// object returns the object type of a resource, datatype or backbone path.
func (b *schemaBuilder) object(fhirType string) *gql.Object {
	if o, ok := b.objects[fhirType]; ok {
		return o
	}
	o := gql.NewObject(gql.ObjectConfig{
		Name:   typeName(fhirType),
		Fields: gql.FieldsThunk(func() gql.Fields { return b.fields(fhirType) }),
	})
	b.objects[fhirType] = o
	return o
}

// typeName is Medplum's GraphQL name of a FHIR type: backbone paths are
// joined with their parts capitalized (Patient.contact → PatientContact).
func typeName(fhirType string) string {
	parts := strings.Split(fhirType, ".")
	for i, p := range parts {
		parts[i] = upperFirst(p)
	}
	return strings.Join(parts, "")
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// fields are the elements of fhirType as in FHIR JSON (choice elements
// expanded to valueQuantity…), plus resourceType and the reverse lookups
// for a resource, plus resource for Reference.
func (b *schemaBuilder) fields(fhirType string) gql.Fields {
	fields := gql.Fields{}
	for _, e := range fhir.Elements(fhirType) {
		for _, typ := range e.Types {
			name := e.Name
			if e.Choice {
				name += upperFirst(typ)
			}
			var t gql.Output = b.elementType(typ)
			if e.Array {
				t = gql.NewList(t)
			}
			fields[name] = &gql.Field{Type: t, Resolve: member}
		}
	}
	switch {
	case fhir.IsResourceType(fhirType):
		fields["resourceType"] = &gql.Field{Type: gql.String, Resolve: member}
		for _, src := range b.revFields[fhirType] {
			fields[src+"List"] = &gql.Field{
				Type:    gql.NewList(b.object(src)),
				Args:    b.reverseArgs(fhirType, src),
				Resolve: b.r.reverse(src),
			}
		}
	case fhirType == "Reference":
		fields["resource"] = &gql.Field{Type: b.resources, Resolve: b.r.reference}
	}
	return fields
}

// elementType maps a FHIR type code to a GraphQL output type.
func (b *schemaBuilder) elementType(code string) gql.Output {
	if code == "Resource" {
		return b.resources
	}
	if s := scalarType(code); s != nil {
		return s
	}
	return b.object(code)
}

// scalarType maps a FHIR type code that has no elements of its own to the
// GraphQL scalar used for it in output and input alike; nil for the
// complex types (and Resource, which differs between the two).
func scalarType(code string) *gql.Scalar {
	switch code {
	case "Resource":
		return nil
	case "boolean":
		return gql.Boolean
	case "integer", "positiveInt", "unsignedInt":
		return gql.Int
	case "decimal":
		return gql.Float
	case "id":
		return gql.ID
	}
	if fhir.IsPrimitiveType(code) || len(fhir.Elements(code)) == 0 {
		return gql.String
	}
	return nil
}

// member is the resolver of every element: the value of the JSON member.
func member(p gql.ResolveParams) (any, error) {
	m, _ := p.Source.(map[string]any)
	return m[p.Info.FieldName], nil
}

// connection returns <Type>Connection as Medplum's: count, offset,
// pageSize and edges { mode score resource }.
func (b *schemaBuilder) connection(rt string) *gql.Object {
	if c, ok := b.conns[rt]; ok {
		return c
	}
	edge := gql.NewObject(gql.ObjectConfig{
		Name: rt + "ConnectionEdge",
		Fields: gql.FieldsThunk(func() gql.Fields {
			return gql.Fields{
				"mode":     {Type: gql.String, Resolve: member},
				"score":    {Type: gql.Float, Resolve: member},
				"resource": {Type: b.object(rt), Resolve: member},
			}
		}),
	})
	c := gql.NewObject(gql.ObjectConfig{
		Name: rt + "Connection",
		Fields: gql.Fields{
			"count":    {Type: gql.Int, Resolve: member},
			"offset":   {Type: gql.Int, Resolve: member},
			"pageSize": {Type: gql.Int, Resolve: member},
			"edges":    {Type: gql.NewList(edge), Resolve: member},
		},
	})
	b.conns[rt] = c
	return c
}

// searchArgs are rt's search parameters ('-' → '_') and the result
// parameters, all strings as in a URL except _count and _offset.
func (b *schemaBuilder) searchArgs(rt string) gql.FieldConfigArgument {
	if a, ok := b.args[rt]; ok {
		return a
	}
	a := gql.FieldConfigArgument{}
	for _, p := range fhir.SearchParams(rt) {
		a[argName(p.Code)] = &gql.ArgumentConfig{Type: gql.String}
	}
	for _, name := range []string{"_id", "_lastUpdated", "_compartment", "_project", "_sort", "_filter", "_total"} {
		a[name] = &gql.ArgumentConfig{Type: gql.String}
	}
	a["_count"] = &gql.ArgumentConfig{Type: gql.Int}
	a["_offset"] = &gql.ArgumentConfig{Type: gql.Int}
	b.args[rt] = a
	return a
}

// reverseArgs are src's search arguments plus the required _reference:
// the reference parameter of src that must point at the parent resource.
func (b *schemaBuilder) reverseArgs(target, src string) gql.FieldConfigArgument {
	a := gql.FieldConfigArgument{}
	for k, v := range b.searchArgs(src) {
		a[k] = v
	}
	a["_reference"] = &gql.ArgumentConfig{Type: gql.NewNonNull(b.refEnum(target, src))}
	return a
}

// refEnum lists src's reference parameters that may point at target
// (Medplum's <Target>_<Source>_reference); its values are the codes.
func (b *schemaBuilder) refEnum(target, src string) *gql.Enum {
	values := gql.EnumValueConfigMap{}
	for _, p := range fhir.SearchParams(src) {
		if p.Type == "reference" && slices.Contains(p.Targets, target) {
			values[argName(p.Code)] = &gql.EnumValueConfig{Value: p.Code}
		}
	}
	return gql.NewEnum(gql.EnumConfig{Name: target + "_" + src + "_reference", Values: values})
}

// argName is a search parameter code as a GraphQL name.
func argName(code string) string { return strings.ReplaceAll(code, "-", "_") }

// reverseSources maps each resource type to the types with a reference
// parameter whose targets name it: the reverse lookups it offers (as
// Medplum: a parameter targeting any resource does not count).
func reverseSources() map[string][]string {
	out := map[string][]string{}
	for _, src := range fhir.ResourceTypes() {
		seen := map[string]bool{}
		for _, p := range fhir.SearchParams(src) {
			if p.Type != "reference" {
				continue
			}
			for _, t := range p.Targets {
				if !seen[t] && fhir.IsResourceType(t) {
					seen[t] = true
					out[t] = append(out[t], src)
				}
			}
		}
	}
	for _, srcs := range out {
		sort.Strings(srcs)
	}
	return out
}
