package graphql

import (
	"context"
	"encoding/json"
	"errors"

	gql "github.com/graphql-go/graphql"
	"github.com/graphql-go/graphql/language/ast"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
)

// Mutations are Medplum's (the draft FHIR GraphQL mutation spec):
// <Type>Create(res: <Type>Create!), <Type>Update(id: ID!, res:
// <Type>Update!) and <Type>Delete(id: ID!). The res input types are
// generated from the same tables as the output types, so GraphQL's input
// coercion applies as in Medplum (given: "Homer" becomes ["Homer"]). Each
// runs as one store write with the caller's Principal: the same
// validation, write checks and policy as POST, PUT and DELETE.

// mutationFields are the three mutations of every resource type.
func (b *schemaBuilder) mutationFields() gql.Fields {
	fields := gql.Fields{}
	for _, rt := range fhir.ResourceTypes() {
		fields[rt+"Create"] = &gql.Field{
			Type:    b.object(rt),
			Args:    gql.FieldConfigArgument{"res": {Type: gql.NewNonNull(b.input(rt, rt+"Create"))}},
			Resolve: b.r.create(rt),
		}
		fields[rt+"Update"] = &gql.Field{
			Type: b.object(rt),
			Args: gql.FieldConfigArgument{
				"id":  {Type: gql.NewNonNull(gql.ID)},
				"res": {Type: gql.NewNonNull(b.input(rt, rt+"Update"))},
			},
			Resolve: b.r.update(rt),
		}
		fields[rt+"Delete"] = &gql.Field{
			Type:    b.object(rt),
			Args:    gql.FieldConfigArgument{"id": {Type: gql.NewNonNull(gql.ID)}},
			Resolve: b.r.delete(rt),
		}
	}
	return fields
}

// input returns the input object of fhirType under name (made once).
func (b *schemaBuilder) input(fhirType, name string) *gql.InputObject {
	if in, ok := b.inputs[name]; ok {
		return in
	}
	in := gql.NewInputObject(gql.InputObjectConfig{
		Name: name,
		Fields: gql.InputObjectConfigFieldMapThunk(func() gql.InputObjectConfigFieldMap {
			return b.inputFields(fhirType)
		}),
	})
	b.inputs[name] = in
	return in
}

func (b *schemaBuilder) inputFields(fhirType string) gql.InputObjectConfigFieldMap {
	fields := gql.InputObjectConfigFieldMap{}
	for _, e := range fhir.Elements(fhirType) {
		for _, typ := range e.Types {
			name := e.Name
			if e.Choice {
				name += upperFirst(typ)
			}
			t := b.inputType(typ)
			if e.Array {
				t = gql.NewList(t)
			}
			fields[name] = &gql.InputObjectFieldConfig{Type: t}
		}
	}
	if fhir.IsResourceType(fhirType) {
		fields["resourceType"] = &gql.InputObjectFieldConfig{Type: gql.String}
	}
	return fields
}

func (b *schemaBuilder) inputType(code string) gql.Input {
	if code == "Resource" {
		return b.resourceJSON()
	}
	if s := scalarType(code); s != nil {
		return s
	}
	return b.input(code, typeName(code)+"_Input") // not "Input": StructureMap.group.input is StructureMapGroupInput
}

// resourceJSON is the input of a contained or nested resource: any JSON
// object, validated by the store like the rest of the resource.
func (b *schemaBuilder) resourceJSON() *gql.Scalar {
	if b.resourceScalar == nil {
		b.resourceScalar = gql.NewScalar(gql.ScalarConfig{
			Name:         "ResourceJSON",
			Serialize:    func(v any) any { return v },
			ParseValue:   func(v any) any { return v },
			ParseLiteral: literalValue,
		})
	}
	return b.resourceScalar
}

// literalValue turns an inline GraphQL value into JSON-like Go values.
func literalValue(v ast.Value) any {
	switch v := v.(type) {
	case *ast.ObjectValue:
		m := map[string]any{}
		for _, f := range v.Fields {
			m[f.Name.Value] = literalValue(f.Value)
		}
		return m
	case *ast.ListValue:
		out := make([]any, len(v.Values))
		for i, x := range v.Values {
			out[i] = literalValue(x)
		}
		return out
	case *ast.IntValue, *ast.FloatValue:
		var n json.Number = json.Number(v.GetValue().(string))
		return n
	case *ast.BooleanValue:
		return v.Value
	case *ast.StringValue:
		return v.Value
	case *ast.EnumValue:
		return v.Value
	}
	return nil
}

func (r *resolvers) create(rt string) gql.FieldResolveFn {
	return func(p gql.ResolveParams) (any, error) {
		content, err := resourceContent(rt, p.Args["res"])
		if err != nil {
			return nil, err
		}
		return r.write(p.Context, func(ctx context.Context, tx ward.ResourceTx) (*ward.Resource, error) {
			return tx.Create(ctx, rt, content)
		})
	}
}

func (r *resolvers) update(rt string) gql.FieldResolveFn {
	return func(p gql.ResolveParams) (any, error) {
		id, _ := p.Args["id"].(string)
		if m, ok := p.Args["res"].(map[string]any); ok && m["id"] == nil {
			m["id"] = id
		}
		content, err := resourceContent(rt, p.Args["res"])
		if err != nil {
			return nil, err
		}
		return r.write(p.Context, func(ctx context.Context, tx ward.ResourceTx) (*ward.Resource, error) {
			res, _, err := tx.Update(ctx, rt, id, content, "")
			return res, err
		})
	}
}

func (r *resolvers) delete(rt string) gql.FieldResolveFn {
	return func(p gql.ResolveParams) (any, error) {
		id, _ := p.Args["id"].(string)
		_, err := r.write(p.Context, func(ctx context.Context, tx ward.ResourceTx) (*ward.Resource, error) {
			// As REST: what the caller cannot see is not found; an
			// already deleted resource is deleted again without error.
			if _, err := tx.Read(ctx, rt, id); err != nil && ward.ErrorCode(err) != ward.EGONE {
				return nil, err
			}
			return nil, tx.Delete(ctx, rt, id)
		})
		return nil, err
	}
}

// write runs fn in one store transaction as the caller.
func (r *resolvers) write(ctx context.Context, fn func(context.Context, ward.ResourceTx) (*ward.Resource, error)) (any, error) {
	if err := requestFrom(ctx).take(); err != nil {
		return nil, err
	}
	var res *ward.Resource
	err := r.store.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
		var err error
		res, err = fn(ctx, tx)
		return err
	})
	if err != nil {
		return nil, r.fieldError(ctx, err)
	}
	if res == nil {
		return nil, nil
	}
	return decode(res)
}

// resourceContent is the JSON of a res argument, with its resourceType.
func resourceContent(rt string, res any) ([]byte, error) {
	m, _ := res.(map[string]any)
	if m == nil {
		return nil, errors.New("Missing res")
	}
	if t, ok := m["resourceType"]; ok && t != rt {
		return nil, errors.New("Incorrect resource type: expected " + rt)
	}
	m["resourceType"] = rt
	return json.Marshal(m)
}
