package index

import (
	"math"
	"strings"

	"github.com/wardhealth/ward/fhir"
)

// add appends the rows of one expression result v of parameter p.
func (r *Rows) add(p *fhir.SearchParam, v value) {
	typ := typeOf(v, p.Type)
	switch p.Type {
	case "token":
		r.addToken(p.Code, typ, v.data)
	case "string":
		r.addString(p.Code, typ, v.data)
	case "date":
		r.addDate(p.Code, typ, v.data)
	case "number":
		r.addNumber(p.Code, typ, v.data)
	case "quantity":
		r.addQuantity(p.Code, typ, v.data)
	case "reference":
		r.addReference(p.Code, typ, v.data)
	case "uri":
		r.addURI(p.Code, v.data)
	}
}

// addToken indexes a Coding, CodeableConcept, Identifier, ContactPoint or
// primitive as tokens.
func (r *Rows) addToken(param, typ string, data any) {
	if m, ok := data.(map[string]any); ok {
		switch typ {
		case "Coding":
			r.addCoding(param, m, "")
		case "CodeableConcept":
			text := strings.ToLower(str(m, "text"))
			each(m, "coding", func(c any) {
				if cm, ok := c.(map[string]any); ok {
					r.addCoding(param, cm, text)
				}
			})
			if text != "" {
				r.Tokens = append(r.Tokens, Token{Param: param, Text: clip(text, maxTokenLen)})
			}
		case "Identifier":
			r.token(param, str(m, "system"), str(m, "value"), strings.ToLower(str(obj(m, "type"), "text")))
		case "ContactPoint": // as Medplum: the system is phone, email…
			r.token(param, str(m, "system"), str(m, "value"), "")
		}
		return
	}
	switch d := data.(type) {
	case string:
		r.token(param, "", d, "")
	case bool:
		if d {
			r.token(param, "", "true", "")
		} else {
			r.token(param, "", "false", "")
		}
	default:
		if s, ok := numberText(d); ok {
			r.token(param, "", s, "")
		}
	}
}

// addCoding indexes one Coding; fallbackText is the lower-cased text of the
// CodeableConcept around it, used when the coding has no display.
func (r *Rows) addCoding(param string, c map[string]any, fallbackText string) {
	text := strings.ToLower(str(c, "display"))
	if text == "" {
		text = fallbackText
	}
	r.token(param, str(c, "system"), str(c, "code"), text)
}

// token appends one token row unless code is empty.
func (r *Rows) token(param, system, code, text string) {
	code = clip(code, maxTokenLen)
	if code == "" {
		return
	}
	r.Tokens = append(r.Tokens, Token{
		Param:  param,
		System: clip(system, maxTokenLen),
		Code:   code,
		Text:   clip(text, maxTokenLen),
	})
}

// Members of HumanName and Address that string search matches.
var (
	humanNameParts = []string{"family", "given", "prefix", "suffix", "text"}
	addressParts   = []string{"line", "city", "district", "state", "postalCode", "country", "text"}
)

// addString indexes a string, a HumanName, an Address or the string leaves
// of any other value.
func (r *Rows) addString(param, typ string, data any) {
	switch d := data.(type) {
	case string:
		r.str(param, d)
	case map[string]any:
		switch typ {
		case "HumanName":
			r.stringParts(param, d, humanNameParts)
		case "Address":
			r.stringParts(param, d, addressParts)
		default:
			r.stringLeaves(param, d, 0)
		}
	}
}

func (r *Rows) stringParts(param string, m map[string]any, parts []string) {
	for _, k := range parts {
		each(m, k, func(v any) {
			if s, ok := v.(string); ok {
				r.str(param, s)
			}
		})
	}
}

// stringLeaves indexes every string inside v, extensions and ids excluded.
// depth guards against pathological nesting.
func (r *Rows) stringLeaves(param string, v any, depth int) {
	if depth > 8 {
		return
	}
	switch d := v.(type) {
	case string:
		r.str(param, d)
	case []any:
		for _, x := range d {
			r.stringLeaves(param, x, depth+1)
		}
	case map[string]any:
		for k, x := range d {
			if k == "extension" || k == "modifierExtension" || k == "id" || k == "resourceType" || strings.HasPrefix(k, "_") {
				continue
			}
			r.stringLeaves(param, x, depth+1)
		}
	}
}

func (r *Rows) str(param, s string) {
	if strings.TrimSpace(s) == "" {
		return
	}
	r.Strings = append(r.Strings, String{Param: param, Value: clip(NormalizeString(s), maxIndexedLen), Exact: dropNUL(s)})
}

// addDate indexes a date, dateTime, instant, Period or Timing.
func (r *Rows) addDate(param, typ string, data any) {
	switch d := data.(type) {
	case string:
		if low, high, ok := DateRange(d); ok {
			r.Dates = append(r.Dates, Date{Param: param, Low: low, High: high})
		}
	case map[string]any:
		switch typ {
		case "Period":
			r.addPeriod(param, d)
		case "Timing":
			each(d, "event", func(e any) { r.addDate(param, "dateTime", e) })
			if p := obj(obj(d, "repeat"), "boundsPeriod"); p != nil {
				r.addPeriod(param, p)
			}
		}
	}
}

