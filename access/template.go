package access

import (
	"strings"

	"github.com/wardhealth/ward"
)

// templateKey names a template without building a string per lookup.
type templateKey struct{ typ, criteria string }

// template is a criteria string parsed without substitution. usable is
// false when a value holding a variable cannot be substituted after
// parsing (see substitutable); such criteria are parsed per entry.
type template struct {
	filters []ward.SearchFilter
	usable  bool
}

// criteria returns the filters of criteria for one access entry: the
// parsed template with each whole-variable value replaced, which is what
// parsing the substituted text gives, or a full parse when the template
// cannot be used.
func (b *builder) criteria(typ, criteria string, vars variables) []ward.SearchFilter {
	key := templateKey{typ, criteria}
	t, ok := b.templates[key]
	if !ok {
		filters, parsed := parseFilters(typ, criteria, variables{})
		t = &template{filters: filters, usable: parsed && substitutable(filters)}
		b.templates[key] = t
	}
	if !t.usable {
		return parseCriteria(typ, criteria, vars)
	}
	return instantiate(t.filters, vars)
}

// substitutable reports whether every value holding a "%" is one whole
// variable (%name or %name.id) of a parameter type that keeps values as
// written (no prefix, no chain): substituting such a parsed value equals
// parsing the substituted text, since substitution escapes the value so
// that it stays one search value.
func substitutable(filters []ward.SearchFilter) bool {
	for _, f := range filters {
		hasVar := false
		for _, v := range f.Values {
			if strings.Contains(v.Value, "%") {
				if !wholeVariable(v.Value) || v.Prefix != "" {
					return false
				}
				hasVar = true
			}
		}
		if !hasVar {
			continue
		}
		if f.Chain != nil || f.Has != nil {
			return false
		}
		switch f.Type {
		case "reference", "token", "string", "uri":
		default:
			return false
		}
	}
	return true
}

// wholeVariable reports whether s is "%name" or "%name.id".
func wholeVariable(s string) bool {
	name := strings.TrimSuffix(s[1:], ".id")
	if s[0] != '%' || name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		if !isNameByte(name[i]) {
			return false
		}
	}
	return true
}

// instantiate copies filters with vars substituted into their values.
func instantiate(filters []ward.SearchFilter, vars variables) []ward.SearchFilter {
	if filters == nil {
		return nil
	}
	out := make([]ward.SearchFilter, len(filters))
	for i, f := range filters {
		out[i] = f
		if !anyVariable(f.Values) {
			continue
		}
		vals := make([]ward.SearchValue, len(f.Values))
		for j, v := range f.Values {
			vals[j] = v
			if strings.HasPrefix(v.Value, "%") {
				vals[j].Value = vars.text(v.Value)
			}
		}
		out[i].Values = vals
	}
	return out
}

func anyVariable(values []ward.SearchValue) bool {
	for _, v := range values {
		if strings.HasPrefix(v.Value, "%") {
			return true
		}
	}
	return false
}
