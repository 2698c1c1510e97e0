package search

import (
	"strings"

	"github.com/wardhealth/ward"
)

// _filter (FHIR R4 §3.1.3) is supported for the subset Medplum clients send:
// `param op value` comparisons joined by `and`, e.g. `name eq Patient` from
// MedplumClient.requestSchema. Each comparison is translated into the
// ordinary parameter it means (name eq X → name:exact=X, birthdate ge X →
// birthdate=geX) and parsed by parseParam like any other, so the same
// names, types and values are accepted or refused as in a plain search.
// `or`, `not`, parentheses, paths and the comparisons an ordinary parameter
// cannot express are refused naming _filter rather than answered wrongly.

// filterOps maps a _filter operator to the prefix of ordered parameter types.
var filterOps = map[string]string{
	"eq": "eq", "ne": "ne", "gt": "gt", "lt": "lt", "ge": "ge", "le": "le",
	"sa": "sa", "eb": "eb", "ap": "ap", "co": "", "sw": "", "ew": "",
}

// parseFilterParam adds the comparisons of one _filter value to q.
func parseFilterParam(q *ward.SearchQuery, value string) error {
	terms, err := splitFilter(value)
	if err != nil {
		return err
	}
	for _, t := range terms {
		key, val, err := filterTerm(q.ResourceType, t)
		if err != nil {
			return err
		}
		if err := parseParam(q, key, val); err != nil {
			if e, ok := err.(*ward.Error); ok {
				e.Expression = []string{"_filter"}
			}
			return err
		}
	}
	return nil
}

// filterComparison is one `param op value` of a _filter expression.
type filterComparison struct {
	param, op, value string
}

// splitFilter tokenizes value into comparisons joined by `and`.
func splitFilter(value string) ([]filterComparison, error) {
	toks, err := filterTokens(value)
	if err != nil {
		return nil, err
	}
	if len(toks) > 4*maxParams {
		// Refused before the comparisons are translated one by one.
		return nil, tooManyParams("_filter")
	}
	var out []filterComparison
	for i := 0; i < len(toks); {
		if len(toks)-i < 3 {
			return nil, invalid("_filter", "Invalid _filter: %s (use: parameter operator value [and …])", value)
		}
		c := filterComparison{param: toks[i].text, op: strings.ToLower(toks[i+1].text), value: toks[i+2].text}
		if toks[i].quoted || toks[i+1].quoted || strings.ContainsAny(c.param, "()[].") {
			return nil, invalid("_filter", "Unsupported _filter expression: %s", value)
		}
		if _, ok := filterOps[c.op]; !ok {
			return nil, invalid("_filter", "Unsupported _filter operator: %s", toks[i+1].text)
		}
		out = append(out, c)
		i += 3
		if i == len(toks) {
			break
		}
		if toks[i].quoted || !strings.EqualFold(toks[i].text, "and") {
			return nil, invalid("_filter", "Unsupported _filter expression: %s (only `and` joins comparisons)", value)
		}
		i++
		if i == len(toks) {
			return nil, invalid("_filter", "Invalid _filter: %s (nothing after and)", value)
		}
	}
	if len(out) == 0 {
		return nil, invalid("_filter", "Empty _filter")
	}
	return out, nil
}

type filterToken struct {
	text   string
	quoted bool
}

// filterTokens splits at spaces; "…" is one token with \" and \\ unescaped.
// Parentheses are refused here: grouping cannot be translated.
func filterTokens(s string) ([]filterToken, error) {
	var out []filterToken
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(' || c == ')':
			return nil, invalid("_filter", "Unsupported _filter expression: parentheses cannot be translated")
		case c == '"':
			var b strings.Builder
			j := i + 1
			for ; j < len(s) && s[j] != '"'; j++ {
				if s[j] == '\\' && j+1 < len(s) {
					j++
				}
				b.WriteByte(s[j])
			}
			if j >= len(s) {
				return nil, invalid("_filter", "Invalid _filter: unterminated string")
			}
			out = append(out, filterToken{text: b.String(), quoted: true})
			i = j + 1
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r()\"", rune(s[j])) {
				j++
			}
			out = append(out, filterToken{text: s[i:j]})
			i = j
		}
	}
	return out, nil
}

// filterTerm returns the ordinary key=value a comparison means.
func filterTerm(resourceType string, c filterComparison) (string, string, error) {
	name, modifier, _ := strings.Cut(c.param, ":")
	if modifier != "" {
		return "", "", invalid("_filter", "Unsupported _filter parameter: %s (no modifiers in _filter)", c.param)
	}
	typ, _, err := paramType(resourceType, name, c.param)
	if err != nil {
		if e, ok := err.(*ward.Error); ok {
			e.Expression = []string{"_filter"}
		}
		return "", "", err
	}
	v := escapeFilterValue(c.value)
	switch typ {
	case "date", "number", "quantity":
		if p := filterOps[c.op]; p != "" {
			return name, p + v, nil
		}
	case "string":
		switch c.op {
		case "eq":
			return name + ":exact", v, nil
		case "sw":
			return name, v, nil
		case "co":
			return name + ":contains", v, nil
		}
	case "token":
		switch c.op {
		case "eq":
			return name, v, nil
		case "ne":
			return name + ":not", v, nil
		}
	case "reference", "uri":
		if c.op == "eq" {
			return name, v, nil
		}
	}
	return "", "", invalid("_filter", "Unsupported _filter comparison: %s %s on a %s parameter", c.param, c.op, typ)
}

// escapeFilterValue makes a literal _filter value one search value: a comma
// or $ in it must not split it or start a composite part.
func escapeFilterValue(v string) string {
	return strings.NewReplacer(`\`, `\\`, `,`, `\,`, `$`, `\$`).Replace(v)
}
