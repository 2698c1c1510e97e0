package main

import "strings"

// expressionFor keeps the `|`-separated parts of a multi-base search
// parameter expression that apply to base: those rooted at base itself, at
// Resource or at DomainResource. Parts are kept verbatim, however odd
// (`Observation.value.as(Quantity)`, `(ConceptMap.source as uri)`).
func expressionFor(expr, base string) string {
	var kept []string
	for _, part := range splitUnion(expr) {
		if appliesTo(rootIdentifier(part), base) {
			kept = append(kept, part)
		}
	}
	return strings.Join(kept, " | ")
}

// appliesTo reports whether a part with the given root identifier is about
// base. A root in lower case is a function or a path relative to the resource
// (Medplum's `iif(priority = 'stat', …)`, `name | alias`) and applies to
// every base.
func appliesTo(root, base string) bool {
	switch {
	case root == base, root == "Resource", root == "DomainResource":
		return true
	case root != "" && root[0] >= 'a' && root[0] <= 'z':
		return true
	}
	return false
}

// splitUnion splits expr at the `|` operators that are outside parentheses,
// brackets and string or backtick literals, and trims each part.
func splitUnion(expr string) []string {
	var parts []string
	depth, start := 0, 0
	var quote byte
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '`' || c == '"':
			quote = c
		case c == '(' || c == '[' || c == '{':
			depth++
		case c == ')' || c == ']' || c == '}':
			depth--
		case c == '|' && depth == 0:
			parts = append(parts, strings.TrimSpace(expr[start:i]))
			start = i + 1
		}
	}
	if last := strings.TrimSpace(expr[start:]); last != "" || len(parts) > 0 {
		parts = append(parts, last)
	}
	return parts
}

// rootIdentifier returns the first identifier of a part, after any opening
// parentheses: "(ConceptMap.source as uri)" → "ConceptMap".
func rootIdentifier(part string) string {
	part = strings.TrimLeft(part, "( \t\n")
	end := 0
	for end < len(part) && isIdentChar(part[end]) {
		end++
	}
	return part[:end]
}

func isIdentChar(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
