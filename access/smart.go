package access

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/wardhealth/ward"
)

// SMART scopes (spec 2.12). A login whose scope names resource scopes
// narrows its membership's policy to what the scopes grant: an entry is
// kept once per scope naming its type (a "*" entry becomes that type), a
// scope of only reads and searches makes it read-only, a scope's query is
// added to its criteria, and patient/ scopes confine it to the patient
// compartment of the login's patient (the Patient profile).

// smartScope is one resource scope.
type smartScope struct {
	context  string // patient, user or system
	typ      string // a type or "*"
	readOnly bool
	query    url.Values
}

// smartScopeSyntax is (patient|user|system)/(Type|*).(read|write|*|c?r?u?d?s?)[?query].
var smartScopeSyntax = regexp.MustCompile(`^(patient|user|system)/([A-Za-z]+|\*)\.(read|write|\*|c?r?u?d?s?)(\?.*)?$`)

// parseScopes returns the resource scopes of an OAuth scope string.
func parseScopes(scope string) []smartScope {
	var out []smartScope
	for _, s := range strings.Fields(scope) {
		m := smartScopeSyntax.FindStringSubmatch(s)
		if m == nil || m[3] == "" {
			continue
		}
		letters := m[3]
		switch letters {
		case "read":
			letters = "rs"
		case "write":
			letters = "cud"
		case "*":
			letters = "cruds"
		}
		sc := smartScope{context: m[1], typ: m[2], readOnly: strings.Trim(letters, "rs") == ""}
		if m[4] != "" {
			sc.query, _ = url.ParseQuery(m[4][1:])
		}
		out = append(out, sc)
	}
	return out
}

// intersectScopes applies the scopes to the entries built so far (before
// the admin adjustment, spec 2.1 step 6). patient is the login's patient
// reference ("" when there is none: patient/ scopes then grant nothing).
func (b *builder) intersectScopes(scopes []smartScope, patient string) {
	if len(scopes) == 0 {
		return
	}
	var kept []entry
	for _, e := range b.entries {
		for _, sc := range scopes {
			if sc.typ != "*" && e.rule.ResourceType != "*" && sc.typ != e.rule.ResourceType {
				continue
			}
			if ne, ok := scoped(e, sc, patient); ok {
				kept = append(kept, ne)
			}
		}
	}
	b.entries = kept
}

// scoped is entry e narrowed by scope sc.
func scoped(e entry, sc smartScope, patient string) (entry, bool) {
	typ := e.rule.ResourceType
	if typ == "*" && sc.typ != "*" {
		typ = sc.typ
	}
	rule := e.rule
	rule.ResourceType = typ
	rule.Criteria = append([]ward.SearchFilter(nil), e.rule.Criteria...)
	js := make(map[string]any, len(e.json)+2)
	for k, v := range e.json {
		js[k] = v
	}
	js["resourceType"] = typ
	if sc.readOnly {
		rule.Interactions &= ward.InteractionReadOnly
		if rule.Interactions == 0 {
			return entry{}, false
		}
		js["readonly"] = true
	}
	var extra []string
	if len(sc.query) > 0 {
		parseType := typ
		if typ == "*" {
			parseType = "Binary"
		}
		filters, ok := parseFilters(parseType, parseType+"?"+sc.query.Encode(), variables{})
		if !ok {
			return entry{}, false
		}
		rule.Criteria = append(rule.Criteria, filters...)
		extra = append(extra, sc.query.Encode())
	}
	if sc.context == "patient" {
		if patient == "" {
			return entry{}, false
		}
		rule.Criteria = append(rule.Criteria, ward.SearchFilter{Code: "_compartment", Type: "reference", Values: []ward.SearchValue{{Value: patient}}})
		extra = append(extra, "_compartment="+patient)
	}
	if len(extra) > 0 {
		criteria, _ := js["criteria"].(string)
		if criteria == "" {
			criteria = typ + "?"
		} else {
			criteria += "&"
		}
		js["criteria"] = criteria + strings.Join(extra, "&")
	}
	return entry{json: js, rule: rule}, true
}
