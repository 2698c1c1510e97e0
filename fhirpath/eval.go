package fhirpath

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"strings"
)

// evaluator holds the state of one evaluation.
type evaluator struct {
	ctx    context.Context
	env    *Env
	types  TypeInfo
	root   []Value // %resource, %context; the input of the set functions' arguments
	steps  int
	index  int // $index inside where, select, all, exists, repeat
	inLoop bool
}

// ctxCheckEvery is how many nodes are evaluated between context checks.
const ctxCheckEvery = 1024

func evalErrorf(msg string) error { return errors.New(msg) }

func (ev *evaluator) eval(n Node, input []Value) ([]Value, error) {
	ev.steps++
	if ev.steps%ctxCheckEvery == 0 {
		if err := ev.ctx.Err(); err != nil {
			return nil, err
		}
	}
	switch x := n.(type) {
	case *Ident:
		return ev.navigate(input, x.Name, true), nil
	case *Member:
		left, err := ev.eval(x.X, input)
		if err != nil {
			return nil, err
		}
		return ev.navigate(left, x.Name, true), nil
	case *Literal:
		return []Value{x.value}, nil
	case *EmptySet:
		return nil, nil
	case *Call:
		focus := input
		if x.X != nil {
			var err error
			if focus, err = ev.eval(x.X, input); err != nil {
				return nil, err
			}
		}
		return x.fn.eval(ev, focus, x)
	case *Special:
		return ev.special(x, input), nil
	case *Variable:
		return ev.variable(x.Name)
	case *Index:
		return ev.evalIndex(x, input)
	case *Unary:
		return ev.evalUnary(x, input)
	case *Binary:
		return ev.evalBinary(x, input)
	case *TypeOp:
		return ev.evalTypeOp(x, input)
	}
	return nil, evalErrorf("unknown expression node")
}

func (ev *evaluator) special(x *Special, input []Value) []Value {
	switch x.Name {
	case "$this":
		return input
	case "$index":
		if ev.inLoop {
			return []Value{numberValue(float64(ev.index))}
		}
	}
	return nil
}

func (ev *evaluator) variable(name string) ([]Value, error) {
	if ev.env != nil && ev.env.Vars != nil {
		if v, ok := ev.env.Vars["%"+name]; ok {
			return v, nil
		}
		if v, ok := ev.env.Vars[name]; ok {
			return v, nil
		}
	}
	switch name {
	case "resource", "context", "rootResource":
		return ev.root, nil
	case "ucum":
		return []Value{stringValue("http://unitsofmeasure.org")}, nil
	case "sct":
		return []Value{stringValue("http://snomed.info/sct")}, nil
	case "loinc":
		return []Value{stringValue("http://loinc.org")}, nil
	}
	return nil, evalErrorf("undefined variable %" + name)
}

// navigate returns the children called name of the input items. At the
// start of a path a name may also be the type of a resource item (the
// "Patient" of Patient.name), which selects the item itself.
func (ev *evaluator) navigate(input []Value, name string, typeMatch bool) []Value {
	var out []Value
	for _, v := range input {
		m, ok := v.Data.(map[string]any)
		if !ok {
			if v.ext == nil {
				continue
			}
			m = v.ext
		} else if typeMatch {
			if rt, ok := m["resourceType"].(string); ok {
				if rt == name {
					out = append(out, v)
					continue
				}
				if name != "" && name[0] >= 'A' && name[0] <= 'Z' {
					// Another type's name (Practitioner.name on a Patient):
					// FHIR element names start lower-case, so nothing matches.
					continue
				}
			}
		}
		if types, _, ok := ev.types.ElementTypes(v.Type, name); ok {
			out = childWithSchema(out, v, m, name, types)
		} else {
			out = childWithoutSchema(out, v, m, name)
		}
	}
	return out
}

// choiceKey returns the JSON property of element name holding type typ:
// "value" + "Quantity".
func choiceKey(name, typ string) string {
	var b keyBuf
	return string(b.key(false, name, typ))
}

// keyBuf builds property names on the stack: a map lookup with
// m[string(bytes)] does not allocate.
type keyBuf [96]byte

