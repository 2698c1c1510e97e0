package wardhttp

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
)

// OperationInput is an operation's input parameters, read as Medplum's
// parseInputParameters reads them: from the query string, and for a POST
// also from its JSON body — a Parameters resource, or any other JSON
// object read as a map of parameter names to values ({} is no parameter).
type OperationInput struct {
	// Values holds every primitive value as text (a number or boolean as
	// its JSON text), repeated for an array.
	Values url.Values
	// Complex holds the values that are JSON objects (a valueReference, a
	// parameter's resource), by parameter name.
	Complex map[string][]json.RawMessage
}

// ReadOperationInput reads r's operation parameters. A body that is not a
// JSON object, or a Parameters resource whose parameters have no name or
// no value, is a 400.
func ReadOperationInput(r *http.Request) (*OperationInput, error) {
	q, err := queryValues(r)
	if err != nil {
		return nil, err
	}
	in := &OperationInput{Values: q, Complex: map[string][]json.RawMessage{}}
	if r.Method != http.MethodPost {
		return in, nil
	}
	data, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return in, nil
	}
	if err := checkMediaType(r, mediaFHIRJSON, mediaJSON); err != nil {
		return nil, err
	}
	if err := checkJSON(data); err != nil {
		return nil, err
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(data, &body); err != nil || body == nil {
		return nil, invalidf("Expected a JSON object or a Parameters resource")
	}
	typ, hasType := body["resourceType"]
	if !hasType {
		return in, in.addObject(body)
	}
	var name string
	if json.Unmarshal(typ, &name) != nil || name != "Parameters" {
		return nil, expr(invalidf("Expected a Parameters resource, got %s", typ), "resourceType")
	}
	if err := validParameters(data); err != nil {
		return nil, err
	}
	return in, in.addParameters(body["parameter"])
}

// First returns the first value of name, "" when there is none.
func (in *OperationInput) First(name string) string { return in.Values.Get(name) }

// addObject reads a plain JSON object: {"_count": 10, "_type": ["A"]}.
func (in *OperationInput) addObject(body map[string]json.RawMessage) error {
	for name, raw := range body {
		if err := in.addValue(name, raw, true); err != nil {
			return err
		}
	}
	return nil
}

// addValue adds one JSON value of name; an array adds each item when
// arrays are allowed (a plain object's values), null adds nothing.
func (in *OperationInput) addValue(name string, raw json.RawMessage, arrays bool) error {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) == 0 || string(raw) == "null":
		return nil
	case raw[0] == '{':
		in.Complex[name] = append(in.Complex[name], raw)
	case raw[0] == '[' && arrays:
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return invalidf("Invalid value for parameter '%s'", name)
		}
		for _, item := range items {
			if err := in.addValue(name, item, false); err != nil {
				return err
			}
		}
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return invalidf("Invalid value for parameter '%s'", name)
		}
		in.Values.Add(name, s)
	case raw[0] == '[':
		return invalidf("Invalid value for parameter '%s': nested arrays", name)
	default: // number, true, false
		in.Values.Add(name, string(raw))
	}
	return nil
}

// addParameters reads Parameters.parameter: each needs a name and one
// value[x] or a resource.
func (in *OperationInput) addParameters(raw json.RawMessage) error {
	if len(raw) == 0 {
		return nil
	}
	var params []map[string]json.RawMessage
	if err := json.Unmarshal(raw, &params); err != nil {
		return expr(invalidf("Parameters.parameter must be an array of objects"), "Parameters.parameter")
	}
	for i, p := range params {
		var name string
		if err := json.Unmarshal(p["name"], &name); err != nil || name == "" {
			return expr(invalidf("Expected a name for every parameter"), parameterPath(i))
		}
		value, ok := parameterValue(p)
		if !ok {
			return expr(invalidf("Expected one value for parameter '%s'", name), parameterPath(i))
		}
		if err := in.addValue(name, value, false); err != nil {
			return expr(err, parameterPath(i))
		}
	}
	return nil
}

// validParameters checks a Parameters resource against its definition,
// as Medplum validates it before reading it.
func validParameters(data []byte) error {
	if _, err := checkResource(data, "Parameters"); err != nil {
		return err
	}
	var resource map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&resource); err != nil {
		return invalidf("Invalid Parameters: %v", err)
	}
	return fhir.ValidateResource(resource)
}

// parameterValue is a parameter's one value[x] or resource.
func parameterValue(p map[string]json.RawMessage) (json.RawMessage, bool) {
	var value json.RawMessage
	n := 0
	for key, raw := range p {
		if strings.HasPrefix(key, "value") || key == "resource" {
			value, n = raw, n+1
		}
	}
	return value, n == 1
}

func parameterPath(i int) string {
	return "Parameters.parameter[" + strconv.Itoa(i) + "]"
}

// errComplexParameter is the 400 for an object where an operation wants a
// primitive value.
func errComplexParameter(op, name string) error {
	return ward.Errorf(ward.EINVALID, "Parameter %s of %s must be a primitive value", name, op)
}
