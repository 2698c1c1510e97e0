package ips

import (
	"encoding/json"
	"strings"
	"time"
)

// The section tables show values as Medplum's core formatters do
// (formatCodeableConcept, formatDate, formatObservationValue, escapeHtml),
// so a document reads the same from either server.

// obj is a decoded JSON object; the helpers below read it without
// trusting its shape (stored data may be malformed).
type obj = map[string]any

func str(v any) string {
	s, _ := v.(string)
	return s
}

func child(m obj, key string) obj {
	c, _ := m[key].(map[string]any)
	return c
}

func list(m obj, key string) []any {
	l, _ := m[key].([]any)
	return l
}

// first is the first object of m[key].
func first(m obj, key string) obj {
	if l := list(m, key); len(l) > 0 {
		c, _ := l[0].(map[string]any)
		return c
	}
	return nil
}

// formatCodeableConcept is the text, else every coding's display (or code)
// joined by ", ".
func formatCodeableConcept(cc obj) string {
	if cc == nil {
		return ""
	}
	if t := str(cc["text"]); t != "" {
		return t
	}
	var parts []string
	for _, c := range list(cc, "coding") {
		coding, _ := c.(map[string]any)
		if d := str(coding["display"]); d != "" {
			parts = append(parts, d)
		} else {
			parts = append(parts, str(coding["code"]))
		}
	}
	return strings.Join(parts, ", ")
}

// formatDate is a FHIR date or dateTime as its UTC calendar day in Medplum's
// default (en-US) form, "1/2/2024"; "" when absent or not a date.
func formatDate(v any) string {
	s := str(v)
	if s == "" {
		return ""
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02", "2006-01", "2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Format("1/2/2006")
		}
	}
	return ""
}

// formatQuantity is "[comparator ]value unit" ("%" without the space).
func formatQuantity(q obj) string {
	if q == nil {
		return ""
	}
	var b strings.Builder
	if c := str(q["comparator"]); c != "" {
		b.WriteString(c + " ")
	}
	switch v := q["value"].(type) {
	case json.Number:
		b.WriteString(v.String())
	case float64:
		b.WriteString(strings.TrimSpace(string(mustNumber(v))))
	}
	if u := str(q["unit"]); u != "" {
		if u != "%" && b.Len() > 0 && !strings.HasSuffix(b.String(), " ") {
			b.WriteByte(' ')
		}
		b.WriteString(u)
	}
	return strings.TrimSpace(b.String())
}

func mustNumber(f float64) []byte {
	b, _ := json.Marshal(f)
	return b
}

// formatObservationValue is the value (quantity, concept or string), then
// the components' values, joined by " / ".
func formatObservationValue(o obj) string {
	if o == nil {
		return ""
	}
	var parts []string
	switch {
	case child(o, "valueQuantity") != nil:
		parts = append(parts, formatQuantity(child(o, "valueQuantity")))
	case child(o, "valueCodeableConcept") != nil:
		parts = append(parts, formatCodeableConcept(child(o, "valueCodeableConcept")))
	case str(o["valueString"]) != "":
		parts = append(parts, str(o["valueString"]))
	}
	if components, ok := o["component"].([]any); ok {
		values := make([]string, 0, len(components))
		for _, c := range components {
			comp, _ := c.(map[string]any)
			values = append(values, formatObservationValue(comp))
		}
		parts = append(parts, strings.Join(values, " / "))
	}
	return strings.TrimSpace(strings.Join(parts, " / "))
}

var htmlEscaper = strings.NewReplacer(
	"&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;",
	"\u201c", "&ldquo;", "\u201d", "&rdquo;", "\u2018", "&lsquo;", "\u2019", "&rsquo;", "\u2026", "&hellip;",
)

// escapeHTML is Medplum's escapeHtml.
func escapeHTML(s string) string { return htmlEscaper.Replace(s) }

// table is a section's narrative: a bordered table of headings and rows,
// "" when there are no rows.
func table(headings []string, rows [][]string) string {
	if len(rows) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString(`<table border="1" width="100%"><thead><tr>`)
	for _, h := range headings {
		b.WriteString("<th>" + escapeHTML(h) + "</th>")
	}
	b.WriteString("</tr></thead><tbody>")
	for _, row := range rows {
		b.WriteString("<tr>")
		for _, cell := range row {
			b.WriteString("<td>" + escapeHTML(cell) + "</td>")
		}
		b.WriteString("</tr>")
	}
	b.WriteString("</tbody></table>")
	return b.String()
}
