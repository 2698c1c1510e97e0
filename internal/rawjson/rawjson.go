// Package rawjson reads and rewrites JSON objects at the byte level.
//
// Resources travel as the bytes the store wrote; decoding and re-encoding
// them would reorder members, change number formatting and cost time on
// every response, so the few rewrites Ward needs (the output gate's
// secrets and meta, _elements, reference rewriting) splice raw bytes
// instead. encoding/json has no API to list an object's members with
// their byte offsets, hence this small hand-written scanner.
//
// It expects syntactically valid JSON (stored resources, or client input
// validated first) and reports ErrMalformed otherwise; it never decodes
// values it does not need.
package rawjson

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
)

// ErrMalformed reports input that is not the JSON the caller promised.
var ErrMalformed = errors.New("malformed JSON")

// Member is one member of a JSON object: data[Start:End] is `"key":value`,
// data[ValStart:End] the value.
type Member struct {
	Key      string
	Start    int
	ValStart int
	End      int
}

// SkipSpace returns the index of the first non-space byte at or after i.
func SkipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// SkipString returns the index after the string starting at data[i] == '"'.
func SkipString(data []byte, i int) (int, error) {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, ErrMalformed
}

// SkipValue returns the index after the JSON value starting at data[i].
func SkipValue(data []byte, i int) (int, error) {
	if i >= len(data) {
		return 0, ErrMalformed
	}
	switch data[i] {
	case '"':
		return SkipString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				end, err := SkipString(data, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, ErrMalformed
	default: // number, true, false, null
		j := i
		for j < len(data) && !isValueEnd(data[j]) {
			j++
		}
		if j == i {
			return 0, ErrMalformed
		}
		return j, nil
	}
}

func isValueEnd(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// DecodeString returns the Go string of the JSON string literal s (quotes
// included).
func DecodeString(s []byte) (string, error) {
	if bytes.IndexByte(s, '\\') < 0 {
		return string(s[1 : len(s)-1]), nil
	}
	var out string
	if err := json.Unmarshal(s, &out); err != nil {
		return "", ErrMalformed
	}
	return out, nil
}

// Members lists the members of the JSON object data (surrounding space
// allowed).
func Members(data []byte) ([]Member, error) { return ScanMembers(data, "") }

// ScanMembers is Members that stops after the member named stop (when not
// ""): stored resources begin with resourceType, id and meta, so finding
// meta need not walk the rest of a large resource.
func ScanMembers(data []byte, stop string) ([]Member, error) {
	i := SkipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, ErrMalformed
	}
	var members []Member
	i = SkipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return members, nil
	}
	for i < len(data) {
		if data[i] != '"' {
			return nil, ErrMalformed
		}
		keyEnd, err := SkipString(data, i)
		if err != nil {
			return nil, err
		}
		key, err := DecodeString(data[i:keyEnd])
		if err != nil {
			return nil, err
		}
		j := SkipSpace(data, keyEnd)
		if j >= len(data) || data[j] != ':' {
			return nil, ErrMalformed
		}
		valStart := SkipSpace(data, j+1)
		valEnd, err := SkipValue(data, valStart)
		if err != nil {
			return nil, err
		}
		members = append(members, Member{Key: key, Start: i, ValStart: valStart, End: valEnd})
		if stop != "" && key == stop {
			return members, nil
		}
		i = SkipSpace(data, valEnd)
		if i >= len(data) {
			break
		}
		if data[i] == '}' {
			return members, nil
		}
		if data[i] != ',' {
			return nil, ErrMalformed
		}
		i = SkipSpace(data, i+1)
	}
	return nil, ErrMalformed
}

// Find returns the member named key, or nil.
func Find(members []Member, key string) *Member {
	for i := range members {
		if members[i].Key == key {
			return &members[i]
		}
	}
	return nil
}

// Value returns the raw value of obj's member name, or nil when obj is not
// an object, has no such member or cannot be scanned up to it. Unlike
// ScanMembers it allocates nothing, for paths every response takes: keys
// are compared as written, so a key spelled with escapes is not found
// (the store writes its keys plainly).
func Value(obj []byte, name string) []byte {
	i := SkipSpace(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return nil
	}
	for i = SkipSpace(obj, i+1); i < len(obj) && obj[i] == '"'; {
		keyEnd, err := SkipString(obj, i)
		if err != nil {
			return nil
		}
		j := SkipSpace(obj, keyEnd)
		if j >= len(obj) || obj[j] != ':' {
			return nil
		}
		start := SkipSpace(obj, j+1)
		end, err := SkipValue(obj, start)
		if err != nil {
			return nil
		}
		if string(obj[i+1:keyEnd-1]) == name {
			return obj[start:end]
		}
		if i = SkipSpace(obj, end); i >= len(obj) || obj[i] != ',' {
			return nil
		}
		i = SkipSpace(obj, i+1)
	}
	return nil
}

// Drop returns the JSON object obj without the members named in drop, and
// whether any was removed (obj itself when none was).
func Drop(obj []byte, drop []string) ([]byte, bool, error) {
	members, err := Members(obj)
	if err != nil {
		return nil, false, err
	}
	kept := members[:0:0]
	for _, m := range members {
		if !slices.Contains(drop, m.Key) {
			kept = append(kept, m)
		}
	}
	if len(kept) == len(members) {
		return obj, false, nil
	}
	return AppendObject(make([]byte, 0, len(obj)), obj, kept), true, nil
}

// DropFromMember returns the JSON object doc with the members named in
// drop removed from its object-valued member name (e.g. meta), every
// other byte as it was; doc itself when there is nothing to remove.
func DropFromMember(doc []byte, name string, drop []string) ([]byte, error) {
	members, err := ScanMembers(doc, name)
	if err != nil {
		return nil, err
	}
	m := Find(members, name)
	if m == nil || doc[m.ValStart] != '{' {
		return doc, nil
	}
	inner, changed, err := Drop(doc[m.ValStart:m.End], drop)
	if err != nil || !changed {
		return doc, err
	}
	out := make([]byte, 0, len(doc))
	out = append(out, doc[:m.ValStart]...)
	out = append(out, inner...)
	return append(out, doc[m.End:]...), nil
}

// AppendObject appends an object made of the given members of src.
func AppendObject(out, src []byte, members []Member) []byte {
	out = append(out, '{')
	for i, m := range members {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, src[m.Start:m.End]...)
	}
	return append(out, '}')
}
