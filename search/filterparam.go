package search

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/wardhealth/ward"
)

// _filter (FHIR R4 search_filter) is parsed as Medplum parses it:
//
//	filter     = term [("and" / "or") filter]
//	term       = "(" filter ")" / "not" "(" filter ")" / path SP op SP value
//	path       = a search parameter, chained (subject:Patient.name) or _has:…
//	value      = "quoted \"string\"" / 'quoted' / a word up to a space or ")"
//
// A connective takes the term on its left and the whole rest of the
// expression on its right, as Medplum's parser does: `a and b or c` is
// `a and (b or c)`. Keywords and operators are taken in any case.
//
// Each comparison is translated into the ordinary parameter it means (name
// eq X → name:exact=X, birthdate ge X → birthdate=geX, gender pr true →
// gender:missing=false) and parsed like any other, so the same names,
// types and values are accepted or refused as in a plain search. A filter
// that is comparisons joined by `and` becomes plain filters of the query
// (the store may drive a search by them); anything else is one filter
// holding the tree (ward.FilterExpr). Errors name _filter and the position
// (1-based, in characters) they were found at.

const (
	// maxFilterDepth bounds nested parentheses and `not`: each level is a
	// level of SQL expression, and engines bound those.
	maxFilterDepth = 16
)

// filterOperators are the operators of the grammar, with what Ward makes
// of each; "" marks one Ward does not implement (Medplum refuses ew, po,
// ss and sb; in and ni need value set expansion).
var filterOperators = map[string]bool{
	"eq": true, "ne": true, "co": true, "sw": true, "gt": true, "lt": true, "ge": true, "le": true,
	"ap": true, "sa": true, "eb": true, "pr": true, "re": true, "identifier": true,
	"ew": false, "po": false, "ss": false, "sb": false, "in": false, "ni": false,
}

// parseFilterParam adds one _filter value to q.
// Its comparisons count against the query's maxParams.
func parseFilterParam(q *ward.SearchQuery, value string) error {
	e, err := parseFilterExpr(q.ResourceType, value, maxParams-q.ParamCount())
	if err != nil {
		return err
	}
	addFilterExpr(q, e)
	return nil
}

// ParseFilter parses a _filter expression on resourceType.
func ParseFilter(resourceType, value string) (*ward.FilterExpr, error) {
	return parseFilterExpr(resourceType, value, maxParams)
}

// parseFilterExpr parses value, refusing more than left comparisons.
func parseFilterExpr(resourceType, value string, left int) (*ward.FilterExpr, error) {
	p := &filterParser{s: value, typ: resourceType, left: max(left, 0)}
	e, err := p.expr(0)
	if err != nil {
		return nil, err
	}
	if p.pos < len(p.s) {
		// Only an unmatched ")" stops expr before the end.
		return nil, p.errAt(p.pos, `unexpected ")"`)
	}
	return &e, nil
}

// addFilterExpr adds e to q: its comparisons as plain filters when e is
// one or an and of some, the rest as filters holding their tree.
func addFilterExpr(q *ward.SearchQuery, e *ward.FilterExpr) {
	parts := []ward.FilterExpr{*e}
	if e.Op == ward.FilterAnd {
		parts = e.Operands
	}
	for i := range parts {
		if c := parts[i].Compare; c != nil {
			q.Filters = append(q.Filters, c.Filter)
			continue
		}
		q.Filters = append(q.Filters, ward.SearchFilter{Code: "_filter", Type: "special", Expr: &parts[i]})
	}
}

type filterParser struct {
	s    string
	pos  int
	typ  string
	left int // comparisons still allowed
}

// errAt is the error at byte offset pos, shown as a character position.
func (p *filterParser) errAt(pos int, format string, args ...any) error {
	n := utf8.RuneCountInString(p.s[:min(pos, len(p.s))]) + 1
	return invalid("_filter", "Invalid _filter at position %d: %s", n, fmt.Sprintf(format, args...))
}

