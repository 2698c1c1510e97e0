package wardhttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// This file reads and rewrites JSON at the byte level. Resources travel as
// the bytes the store returned; decoding and re-encoding them would reorder
// members, change number formatting and cost time on every response, so the
// few rewrites the API needs (meta stripping, _elements, reference
// rewriting) splice raw bytes instead.

var errRawJSON = errors.New("malformed JSON")

// member is one member of a JSON object: data[start:end] is `"key":value`,
// data[valStart:end] the value.
type member struct {
	key      string
	start    int
	valStart int
	end      int
}

func skipSpace(data []byte, i int) int {
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

// skipString returns the index after the string starting at data[i] == '"'.
func skipString(data []byte, i int) (int, error) {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errRawJSON
}

// skipValue returns the index after the JSON value starting at data[i].
func skipValue(data []byte, i int) (int, error) {
	if i >= len(data) {
		return 0, errRawJSON
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				end, err := skipString(data, j)
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
		return 0, errRawJSON
	default: // number, true, false, null
		j := i
		for j < len(data) && !isValueEnd(data[j]) {
			j++
		}
		if j == i {
			return 0, errRawJSON
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

// decodeKey returns the Go string of the JSON string data[a:b] (quotes included).
func decodeKey(s []byte) (string, error) {
	if bytes.IndexByte(s, '\\') < 0 {
		return string(s[1 : len(s)-1]), nil
	}
	var out string
	if err := json.Unmarshal(s, &out); err != nil {
		return "", errRawJSON
	}
	return out, nil
}

// objectMembers lists the members of the JSON object data (surrounding space
// allowed). It expects syntactically valid JSON; callers validate input from
// clients first.
func objectMembers(data []byte) ([]member, error) { return scanMembers(data, "") }

// scanMembers is objectMembers that stops after the member named stop
// (when not ""): stored resources begin with resourceType, id and meta, so
// finding meta need not walk the rest of a large resource.
func scanMembers(data []byte, stop string) ([]member, error) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, errRawJSON
	}
	var members []member
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return members, nil
	}
	for i < len(data) {
		if data[i] != '"' {
			return nil, errRawJSON
		}
		keyEnd, err := skipString(data, i)
		if err != nil {
			return nil, err
		}
		key, err := decodeKey(data[i:keyEnd])
		if err != nil {
			return nil, err
		}
		j := skipSpace(data, keyEnd)
		if j >= len(data) || data[j] != ':' {
			return nil, errRawJSON
		}
		valStart := skipSpace(data, j+1)
		valEnd, err := skipValue(data, valStart)
		if err != nil {
			return nil, err
		}
		members = append(members, member{key: key, start: i, valStart: valStart, end: valEnd})
		if stop != "" && key == stop {
			return members, nil
		}
		i = skipSpace(data, valEnd)
		if i >= len(data) {
			break
		}
		if data[i] == '}' {
			return members, nil
		}
		if data[i] != ',' {
			return nil, errRawJSON
		}
		i = skipSpace(data, i+1)
	}
	return nil, errRawJSON
}

func findMember(members []member, key string) *member {
	for i := range members {
		if members[i].key == key {
			return &members[i]
		}
	}
	return nil
}

// nonExtendedMeta are the meta members Medplum hides from clients that do not
// send "X-Medplum: extended".
var nonExtendedMeta = map[string]bool{"author": true, "project": true, "account": true, "compartment": true}

// stripMeta removes meta.author, meta.project, meta.account and
// meta.compartment from a resource, leaving every other byte as it was. It
// returns content itself when there is nothing to remove.
func stripMeta(content []byte) []byte {
	members, err := scanMembers(content, "meta")
	if err != nil {
		return content
	}
	meta := findMember(members, "meta")
	if meta == nil {
		return content
	}
	newMeta, changed, err := dropMembers(content[meta.valStart:meta.end], nonExtendedMeta)
	if err != nil || !changed {
		return content
	}
	out := make([]byte, 0, len(content))
	out = append(out, content[:meta.valStart]...)
	out = append(out, newMeta...)
	return append(out, content[meta.end:]...)
}

// dropMembers returns the JSON object obj without the members named in
// drop, and whether any was removed (obj itself when none was).
func dropMembers(obj []byte, drop map[string]bool) ([]byte, bool, error) {
	members, err := objectMembers(obj)
	if err != nil {
		return nil, false, err
	}
	kept := members[:0:0]
	for _, m := range members {
		if !drop[m.key] {
			kept = append(kept, m)
		}
	}
	if len(kept) == len(members) {
		return obj, false, nil
	}
	return appendObject(make([]byte, 0, len(obj)), obj, kept), true, nil
}

// appendObject appends an object made of the given members of src.
func appendObject(out, src []byte, members []member) []byte {
	out = append(out, '{')
	for i, m := range members {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, src[m.start:m.end]...)
	}
	return append(out, '}')
}

const subsettedTag = `{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationValue","code":"SUBSETTED"}`

