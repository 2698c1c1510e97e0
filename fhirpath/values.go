package fhirpath

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// Value is one item of a FHIRPath collection.
type Value struct {
	// Data is decoded JSON (json.Decoder.UseNumber): map[string]any,
	// []any, string, json.Number or bool. Values computed by an expression
	// use the same shapes: numbers are json.Number, dates and times are
	// strings, quantities are maps with "value" and "unit".
	Data any
	// Type is the FHIR type code when known: "CodeableConcept",
	// "Reference", "dateTime", "string", "Quantity", "Patient",
	// "Patient.contact" (backbone elements by path)…; "" when unknown.
	// Computed values use "boolean", "integer", "decimal", "string",
	// "date", "dateTime", "time" and "Quantity".
	Type string

	// path locates a navigated value in its root; nil for computed values.
	// Medplum compares complex values by it (see equalValues).
	path *pathNode
	// ext is the "_name" sibling of a primitive value: its id and
	// extensions.
	ext map[string]any
}

// pathNode is one step of the path from a root to a navigated value.
type pathNode struct {
	parent *pathNode
	key    string
	index  int // -1 for a single value
}

func samePath(a, b *pathNode) bool {
	for a != b {
		if a == nil || b == nil || a.key != b.key || a.index != b.index {
			return false
		}
		a, b = a.parent, b.parent
	}
	return true
}

func boolValue(b bool) Value { return Value{Data: b, Type: "boolean"} }

func stringValue(s string) Value { return Value{Data: s, Type: "string"} }

// singletonTrue and singletonFalse are shared results; callers never
// modify returned collections.
func boolResult(b bool) []Value {
	if b {
		return []Value{{Data: true, Type: "boolean"}}
	}
	return []Value{{Data: false, Type: "boolean"}}
}

// toFloat returns the number d holds.
func toFloat(d any) (float64, bool) {
	switch n := d.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(n), 64)
		return f, err == nil
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}

func isNumber(d any) bool {
	_, ok := toFloat(d)
	return ok
}

const maxSafeInteger = 1<<53 - 1

// numberValue types f as Medplum does for a computed number: integer when
// it is a safe integer, decimal otherwise.
func numberValue(f float64) Value {
	if f == math.Trunc(f) && math.Abs(f) <= maxSafeInteger {
		return Value{Data: json.Number(strconv.FormatInt(int64(f), 10)), Type: "integer"}
	}
	return Value{Data: json.Number(formatFloat(f)), Type: "decimal"}
}

func formatFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// isQuantity reports whether d looks like a Quantity: an object with a
// numeric value (Medplum's heuristic, so Age, Duration, Money… match).
func isQuantity(d any) (map[string]any, float64, bool) {
	m, ok := d.(map[string]any)
	if !ok {
		return nil, 0, false
	}
	f, ok := toFloat(m["value"])
	return m, f, ok
}

// quantityEquivalent: values within 0.01 and a matching unit or code.
func quantityEquivalent(x, y map[string]any, xv, yv float64) bool {
	if math.Abs(xv-yv) >= 0.01 {
		return false
	}
	same := func(a, b string) bool {
		av, aok := x[a]
		bv, bok := y[b]
		if !aok || !bok {
			return !aok && !bok // JavaScript: undefined === undefined
		}
		return av == bv
	}
	return same("unit", "unit") || same("code", "code") || same("unit", "code") || same("code", "unit")
}

// isEmptyData is Medplum's isEmpty: nil, "", {} and [] are empty.
func isEmptyData(d any) bool {
	switch v := d.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case map[string]any:
		return len(v) == 0
	case []any:
		return len(v) == 0
	}
	return false
}

// truthy is Medplum's toJsBoolean: the first item's JavaScript truth.
func truthy(c []Value) bool {
	if len(c) == 0 {
		return false
	}
	switch v := c[0].Data.(type) {
	case nil:
		return c[0].ext != nil
	case bool:
		return v
	case string:
		return v != "" || c[0].ext != nil
	case json.Number:
		f, _ := toFloat(v)
		return f != 0 && !math.IsNaN(f)
	}
	return true
}

// guessValue types a JSON value without a schema, as Medplum's
// toTypedValue does.
func guessValue(d any) Value {
	switch v := d.(type) {
	case bool:
		return Value{Data: v, Type: "boolean"}
	case string:
		return Value{Data: v, Type: "string"}
	case json.Number:
		f, _ := toFloat(v)
		if f == math.Trunc(f) && math.Abs(f) <= maxSafeInteger {
			return Value{Data: v, Type: "integer"}
		}
		return Value{Data: v, Type: "decimal"}
	case map[string]any:
		if _, _, ok := isQuantity(v); ok {
			return Value{Data: v, Type: "Quantity"}
		}
		if rt, ok := v["resourceType"]; ok {
			s, _ := rt.(string)
			return Value{Data: v, Type: s}
		}
		if isCodeableConcept(v) {
			return Value{Data: v, Type: "CodeableConcept"}
		}
		if isCoding(v) {
			return Value{Data: v, Type: "Coding"}
		}
	}
	return Value{Data: d, Type: "BackboneElement"}
}

