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
// other byte as it was; doc itself when there is nothing to remove. Every
// resource a caller is shown passes through it (the output gate's meta
// rewrite), so it scans in place and allocates only the copy it returns.
func DropFromMember(doc []byte, name string, drop []string) ([]byte, error) {
	start, end, err := memberValue(doc, name)
	if err != nil || start < 0 || doc[start] != '{' {
		return doc, err
	}
	var spans [16]span // the kept members of the object; more fall back to Drop
	kept, dropped, err := keptMembers(doc[start:end], drop, spans[:0])
	if err != nil || dropped == 0 {
		return doc, err
	}
	if len(kept) > len(spans) {
		return dropFromMemberSlow(doc, start, end, drop)
	}
	out := make([]byte, 0, len(doc))
	out = append(out, doc[:start]...)
	out = append(out, '{')
	for i, k := range kept {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, doc[start+k.from:start+k.to]...)
	}
	out = append(out, '}')
	return append(out, doc[end:]...), nil
}

// span is a byte range [from, to).
type span struct{ from, to int }

// memberValue returns the offsets of the value of doc's member name, or
// -1, -1 when doc has none; an error when doc is not an object it can scan
// up to that member (to its end when there is none).
func memberValue(doc []byte, name string) (int, int, error) {
	i := SkipSpace(doc, 0)
	if i >= len(doc) || doc[i] != '{' {
		return 0, 0, ErrMalformed
	}
	if i = SkipSpace(doc, i+1); i < len(doc) && doc[i] == '}' {
		return -1, -1, nil
	}
	for i < len(doc) {
		keyEnd, valStart, valEnd, err := scanMember(doc, i)
		if err != nil {
			return 0, 0, err
		}
		if keyIs(doc[i:keyEnd], name) {
			return valStart, valEnd, nil
		}
		more, next, err := afterMember(doc, valEnd)
		if err != nil || !more {
			return -1, -1, err
		}
		i = next
	}
	return 0, 0, ErrMalformed
}

// keptMembers appends to kept the spans (relative to obj) of the members
// of the object obj not named in drop, and counts those dropped.
func keptMembers(obj []byte, drop []string, kept []span) ([]span, int, error) {
	dropped := 0
	i := SkipSpace(obj, 1)
	if i < len(obj) && obj[i] == '}' {
		return kept, 0, nil
	}
	for i < len(obj) {
		keyEnd, _, valEnd, err := scanMember(obj, i)
		if err != nil {
			return nil, 0, err
		}
		if keyIn(obj[i:keyEnd], drop) {
			dropped++
		} else {
			kept = append(kept, span{i, valEnd})
		}
		more, next, err := afterMember(obj, valEnd)
		if err != nil {
			return nil, 0, err
		}
		if !more {
			return kept, dropped, nil
		}
		i = next
	}
	return nil, 0, ErrMalformed
}

// scanMember reads the member whose key starts at data[i]: the end of its
// key and the bounds of its value.
func scanMember(data []byte, i int) (keyEnd, valStart, valEnd int, err error) {
	if data[i] != '"' {
		return 0, 0, 0, ErrMalformed
	}
	if keyEnd, err = SkipString(data, i); err != nil {
		return 0, 0, 0, err
	}
	j := SkipSpace(data, keyEnd)
	if j >= len(data) || data[j] != ':' {
		return 0, 0, 0, ErrMalformed
	}
	valStart = SkipSpace(data, j+1)
	valEnd, err = SkipValue(data, valStart)
	return keyEnd, valStart, valEnd, err
}

// afterMember steps over the separator after a value ending at i: true and
// the next key's offset after a comma, false at the object's closing brace.
func afterMember(data []byte, i int) (bool, int, error) {
	i = SkipSpace(data, i)
	switch {
	case i >= len(data):
		return false, 0, ErrMalformed
	case data[i] == '}':
		return false, 0, nil
	case data[i] != ',':
		return false, 0, ErrMalformed
	}
	return true, SkipSpace(data, i+1), nil
}

// keyIs reports whether the string literal key (quotes included) is name,
// decoding it only when it holds an escape.
func keyIs(key []byte, name string) bool {
	raw := key[1 : len(key)-1]
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw) == name
	}
	decoded, err := DecodeString(key)
	return err == nil && decoded == name
}

func keyIn(key []byte, names []string) bool {
	for _, n := range names {
		if keyIs(key, n) {
			return true
		}
	}
	return false
}

// dropFromMemberSlow is DropFromMember for an object of many members.
func dropFromMemberSlow(doc []byte, start, end int, drop []string) ([]byte, error) {
	inner, _, err := Drop(doc[start:end], drop)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(doc))
	out = append(out, doc[:start]...)
	out = append(out, inner...)
	return append(out, doc[end:]...), nil
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
