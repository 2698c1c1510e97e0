package search

import (
	"strings"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
	"github.com/wardhealth/ward/index"
)

// special are the parameters Medplum defines in code, not in the tables.
var special = map[string]string{
	"_id":          "token",
	"_lastUpdated": "date",
	"_compartment": "reference",
	"_project":     "reference",
}

// specialModifiers lists the modifiers of the special parameters; they do
// not take every modifier of their type (_project:identifier means nothing).
var specialModifiers = map[string]map[string]bool{
	"_id":          {"not": true, "missing": true},
	"_lastUpdated": {"missing": true},
	"_compartment": {"not": true},
	"_project":     {"missing": true},
}

// modifiers lists the modifiers each parameter type takes; a reference
// also takes a resource type (subject:Patient).
var modifiers = map[string]map[string]bool{
	"string":    {"exact": true, "contains": true, "missing": true},
	"token":     {"not": true, "text": true, "missing": true},
	"reference": {"identifier": true, "missing": true},
	"date":      {"missing": true},
	"number":    {"missing": true},
	"quantity":  {"missing": true},
	"uri":       {"above": true, "below": true, "missing": true},
}

// prefixes are the comparison prefixes of ordered types.
var prefixes = map[string]bool{"eq": true, "ne": true, "lt": true, "gt": true, "le": true, "ge": true, "sa": true, "eb": true, "ap": true}

// parseFilter parses key=value for resourceType. depth counts _has nesting.
func parseFilter(resourceType, key, value string, depth int) (*ward.SearchFilter, error) {
	if rest, ok := strings.CutPrefix(key, "_has:"); ok {
		return parseHas(resourceType, key, rest, value, depth)
	}
	head, chained, isChain := strings.Cut(key, ".")
	name, modifier, _ := strings.Cut(head, ":")
	typ, targets, err := paramType(resourceType, name, key)
	if err != nil {
		return nil, err
	}
	f := &ward.SearchFilter{Code: name, Type: typ}
	if isChain {
		return parseChain(f, targets, modifier, chained, key, value, depth)
	}
	if err := checkModifier(f, modifier, key); err != nil {
		return nil, err
	}
	f.Modifier = modifier
	if f.Values, err = parseValues(f, value, key); err != nil {
		return nil, err
	}
	return f, nil
}

// paramType returns the type and reference targets of a parameter.
func paramType(resourceType, name, key string) (string, []string, error) {
	if t, ok := special[name]; ok {
		return t, nil, nil
	}
	p, ok := fhir.LookupSearchParam(resourceType, name)
	if !ok {
		return "", nil, invalid(key, "Unknown search parameter: %s", name)
	}
	if p.Type == "composite" || p.Type == "special" {
		return "", nil, invalid(key, "Search parameter %s (%s) is not supported", name, p.Type)
	}
	if p.Expression == "" {
		return "", nil, invalid(key, "Search parameter %s is not supported", name)
	}
	return p.Type, p.Targets, nil
}

func checkModifier(f *ward.SearchFilter, modifier, key string) error {
	if modifier == "" {
		return nil
	}
	if allowed, ok := specialModifiers[f.Code]; ok {
		if allowed[modifier] {
			return nil
		}
		return invalid(key, "Unsupported modifier for %s: %s", f.Code, modifier)
	}
	if modifiers[f.Type][modifier] {
		return nil
	}
	if f.Type == "reference" && fhir.IsResourceType(modifier) {
		return nil
	}
	return invalid(key, "Unsupported modifier for %s parameter %s: %s", f.Type, f.Code, modifier)
}

// parseChain parses subject:Patient.name=x (one level).
func parseChain(f *ward.SearchFilter, targets []string, modifier, chained, key, value string, depth int) (*ward.SearchFilter, error) {
	if f.Type != "reference" {
		return nil, invalid(key, "Cannot chain on %s: it is not a reference parameter", f.Code)
	}
	if strings.Contains(chained, ".") {
		return nil, invalid(key, "Chained search is supported one level deep only: %s", key)
	}
	target := modifier
	switch {
	case target == "" && len(targets) == 1:
		target = targets[0]
	case target == "":
		return nil, invalid(key, "Chained search on %s needs a target type (e.g. %s:%s.…)", f.Code, f.Code, first(targets))
	case !fhir.IsResourceType(target):
		return nil, invalid(key, "Unknown resource type in chained search: %s", target)
	}
	child, err := parseFilter(target, chained, value, depth+1)
	if err != nil {
		return nil, err
	}
	f.TargetType = target
	f.Chain = child
	return f, nil
}