// key returns [_]name[Typ] with the first letter of typ upper-cased.
func (b *keyBuf) key(underscore bool, name, typ string) []byte {
	k := b[:0]
	if underscore {
		k = append(k, '_')
	}
	k = append(k, name...)
	if typ != "" {
		c := typ[0]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		k = append(k, c)
		k = append(k, typ[1:]...)
	}
	return k
}

// childWithSchema appends the values of element name of m, typed by the
// element's types. A choice element (several types) is stored under
// name+Type; the first type present wins, as in Medplum.
func childWithSchema(out []Value, parent Value, m map[string]any, name string, types []string) []Value {
	var b keyBuf
	if len(types) <= 1 {
		typ := ""
		if len(types) == 1 {
			typ = types[0]
		}
		raw, ext := m[name], m[string(b.key(true, name, ""))]
		if raw == nil && ext == nil {
			return out
		}
		return appendChildren(out, parent, name, typ, raw, ext)
	}
	for _, t := range types {
		raw, ext := m[string(b.key(false, name, t))], m[string(b.key(true, name, t))]
		if raw != nil || ext != nil {
			return appendChildren(out, parent, choiceKey(name, t), t, raw, ext)
		}
	}
	return out
}

// appendChildren appends the value(s) raw of property key, with the
// primitive extensions ext ("_key").
func appendChildren(out []Value, parent Value, key, typ string, raw, ext any) []Value {
	if arr, ok := raw.([]any); ok {
		exts, _ := ext.([]any)
		n := max(len(arr), len(exts))
		if n == 0 {
			return out
		}
		nodes := make([]pathNode, n)
		for i := 0; i < n; i++ {
			var item any
			var e map[string]any
			if i < len(arr) {
				item = arr[i]
			}
			if i < len(exts) {
				e, _ = exts[i].(map[string]any)
			}
			if item == nil && e == nil {
				continue
			}
			nodes[i] = pathNode{parent: parent.path, key: key, index: i}
			out = append(out, typedChild(item, e, typ, &nodes[i]))
		}
		return out
	}
	e, _ := ext.(map[string]any)
	if exts, ok := ext.([]any); ok && raw == nil {
		return appendChildren(out, parent, key, typ, []any(nil), exts)
	}
	if e == nil && isEmptyData(raw) {
		return out
	}
	return append(out, typedChild(raw, e, typ, &pathNode{parent: parent.path, key: key, index: -1}))
}

func typedChild(data any, ext map[string]any, typ string, path *pathNode) Value {
	if data == nil {
		return Value{Data: ext, Type: typ, path: path} // only extensions: an object
	}
	if typ == "Resource" {
		if m, ok := data.(map[string]any); ok {
			if rt, ok := m["resourceType"].(string); ok {
				typ = rt
			}
		}
	}
	return Value{Data: data, Type: typ, path: path, ext: ext}
}

// propertyTypes are the type suffixes tried for a choice element without
// a schema, in Medplum's order.
var propertyTypes = [...]string{
	"Address", "Age", "Annotation", "Attachment", "BackboneElement", "CodeableConcept", "Coding",
	"ContactDetail", "ContactPoint", "Contributor", "Count", "DataRequirement", "Distance", "Dosage",
	"Duration", "Element", "ElementDefinition", "Expression", "Extension", "HumanName", "Identifier",
	"MarketingStatus", "Meta", "Money", "MoneyQuantity", "Narrative", "ParameterDefinition", "Period",
	"Population", "ProdCharacteristic", "ProductShelfLife", "Quantity", "Range", "Ratio", "Reference",
	"RelatedArtifact", "SampledData", "Signature", "SimpleQuantity", "SubstanceAmount", "Timing",
	"TriggerDefinition", "UsageContext", "base64Binary", "boolean", "canonical", "code", "date",
	"dateTime", "decimal", "id", "instant", "integer", "markdown", "oid", "positiveInt", "string",
	"time", "unsignedInt", "uri", "url", "uuid", "xhtml",
}

