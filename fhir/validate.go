package fhir

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/wardhealth/ward"
)

// Validation limits: past maxIssues the rest is dropped, past maxDepth the
// resource is rejected (JSON nesting is otherwise only bounded by the decoder).
const (
	maxIssues = 20
	maxDepth  = 64
)

// Shape limits of one resource. A Patient with 100,000 names was accepted
// and cost 4.5 s per write (indexing, FHIRPath, history); these refuse such
// a resource before any of that work. They sit far above real resources:
// the largest R4 definition Ward loads through the store (the ValueSet
// c80-doc-typecodes) has 19,219 JSON values, an array of 6,401 and 19
// levels of nesting.
const (
	MaxArrayItems = 10_000  // entries in any one array
	MaxValues     = 200_000 // JSON values (objects, arrays, primitives) in all
	MaxNesting    = 128     // levels of JSON objects and arrays
)

// ValidateResource checks a resource decoded with json.Decoder.UseNumber
// against the R4 and Medplum element definitions: known resource type and
// properties, JSON kinds, cardinality, required elements, primitive formats
// and choice elements. Contained resources, Bundle entries and Parameters
// resources are validated as their own types. The error is an EINVALID
// *ward.Error listing every problem (up to 20) with its FHIRPath.
//
// Unlike Medplum it does not evaluate FHIRPath invariants or check
// reference target types (Medplum only warns on those), and it rejects two
// values of one choice element and dates that do not exist.
//
// Before any of that it checks the resource's shape (checkShape): sizes
// within MaxArrayItems, MaxValues and MaxNesting, and no property name or
// string holding a NUL character or invalid UTF-8, which PostgreSQL refuses
// in text (so a resource is accepted or refused alike on both engines).
func ValidateResource(resource map[string]any) error {
	if err := checkShape(resource); err != nil {
		return err
	}
	v := validator{fields: fieldIndex()}
	v.resource(resource, nil, "Resource", 0)
	return v.err()
}

// field is one JSON property name a type allows: an element, one typed name
// of a choice element, or the "_name" primitive-extension sibling.
type field struct {
	elem      *Element
	typ       string // the type this property holds
	primitive bool
	ext       bool   // this is the "_name" sibling
	twin      string // the other property of a primitive pair: "_name" for "name" and back
}

// typeFields is what the validator knows about one type.
type typeFields struct {
	kind     int
	byKey    map[string]*field
	required []*Element
}

var fieldIndex = sync.OnceValue(buildFieldIndex)

func buildFieldIndex() map[string]*typeFields {
	t := index()
	out := make(map[string]*typeFields, len(typeDefs))
	for i := range typeDefs {
		td := &typeDefs[i]
		tf := &typeFields{kind: td.Kind, byKey: make(map[string]*field, len(td.Elements))}
		for j := range td.Elements {
			e := &td.Elements[j]
			if e.Min > 0 {
				tf.required = append(tf.required, e)
			}
			for _, typ := range e.Types {
				key := e.Name
				if e.Choice {
					key += upperFirst(typ)
				}
				prim := t.types[typ] != nil && t.types[typ].Kind == kindPrimitive
				tf.byKey[key] = &field{elem: e, typ: typ, primitive: prim, twin: "_" + key}
				if prim {
					tf.byKey["_"+key] = &field{elem: e, typ: typ, primitive: true, ext: true, twin: key}
				}
			}
		}
		out[td.Name] = tf
	}
	return out
}

type issue struct {
	path    string
	message string
}

type validator struct {
	fields map[string]*typeFields
	issues []issue
	more   bool // issues were dropped
}

func (v *validator) add(p *path, format string, args ...any) {
	if len(v.issues) >= maxIssues {
		v.more = true
		return
	}
	v.issues = append(v.issues, issue{path: p.String(), message: fmt.Sprintf(format, args...)})
}

func (v *validator) err() error {
	if len(v.issues) == 0 {
		return nil
	}
	sort.SliceStable(v.issues, func(i, j int) bool { return v.issues[i].path < v.issues[j].path })
	msgs := make([]string, len(v.issues))
	exprs := make([]string, len(v.issues))
	for i, is := range v.issues {
		msgs[i] = is.message + " (" + is.path + ")"
		exprs[i] = is.path
	}
	msg := strings.Join(msgs, "; ")
	if v.more {
		msg += "; and more"
	}
	return &ward.Error{Code: ward.EINVALID, Message: msg, Expression: exprs}
}

