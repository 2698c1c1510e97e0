package fhir

import (
	"strconv"

	"github.com/wardhealth/ward"
)

// CheckShapeJSON applies the shape limits of ValidateResource (MaxArrayItems,
// MaxValues, MaxNesting) to the bytes of a resource of type rootType, before
// they are decoded: decoding is what costs. A 10 MB array of numbers
// decodes into about 250 MB of Go values, so a body the limits refuse is
// refused from its bytes, without allocating. data must be valid JSON
// (json.Valid). It counts object keys with the values, so it refuses only
// what ValidateResource would refuse too, and says where (the path of the
// array, or of the container that nests too deep).
func CheckShapeJSON(data []byte, rootType string) error {
	sc := jsonScanner{data: data, stack: make([]container, 0, 16)}
	if err := sc.scan(); err != nil {
		return &ward.Error{Code: ward.EINVALID, Message: err.message + " (" + sc.path(rootType) + ")", Expression: []string{sc.path(rootType)}}
	}
	return nil
}

// container is one open JSON object or array.
type container struct {
	array bool
	items int    // elements of an array so far
	key   []byte // an object's current key (raw, without quotes)
}

type jsonScanner struct {
	data   []byte
	stack  []container
	tokens int
}

type shapeError struct{ message string }

func (sc *jsonScanner) scan() *shapeError {
	data := sc.data
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case '[', '{':
			if err := sc.value(); err != nil {
				return err
			}
			if len(sc.stack) >= MaxNesting {
				return &shapeError{"Too deeply nested (at most " + strconv.Itoa(MaxNesting) + " levels)"}
			}
			sc.stack = append(sc.stack, container{array: c == '['})
		case ']', '}':
			sc.stack = sc.stack[:len(sc.stack)-1]
		case '"':
			start := i + 1
			for i++; data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
			if top := sc.top(); top != nil && !top.array && sc.isKey(i+1) {
				top.key = data[start:i]
				sc.tokens++
				continue
			}
			if err := sc.value(); err != nil {
				return err
			}
		case ' ', '\t', '\n', '\r', ',', ':':
		default: // a number, true, false or null
			for i+1 < len(data) && !isDelimiter(data[i+1]) {
				i++
			}
			if err := sc.value(); err != nil {
				return err
			}
		}
	}
	return nil
}

// value counts one value starting at the current position.
func (sc *jsonScanner) value() *shapeError {
	if sc.tokens++; sc.tokens > 2*MaxValues {
		return &shapeError{"Resource has too many values (at most " + strconv.Itoa(MaxValues) + ")"}
	}
	if top := sc.top(); top != nil && top.array {
		if top.items++; top.items > MaxArrayItems {
			return &shapeError{"Too many items in array (at most " + strconv.Itoa(MaxArrayItems) + ")"}
		}
	}
	return nil
}

func (sc *jsonScanner) top() *container {
	if len(sc.stack) == 0 {
		return nil
	}
	return &sc.stack[len(sc.stack)-1]
}

// isKey reports whether the string that ended before i is an object key:
// the next non-space byte is a colon.
func (sc *jsonScanner) isKey(i int) bool {
	for ; i < len(sc.data); i++ {
		switch sc.data[i] {
		case ' ', '\t', '\n', '\r':
			continue
		case ':':
			return true
		}
		return false
	}
	return false
}

func isDelimiter(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', ',', ']', '}', ':':
		return true
	}
	return false
}

// path is the FHIRPath of the innermost open container, as ValidateResource
// writes it: keys as written, array positions as the current index.
func (sc *jsonScanner) path(rootType string) string {
	p := &path{name: rootType}
	for i := 1; i < len(sc.stack); i++ {
		parent := sc.stack[i-1]
		if parent.array {
			p = p.at(parent.items - 1)
		} else {
			p = p.child(printableKey(string(parent.key)))
		}
	}
	return p.String()
}
