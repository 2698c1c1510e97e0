package search

import (
	"net/url"
	"strconv"
	"strings"

	"github.com/wardhealth/ward"
)

// String renders q back to a URL query (without the leading "?"), the form
// Bundle self and next links carry. Parse(q.ResourceType, …) of the result
// gives q again: filters keep their order, values their escapes, and
// _fields comes back as _elements. Ignored parameters (_format, _pretty)
// are not rendered.
func String(q *ward.SearchQuery) string {
	var b queryBuilder
	for i := range q.Filters {
		f := &q.Filters[i]
		if f.Expr != nil {
			b.add("_filter", FormatFilter(f.Expr))
			continue
		}
		b.add(filterKey(f), filterValue(f))
	}
	if len(q.Sort) > 0 {
		keys := make([]string, len(q.Sort))
		for i, k := range q.Sort {
			keys[i] = k.Code
			if k.Descending {
				keys[i] = "-" + k.Code
			}
		}
		b.add("_sort", strings.Join(keys, ","))
	}
	if q.Count > 0 {
		b.add("_count", strconv.Itoa(q.Count))
	}
	if q.Offset > 0 {
		b.add("_offset", strconv.Itoa(q.Offset))
	}
	b.addIf("_total", q.Total)
	b.addIf("_summary", q.Summary)
	if len(q.Elements) > 0 {
		b.add("_elements", strings.Join(q.Elements, ","))
	}
	for _, inc := range q.Includes {
		b.add(includeKey("_include", inc), includeValue(inc))
	}
	for _, inc := range q.RevIncludes {
		b.add(includeKey("_revinclude", inc), includeValue(inc))
	}
	return b.String()
}

// filterKey is the parameter name as written: code[:modifier],
// code:Target.chained or _has:Type:reference:inner.
func filterKey(f *ward.SearchFilter) string {
	switch {
	case f.Has != nil:
		return "_has:" + f.Has.ResourceType + ":" + f.Has.Reference + ":" + filterKey(&f.Has.Filter)
	case f.Chain != nil:
		return f.Code + ":" + f.TargetType + "." + filterKey(f.Chain)
	case f.Modifier != "":
		return f.Code + ":" + f.Modifier
	}
	return f.Code
}

// filterValue is the innermost filter's values, escaped and comma-joined.
func filterValue(f *ward.SearchFilter) string {
	for f.Has != nil || f.Chain != nil {
		if f.Has != nil {
			f = &f.Has.Filter
		} else {
			f = f.Chain
		}
	}
	parts := make([]string, len(f.Values))
	for i, v := range f.Values {
		parts[i] = v.Prefix + escapeValue(v.Value)
	}
	return strings.Join(parts, ",")
}

// escapeValue undoes splitValues: commas and backslashes get their escape
// back; "\|" is stored still escaped and is written as is.
func escapeValue(v string) string {
	if !strings.ContainsAny(v, `\,`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && i+1 < len(v) && v[i+1] == '|':
			b.WriteString(`\|`)
			i++
		case c == '\\' || c == ',':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func includeKey(name string, inc ward.Include) string {
	if inc.Iterate {
		return name + ":iterate"
	}
	return name
}

func includeValue(inc ward.Include) string {
	v := inc.SourceType + ":" + inc.Param
	if inc.TargetType != "" {
		v += ":" + inc.TargetType
	}
	return v
}

// queryBuilder writes key=value pairs in order, percent-encoding all but
// the characters FHIR search syntax is read by (: , | /), so links stay
// legible.
type queryBuilder struct{ strings.Builder }

func (b *queryBuilder) add(key, value string) {
	if b.Len() > 0 {
		b.WriteByte('&')
	}
	b.WriteString(queryEscape(key))
	b.WriteByte('=')
	b.WriteString(queryEscape(value))
}

func (b *queryBuilder) addIf(key, value string) {
	if value != "" {
		b.add(key, value)
	}
}

var legible = strings.NewReplacer("%3A", ":", "%2C", ",", "%7C", "|", "%2F", "/")

func queryEscape(s string) string { return legible.Replace(url.QueryEscape(s)) }