// found describes what is at pos, for an error.
func (p *filterParser) found(pos int) string {
	if pos >= len(p.s) {
		return "the end"
	}
	r, _ := utf8.DecodeRuneInString(p.s[pos:])
	return strconv.QuoteRune(r)
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *filterParser) space() {
	for p.pos < len(p.s) && isSpace(p.s[p.pos]) {
		p.pos++
	}
}

// word reads a keyword or operator: up to a space, a parenthesis or a quote.
func (p *filterParser) word() string {
	return p.run(" \t\n\r()\"'")
}

func (p *filterParser) run(stop string) string {
	start := p.pos
	for p.pos < len(p.s) && strings.IndexByte(stop, p.s[p.pos]) < 0 {
		p.pos++
	}
	return p.s[start:p.pos]
}

// expr reads terms joined by and/or up to the end or a ")", and nests
// them from the right, as Medplum does.
func (p *filterParser) expr(depth int) (ward.FilterExpr, error) {
	var terms []ward.FilterExpr
	var ops []ward.FilterOp
	for {
		t, err := p.term(depth)
		if err != nil {
			return t, err
		}
		terms = append(terms, t)
		p.space()
		if p.pos == len(p.s) || p.s[p.pos] == ')' {
			break
		}
		start := p.pos
		switch w := strings.ToLower(p.word()); w {
		case "and":
			ops = append(ops, ward.FilterAnd)
		case "or":
			ops = append(ops, ward.FilterOr)
		default:
			return t, p.errAt(start, `expected "and", "or" or the end, found %s`, p.found(start))
		}
	}
	e := terms[len(terms)-1]
	for i := len(ops) - 1; i >= 0; i-- {
		e = joinFilter(ops[i], terms[i], e)
	}
	return e, nil
}

// joinFilter is `a op b`, flattened: a or (b or c) is one or of three.
func joinFilter(op ward.FilterOp, a, b ward.FilterExpr) ward.FilterExpr {
	var out []ward.FilterExpr
	for _, x := range []ward.FilterExpr{a, b} {
		if x.Op == op {
			out = append(out, x.Operands...)
		} else {
			out = append(out, x)
		}
	}
	return ward.FilterExpr{Op: op, Operands: out}
}

// term reads a group, a negation or a comparison.
func (p *filterParser) term(depth int) (ward.FilterExpr, error) {
	p.space()
	start := p.pos
	if p.pos == len(p.s) {
		return ward.FilterExpr{}, p.errAt(start, "expected a comparison, found the end")
	}
	if p.s[p.pos] == '(' {
		return p.group(depth)
	}
	if strings.EqualFold(p.word(), "not") {
		p.space()
		if p.pos < len(p.s) && p.s[p.pos] == '(' {
			g, err := p.group(depth)
			return ward.FilterExpr{Op: ward.FilterNot, Operands: []ward.FilterExpr{g}}, err
		}
	}
	p.pos = start
	return p.comparison()
}

// group reads "(" filter ")".
func (p *filterParser) group(depth int) (ward.FilterExpr, error) {
	if depth >= maxFilterDepth {
		return ward.FilterExpr{}, p.errAt(p.pos, "nested too deeply (at most %d levels of parentheses)", maxFilterDepth)
	}
	open := p.pos
	p.pos++
	e, err := p.expr(depth + 1)
	if err != nil {
		return e, err
	}
	if p.pos == len(p.s) {
		return e, p.errAt(open, `"(" is not closed`)
	}
	p.pos++ // expr stops only at the end or a ")"
	return e, nil
}

