package graphql

import (
	"github.com/graphql-go/graphql/language/ast"

	"github.com/wardhealth/ward"
)

const (
	// maxFields bounds the selections of a query (fields, fragment
	// spreads and inline fragments), fragments counted at each use: so
	// fragments spreading each other cannot make the walk exponential.
	maxFields = 2000
	// maxRepeats bounds how often one response name is selected in one
	// selection set (fragments included): graphql-go's overlapping-fields
	// validation compares every pair of them.
	maxRepeats = 10
	// maxArguments bounds the arguments of one field: the same rule
	// compares the arguments of every pair of repeats name by name. No
	// field of the schema has as many.
	maxArguments = 100
)

// shapeWalk walks a document's operations with fragments inlined.
type shapeWalk struct {
	frags  map[string]*ast.FragmentDefinition
	fields int
}

// checkShape refuses, before validation, a query deeper than MaxDepth (a
// root field is depth 1), one with more than maxFields selections, one
// repeating a response name more than maxRepeats times in one selection
// set, or a field with more than maxArguments arguments. It walks only
// documents checkFragments accepted: no unknown, cyclic or unused
// fragments.
func checkShape(doc *ast.Document) error {
	w := &shapeWalk{frags: map[string]*ast.FragmentDefinition{}}
	for _, d := range doc.Definitions {
		if f, ok := d.(*ast.FragmentDefinition); ok && f.Name != nil {
			w.frags[f.Name.Value] = f
		}
	}
	for _, d := range doc.Definitions {
		if op, ok := d.(*ast.OperationDefinition); ok {
			if err := w.set(op.SelectionSet, 1, map[string]bool{}); err != nil {
				return err
			}
		}
	}
	return nil
}

// set checks the fields selected by set at depth.
func (w *shapeWalk) set(set *ast.SelectionSet, depth int, seen map[string]bool) error {
	names := map[string]int{}
	return w.collect(set, depth, seen, names)
}

// collect adds set's fields (fragments inlined) to names, the response
// names of one merged selection set, and checks each field's own set.
func (w *shapeWalk) collect(set *ast.SelectionSet, depth int, seen map[string]bool, names map[string]int) error {
	if set == nil {
		return nil
	}
	for _, s := range set.Selections {
		switch s := s.(type) {
		case *ast.Field:
			if err := w.field(s, depth, seen, names); err != nil {
				return err
			}
		case *ast.InlineFragment:
			if err := w.spend(); err != nil {
				return err
			}
			if err := w.collect(s.SelectionSet, depth, seen, names); err != nil {
				return err
			}
		case *ast.FragmentSpread:
			if err := w.spend(); err != nil {
				return err
			}
			if s.Name == nil || seen[s.Name.Value] || w.frags[s.Name.Value] == nil {
				continue
			}
			seen[s.Name.Value] = true
			err := w.collect(w.frags[s.Name.Value].SelectionSet, depth, seen, names)
			delete(seen, s.Name.Value)
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *shapeWalk) field(f *ast.Field, depth int, seen map[string]bool, names map[string]int) error {
	if depth > MaxDepth {
		return ward.Errorf(ward.EINVALID, "Query depth exceeds the maximum of %d", MaxDepth)
	}
	if err := w.spend(); err != nil {
		return err
	}
	if len(f.Arguments) > maxArguments {
		return ward.Errorf(ward.EINVALID, "Too many arguments of one field (at most %d)", maxArguments)
	}
	name := ""
	if f.Alias != nil {
		name = f.Alias.Value
	} else if f.Name != nil {
		name = f.Name.Value
	}
	if names[name]++; names[name] > maxRepeats {
		return ward.Errorf(ward.EINVALID, "Field %s is selected more than %d times in one selection set", name, maxRepeats)
	}
	if f.SelectionSet != nil {
		return w.set(f.SelectionSet, depth+1, seen)
	}
	return nil
}

// spend counts one selection against maxFields.
func (w *shapeWalk) spend() error {
	if w.fields++; w.fields > maxFields {
		return ward.Errorf(ward.EINVALID, "Too many fields in one query (at most %d selections, a fragment counted at each use)", maxFields)
	}
	return nil
}

// introspection reports whether an operation of doc selects __schema at
// its root (fragments inlined), the whole-schema introspection (30 MB and
// tens of seconds of CPU for this schema), and how many __type fields it
// selects at its roots: many aliased __type fields add up to the same.
func introspection(doc *ast.Document) (schema bool, types int) {
	frags := map[string]*ast.FragmentDefinition{}
	for _, d := range doc.Definitions {
		if f, ok := d.(*ast.FragmentDefinition); ok && f.Name != nil {
			frags[f.Name.Value] = f
		}
	}
	var root func(set *ast.SelectionSet, seen map[string]bool)
	root = func(set *ast.SelectionSet, seen map[string]bool) {
		if set == nil {
			return
		}
		for _, s := range set.Selections {
			switch s := s.(type) {
			case *ast.Field:
				if s.Name != nil && s.Name.Value == "__schema" {
					schema = true
				} else if s.Name != nil && s.Name.Value == "__type" {
					types++
				}
			case *ast.InlineFragment:
				root(s.SelectionSet, seen)
			case *ast.FragmentSpread:
				if s.Name != nil && !seen[s.Name.Value] && frags[s.Name.Value] != nil {
					seen[s.Name.Value] = true
					root(frags[s.Name.Value].SelectionSet, seen)
					delete(seen, s.Name.Value)
				}
			}
		}
	}
	for _, d := range doc.Definitions {
		if op, ok := d.(*ast.OperationDefinition); ok {
			root(op.SelectionSet, map[string]bool{})
		}
	}
	return schema, types
}
