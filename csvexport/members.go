package csvexport

import (
	"strings"

	"github.com/wardhealth/ward/fhirpath"
	"github.com/wardhealth/ward/internal/rawjson"
)

// Decoding a whole resource costs more than evaluating six columns on it,
// so a row decodes only the top-level members its columns start from
// ("name", "birthDate", "meta"…), found by walking the expressions. An
// expression that may read anything (a variable, a function on the
// resource itself) makes every row decode the whole resource.

// members is the set of top-level member names the columns read; nil
// means every member.
type members map[string]bool

// readMembers returns what columns read of a resource of typ.
func readMembers(typ string, columns []Column) members {
	need := members{"resourceType": true}
	for _, c := range columns {
		if !need.add(typ, c.expr.Root()) {
			return nil
		}
	}
	return need
}

// add adds what n reads and reports whether that is known.
func (need members) add(typ string, n fhirpath.Node) bool {
	switch x := n.(type) {
	case *fhirpath.Literal, *fhirpath.EmptySet:
		return true
	case *fhirpath.Binary:
		return need.add(typ, x.X) && need.add(typ, x.Y)
	case *fhirpath.Unary:
		return need.add(typ, x.X)
	case *fhirpath.TypeOp:
		return need.add(typ, x.X)
	case *fhirpath.Member, *fhirpath.Call, *fhirpath.Index, *fhirpath.Ident:
		name, ok := firstStep(typ, n)
		if ok {
			need[name] = true
		}
		return ok
	}
	return false // a variable, $this: the whole resource
}

// firstStep follows a path down to where it starts and returns the member
// of the resource it reads first ("Patient.name.given" → "name").
func firstStep(typ string, n fhirpath.Node) (string, bool) {
	var steps []fhirpath.Node // from the outermost step down
	for {
		switch x := n.(type) {
		case *fhirpath.Member:
			steps, n = append(steps, x), x.X
			continue
		case *fhirpath.Call:
			if x.X == nil || !argsKnown(x.Args) {
				return "", false // a function of the resource itself
			}
			steps, n = append(steps, x), x.X
			continue
		case *fhirpath.Index:
			if _, literal := x.Index.(*fhirpath.Literal); !literal {
				return "", false
			}
			n = x.X
			continue
		case *fhirpath.Ident:
			if x.Name != typ && x.Name != "Resource" && x.Name != "DomainResource" {
				return x.Name, true
			}
			if len(steps) == 0 {
				return "", false // the resource itself
			}
			if m, ok := steps[len(steps)-1].(*fhirpath.Member); ok {
				return m.Name, true
			}
		}
		return "", false
	}
}

// argsKnown reports whether a function's arguments read only the items
// they are given: no variable (%resource would reach the whole resource).
func argsKnown(args []fhirpath.Node) bool {
	for _, a := range args {
		if strings.Contains(a.String(), "%") {
			return false
		}
	}
	return true
}

// project returns the members of content that need names, as one JSON
// object: a choice element's name ("value") takes its typed members
// ("valueQuantity"), and a primitive its extension sibling ("_birthDate").
func (need members) project(content []byte) ([]byte, error) {
	if need == nil {
		return content, nil
	}
	all, err := rawjson.Members(content)
	if err != nil {
		return nil, err
	}
	kept := all[:0:0]
	for _, m := range all {
		if need.wants(m.Key) {
			kept = append(kept, m)
		}
	}
	return rawjson.AppendObject(make([]byte, 0, len(content)), content, kept), nil
}

func (need members) wants(key string) bool {
	key = strings.TrimPrefix(key, "_")
	if need[key] {
		return true
	}
	for i := 1; i < len(key); i++ {
		if key[i] >= 'A' && key[i] <= 'Z' && need[key[:i]] {
			return true
		}
	}
	return false
}