// childWithoutSchema appends property name of m, typing values by their
// shape, or a choice property name+Type typed by its suffix.
func childWithoutSchema(out []Value, parent Value, m map[string]any, name string) []Value {
	if raw, ok := m[name]; ok {
		if arr, ok := raw.([]any); ok {
			nodes := make([]pathNode, len(arr))
			for i, item := range arr {
				if item == nil {
					continue
				}
				v := guessValue(item)
				nodes[i] = pathNode{parent: parent.path, key: name, index: i}
				v.path = &nodes[i]
				out = append(out, v)
			}
			return out
		}
		if raw == nil {
			return out
		}
		v := guessValue(raw)
		v.path = &pathNode{parent: parent.path, key: name, index: -1}
		return append(out, v)
	}
	if !hasKeyWithPrefix(m, name) {
		return out // cheaper than trying every suffix
	}
	var b keyBuf
	for _, typ := range propertyTypes {
		raw, ok := m[string(b.key(false, name, typ))]
		if !ok {
			continue
		}
		key := choiceKey(name, typ)
		if arr, ok := raw.([]any); ok {
			for i, item := range arr {
				out = append(out, Value{Data: item, Type: typ, path: &pathNode{parent: parent.path, key: key, index: i}})
			}
			return out
		}
		if raw != nil {
			out = append(out, Value{Data: raw, Type: typ, path: &pathNode{parent: parent.path, key: key, index: -1}})
		}
		return out
	}
	return out
}

