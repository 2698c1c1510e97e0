package fhirpath

import (
	"context"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
)

// Expr is a parsed FHIRPath expression. It is immutable and safe for
// concurrent use: parse once, evaluate many times.
type Expr struct {
	src  string
	root Node
}

// Parse parses a FHIRPath expression. Syntax errors, unknown functions and
// wrong argument counts are *ward.Error EINVALID whose message gives the
// line and column.
func Parse(src string) (*Expr, error) {
	root, err := parse(src)
	if err != nil {
		return nil, err
	}
	return &Expr{src: src, root: root}, nil
}

// MustParse is Parse for expressions known to be valid; it panics on error.
func MustParse(src string) *Expr {
	e, err := Parse(src)
	if err != nil {
		panic(err)
	}
	return e
}

// String returns the expression in canonical form; it parses back to the
// same expression.
func (e *Expr) String() string { return e.root.String() }

// Source returns the text the expression was parsed from.
func (e *Expr) Source() string { return e.src }

// Root returns the syntax tree.
func (e *Expr) Root() Node { return e.root }

// Env is what an evaluation may see besides the resource. A nil *Env means
// no variables and the FHIR R4 type information.
type Env struct {
	// Vars are the %variables, keyed with or without the %: "before",
	// "%after"… %resource, %context and %rootResource default to the
	// resource; %ucum, %sct and %loinc are the standard code systems.
	Vars map[string][]Value
	// Types answers element type questions; nil means the FHIR R4 (and
	// Medplum) definitions of package fhir.
	Types TypeInfo
}

// TypeInfo describes the elements of FHIR types.
type TypeInfo interface {
	// ElementTypes returns the type codes of element of typeName (a
	// resource, datatype or backbone path such as "Patient.contact"): one
	// code, or every choice for a choice element named without its suffix
	// ("value"); array reports whether it repeats. ok is false when the
	// type or element is unknown; the evaluator then guesses from the data.
	ElementTypes(typeName, element string) (types []string, array bool, ok bool)
}

// Eval evaluates e with resource as the context item (and %resource). A
// nil resource evaluates on the empty collection. env may be nil.
//
// Errors are *ward.Error EINVALID (for example a function that needs one
// item given several), or ctx's error when it is done.
func (e *Expr) Eval(ctx context.Context, resource map[string]any, env *Env) ([]Value, error) {
	ev := evaluator{ctx: ctx, env: env, types: defaultTypes{}}
	if env != nil && env.Types != nil {
		ev.types = env.Types
	}
	var input []Value
	if resource != nil {
		rt, _ := resource["resourceType"].(string)
		input = []Value{{Data: resource, Type: rt, path: &pathNode{key: rt, index: -1}}}
	}
	ev.root = input
	out, err := ev.eval(e.root, input)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, e.wrap(err)
	}
	return out, nil
}

// EvalValues evaluates e on any input collection (for example an element
// of a resource); %resource and %context are the input.
func (e *Expr) EvalValues(ctx context.Context, input []Value, env *Env) ([]Value, error) {
	ev := evaluator{ctx: ctx, env: env, types: defaultTypes{}, root: input}
	if env != nil && env.Types != nil {
		ev.types = env.Types
	}
	out, err := ev.eval(e.root, input)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, e.wrap(err)
	}
	return out, nil
}

func (e *Expr) wrap(err error) error {
	if we, ok := err.(*ward.Error); ok {
		return we
	}
	return &ward.Error{Code: ward.EINVALID, Message: "FHIRPath evaluation failed: " + err.Error(), Expression: []string{e.src}}
}

// Evaluate parses src and evaluates it on resource with the default type
// information.
func Evaluate(ctx context.Context, src string, resource map[string]any) ([]Value, error) {
	e, err := Parse(src)
	if err != nil {
		return nil, err
	}
	return e.Eval(ctx, resource, nil)
}

// defaultTypes answers from package fhir, typed the way Medplum's schema
// types them.
type defaultTypes struct{}

var resourceIDTypes = []string{"string"}

func (defaultTypes) ElementTypes(typeName, element string) ([]string, bool, bool) {
	if typeName == "" {
		return nil, false, false
	}
	e, ok := fhir.LookupElement(typeName, element)
	if !ok {
		// Primitive values with extensions have Element's id and extension.
		if !fhir.IsPrimitiveType(typeName) {
			return nil, false, false
		}
		if e, ok = fhir.LookupElement("Element", element); !ok {
			return nil, false, false
		}
	}
	if element == "id" && fhir.IsResourceType(typeName) {
		// R4 declares Resource.id as System.String with fhir-type "string";
		// Medplum's schema keeps that.
		return resourceIDTypes, false, true
	}
	return e.Types, e.Array, true
}
