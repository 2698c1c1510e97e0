package main

import (
	"bytes"
	"fmt"
	"log"
	"sort"
	"strings"
)

type searchParameter struct {
	URL        string   `json:"url"`
	Code       string   `json:"code"`
	Base       []string `json:"base"`
	Type       string   `json:"type"`
	Expression string   `json:"expression"`
	Target     []string `json:"target"`
	Component  []struct {
		Definition string `json:"definition"`
		Expression string `json:"expression"`
	} `json:"component"`
}

// paramSet collects search parameters by base type and code; a later
// definition of the same base and code (Medplum's) replaces an earlier one.
type paramSet struct {
	byBase map[string]map[string]searchParameter
	codes  map[string]string // URL → code, to name composite components
}

func (s *paramSet) add(b bundle[searchParameter]) {
	if s.byBase == nil {
		s.byBase = map[string]map[string]searchParameter{}
		s.codes = map[string]string{}
	}
	for _, e := range b.Entry {
		p := e.Resource
		if p.Code == "" {
			continue
		}
		s.codes[p.URL] = p.Code
		for _, base := range p.Base {
			if s.byBase[base] == nil {
				s.byBase[base] = map[string]searchParameter{}
			}
			s.byBase[base][p.Code] = p
		}
	}
}

func (s *paramSet) write(buf *bytes.Buffer) {
	bases := sortedKeys(s.byBase)
	buf.WriteString("var searchParamGroups = []searchParamGroup{\n")
	for _, base := range bases {
		fmt.Fprintf(buf, "{%q, []SearchParam{\n", base)
		for _, code := range sortedKeys(s.byBase[base]) {
			p := s.byBase[base][code]
			expr := expressionFor(p.Expression, base)
			if expr == "" && p.Expression != "" {
				log.Printf("note: %s %s has no expression part for its base", base, code)
			}
			fmt.Fprintf(buf, "{%q, %q, %q, %s, %q, %s},\n", p.Code, p.Type, expr, stringSlice(p.Target), p.URL, s.components(p))
		}
		buf.WriteString("}},\n")
	}
	buf.WriteString("}\n")
}

func (s *paramSet) components(p searchParameter) string {
	if len(p.Component) == 0 {
		return "nil"
	}
	var b strings.Builder
	b.WriteString("[]Component{")
	for i, c := range p.Component {
		if i > 0 {
			b.WriteString(", ")
		}
		code, ok := s.codes[c.Definition]
		if !ok { // R4 names a few components it never defines: take the code from the URL
			code = c.Definition[strings.LastIndexByte(c.Definition, '/')+1:]
			code = code[strings.IndexByte(code, '-')+1:]
		}
		fmt.Fprintf(&b, "{%q, %q, %q}", code, c.Expression, c.Definition)
	}
	b.WriteString("}")
	return b.String()
}

func stringSlice(ss []string) string {
	if len(ss) == 0 {
		return "nil"
	}
	sorted := append([]string(nil), ss...)
	sort.Strings(sorted)
	var b strings.Builder
	b.WriteString("[]string{")
	for i, s := range sorted {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", s)
	}
	b.WriteString("}")
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
