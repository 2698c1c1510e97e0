package access

import "strings"

// variable is one substitution value: a string, or a reference whose
// ".id" form is its last segment.
type variable struct {
	value string
	ref   bool
}

// variables are the %names of one access entry (spec 2.2). Substitution
// reads a whole %identifier and looks it up exactly, so %org never
// rewrites the start of %organization; unknown names stay as written.
type variables map[string]variable

// newVariables returns the variables of an access[] entry: its
// parameters, %profile, and %patient (the profile unless a parameter
// names it).
func newVariables(parameters []any, profile string) variables {
	vars := variables{}
	for _, p := range parameters {
		pm, _ := p.(map[string]any)
		name, _ := pm["name"].(string)
		if name == "" {
			continue
		}
		if s, ok := pm["valueString"].(string); ok {
			vars[name] = variable{value: s}
		} else if ref := refString(pm["valueReference"]); ref != "" {
			vars[name] = variable{value: ref, ref: true}
		}
	}
	if profile != "" {
		vars["profile"] = variable{value: profile, ref: true}
		if _, ok := vars["patient"]; !ok {
			vars["patient"] = vars["profile"]
		}
	}
	return vars
}

// text substitutes every known variable of s (for display and for
// references, where no escaping applies).
func (v variables) text(s string) string {
	return v.substitute(s, func(lit string) string { return lit }, func(val string) string { return val })
}

// value substitutes the variables of one raw (percent-encoded) query
// value: literal parts are decoded, substituted values have commas and
// backslashes escaped so they stay one search value.
func (v variables) value(raw string) string {
	return v.substitute(raw, unescape, escapeSearchValue)
}

// substitute walks s, passing literal runs through lit and substituted
// values through val.
func (v variables) substitute(s string, lit, val func(string) string) string {
	var b strings.Builder
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		j := i + 1
		for j < len(s) && isNameByte(s[j]) {
			j++
		}
		name := s[i+1 : j]
		x, ok := v[name]
		if !ok {
			continue
		}
		b.WriteString(lit(s[start:i]))
		out := x.value
		if x.ref && strings.HasPrefix(s[j:], ".id") && (j+3 == len(s) || !isNameByte(s[j+3])) {
			out = out[strings.LastIndexByte(out, '/')+1:]
			j += 3
		}
		b.WriteString(val(out))
		start = j
		i = j - 1
	}
	b.WriteString(lit(s[start:]))
	return b.String()
}

// searchValueEscaper is immutable once built; a Replacer compiles itself
// on first use, which is why it is not built per call.
var searchValueEscaper = strings.NewReplacer(`\`, `\\`, `,`, `\,`)

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func escapeSearchValue(s string) string {
	if !strings.ContainsAny(s, `\,`) {
		return s
	}
	return searchValueEscaper.Replace(s)
}
