package csvexport

import (
	"encoding/json"
	"strings"
)

// Cell formats a FHIRPath value as Medplum's csvEscape does: text quoted,
// numbers and booleans bare, and the common datatypes as people read them
// — an Address or a HumanName formatted, a ContactPoint or an Identifier
// by its value, a Reference by its display (else the reference), a
// CodeableConcept by its first coding's display or code (else its text).
// Anything else is an empty cell. Unlike Medplum, 0 and false are written
// (its JavaScript turns them into empty cells).
func Cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		if x == "" {
			return ""
		}
		return escapeText(x)
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "true"
		}
		return "false"
	case map[string]any:
		return objectCell(x)
	}
	return ""
}

// objectCell follows Medplum's order of checks: the first member found
// decides what the object is.
func objectCell(m map[string]any) string {
	if _, ok := m["city"]; ok {
		return escapeText(formatAddress(m))
	}
	if _, ok := m["family"]; ok {
		return escapeText(formatHumanName(m))
	}
	if v, ok := m["value"]; ok {
		switch x := v.(type) {
		case string:
			return escapeText(x)
		case json.Number:
			return x.String()
		}
		return ""
	}
	if _, ok := m["reference"]; ok {
		if display := strings.TrimSpace(str(m["display"])); display != "" {
			return escapeText(display)
		}
		return escapeText(str(m["reference"]))
	}
	if codings, ok := m["coding"].([]any); ok && len(codings) > 0 {
		if c, ok := codings[0].(map[string]any); ok {
			if d := str(c["display"]); d != "" {
				return escapeText(d)
			}
			if code := str(c["code"]); code != "" {
				return escapeText(code)
			}
		}
	}
	if text, ok := m["text"].(string); ok {
		return escapeText(text)
	}
	return ""
}

// injectionStarts are the first characters a spreadsheet reads as a formula
// (OWASP "CSV Injection").
const injectionStarts = "=+-@"

// escapeText trims s, doubles its quotes, puts a ' before a leading formula
// character and quotes the whole.
func escapeText(s string) string {
	s = strings.TrimSpace(s)
	if s != "" && strings.ContainsRune(injectionStarts, rune(s[0])) {
		s = "'" + s
	}
	return quote(s)
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// formatAddress is Medplum's formatAddress without options: the lines, then
// "city, state, postalCode", joined by ", ".
func formatAddress(m map[string]any) string {
	parts := strs(m["line"])
	var csz []string
	for _, k := range []string{"city", "state", "postalCode"} {
		if v := str(m[k]); v != "" {
			csz = append(csz, v)
		}
	}
	if len(csz) > 0 {
		parts = append(parts, strings.Join(csz, ", "))
	}
	return strings.TrimSpace(strings.Join(parts, ", "))
}

// formatHumanName is Medplum's formatHumanName without options: prefixes,
// given names, family, suffixes; the text when there are none.
func formatHumanName(m map[string]any) string {
	parts := strs(m["prefix"])
	parts = append(parts, strs(m["given"])...)
	if f := str(m["family"]); f != "" {
		parts = append(parts, f)
	}
	parts = append(parts, strs(m["suffix"])...)
	if len(parts) == 0 {
		return str(m["text"])
	}
	return strings.TrimSpace(strings.Join(parts, " "))
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func strs(v any) []string {
	items, _ := v.([]any)
	out := make([]string, 0, len(items))
	for _, item := range items {
		if s, ok := item.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
