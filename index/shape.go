package index

import (
	"encoding/json"
)

// value is one result of a search parameter's expression: the JSON data and
// its FHIR type code ("" when the evaluator could not tell).
type value struct {
	data any
	typ  string
}

// typeOf returns the FHIR type of v, guessing it from the JSON shape when
// the evaluator did not know it (extensions, results of functions). The
// guess only needs to be good enough to pick the row conversion.
func typeOf(v value, paramType string) string {
	if v.typ != "" {
		return v.typ
	}
	switch d := v.data.(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case json.Number, float64, float32, int, int32, int64:
		return "decimal"
	case map[string]any:
		return shapeOf(d, paramType)
	}
	return ""
}

// shapeOf guesses the datatype of a JSON object from its members.
func shapeOf(m map[string]any, paramType string) string {
	has := func(k string) bool { _, ok := m[k]; return ok }
	switch {
	case has("resourceType"):
		return "Resource"
	case has("coding"):
		return "CodeableConcept"
	case has("reference"):
		return "Reference"
	case has("family") || has("given"):
		return "HumanName"
	case has("line") || has("city") || has("postalCode") || has("country") || has("district"):
		return "Address"
	case has("start") || has("end"):
		return "Period"
	case has("low") || has("high"):
		return "Range"
	case has("event") || has("repeat"):
		return "Timing"
	case has("currency"):
		return "Money"
	}
	if val, ok := m["value"]; ok {
		switch val.(type) {
		case string:
			if isContactSystem(m["system"]) || has("rank") {
				return "ContactPoint"
			}
			return "Identifier"
		case json.Number, float64, float32, int, int32, int64:
			return "Quantity"
		}
	}
	switch {
	case has("code") || has("system") || has("display"):
		return "Coding"
	case has("identifier"):
		return "Reference" // a logical reference: identifier only
	case has("text") && paramType == "token":
		return "CodeableConcept"
	}
	return ""
}

func isContactSystem(v any) bool {
	switch v {
	case "phone", "fax", "email", "pager", "url", "sms", "other":
		return true
	}
	return false
}

// isQuantityType reports whether typ is Quantity or one of its profiles.
func isQuantityType(typ string) bool {
	switch typ {
	case "Quantity", "SimpleQuantity", "MoneyQuantity", "Age", "Duration", "Count", "Distance":
		return true
	}
	return false
}

// isNumberType reports whether typ is a FHIR number primitive.
func isNumberType(typ string) bool {
	switch typ {
	case "decimal", "integer", "integer64", "positiveInt", "unsignedInt":
		return true
	}
	return false
}

// str returns m[key] when it is a string.
func str(m map[string]any, key string) string {
	s, _ := m[key].(string)
	return s
}

// obj returns m[key] when it is an object.
func obj(m map[string]any, key string) map[string]any {
	o, _ := m[key].(map[string]any)
	return o
}

// each calls fn for m[key] or each element of it when it is an array.
func each(m map[string]any, key string, fn func(any)) {
	switch v := m[key].(type) {
	case nil:
	case []any:
		for _, x := range v {
			fn(x)
		}
	default:
		fn(v)
	}
}