// resource validates obj as a resource. want is the declared type: a
// concrete resource type, or "Resource" for any.
func (v *validator) resource(obj map[string]any, p *path, want string, depth int) {
	rtValue, present := obj["resourceType"]
	rt, isString := rtValue.(string)
	switch {
	case !present && want != "Resource":
		rt = want
	case !present:
		v.add(p.child("resourceType"), "Missing resource type")
		return
	case !isString || !IsResourceType(rt):
		v.add(p.child("resourceType"), "Unknown resource type %s", describe(rtValue))
		return
	case want != "Resource" && rt != want:
		v.add(p.child("resourceType"), "Expected resource type %q, got %q", want, rt)
		return
	}
	if p == nil {
		p = &path{name: rt}
	}
	v.object(obj, rt, p, true, depth)
}

// object validates obj against the elements of typeName.
func (v *validator) object(obj map[string]any, typeName string, p *path, isResource bool, depth int) {
	if depth > maxDepth {
		v.add(p, "Too deeply nested")
		return
	}
	tf := v.fields[typeName]
	if tf == nil {
		return // a type the definitions name but do not define: nothing to check
	}
	var choiceBuf [4]string
	choices := choiceBuf[:0] // choice elements already seen, by name
	for key, val := range obj {
		f := tf.byKey[key]
		if f == nil {
			if !(isResource && key == "resourceType") {
				v.add(p.child(key), "Invalid additional property %q", key)
			}
			continue
		}
		if f.elem.Choice && !f.ext {
			choices = append(choices, f.elem.Name)
		}
		if f.ext {
			if _, paired := obj[f.twin]; !paired {
				v.extension(val, nil, f, p.child(key), depth)
			}
			continue
		}
		var ext any
		if f.primitive {
			ext = obj[f.twin]
		}
		v.value(val, ext, f, p.child(key), depth)
	}
	v.checkChoices(choices, p)
	for _, e := range tf.required {
		if !hasElement(obj, e, choices) {
			name := e.Name
			if e.Choice {
				name += "[x]"
			}
			v.add(p.child(name), "Missing required property")
		}
	}
}

// checkChoices reports each choice element given more than one typed value.
func (v *validator) checkChoices(names []string, p *path) {
	for i, name := range names {
		if containsString(names[:i], name) {
			continue // reported at its first occurrence
		}
		if containsString(names[i+1:], name) {
			v.add(p.child(name+"[x]"), "Multiple values for choice element")
		}
	}
}

