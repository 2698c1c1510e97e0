package terminology

import (
	"encoding/json"

	"github.com/wardhealth/ward"
)

// codeSystem is a stored CodeSystem's concepts, flattened in document
// order, with the hierarchy that is-a filters walk: the nesting of
// concept.concept plus the parent/subsumedBy/child properties.
type codeSystem struct {
	url      string
	version  string
	concepts []csConcept
	byCode   map[string]int
	children map[string][]string
}

type csConcept struct {
	code, display string
	notSelectable bool
}

type rawConcept struct {
	Code     string       `json:"code"`
	Display  string       `json:"display"`
	Concept  []rawConcept `json:"concept"`
	Property []struct {
		Code         string `json:"code"`
		ValueCode    string `json:"valueCode"`
		ValueBoolean *bool  `json:"valueBoolean"`
	} `json:"property"`
}

func parseCodeSystem(content []byte) (*codeSystem, error) {
	var raw struct {
		URL     string       `json:"url"`
		Version string       `json:"version"`
		Content string       `json:"content"`
		Concept []rawConcept `json:"concept"`
	}
	if err := json.Unmarshal(content, &raw); err != nil {
		return nil, ward.Errorf(ward.EINVALID, "Invalid CodeSystem: %v", err)
	}
	cs := &codeSystem{url: raw.URL, version: raw.Version, byCode: map[string]int{}, children: map[string][]string{}}
	cs.add(raw.Concept, "")
	return cs, nil
}

func (cs *codeSystem) add(concepts []rawConcept, parent string) {
	for _, c := range concepts {
		if _, dup := cs.byCode[c.Code]; dup || c.Code == "" {
			continue
		}
		cc := csConcept{code: c.Code, display: c.Display}
		if parent != "" {
			cs.children[parent] = append(cs.children[parent], c.Code)
		}
		for _, p := range c.Property {
			switch p.Code {
			case "parent", "subsumedBy":
				cs.children[p.ValueCode] = append(cs.children[p.ValueCode], c.Code)
			case "child":
				cs.children[c.Code] = append(cs.children[c.Code], p.ValueCode)
			case "notSelectable":
				cc.notSelectable = p.ValueBoolean != nil && *p.ValueBoolean
			}
		}
		cs.byCode[c.Code] = len(cs.concepts)
		cs.concepts = append(cs.concepts, cc)
		cs.add(c.Concept, c.Code)
	}
}

// descendants returns code's descendants (without code) in document order.
func (cs *codeSystem) descendants(code string) map[string]bool {
	out := map[string]bool{}
	stack := append([]string{}, cs.children[code]...)
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if out[c] || c == code {
			continue
		}
		out[c] = true
		stack = append(stack, cs.children[c]...)
	}
	return out
}

func (cs *codeSystem) concept(c csConcept) Concept {
	return Concept{System: cs.url, Code: c.code, Display: c.display}
}

// systemConcepts is the system part of an include: its explicit concepts
// (display from the CodeSystem when the include has none), else the
// CodeSystem's concepts its filters select, else every selectable concept.
// Without a stored CodeSystem only explicit concepts count.
func systemConcepts(inc include, cs *codeSystem) []Concept {
	if len(inc.Concept) > 0 {
		out := make([]Concept, 0, len(inc.Concept))
		for _, c := range inc.Concept {
			c.System = inc.System
			if c.Display == "" && cs != nil {
				if i, ok := cs.byCode[c.Code]; ok {
					c.Display = cs.concepts[i].display
				}
			}
			out = append(out, c)
		}
		return out
	}
	if cs == nil {
		return nil
	}
	keep := func(c csConcept) bool { return !c.notSelectable }
	for _, f := range inc.Filter {
		prev, sel := keep, filterSelector(cs, f.Property, f.Op, f.Value)
		keep = func(c csConcept) bool { return prev(c) && sel(c) }
	}
	var out []Concept
	for _, c := range cs.concepts {
		if keep(c) {
			out = append(out, cs.concept(c))
		}
	}
	return out
}

// filterSelector compiles one compose filter over the hierarchy. A filter
// it does not know selects nothing: an expansion must not claim codes it
// cannot vouch for.
func filterSelector(cs *codeSystem, property, op, value string) func(csConcept) bool {
	if property != "concept" && property != "code" {
		return func(csConcept) bool { return false }
	}
	switch op {
	case "is-a":
		d := cs.descendants(value)
		return func(c csConcept) bool { return c.code == value || d[c.code] }
	case "descendent-of":
		d := cs.descendants(value)
		return func(c csConcept) bool { return d[c.code] }
	case "is-not-a":
		d := cs.descendants(value)
		return func(c csConcept) bool { return c.code != value && !d[c.code] }
	case "=":
		return func(c csConcept) bool { return c.code == value }
	}
	return func(csConcept) bool { return false }
}