func hasKeyWithPrefix(m map[string]any, prefix string) bool {
	for k := range m {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

func (ev *evaluator) evalIndex(x *Index, input []Value) ([]Value, error) {
	idx, err := ev.eval(x.Index, input)
	if err != nil || len(idx) != 1 {
		return nil, err
	}
	f, ok := toFloat(idx[0].Data)
	if !ok || f != math.Trunc(f) {
		return nil, evalErrorf("index must be an integer")
	}
	left, err := ev.eval(x.X, input)
	if err != nil {
		return nil, err
	}
	if f < 0 || f >= float64(len(left)) {
		return nil, nil
	}
	return left[int(f) : int(f)+1 : int(f)+1], nil
}

func (ev *evaluator) evalUnary(x *Unary, input []Value) ([]Value, error) {
	v, err := ev.eval(x.X, input)
	if err != nil || len(v) == 0 || x.Op == PLUS {
		return v, err
	}
	item, err := singleton(v, "")
	if err != nil {
		return nil, err
	}
	if m, f, ok := isQuantity(item.Data); ok {
		return []Value{quantityWith(m, -f)}, nil
	}
	f, ok := toFloat(item.Data)
	if !ok {
		return nil, evalErrorf("unary - needs a number")
	}
	return []Value{numberValue(-f)}, nil
}

// quantityWith returns a copy of quantity m with value f.
func quantityWith(m map[string]any, f float64) Value {
	q := make(map[string]any, len(m))
	for k, v := range m {
		q[k] = v
	}
	q["value"] = numberValue(f).Data
	return Value{Data: q, Type: "Quantity"}
}

// singleton returns the only item of c, or an error when c has several
// (or, with typ, an item of another type). It returns a zero Value for an
// empty c.
func singleton(c []Value, typ string) (Value, error) {
	switch {
	case len(c) == 0:
		return Value{}, nil
	case len(c) == 1 && (typ == "" || c[0].Type == typ):
		return c[0], nil
	case len(c) > 1:
		return Value{}, evalErrorf("expected a single value, found " + plural(len(c), "item"))
	}
	return Value{}, evalErrorf("expected a single " + typ + ", found " + c[0].Type)
}

func (ev *evaluator) evalBinary(x *Binary, input []Value) ([]Value, error) {
	left, err := ev.eval(x.X, input)
	if err != nil {
		return nil, err
	}
	right, err := ev.eval(x.Y, input)
	if err != nil {
		return nil, err
	}
	switch x.Op {
	case PIPE:
		return union(left, right), nil
	case EQ:
		return equalCollections(left, right, false), nil
	case NEQ:
		return equalCollections(left, right, true), nil
	case EQUIV:
		return boolResult(equivalentCollections(left, right)), nil
	case NEQUIV:
		return boolResult(!equivalentCollections(left, right)), nil
	case AND, OR, XOR, IMPLIES:
		return logic(x.Op, left, right)
	case IN:
		return membership(left, right)
	case CONTAINS:
		return membership(right, left)
	case AMP:
		return concat(left, right)
	}
	return arithmetic(x.Op, left, right)
}

// union merges two collections without duplicates (by =).
func union(left, right []Value) []Value {
	out := make([]Value, 0, len(left)+len(right))
	for _, c := range [2][]Value{left, right} {
	next:
		for _, v := range c {
			for _, seen := range out {
				if eq, _ := equalValues(v, seen); eq {
					continue next
				}
			}
			out = append(out, v)
		}
	}
	return out
}

// equalCollections is = (or != with negate): empty when either side is
// empty, false for different sizes, else item by item.
func equalCollections(left, right []Value, negate bool) []Value {
	if len(left) == 0 || len(right) == 0 {
		return nil
	}
	if len(left) != len(right) {
		return boolResult(negate)
	}
	all := true
	for i := range left {
		eq, known := equalValues(left[i], right[i])
		if !known {
			return nil
		}
		all = all && eq
	}
	return boolResult(all != negate)
}

// equivalentCollections is ~: same size and, ordered, item by item ~.
func equivalentCollections(left, right []Value) bool {
	if len(left) != len(right) {
		return false
	}
	used := make([]bool, len(right))
next:
	for _, l := range left {
		for j, r := range right {
			if !used[j] && equivalentValues(l, r) {
				used[j] = true
				continue next
			}
		}
		return false
	}
	return true
}

// logic evaluates and, or, xor and implies with three-valued logic.
func logic(op Token, left, right []Value) ([]Value, error) {
	l, err := singleton(left, "boolean")
	if err != nil {
		return nil, err
	}
	r, err := singleton(right, "boolean")
	if err != nil {
		return nil, err
	}
	lb, lok := l.Data.(bool)
	rb, rok := r.Data.(bool)
	switch op {
	case AND:
		if lok && rok && lb && rb {
			return boolResult(true), nil
		}
		if lok && !lb || rok && !rb {
			return boolResult(false), nil
		}
	case OR:
		if lok && rok && !lb && !rb {
			return boolResult(false), nil
		}
		if lok && lb || rok && rb {
			return boolResult(true), nil
		}
	case XOR:
		if lok && rok {
			return boolResult(lb != rb), nil
		}
	case IMPLIES:
		if rok && rb || lok && !lb {
			return boolResult(true), nil
		}
		if lok && rok {
			return boolResult(false), nil
		}
	}
	return nil, nil
}

// membership is "item in collection".
func membership(item, collection []Value) ([]Value, error) {
	if len(item) == 0 {
		return nil, nil
	}
	v, err := singleton(item, "")
	if err != nil {
		return nil, err
	}
	for _, c := range collection {
		if eq, _ := equalValues(v, c); eq {
			return boolResult(true), nil
		}
	}
	return boolResult(false), nil
}

// concat is &: strings joined, empty operands read as ”.
func concat(left, right []Value) ([]Value, error) {
	var b strings.Builder
	for _, side := range [2][]Value{left, right} {
		v, err := singleton(side, "")
		if err != nil {
			return nil, err
		}
		if v.Data == nil {
			continue
		}
		s, ok := v.Data.(string)
		if !ok {
			return nil, evalErrorf("& needs strings, found " + v.Type)
		}
		b.WriteString(s)
	}
	return []Value{stringValue(b.String())}, nil
}

// arithmetic evaluates + - * / div mod and the comparisons.
func arithmetic(op Token, left, right []Value) ([]Value, error) {
	if len(left) == 0 || len(right) == 0 {
		return nil, nil
	}
	l, err := singleton(left, "")
	if err != nil {
		return nil, err
	}
	r, err := singleton(right, "")
	if err != nil {
		return nil, err
	}
	switch op {
	case LT, LE, GT, GE:
		return compare(op, l, r)
	}
	if ls, ok := l.Data.(string); ok && op == PLUS {
		if rs, ok := r.Data.(string); ok {
			return []Value{stringValue(ls + rs)}, nil
		}
	}
	lq, lf, lIsQ := isQuantity(l.Data)
	if !lIsQ {
		var ok bool
		if lf, ok = toFloat(l.Data); !ok {
			return nil, evalErrorf(op.String() + " needs numbers, found " + typeOrKind(l))
		}
	}
	rf, ok := toFloat(r.Data)
	if _, qf, isQ := isQuantity(r.Data); isQ {
		rf, ok = qf, true
	}
	if !ok {
		return nil, evalErrorf(op.String() + " needs numbers, found " + typeOrKind(r))
	}
	var res float64
	switch op {
	case PLUS:
		res = lf + rf
	case MINUS:
		res = lf - rf
	case STAR:
		res = lf * rf
	case SLASH, DIV, MOD:
		if rf == 0 {
			return nil, nil
		}
		switch op {
		case SLASH:
			res = lf / rf
		case DIV:
			res = math.Trunc(lf / rf)
		default:
			res = math.Mod(lf, rf)
		}
	default:
		return nil, evalErrorf("unsupported operator " + op.String())
	}
	if lIsQ {
		return []Value{quantityWith(lq, res)}, nil
	}
	return []Value{numberValue(res)}, nil
}

func typeOrKind(v Value) string {
	if v.Type != "" {
		return v.Type
	}
	return "a value of unknown type"
}

// compare evaluates < <= > >= on numbers, quantities, dates and strings.
func compare(op Token, l, r Value) ([]Value, error) {
	var c int
	lf, lok := toFloat(l.Data)
	rf, rok := toFloat(r.Data)
	if _, f, ok := isQuantity(l.Data); ok {
		lf, lok = f, true
	}
	if _, f, ok := isQuantity(r.Data); ok {
		rf, rok = f, true
	}
	ls, lsok := l.Data.(string)
	rs, rsok := r.Data.(string)
	switch {
	case lok && rok:
		c = cmpFloat(lf, rf)
	case lsok && rsok:
		c = strings.Compare(ls, rs)
		if isDateType(l.Type) || isDateType(r.Type) || l.Type == "time" || r.Type == "time" {
			dc, known, dates := compareDates(ls, rs)
			if dates && !known {
				return nil, nil
			}
			if dates {
				c = dc
			}
		}
	default:
		return nil, evalErrorf("cannot compare " + typeOrKind(l) + " with " + typeOrKind(r))
	}
	switch op {
	case LT:
		return boolResult(c < 0), nil
	case LE:
		return boolResult(c <= 0), nil
	case GT:
		return boolResult(c > 0), nil
	}
	return boolResult(c >= 0), nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (ev *evaluator) evalTypeOp(x *TypeOp, input []Value) ([]Value, error) {
	left, err := ev.eval(x.X, input)
	if err != nil {
		return nil, err
	}
	name := x.Type.Name
	if x.Type.Namespace != "" {
		name = x.Type.Namespace + "." + name
	}
	if x.Op == IS {
		if len(left) != 1 {
			return nil, nil
		}
		return boolResult(isType(left[0], name)), nil
	}
	v, err := singleton(left, "")
	if err != nil || v.Data == nil && v.ext == nil {
		return nil, err
	}
	if isType(v, name) {
		return []Value{v}, nil
	}
	return nil, nil
}

// isType reports whether v is of type name (Medplum's fhirPathIs): System
// types by the shape of the data, FHIR types by the type code (Quantity and
// Period by shape too).
func isType(v Value, name string) bool {
	if v.Data == nil && v.ext == nil {
		return false
	}
	name = strings.TrimPrefix(name, "System.")
	name = strings.TrimPrefix(name, "FHIR.")
	switch name {
	case "Boolean":
		_, ok := v.Data.(bool)
		return ok
	case "Decimal", "Integer":
		_, ok := v.Data.(json.Number)
		return ok
	case "Date":
		s, ok := v.Data.(string)
		return ok && dateRegexp.MatchString(s)
	case "DateTime":
		s, ok := v.Data.(string)
		return ok && dateTimeRegexp.MatchString(s)
	case "Time":
		s, ok := v.Data.(string)
		return ok && len(s) > 1 && s[0] == 'T' && isDigit(s[1])
	case "Period":
		return isPeriod(v.Data)
	case "Quantity":
		_, _, ok := isQuantity(v.Data)
		return ok
	}
	if v.Type == name {
		return true
	}
	m, ok := v.Data.(map[string]any)
	return ok && m["resourceType"] == name
}

func isPeriod(d any) bool {
	m, ok := d.(map[string]any)
	if !ok {
		return false
	}
	for _, k := range [2]string{"start", "end"} {
		if s, ok := m[k].(string); ok && dateTimeRegexp.MatchString(s) {
			return true
		}
	}
	return false
}
