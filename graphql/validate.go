package graphql

import (
	"strings"

	"github.com/graphql-go/graphql/language/ast"
	"github.com/graphql-go/graphql/language/lexer"
	"github.com/graphql-go/graphql/language/parser"
	"github.com/graphql-go/graphql/language/source"

	"github.com/wardhealth/ward"
)

// graphql-go's parser and validator recurse without bound: the parser once
// per nesting level of {, [ and (, and the overlapping-fields rule once per
// fragment spread, following a fragment cycle forever. Either ends in a
// fatal stack overflow that no recover catches, so every tenant's server
// goes down with one request. parseQuery refuses such documents with
// iterative checks before any recursive code sees them.
const (
	// maxNesting bounds how deeply {, [ and ( nest: a query at MaxDepth
	// with an inline fragment at every level, or a mutation's resource
	// literal, stays far below it.
	maxNesting = 64
	// maxTokens bounds a query's tokens, and so the parsed document and
	// the validation errors graphql-go makes (some of its rules cost more
	// than linear time in them: 30,000 fields of one input object took 2 s
	// to refuse). 2,000 fields with their arguments fit; bulk data
	// belongs in variables.
	maxTokens = 20_000
	// maxQueryBytes bounds the query text, strings and comments included
	// (a 10 MB block string took 7 s to parse).
	maxQueryBytes = 1 << 20
)

// parseQuery parses query and checks what graphql-go's validator cannot
// be trusted with: nesting and size before parsing, fragments after.
func parseQuery(query string) (*ast.Document, error) {
	if len(query) > maxQueryBytes {
		return nil, ward.Errorf(ward.EINVALID, "Query too long (at most %d bytes; send data in variables)", maxQueryBytes)
	}
	// Each lexer gets its own copy: graphql-go's writes into the text at
	// an escaped triple quote, which a second lexing would misread.
	if err := checkTokens(source.NewSource(&source.Source{Body: []byte(query), Name: "GraphQL request"})); err != nil {
		return nil, err
	}
	src := source.NewSource(&source.Source{Body: []byte(query), Name: "GraphQL request"})
	// Without the source in the syntax tree, graphql-go does not scan the
	// whole query for line breaks at each error (a query with thousands of
	// errors took minutes); locate puts the lines and columns back.
	doc, err := parser.Parse(parser.ParseParams{Source: src, Options: parser.ParseOptions{NoSource: true}})
	if err != nil {
		return nil, syntaxError(err)
	}
	if err := checkFragments(doc); err != nil {
		return nil, err
	}
	return doc, nil
}

func syntaxError(err error) error {
	return ward.Errorf(ward.EINVALID, "GraphQL syntax error: %s", gqlMessage(err))
}

// checkTokens lexes src in a loop, refusing a document nested deeper than
// maxNesting or longer than maxTokens tokens.
func checkTokens(src *source.Source) error {
	next := lexer.Lex(src)
	depth := 0
	for n := 1; ; n++ {
		tok, err := next(0)
		if err != nil {
			return syntaxError(err)
		}
		switch tok.Kind {
		case lexer.EOF:
			return nil
		case lexer.BRACE_L, lexer.BRACKET_L, lexer.PAREN_L:
			if depth++; depth > maxNesting {
				return ward.Errorf(ward.EINVALID, "Query nesting exceeds the maximum of %d levels of {, [ and (", maxNesting)
			}
		case lexer.BRACE_R, lexer.BRACKET_R, lexer.PAREN_R:
			depth-- // an unbalanced one is the parser's syntax error
		}
		if n > maxTokens {
			return ward.Errorf(ward.EINVALID, "Query too long (at most %d tokens)", maxTokens)
		}
	}
}