func hasElement(obj map[string]any, e *Element, choices []string) bool {
	if e.Choice {
		return containsString(choices, e.Name)
	}
	if _, ok := obj[e.Name]; ok {
		return true
	}
	_, ok := obj["_"+e.Name]
	return ok
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// value validates the property of field f; ext is the "_name" sibling of a
// primitive (nil when absent), which may stand in for null array items.
func (v *validator) value(val, ext any, f *field, p *path, depth int) {
	if ext != nil {
		v.extension(ext, val, f, p.sibling("_"+p.name), depth)
	}
	if !f.elem.Array {
		if _, isArray := val.([]any); isArray {
			v.add(p, "Expected single value for property")
			return
		}
		v.single(val, f.typ, p, depth)
		return
	}
	items, ok := val.([]any)
	if !ok {
		v.add(p, "Expected array of values for property")
		return
	}
	if len(items) == 0 {
		v.add(p, "Invalid empty value")
		return
	}
	extItems, _ := ext.([]any)
	for i, item := range items {
		if item == nil && i < len(extItems) && extItems[i] != nil {
			continue // the value is carried by its extension alone
		}
		v.single(item, f.typ, p.at(i), depth)
	}
}

// extension validates a "_name" primitive-extension sibling: an Element
// object, or an array of them (null items allowed) parallel to the values.
func (v *validator) extension(ext, val any, f *field, p *path, depth int) {
	if !f.elem.Array {
		v.elementObject(ext, p, depth)
		return
	}
	items, ok := ext.([]any)
	if !ok {
		v.add(p, "Expected array of values for property")
		return
	}
	if values, ok := val.([]any); ok && len(values) != len(items) {
		v.add(p, "Expected %d items to match %s", len(values), strings.TrimPrefix(p.name, "_"))
	}
	for i, item := range items {
		if item != nil {
			v.elementObject(item, p.at(i), depth)
		}
	}
}

func (v *validator) elementObject(val any, p *path, depth int) {
	obj, ok := val.(map[string]any)
	if !ok {
		v.add(p, "Invalid JSON type: expected object, but got %s", jsonKind(val))
		return
	}
	if len(obj) == 0 {
		v.add(p, "Invalid empty value")
		return
	}
	v.object(obj, "Element", p, false, depth+1)
}

// single validates one value (not an array) of type typ.
func (v *validator) single(val any, typ string, p *path, depth int) {
	if val == nil {
		v.add(p, "Invalid null value")
		return
	}
	tf := v.fields[typ]
	if tf == nil {
		return
	}
	if tf.kind == kindPrimitive {
		if msg := checkPrimitive(val, typ); msg != "" {
			v.add(p, "%s", msg)
		}
		return
	}
	obj, ok := val.(map[string]any)
	if !ok {
		v.add(p, "Invalid JSON type: expected object, but got %s", jsonKind(val))
		return
	}
	if len(obj) == 0 {
		v.add(p, "Invalid empty value")
		return
	}
	if tf.kind == kindResource || typ == "Resource" {
		v.resource(obj, p, typ, depth+1)
		return
	}
	v.object(obj, typ, p, false, depth+1)
}

// jsonKind names the JSON kind of a decoded value for messages.
func jsonKind(val any) string {
	switch val.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number, float64, float32, int, int64:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", val)
}

// describe shows a short form of a value in a message.
func describe(val any) string {
	if s, ok := val.(string); ok {
		return fmt.Sprintf("%q", truncate(s))
	}
	return jsonKind(val)
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// path is a FHIRPath to a value, built without allocating strings until an
// issue needs it.
type path struct {
	parent *path
	name   string // element name; "" for an array index step
	index  int
}

func (p *path) child(name string) *path { return &path{parent: p, name: name} }

func (p *path) at(i int) *path { return &path{parent: p, index: i} }

// sibling returns the path of another property of p's parent.
func (p *path) sibling(name string) *path { return &path{parent: p.parent, name: name} }

func (p *path) String() string {
	if p == nil {
		return "resourceType"
	}
	var b strings.Builder
	p.write(&b)
	return b.String()
}

func (p *path) write(b *strings.Builder) {
	if p.parent != nil {
		p.parent.write(b)
	}
	switch {
	case p.name == "":
		fmt.Fprintf(b, "[%d]", p.index)
	case b.Len() > 0:
		b.WriteByte('.')
		b.WriteString(p.name)
	default:
		b.WriteString(p.name)
	}
}

// shape walks a decoded resource counting its values. trail is the path
// to the current value, kept as a stack (no allocation per value); issue
// is the first problem found.
type shape struct {
	values int
	trail  []path
	issue  *issue
}

// checkShape refuses a resource over the shape limits or holding text no
// engine stores alike. It stops at the first problem: a resource this
// large or broken gets one clear message, not twenty.
func checkShape(resource map[string]any) error {
	rt, _ := resource["resourceType"].(string)
	if !printable(rt) {
		rt = "Resource"
	}
	s := shape{trail: append(make([]path, 0, 16), path{name: rt})}
	s.walk(resource)
	if s.issue == nil {
		return nil
	}
	return &ward.Error{Code: ward.EINVALID, Message: s.issue.message + " (" + s.issue.path + ")", Expression: []string{s.issue.path}}
}

// fail records the problem at the current path and stops the walk.
func (s *shape) fail(format string, args ...any) bool {
	var p *path
	for i := range s.trail {
		step := s.trail[i]
		step.name = printableKey(step.name)
		step.parent = p
		p = &step
	}
	s.issue = &issue{path: p.String(), message: fmt.Sprintf(format, args...)}
	return false
}

// walk visits val, the value at the end of s.trail, and reports whether
// to go on.
func (s *shape) walk(val any) bool {
	if s.values++; s.values > MaxValues {
		return s.fail("Resource has too many values (at most %d)", MaxValues)
	}
	switch x := val.(type) {
	case string:
		return s.text(x, "String")
	case map[string]any:
		if len(s.trail) > MaxNesting {
			return s.fail("Too deeply nested (at most %d levels)", MaxNesting)
		}
		for key, child := range x {
			s.trail = append(s.trail, path{name: key})
			if !s.text(key, "Property name") || !s.walk(child) {
				return false
			}
			s.trail = s.trail[:len(s.trail)-1]
		}
	case []any:
		if len(s.trail) > MaxNesting {
			return s.fail("Too deeply nested (at most %d levels)", MaxNesting)
		}
		if len(x) > MaxArrayItems {
			return s.fail("Too many items in array (at most %d)", MaxArrayItems)
		}
		for i, child := range x {
			s.trail = append(s.trail, path{index: i})
			if !s.walk(child) {
				return false
			}
			s.trail = s.trail[:len(s.trail)-1]
		}
	}
	return true
}

// text checks one string: PostgreSQL refuses NUL and invalid UTF-8 in text.
func (s *shape) text(str string, what string) bool {
	switch {
	case strings.IndexByte(str, 0) >= 0:
		return s.fail("%s contains a NUL character (U+0000)", what)
	case !utf8.ValidString(str):
		return s.fail("%s is not valid UTF-8", what)
	}
	return true
}

// printableKey is a property name as it can be shown in a path.
func printableKey(key string) string {
	if printable(key) {
		return key
	}
	return strings.Trim(strconv.QuoteToASCII(key), `"`)
}

// printable reports whether s can be shown as it is in a path or message.
func printable(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) < 0
}