// addPeriod indexes a Period; a missing (or unreadable) side is open.
func (r *Rows) addPeriod(param string, p map[string]any) {
	low, _, okStart := DateRange(str(p, "start"))
	_, high, okEnd := DateRange(str(p, "end"))
	if !okStart && !okEnd {
		return
	}
	if !okStart {
		low = MinDate
	}
	if !okEnd {
		high = MaxDate
	}
	r.Dates = append(r.Dates, Date{Param: param, Low: low, High: high})
}

// addNumber indexes a number primitive, or a Range or Quantity by value.
func (r *Rows) addNumber(param, typ string, data any) {
	if m, ok := data.(map[string]any); ok {
		var q Quantity
		switch {
		case typ == "Range":
			q, ok = rangeQuantity(m)
		case isQuantityType(typ) || typ == "Money":
			q, ok = quantity(m, typ)
		}
		if ok {
			r.Numbers = append(r.Numbers, Number{Param: param, Value: q.Value, Low: q.Low, High: q.High})
		}
		return
	}
	if s, ok := numberText(data); ok {
		if v, low, high, ok := NumberRange(s); ok {
			r.Numbers = append(r.Numbers, Number{Param: param, Value: v, Low: low, High: high})
		}
	}
}

// addQuantity indexes a Quantity (or a profile of it), Money, Range or a
// bare number.
func (r *Rows) addQuantity(param, typ string, data any) {
	var q Quantity
	ok := false
	if m, isObj := data.(map[string]any); isObj {
		switch {
		case typ == "Range":
			q, ok = rangeQuantity(m)
		case isQuantityType(typ) || typ == "Money":
			q, ok = quantity(m, typ)
		}
	} else if s, isNum := numberText(data); isNum {
		q.Value, q.Low, q.High, ok = NumberRange(s)
	}
	if ok {
		q.Param = param
		r.Quantities = append(r.Quantities, q)
	}
}

// quantity reads a Quantity or Money; ok is false without a value.
func quantity(m map[string]any, typ string) (Quantity, bool) {
	s, ok := numberText(m["value"])
	if !ok {
		return Quantity{}, false
	}
	var q Quantity
	if q.Value, q.Low, q.High, ok = NumberRange(s); !ok {
		return Quantity{}, false
	}
	if typ == "Money" {
		q.System, q.Code = currencySystem, clip(str(m, "currency"), maxTokenLen)
		return q, true
	}
	q.System = clip(str(m, "system"), maxTokenLen)
	q.Code = clip(str(m, "code"), maxTokenLen)
	q.Unit = clip(str(m, "unit"), maxTokenLen)
	return q, true
}

// currencySystem is the code system of Money.currency.
const currencySystem = "urn:iso:std:iso:4217"

// rangeQuantity reads a Range as one quantity spanning both ends.
func rangeQuantity(m map[string]any) (Quantity, bool) {
	low, okLow := quantity(obj(m, "low"), "Quantity")
	high, okHigh := quantity(obj(m, "high"), "Quantity")
	switch {
	case okLow && okHigh:
		low.High = high.High
		return low, true
	case okLow:
		low.High = math.MaxFloat64
		return low, true
	case okHigh:
		high.Low = -math.MaxFloat64
		return high, true
	}
	return Quantity{}, false
}

// addReference indexes a Reference (and its identifier as a token under
// "<param>:identifier") or a canonical/uri value.
func (r *Rows) addReference(param, typ string, data any) {
	switch d := data.(type) {
	case string:
		r.reference(param, d)
	case map[string]any:
		if rt, id := str(d, "resourceType"), str(d, "id"); rt != "" && id != "" {
			r.reference(param, rt+"/"+id) // an embedded resource, e.g. Bundle.entry[0].resource
			return
		}
		if typ != "Reference" {
			return
		}
		r.reference(param, str(d, "reference"))
		if id := obj(d, "identifier"); id != nil {
			r.token(param+":identifier", str(id, "system"), str(id, "value"), strings.ToLower(str(obj(id, "type"), "text")))
		}
	}
}

func (r *Rows) reference(param, ref string) {
	typ, id, ok := ParseReference(ref)
	if !ok {
		return
	}
	r.References = append(r.References, Reference{Param: param, TargetType: typ, TargetID: clip(id, maxIndexedLen)})
}

// ParseReference splits a reference value as the index stores it:
// "Type/id" and "Type/id/_history/v" give (Type, id); any other value
// (absolute URL, urn:uuid:, canonical) gives ("", value). ok is false for
// empty and local ("#x") references, which are not indexed.
func ParseReference(ref string) (targetType, targetID string, ok bool) {
	if ref == "" || ref[0] == '#' {
		return "", "", false
	}
	typ, rest, found := strings.Cut(ref, "/")
	if !found || !isTypeName(typ) {
		return "", ref, true
	}
	id, history, hasHistory := strings.Cut(rest, "/")
	if !isID(id) {
		return "", ref, true
	}
	if hasHistory {
		version, ok := strings.CutPrefix(history, "_history/")
		if !ok || !isID(version) {
			return "", ref, true
		}
	}
	return typ, id, true
}

// isTypeName reports whether s looks like a resource type name.
func isTypeName(s string) bool {
	if s == "" || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// isID reports whether s is a FHIR id: [A-Za-z0-9-.]{1,64}.
func isID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// addURI indexes a uri, url, canonical or other string value as is.
func (r *Rows) addURI(param string, data any) {
	if s, ok := data.(string); ok && s != "" {
		r.URIs = append(r.URIs, URI{Param: param, Value: clip(s, maxIndexedLen)})
	}
}
