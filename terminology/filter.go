package terminology

import (
	"slices"
	"strings"
	"unicode"
)

// filterConcepts keeps the concepts matching filter: every word of filter
// starts a word of the display, or the code starts with filter
// (case-insensitive), as Medplum's $expand does for typeahead inputs.
func filterConcepts(all []Concept, filter string) []Concept {
	// Repeated words are checked once: "a a a …" (a filter of 800 kB)
	// took 10 s of CPU over a 3,000-concept code system.
	words := splitWords(strings.ToLower(filter))
	slices.Sort(words)
	words = slices.Compact(words)
	if len(words) == 0 {
		return all
	}
	lowered := strings.ToLower(strings.TrimSpace(filter))
	var out []Concept
	for _, c := range all {
		if strings.HasPrefix(strings.ToLower(c.Code), lowered) || allPrefixes(splitWords(strings.ToLower(c.Display)), words) {
			out = append(out, c)
		}
	}
	return out
}

func splitWords(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
}

// allPrefixes reports whether each of words starts some word of text.
func allPrefixes(text, words []string) bool {
	for _, w := range words {
		found := false
		for _, t := range text {
			if strings.HasPrefix(t, w) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