// trimElements keeps only the listed top-level elements of a resource (plus
// resourceType, id and meta) and marks it SUBSETTED in meta.tag, as FHIR
// requires for _elements.
func trimElements(content []byte, elements map[string]bool) []byte {
	members, err := objectMembers(content)
	if err != nil {
		return content
	}
	out := make([]byte, 0, len(content))
	out = append(out, '{')
	n := 0
	var metaSeen bool
	for _, m := range members {
		if m.key != "resourceType" && m.key != "id" && m.key != "meta" && !elements[m.key] {
			continue
		}
		if n > 0 {
			out = append(out, ',')
		}
		n++
		if m.key == "meta" {
			metaSeen = true
			out = append(out, content[m.start:m.valStart]...)
			out = appendSubsetted(out, content[m.valStart:m.end])
			continue
		}
		out = append(out, content[m.start:m.end]...)
	}
	if !metaSeen {
		if n > 0 {
			out = append(out, ',')
		}
		out = append(out, `"meta":{"tag":[`+subsettedTag+`]}`...)
	}
	return append(out, '}')
}

// appendSubsetted appends meta with the SUBSETTED tag added to meta.tag.
func appendSubsetted(out, meta []byte) []byte {
	members, err := objectMembers(meta)
	if err != nil {
		return append(out, meta...)
	}
	tag := findMember(members, "tag")
	if tag == nil {
		out = append(out, '{')
		for _, m := range members {
			out = append(out, meta[m.start:m.end]...)
			out = append(out, ',')
		}
		return append(out, `"tag":[`+subsettedTag+`]}`...)
	}
	tags := bytes.TrimSpace(meta[tag.valStart:tag.end])
	if len(tags) < 2 || tags[0] != '[' || bytes.Contains(tags, []byte(`"SUBSETTED"`)) {
		return append(out, meta...)
	}
	out = append(out, meta[:tag.valStart]...)
	inner := bytes.TrimSpace(tags[1 : len(tags)-1])
	out = append(out, '[')
	out = append(out, inner...)
	if len(inner) > 0 {
		out = append(out, ',')
	}
	out = append(out, subsettedTag...)
	out = append(out, ']')
	return append(out, meta[tag.end:]...)
}

// rewriteStrings walks every string value (not member names) of the JSON
// document data and replaces those for which replace returns ok. key is the
// name of the member holding the value (for array items, the array's member
// name). It returns data itself when nothing changed and stops at the
// first error replace returns. The walk is linear in len(data).
func rewriteStrings(data []byte, replace func(key, value string) (string, bool, error)) ([]byte, error) {
	w := &stringRewriter{data: data, replace: replace}
	i := skipSpace(data, 0)
	end, err := w.value(i, "")
	if err != nil {
		return nil, err
	}
	if skipSpace(data, end) != len(data) {
		return nil, errRawJSON
	}
	if w.out == nil {
		return data, nil
	}
	return append(w.out, data[w.copied:]...), nil
}

type stringRewriter struct {
	data    []byte
	replace func(key, value string) (string, bool, error)
	out     []byte // nil until the first replacement
	copied  int    // data[:copied] is already in out
}

func (w *stringRewriter) value(i int, key string) (int, error) {
	data := w.data
	if i >= len(data) {
		return 0, errRawJSON
	}
	switch data[i] {
	case '{':
		return w.object(i)
	case '[':
		return w.array(i, key)
	case '"':
		end, err := skipString(data, i)
		if err != nil {
			return 0, err
		}
		s, err := decodeKey(data[i:end])
		if err != nil {
			return 0, err
		}
		repl, ok, err := w.replace(key, s)
		if err != nil {
			return 0, err
		}
		if ok {
			if w.out == nil {
				w.out = make([]byte, 0, len(data)+64)
			}
			w.out = append(w.out, data[w.copied:i]...)
			enc, _ := json.Marshal(repl) // a Go string always marshals
			w.out = append(w.out, enc...)
			w.copied = end
		}
		return end, nil
	default:
		return skipValue(data, i)
	}
}

func (w *stringRewriter) object(i int) (int, error) {
	data := w.data
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return i + 1, nil
	}
	for i < len(data) {
		keyEnd, err := skipString(data, i)
		if err != nil || data[i] != '"' {
			return 0, errRawJSON
		}
		key, err := decodeKey(data[i:keyEnd])
		if err != nil {
			return 0, err
		}
		j := skipSpace(data, keyEnd)
		if j >= len(data) || data[j] != ':' {
			return 0, errRawJSON
		}
		end, err := w.value(skipSpace(data, j+1), key)
		if err != nil {
			return 0, err
		}
		i = skipSpace(data, end)
		if i < len(data) && data[i] == '}' {
			return i + 1, nil
		}
		if i >= len(data) || data[i] != ',' {
			return 0, errRawJSON
		}
		i = skipSpace(data, i+1)
	}
	return 0, errRawJSON
}

func (w *stringRewriter) array(i int, key string) (int, error) {
	data := w.data
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return i + 1, nil
	}
	for i < len(data) {
		end, err := w.value(i, key)
		if err != nil {
			return 0, err
		}
		i = skipSpace(data, end)
		if i < len(data) && data[i] == ']' {
			return i + 1, nil
		}
		if i >= len(data) || data[i] != ',' {
			return 0, errRawJSON
		}
		i = skipSpace(data, i+1)
	}
	return 0, errRawJSON
}

// jsonString returns s as a JSON string literal.
func jsonString(s string) []byte {
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("marshal string: %v", err)) // a Go string always marshals
	}
	return b
}