// parseHas parses _has:Type:reference:rest=value.
func parseHas(resourceType, key, rest, value string, depth int) (*ward.SearchFilter, error) {
	if depth >= maxHasDepth {
		return nil, invalid(key, "_has is nested too deeply")
	}
	parts := strings.SplitN(rest, ":", 3)
	if len(parts) != 3 || parts[2] == "" {
		return nil, invalid(key, "Invalid _has parameter: %s (use _has:Type:reference:parameter)", key)
	}
	typ, ref := parts[0], parts[1]
	if !fhir.IsResourceType(typ) {
		return nil, invalid(key, "Unknown resource type in _has: %s", typ)
	}
	p, ok := fhir.LookupSearchParam(typ, ref)
	if !ok || p.Type != "reference" {
		return nil, invalid(key, "Invalid _has reference parameter: %s is not a reference parameter of %s", ref, typ)
	}
	inner, err := parseFilter(typ, parts[2], value, depth+1)
	if err != nil {
		return nil, err
	}
	return &ward.SearchFilter{Code: "_has", Type: "special", Has: &ward.HasFilter{ResourceType: typ, Reference: ref, Filter: *inner}}, nil
}

func first(s []string) string {
	if len(s) == 0 {
		return "Type"
	}
	return s[0]
}

// parseValues splits value at unescaped commas and checks each for the type.
func parseValues(f *ward.SearchFilter, value, key string) ([]ward.SearchValue, error) {
	raw := splitValues(value)
	if len(raw) > maxValues {
		return nil, invalid(key, "Too many values for %s (at most %d)", key, maxValues)
	}
	out := make([]ward.SearchValue, 0, len(raw))
	for _, v := range raw {
		sv, err := parseValue(f, v, key)
		if err != nil {
			return nil, err
		}
		out = append(out, sv)
	}
	if len(out) == 0 {
		return nil, invalid(key, "Missing value for %s", key)
	}
	return out, nil
}

func parseValue(f *ward.SearchFilter, v, key string) (ward.SearchValue, error) {
	if f.Modifier == "missing" {
		if v != "true" && v != "false" {
			return ward.SearchValue{}, invalid(key, "Invalid value for %s: %s (use true or false)", key, v)
		}
		return ward.SearchValue{Value: v}, nil
	}
	switch f.Type {
	case "date", "number", "quantity":
		prefix, rest := splitPrefix(v)
		if !validOrdered(f.Type, rest) {
			return ward.SearchValue{}, invalid(key, "Invalid %s value for parameter %s: %s", f.Type, f.Code, v)
		}
		return ward.SearchValue{Prefix: prefix, Value: rest}, nil
	}
	if v == "" {
		return ward.SearchValue{}, invalid(key, "Empty value for %s", key)
	}
	return ward.SearchValue{Value: v}, nil
}

// splitPrefix splits a two-letter comparison prefix off an ordered value.
func splitPrefix(v string) (string, string) {
	if len(v) >= 2 && prefixes[v[:2]] {
		return v[:2], v[2:]
	}
	return "", v
}

func validOrdered(typ, v string) bool {
	switch typ {
	case "date":
		_, _, ok := index.DateRange(v)
		return ok
	case "number":
		_, _, _, ok := index.NumberRange(v)
		return ok
	case "quantity":
		num, _, _ := strings.Cut(v, "|")
		_, _, _, ok := index.NumberRange(num)
		return ok
	}
	return false
}

// splitValues splits at commas not escaped by a backslash and removes the
// \, \$ and \\ escapes. \| stays escaped: token and quantity values split
// at | later and need to tell an escaped bar from a separator.
func splitValues(s string) []string {
	var out []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			next := s[i+1]
			if next == '|' {
				b.WriteString(`\|`)
			} else {
				b.WriteByte(next)
			}
			i++
			continue
		}
		if c == ',' {
			out = append(out, b.String())
			b.Reset()
			continue
		}
		b.WriteByte(c)
	}
	out = append(out, b.String())
	return out
}
