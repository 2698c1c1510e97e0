package main

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"
)

type structureDefinition struct {
	ResourceType string `json:"resourceType"`
	Name         string `json:"name"`
	Type         any    `json:"type"` // a bool in OperationDefinition
	Kind         string `json:"kind"`
	Abstract     bool   `json:"abstract"`
	Derivation   string `json:"derivation"`
	Snapshot     struct {
		Element []elementDefinition `json:"element"`
	} `json:"snapshot"`
}

type elementDefinition struct {
	Path             string `json:"path"`
	Min              int    `json:"min"`
	Max              string `json:"max"`
	ContentReference string `json:"contentReference"`
	Type             []struct {
		Code          string   `json:"code"`
		TargetProfile []string `json:"targetProfile"`
		Extension     []struct {
			URL      string `json:"url"`
			ValueURL string `json:"valueUrl"`
		} `json:"extension"`
	} `json:"type"`
}

// Kinds, matching the kind* constants of package fhir.
const (
	kindPrimitive = "kindPrimitive"
	kindComplex   = "kindComplex"
	kindResource  = "kindResource"
	kindBackbone  = "kindBackbone"
	kindAbstract  = "kindAbstract"
)

type genElement struct {
	name    string
	types   []string
	array   bool
	min     int
	choice  bool
	targets []string
}

type genType struct {
	name     string
	kind     string
	elements []genElement
}

// typeSet collects every type and backbone element, in definition order.
type typeSet struct {
	types []*genType
	seen  map[string]bool
}

func (s *typeSet) add(b bundle[structureDefinition]) {
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	for _, e := range b.Entry {
		sd := e.Resource
		kind := typeKind(sd)
		name, _ := sd.Type.(string)
		if kind == "" || name == "" || s.seen[name] {
			continue
		}
		s.seen[name] = true
		s.addSnapshot(sd, name, kind)
	}
}

func typeKind(sd structureDefinition) string {
	if sd.ResourceType != "StructureDefinition" || sd.Derivation == "constraint" || len(sd.Snapshot.Element) == 0 {
		return ""
	}
	switch {
	case sd.Kind == "primitive-type":
		return kindPrimitive
	case sd.Abstract && (sd.Kind == "resource" || sd.Kind == "complex-type"):
		return kindAbstract
	case sd.Kind == "resource":
		return kindResource
	case sd.Kind == "complex-type":
		return kindComplex
	}
	return ""
}

// addSnapshot turns the flat snapshot into one genType per type and per
// backbone element path.
func (s *typeSet) addSnapshot(sd structureDefinition, name, kind string) {
	elems := sd.Snapshot.Element
	hasChildren := map[string]bool{}
	for _, el := range elems {
		if i := strings.LastIndexByte(el.Path, '.'); i > 0 {
			hasChildren[el.Path[:i]] = true
		}
	}
	byPath := map[string]*genType{}
	root := &genType{name: name, kind: kind}
	byPath[elems[0].Path] = root
	s.types = append(s.types, root)
	if kind == kindPrimitive {
		return // the "value" of a primitive is the JSON value itself
	}
	for _, el := range elems[1:] {
		i := strings.LastIndexByte(el.Path, '.')
		parent := byPath[el.Path[:i]]
		if parent == nil || el.Max == "0" {
			continue
		}
		g := genElement{name: el.Path[i+1:], min: el.Min, array: el.Max != "1"}
		if strings.HasSuffix(g.name, "[x]") {
			g.name = strings.TrimSuffix(g.name, "[x]")
			g.choice = true
		}
		switch {
		case el.ContentReference != "":
			g.types = []string{el.ContentReference[strings.IndexByte(el.ContentReference, '#')+1:]}
		case hasChildren[el.Path]:
			bb := &genType{name: el.Path, kind: kindBackbone}
			byPath[el.Path] = bb
			s.types = append(s.types, bb)
			g.types = []string{el.Path}
		default:
			g.types = elementTypes(el, kind == kindResource && parent == root && g.name == "id")
			g.targets = referenceTargets(el)
		}
		parent.elements = append(parent.elements, g)
	}
}

// elementTypes maps the type codes of el, replacing FHIRPath system types by
// the FHIR type they stand for.
func elementTypes(el elementDefinition, isResourceID bool) []string {
	if isResourceID {
		return []string{"id"}
	}
	var out []string
	for _, t := range el.Type {
		code := t.Code
		if strings.HasPrefix(code, "http://hl7.org/fhirpath/System.") {
			code = systemType(t.Code)
			for _, ext := range t.Extension {
				if ext.URL == "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type" && ext.ValueURL != "" {
					code = ext.ValueURL
				}
			}
		}
		out = append(out, code)
	}
	return out
}

// referenceTargets returns the resource types a Reference or canonical
// element may point at, from the targetProfile URLs.
func referenceTargets(el elementDefinition) []string {
	var out []string
	for _, t := range el.Type {
		for _, url := range t.TargetProfile {
			name := url[strings.LastIndexByte(url, '/')+1:]
			if !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out
}

func systemType(code string) string {
	switch strings.TrimPrefix(code, "http://hl7.org/fhirpath/System.") {
	case "Boolean":
		return "boolean"
	case "Integer":
		return "integer"
	case "Decimal":
		return "decimal"
	case "Date":
		return "date"
	case "DateTime":
		return "dateTime"
	case "Time":
		return "time"
	}
	return "string"
}

func (s *typeSet) write(buf *bytes.Buffer) {
	sort.SliceStable(s.types, func(i, j int) bool { return s.types[i].name < s.types[j].name })
	// Shared type lists keep the file small: most elements have one type.
	lists := map[string]string{}
	var listNames []string
	listVar := func(types []string) string {
		key := strings.Join(types, ",")
		if v, ok := lists[key]; ok {
			return v
		}
		v := fmt.Sprintf("zt%d", len(lists))
		lists[key] = v
		listNames = append(listNames, key)
		return v
	}
	var body bytes.Buffer
	body.WriteString("var typeDefs = []typeDef{\n")
	for _, t := range s.types {
		fmt.Fprintf(&body, "{%q, %s, []Element{", t.name, t.kind)
		for i, e := range t.elements {
			if i > 0 {
				body.WriteString(", ")
			}
			targets := "nil"
			if len(e.targets) > 0 {
				targets = listVar(e.targets)
			}
			fmt.Fprintf(&body, "{%q, %s, %t, %d, %t, %s}", e.name, listVar(e.types), e.array, e.min, e.choice, targets)
		}
		body.WriteString("}},\n")
	}
	body.WriteString("}\n")
	buf.WriteString("var (\n")
	for _, key := range listNames {
		fmt.Fprintf(buf, "%s = []string{", lists[key])
		for i, t := range strings.Split(key, ",") {
			if i > 0 {
				buf.WriteString(", ")
			}
			fmt.Fprintf(buf, "%q", t)
		}
		buf.WriteString("}\n")
	}
	buf.WriteString(")\n\n")
	buf.Write(body.Bytes())
}