// checkFragments refuses duplicate fragment names, spreads of unknown
// fragments, fragment cycles and unused fragments. The validator refuses
// them too, but only after its overlapping-fields rule has followed every
// spread (a cycle forever), and checkShape walks only what the operations
// use, so an unused fragment would reach the validator unbounded.
func checkFragments(doc *ast.Document) error {
	var names []string // in document order, for stable messages
	spreads := map[string][]string{}
	var roots []string // the fragments operations spread
	for _, d := range doc.Definitions {
		switch d := d.(type) {
		case *ast.FragmentDefinition:
			name := nameOf(d.Name)
			if _, dup := spreads[name]; dup {
				return ward.Errorf(ward.EINVALID, "There can only be one fragment named %q", name)
			}
			names = append(names, name)
			spreads[name] = spreadNames(d.SelectionSet, nil)
		case *ast.OperationDefinition:
			roots = spreadNames(d.SelectionSet, roots)
		}
	}
	all := append([]string(nil), roots...)
	for _, name := range names {
		all = append(all, spreads[name]...)
	}
	for _, s := range all {
		if _, ok := spreads[s]; !ok {
			return ward.Errorf(ward.EINVALID, "Unknown fragment %q", s)
		}
	}
	if err := findCycle(names, spreads); err != nil {
		return err
	}
	used := reachable(roots, spreads)
	for _, name := range names {
		if !used[name] {
			return ward.Errorf(ward.EINVALID, "Fragment %q is never used", name)
		}
	}
	return nil
}

// spreadNames appends to names the fragments spread in set, in nested
// fields and inline fragments too (their nesting is bounded by checkTokens).
func spreadNames(set *ast.SelectionSet, names []string) []string {
	if set == nil {
		return names
	}
	for _, s := range set.Selections {
		switch s := s.(type) {
		case *ast.Field:
			names = spreadNames(s.SelectionSet, names)
		case *ast.InlineFragment:
			names = spreadNames(s.SelectionSet, names)
		case *ast.FragmentSpread:
			names = append(names, nameOf(s.Name))
		}
	}
	return names
}

// findCycle refuses a fragment that spreads itself, directly or through
// others: a depth-first walk with an explicit stack, so a long chain of
// fragments cannot overflow the goroutine's stack either.
func findCycle(names []string, spreads map[string][]string) error {
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	for _, root := range names {
		if state[root] != unseen {
			continue
		}
		state[root] = onPath
		path := []spreadFrame{{name: root}}
		for len(path) > 0 {
			top := &path[len(path)-1]
			if top.next == len(spreads[top.name]) {
				state[top.name] = done
				path = path[:len(path)-1]
				continue
			}
			child := spreads[top.name][top.next]
			top.next++
			switch state[child] {
			case onPath:
				return cycleError(child, path)
			case unseen:
				state[child] = onPath
				path = append(path, spreadFrame{name: child})
			}
		}
	}
	return nil
}

// spreadFrame is a fragment on findCycle's path.
type spreadFrame struct {
	name string
	next int // index of the next spread to follow
}

// cycleError names the fragment spread within itself and the fragments
// the cycle goes through.
func cycleError(name string, path []spreadFrame) error {
	var via []string
	for i := len(path) - 1; i >= 0 && path[i].name != name; i-- {
		via = append([]string{path[i].name}, via...)
	}
	if len(via) == 0 {
		return ward.Errorf(ward.EINVALID, "Cannot spread fragment %q within itself", name)
	}
	return ward.Errorf(ward.EINVALID, "Cannot spread fragment %q within itself via %s", name, strings.Join(via, ", "))
}

// reachable returns the fragments roots spread, directly or not.
func reachable(roots []string, spreads map[string][]string) map[string]bool {
	seen := map[string]bool{}
	todo := append([]string(nil), roots...)
	for len(todo) > 0 {
		name := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if !seen[name] {
			seen[name] = true
			todo = append(todo, spreads[name]...)
		}
	}
	return seen
}

func nameOf(n *ast.Name) string {
	if n == nil {
		return ""
	}
	return n.Value
}