// comparison reads `path op value` and translates it.
func (p *filterParser) comparison() (ward.FilterExpr, error) {
	start := p.pos
	path := p.run(" \t\n\r()[]\"'")
	if path == "" {
		return ward.FilterExpr{}, p.errAt(start, "expected a search parameter, found %s", p.found(start))
	}
	if p.pos < len(p.s) && p.s[p.pos] == '[' {
		return ward.FilterExpr{}, p.errAt(p.pos, "filters inside a parameter path ([…]) are not supported")
	}
	p.space()
	opAt := p.pos
	op := strings.ToLower(p.word())
	if op == "" {
		return ward.FilterExpr{}, p.errAt(opAt, "expected an operator after %s, found %s", path, p.found(opAt))
	}
	supported, known := filterOperators[op]
	if !known {
		return ward.FilterExpr{}, p.errAt(opAt, "Invalid operator: %s", op)
	}
	if !supported {
		return ward.FilterExpr{}, p.errAt(opAt, "the %s operator is not supported", op)
	}
	p.space()
	value, err := p.value()
	if err != nil {
		return ward.FilterExpr{}, err
	}
	if strings.IndexByte(value, 0) >= 0 {
		return ward.FilterExpr{}, p.errAt(start, "the value of %s contains a NUL character", path)
	}
	if p.left == 0 {
		return ward.FilterExpr{}, tooManyParams("_filter")
	}
	p.left--
	e, err := filterLeaf(p.typ, path, op, value)
	if err != nil {
		msg := err.Error()
		if we, ok := err.(*ward.Error); ok {
			msg = we.Message
		}
		return ward.FilterExpr{}, p.errAt(start, "%s", msg)
	}
	return e, nil
}

// value reads a quoted string or a word up to a space, ")" or "]".
func (p *filterParser) value() (string, error) {
	start := p.pos
	if p.pos == len(p.s) {
		return "", p.errAt(start, "expected a value, found the end")
	}
	if q := p.s[p.pos]; q == '"' || q == '\'' {
		return p.quoted(q)
	}
	v := p.run(" \t\n\r)]")
	if v == "" {
		return "", p.errAt(start, "expected a value, found %s", p.found(start))
	}
	return v, nil
}

// quoted reads a string in q quotes with FHIRPath's escapes (\" \' \\ \/
// \n \r \t \f \uXXXX); any other escaped character stands for itself.
func (p *filterParser) quoted(q byte) (string, error) {
	open := p.pos
	var b strings.Builder
	for p.pos++; p.pos < len(p.s); p.pos++ {
		c := p.s[p.pos]
		if c == q {
			p.pos++
			return b.String(), nil
		}
		if c != '\\' || p.pos+1 == len(p.s) {
			b.WriteByte(c)
			continue
		}
		p.pos++
		switch e := p.s[p.pos]; e {
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'f':
			b.WriteByte('\f')
		case 'u':
			if r, err := strconv.ParseUint(p.s[p.pos+1:min(p.pos+5, len(p.s))], 16, 16); err == nil && p.pos+5 <= len(p.s) {
				b.WriteRune(rune(r))
				p.pos += 4
				continue
			}
			b.WriteByte(e)
		default:
			b.WriteByte(e)
		}
	}
	return "", p.errAt(open, "the string is not closed")
}

// filterLeaf is the expression one comparison means: a comparison, or the
// negation of one for ne on a type without a negating modifier.
func filterLeaf(resourceType, path, op, value string) (ward.FilterExpr, error) {
	typ, err := pathType(resourceType, path)
	if err != nil {
		return ward.FilterExpr{}, err
	}
	negate := false
	if op == "ne" && typ != "token" && !orderedType(typ) {
		op, negate = "eq", true
	}
	modifier, prefix, v, err := filterMeaning(typ, op, value)
	if err != nil {
		return ward.FilterExpr{}, err
	}
	key := path
	if modifier != "" {
		key += ":" + modifier
	}
	f, err := parseFilter(resourceType, key, prefix+v, 0)
	if err != nil {
		return ward.FilterExpr{}, err
	}
	e := ward.FilterExpr{Compare: &ward.FilterComparison{Path: path, Operator: op, Value: value, Filter: *f}}
	if negate {
		e = ward.FilterExpr{Op: ward.FilterNot, Operands: []ward.FilterExpr{e}}
	}
	return e, nil
}

func orderedType(typ string) bool { return typ == "date" || typ == "number" || typ == "quantity" }

