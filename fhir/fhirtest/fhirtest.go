package fhirtest

import (
	"encoding/json"
	"hash/fnv"
	"math/rand/v2"
	"strings"

	"github.com/wardhealth/ward/fhir"
)

// Sample returns a valid resource of resourceType, the same for the same
// seed. Different seeds choose other values, other choice types (seed 0
// takes the first type of each choice element) and other reference targets
// (seed 0 prefers Patient). It returns nil for an unknown resource type.
// Numbers are json.Number, as decoding with UseNumber gives.
func Sample(resourceType string, seed int64) map[string]any {
	if !fhir.IsResourceType(resourceType) {
		return nil
	}
	h := fnv.New64a()
	h.Write([]byte(resourceType))
	g := &sampler{rng: rand.New(rand.NewPCG(uint64(seed), h.Sum64())), seed: seed}
	return g.resource(resourceType, 0)
}

// SampleJSON returns Sample marshalled as JSON.
func SampleJSON(resourceType string, seed int64) []byte {
	b, err := json.Marshal(Sample(resourceType, seed))
	if err != nil {
		panic(err) // cannot happen: samples hold only JSON values
	}
	return b
}

// Depths, counted in objects from the resource: up to fullDepth every
// element is filled, below it only required ones, and nothing below maxDepth.
const (
	fullDepth = 3
	maxDepth  = 8
)

type sampler struct {
	rng  *rand.Rand
	seed int64
	// wanted are the element paths (relative to the resource, "a.b.c") that
	// search parameters read, filled at any depth.
	wanted map[string]bool
}

// at is where a value sits: how many objects deep and its element path
// relative to the innermost resource.
type at struct {
	depth int
	path  string
}

func (p at) child(name string) at {
	if p.path == "" {
		return at{p.depth + 1, name}
	}
	return at{p.depth + 1, p.path + "." + name}
}

func (g *sampler) resource(resourceType string, depth int) map[string]any {
	outer := g.wanted
	g.wanted = wantedPaths(resourceType)
	r := g.object(resourceType, resourceType, at{depth: depth})
	g.wanted = outer
	r["resourceType"] = resourceType
	r["id"] = g.uuid()
	r["meta"] = g.meta()
	return r
}

// wantedPaths collects the element paths that the plain-path parts of the
// search parameter expressions of resourceType follow.
func wantedPaths(resourceType string) map[string]bool {
	wanted := map[string]bool{}
	for _, p := range fhir.SearchParams(resourceType) {
		for _, part := range strings.Split(p.Expression, "|") {
			part = strings.TrimLeft(strings.TrimSpace(part), "(")
			rest, ok := strings.CutPrefix(part, resourceType+".")
			if !ok {
				continue
			}
			path := ""
			for _, seg := range strings.Split(rest, ".") {
				if seg == "" || !isIdentifier(seg) {
					break
				}
				if path != "" {
					path += "."
				}
				path += seg
				wanted[path] = true
			}
		}
	}
	return wanted
}

func isIdentifier(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// skipped elements: set by the server, modifiers that change meaning, or
// ones whose presence makes other packages treat the sample specially.
var skipped = map[string]bool{
	"id": true, "meta": true, "implicitRules": true, "modifierExtension": true,
	"contained": true, "extension": true,
}

// skippedPaths are elements of particular types left out for the same reasons.
var skippedPaths = map[string]bool{
	"Bundle.entry.request": true, "Bundle.entry.response": true, "Bundle.signature": true,
	"Parameters.parameter.resource": true, "Parameters.parameter.part": true,
	"Quantity.comparator": true, "Age.comparator": true, "Duration.comparator": true,
	"Distance.comparator": true, "Count.comparator": true,
}

// object fills the elements of typeName. name is the element the object is
// the value of, used to pick plausible strings.
func (g *sampler) object(typeName, name string, pos at) map[string]any {
	if special := g.special(typeName, name, pos); special != nil {
		return special
	}
	obj := map[string]any{}
	for _, e := range fhir.Elements(typeName) {
		if !g.include(typeName, e, pos) {
			continue
		}
		key, typ := e.Name, g.choose(e)
		if e.Choice {
			key += upperFirst(typ)
		}
		val := g.value(typeName, e, typ, pos.child(e.Name))
		if val == nil {
			continue
		}
		if e.Array {
			items := []any{val}
			if g.rng.IntN(3) == 0 {
				if second := g.value(typeName, e, typ, pos.child(e.Name)); second != nil {
					items = append(items, second)
				}
			}
			obj[key] = items
		} else {
			obj[key] = val
		}
	}
	if _, ok := fhir.LookupElement(typeName, "extension"); ok && (len(obj) == 0 || pos.depth == 0 && g.rng.IntN(4) == 0) {
		obj["extension"] = []any{g.extension()}
	}
	return obj
}

// include decides whether element e of an object at pos gets a value:
// required ones always, wanted ones down to maxDepth, others down to
// fullDepth and then not always.
func (g *sampler) include(typeName string, e *fhir.Element, pos at) bool {
	switch {
	case e.Min > 0:
		return true
	case skipped[e.Name] || skippedPaths[typeName+"."+e.Name] || pos.depth >= maxDepth:
		return false
	case g.wanted[pos.child(e.Name).path]:
		return true
	}
	return pos.depth < fullDepth && (pos.depth == 0 || g.rng.IntN(8) != 0)
}

// choose picks the type of an element: seed 0 takes the first type of a
// choice, other seeds rotate through them.
func (g *sampler) choose(e *fhir.Element) string {
	n := int64(len(e.Types))
	return e.Types[((g.seed%n)+n)%n]
}

// value makes one value of type typ for element e; pos is the value's own
// position.
func (g *sampler) value(parent string, e *fhir.Element, typ string, pos at) any {
	switch {
	case fhir.IsPrimitiveType(typ):
		return g.primitive(parent, e.Name, typ)
	case typ == "Reference":
		return g.reference(e.Targets)
	case typ == "Resource":
		if pos.depth >= fullDepth {
			return nil
		}
		return g.resource("Patient", pos.depth)
	case fhir.IsResourceType(typ):
		r := g.object(typ, e.Name, at{depth: pos.depth})
		r["resourceType"] = typ
		return r
	}
	obj := g.object(typ, e.Name, pos)
	if len(obj) == 0 {
		return nil
	}
	return obj
}

func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
