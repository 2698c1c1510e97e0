package index

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
	"github.com/wardhealth/ward/fhirpath"
)

// Indexer extracts index rows from resources. It compiles the search
// parameter expressions of a resource type the first time it sees the type
// and keeps them; it is safe for concurrent use.
type Indexer struct {
	types sync.Map // resource type → *typeIndex

	// strict makes an expression that fails to parse or evaluate an error
	// instead of a parameter without rows. Tests set it.
	strict bool
}

// typeIndex holds the compiled parameters of one resource type.
type typeIndex struct {
	once   sync.Once
	params []compiledParam
	broken []error // parameters whose expression did not parse
}

type compiledParam struct {
	param *fhir.SearchParam
	expr  *fhirpath.Expr
}

// New returns an Indexer for the search parameters of package fhir.
func New() *Indexer { return &Indexer{} }

// Extract returns the index rows of resource, a resource of resourceType as
// it will be stored (id and meta set). Numbers in resource should be
// json.Number so that their written precision is kept.
//
// A parameter whose expression cannot be evaluated on resource gets no
// rows; it does not fail the write. EINVALID for an unknown resource type.
func (x *Indexer) Extract(ctx context.Context, resourceType string, resource map[string]any) (*Rows, error) {
	if !fhir.IsResourceType(resourceType) {
		return nil, ward.Errorf(ward.EINVALID, "Unknown resource type %q", resourceType)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ti := x.compiled(resourceType)
	if x.strict && len(ti.broken) > 0 {
		return nil, ti.broken[0]
	}
	rows := &Rows{}
	for _, p := range ti.params {
		values, err := p.expr.Eval(ctx, resource, nil)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, ctxErr
			}
			if x.strict {
				return nil, fmt.Errorf("index: %s.%s (%s): %w", resourceType, p.param.Code, p.param.Expression, err)
			}
			continue
		}
		for _, v := range values {
			rows.add(p.param, value{data: v.Data, typ: v.Type})
		}
	}
	rows.finish()
	return rows, nil
}

// compiled returns the compiled parameters of resourceType, compiling them
// on first use.
func (x *Indexer) compiled(resourceType string) *typeIndex {
	v, ok := x.types.Load(resourceType)
	if !ok {
		v, _ = x.types.LoadOrStore(resourceType, &typeIndex{})
	}
	ti := v.(*typeIndex)
	ti.once.Do(func() { ti.compile(resourceType) })
	return ti
}

func (ti *typeIndex) compile(resourceType string) {
	for _, p := range fhir.SearchParams(resourceType) {
		if !indexable(p) {
			continue
		}
		expr, err := fhirpath.Parse(forType(resourceType, p.Expression))
		if err != nil {
			ti.broken = append(ti.broken, fmt.Errorf("index: %s.%s: %q: %w", resourceType, p.Code, p.Expression, err))
			continue
		}
		ti.params = append(ti.params, compiledParam{param: p, expr: expr})
	}
}

// indexable reports whether p gets index rows.
func indexable(p *fhir.SearchParam) bool {
	switch p.Code {
	case "_id", "_lastUpdated": // columns of the resources table
		return false
	case "_compartment", "_project": // resource_compartments, project_id
		return false
	}
	if p.Expression == "" {
		return false
	}
	switch p.Type {
	case "token", "string", "date", "number", "quantity", "reference", "uri":
		return true
	}
	return false // composite, special
}

// forType rewrites the parameters defined on Resource and DomainResource
// ("Resource.meta.tag") to name the concrete type ("Observation.meta.tag"):
// FHIRPath, like Medplum's, only matches a leading type name equal to the
// resource's own type.
func forType(resourceType, expr string) string {
	parts := strings.Split(expr, " | ")
	for i, part := range parts {
		for _, base := range []string{"Resource.", "DomainResource."} {
			if rest, ok := strings.CutPrefix(part, base); ok {
				parts[i] = resourceType + "." + rest
			}
		}
	}
	return strings.Join(parts, " | ")
}