// pathType is the type of the parameter path ends at: a parameter of
// resourceType, the last of a chain, or the inner parameter of _has.
func pathType(resourceType, path string) (string, error) {
	if rest, ok := strings.CutPrefix(path, "_has:"); ok {
		parts := strings.SplitN(rest, ":", 3)
		if len(parts) != 3 {
			return "", invalid("_filter", "Invalid _has parameter: %s (use _has:Type:reference:parameter)", path)
		}
		return pathType(parts[0], parts[2])
	}
	head, chained, isChain := strings.Cut(path, ".")
	name, modifier, _ := strings.Cut(head, ":")
	typ, targets, err := paramType(resourceType, name, path)
	if err != nil {
		return "", err
	}
	if !isChain {
		if modifier != "" {
			return "", invalid("_filter", "Unsupported _filter parameter: %s (no modifiers in _filter: the operator says how to compare)", path)
		}
		return typ, nil
	}
	target := modifier
	if target == "" && len(targets) == 1 {
		target = targets[0]
	}
	if typ != "reference" || target == "" {
		// parseFilter names the fault.
		_, err := parseFilter(resourceType, path, "x", 0)
		if err == nil {
			err = invalid("_filter", "Unsupported _filter parameter: %s", path)
		}
		return "", err
	}
	return pathType(target, chained)
}

// filterMeaning is the modifier, prefix and value of the ordinary search
// parameter a comparison of a typ parameter means.
func filterMeaning(typ, op, value string) (modifier, prefix, v string, err error) {
	v = escapeFilterValue(value)
	switch {
	case op == "pr":
		switch value {
		case "true":
			return "missing", "", "false", nil
		case "false":
			return "missing", "", "true", nil
		}
		return "", "", "", invalid("_filter", "pr takes true or false, not %s", value)
	case orderedType(typ) && op != "co" && op != "sw" && op != "re" && op != "identifier":
		return "", op, v, nil
	case typ == "string" && op == "eq":
		return "exact", "", v, nil
	case typ == "string" && op == "sw":
		return "", "", v, nil
	case typ == "string" && op == "co":
		return "contains", "", v, nil
	case typ == "token" && op == "eq", typ == "uri" && op == "eq", typ == "reference" && (op == "eq" || op == "re"):
		return "", "", v, nil
	case typ == "token" && op == "ne":
		return "not", "", v, nil
	case typ == "reference" && op == "identifier":
		return "identifier", "", v, nil
	}
	return "", "", "", invalid("_filter", "the %s operator does not apply to a %s parameter", op, typ)
}

// escapeFilterValue makes a literal _filter value one search value: a comma
// or $ in it must not split it or start a composite part.
func escapeFilterValue(v string) string {
	return strings.NewReplacer(`\`, `\\`, `,`, `\,`, `$`, `\$`).Replace(v)
}

// FormatFilter renders e as a _filter value that ParseFilter reads back as
// e: compound operands in parentheses (so Medplum's right nesting cannot
// regroup them), values quoted.
func FormatFilter(e *ward.FilterExpr) string {
	var b strings.Builder
	formatFilter(&b, e)
	return b.String()
}

func formatFilter(b *strings.Builder, e *ward.FilterExpr) {
	switch e.Op {
	case ward.FilterCompare:
		c := e.Compare
		b.WriteString(c.Path + " " + c.Operator + " " + quoteFilterValue(c.Value))
	case ward.FilterNot:
		b.WriteString("not (")
		formatFilter(b, &e.Operands[0])
		b.WriteString(")")
	default:
		for i := range e.Operands {
			if i > 0 {
				b.WriteString(" " + string(e.Op) + " ")
			}
			o := &e.Operands[i]
			if o.Op == ward.FilterAnd || o.Op == ward.FilterOr {
				b.WriteString("(")
				formatFilter(b, o)
				b.WriteString(")")
			} else {
				formatFilter(b, o)
			}
		}
	}
}

func quoteFilterValue(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}
