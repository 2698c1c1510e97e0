package wardhttp

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/wardhealth/ward/internal/rawjson"
)

// The response rewrites that work on raw bytes (_elements, reference
// rewriting), with the scanner of package rawjson: resources travel as the
// bytes the store returned. What a caller may see was decided before, by
// the store's output gate.

const subsettedTag = `{"system":"http://terminology.hl7.org/CodeSystem/v3-ObservationValue","code":"SUBSETTED"}`

// trimElements keeps only the listed top-level elements of a resource (plus
// resourceType, id and meta) and marks it SUBSETTED in meta.tag, as FHIR
// requires for _elements.
func trimElements(content []byte, elements map[string]bool) []byte {
	members, err := rawjson.Members(content)
	if err != nil {
		return content
	}
	out := make([]byte, 0, len(content))
	out = append(out, '{')
	n := 0
	var metaSeen bool
	for _, m := range members {
		if m.Key != "resourceType" && m.Key != "id" && m.Key != "meta" && !elements[m.Key] {
			continue
		}
		if n > 0 {
			out = append(out, ',')
		}
		n++
		if m.Key == "meta" {
			metaSeen = true
			out = append(out, content[m.Start:m.ValStart]...)
			out = appendSubsetted(out, content[m.ValStart:m.End])
			continue
		}
		out = append(out, content[m.Start:m.End]...)
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
	members, err := rawjson.Members(meta)
	if err != nil {
		return append(out, meta...)
	}
	tag := rawjson.Find(members, "tag")
	if tag == nil {
		out = append(out, '{')
		for _, m := range members {
			out = append(out, meta[m.Start:m.End]...)
			out = append(out, ',')
		}
		return append(out, `"tag":[`+subsettedTag+`]}`...)
	}
	tags := bytes.TrimSpace(meta[tag.ValStart:tag.End])
	if len(tags) < 2 || tags[0] != '[' || bytes.Contains(tags, []byte(`"SUBSETTED"`)) {
		return append(out, meta...)
	}
	out = append(out, meta[:tag.ValStart]...)
	inner := bytes.TrimSpace(tags[1 : len(tags)-1])
	out = append(out, '[')
	out = append(out, inner...)
	if len(inner) > 0 {
		out = append(out, ',')
	}
	out = append(out, subsettedTag...)
	out = append(out, ']')
	return append(out, meta[tag.End:]...)
}

// rewriteStrings walks every string value (not member names) of the JSON
// document data and replaces those for which replace returns ok. key is the
// name of the member holding the value (for array items, the array's member
// name). It returns data itself when nothing changed and stops at the
// first error replace returns. The walk is linear in len(data).
func rewriteStrings(data []byte, replace func(key, value string) (string, bool, error)) ([]byte, error) {
	w := &stringRewriter{data: data, replace: replace}
	i := rawjson.SkipSpace(data, 0)
	end, err := w.value(i, "")
	if err != nil {
		return nil, err
	}
	if rawjson.SkipSpace(data, end) != len(data) {
		return nil, rawjson.ErrMalformed
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
		return 0, rawjson.ErrMalformed
	}
	switch data[i] {
	case '{':
		return w.object(i)
	case '[':
		return w.array(i, key)
	case '"':
		end, err := rawjson.SkipString(data, i)
		if err != nil {
			return 0, err
		}
		s, err := rawjson.DecodeString(data[i:end])
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
		return rawjson.SkipValue(data, i)
	}
}

func (w *stringRewriter) object(i int) (int, error) {
	data := w.data
	i = rawjson.SkipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return i + 1, nil
	}
	for i < len(data) {
		keyEnd, err := rawjson.SkipString(data, i)
		if err != nil || data[i] != '"' {
			return 0, rawjson.ErrMalformed
		}
		key, err := rawjson.DecodeString(data[i:keyEnd])
		if err != nil {
			return 0, err
		}
		j := rawjson.SkipSpace(data, keyEnd)
		if j >= len(data) || data[j] != ':' {
			return 0, rawjson.ErrMalformed
		}
		end, err := w.value(rawjson.SkipSpace(data, j+1), key)
		if err != nil {
			return 0, err
		}
		i = rawjson.SkipSpace(data, end)
		if i < len(data) && data[i] == '}' {
			return i + 1, nil
		}
		if i >= len(data) || data[i] != ',' {
			return 0, rawjson.ErrMalformed
		}
		i = rawjson.SkipSpace(data, i+1)
	}
	return 0, rawjson.ErrMalformed
}

func (w *stringRewriter) array(i int, key string) (int, error) {
	data := w.data
	i = rawjson.SkipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return i + 1, nil
	}
	for i < len(data) {
		end, err := w.value(i, key)
		if err != nil {
			return 0, err
		}
		i = rawjson.SkipSpace(data, end)
		if i < len(data) && data[i] == ']' {
			return i + 1, nil
		}
		if i >= len(data) || data[i] != ',' {
			return 0, rawjson.ErrMalformed
		}
		i = rawjson.SkipSpace(data, i+1)
	}
	return 0, rawjson.ErrMalformed
}

// jsonString returns s as a JSON string literal.
func jsonString(s string) []byte {
	b, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("marshal string: %v", err)) // a Go string always marshals
	}
	return b
}