func isCoding(d any) bool {
	m, ok := d.(map[string]any)
	if !ok {
		return false
	}
	_, ok = m["code"].(string)
	return ok
}

func isCodeableConcept(m map[string]any) bool {
	codings, ok := m["coding"].([]any)
	if !ok {
		return false
	}
	for _, c := range codings {
		if !isCoding(c) {
			return false
		}
	}
	return true
}

// sameObject reports whether a and b are the same JSON container.
func sameObject(a, b any) bool {
	switch a.(type) {
	case map[string]any, []any:
		switch b.(type) {
		case map[string]any, []any:
			return reflect.ValueOf(a).UnsafePointer() == reflect.ValueOf(b).UnsafePointer()
		}
	}
	return false
}

// identical is JavaScript's === on two values as Medplum holds them:
// primitives by value, objects by identity.
func identical(a, b Value) bool {
	if a.ext != nil || b.ext != nil {
		return false // Medplum boxes primitives with extensions into fresh objects
	}
	switch x := a.Data.(type) {
	case string:
		y, ok := b.Data.(string)
		return ok && x == y
	case bool:
		y, ok := b.Data.(bool)
		return ok && x == y
	case json.Number:
		xf, _ := toFloat(x)
		yf, ok := toFloat(b.Data)
		return ok && isNumber(b.Data) && xf == yf
	}
	return sameObject(a.Data, b.Data)
}

// deepEqualJSON compares decoded JSON, numbers by value.
func deepEqualJSON(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !deepEqualJSON(xv, yv) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !deepEqualJSON(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		xf, _ := toFloat(x)
		yf, ok := toFloat(b)
		return ok && xf == yf
	}
	return a == b
}

// isObject reports whether d is a JSON object or array.
func isObject(d any) bool {
	switch d.(type) {
	case map[string]any, []any:
		return true
	}
	return false
}

// isDateType reports whether typ holds date, dateTime or instant strings.
func isDateType(typ string) bool {
	return typ == "date" || typ == "dateTime" || typ == "instant"
}

// equalValues is FHIRPath = on two items (Medplum's fhirPathEquals). known
// is false when dates of different precision cannot be compared.
func equalValues(x, y Value) (equal, known bool) {
	if xf, ok := toFloat(x.Data); ok {
		if yf, ok := toFloat(y.Data); ok {
			return math.Abs(xf-yf) < 1e-8, true
		}
	}
	if xm, xv, ok := isQuantity(x.Data); ok {
		if ym, yv, ok := isQuantity(y.Data); ok {
			return quantityEquivalent(xm, ym, xv, yv), true
		}
	}
	if isObject(x.Data) && isObject(y.Data) {
		// Medplum compares the typed values, path included: the same
		// content at two places of a resource is not equal.
		return x.Type == y.Type && samePath(x.path, y.path) && deepEqualJSON(x.Data, y.Data), true
	}
	xs, xok := x.Data.(string)
	ys, yok := y.Data.(string)
	if xok && yok && (isDateType(x.Type) || isDateType(y.Type)) && xs != ys {
		if c, known, dates := compareDates(xs, ys); dates {
			return known && c == 0, known
		}
	}
	if x.ext != nil || y.ext != nil {
		return false, true
	}
	if xok && yok {
		return xs == ys, true
	}
	xb, xok := x.Data.(bool)
	yb, yok := y.Data.(bool)
	return xok && yok && xb == yb, true
}

// equivalentValues is FHIRPath ~ on two items (Medplum's fhirPathEquivalent).
func equivalentValues(x, y Value) bool {
	if xf, ok := toFloat(x.Data); ok {
		if yf, ok := toFloat(y.Data); ok {
			return math.Abs(xf-yf) < 0.01
		}
	}
	if xm, xv, ok := isQuantity(x.Data); ok {
		if ym, yv, ok := isQuantity(y.Data); ok {
			return quantityEquivalent(xm, ym, xv, yv)
		}
	}
	if x.Type == "Coding" && y.Type == "Coding" {
		xm, xok := x.Data.(map[string]any)
		ym, yok := y.Data.(map[string]any)
		return xok && yok && xm["code"] == ym["code"] && xm["system"] == ym["system"]
	}
	if isObject(x.Data) && isObject(y.Data) {
		xm, xok := x.Data.(map[string]any)
		ym, yok := y.Data.(map[string]any)
		if xok && yok {
			return deepEqualIgnoringID(xm, ym)
		}
		return deepEqualJSON(x.Data, y.Data)
	}
	xs, xok := x.Data.(string)
	ys, yok := y.Data.(string)
	if xok && yok {
		return strings.ToLower(xs) == strings.ToLower(ys)
	}
	xb, xok := x.Data.(bool)
	yb, yok := y.Data.(bool)
	return xok && yok && xb == yb
}

func deepEqualIgnoringID(x, y map[string]any) bool {
	n := 0
	for k, xv := range x {
		if k == "id" {
			continue
		}
		n++
		yv, ok := y[k]
		if !ok || !deepEqualJSON(xv, yv) {
			return false
		}
	}
	m := len(y)
	if _, ok := y["id"]; ok {
		m--
	}
	return n == m
}
