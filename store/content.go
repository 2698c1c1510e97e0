package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"unicode/utf8"

	"github.com/wardhealth/ward"
)

// field is one top-level member of a JSON object, kept in the client's order
// with its raw (compacted) value, so what the client sent is stored as sent.
type field struct {
	key string
	raw json.RawMessage
}

// decodedResource is a client's resource JSON read two ways: ordered raw
// fields to write back, and a generic tree to validate and index.
type decodedResource struct {
	fields []field        // in order, without resourceType, id and meta
	meta   []field        // the client's meta members, in order
	tree   map[string]any // the whole resource, numbers as json.Number
	metaIn map[string]any // the client's meta as a tree (nil if absent)
}

func invalid(format string, args ...any) error { return ward.Errorf(ward.EINVALID, format, args...) }

// decodeResource parses content as a resource of type typ.
func decodeResource(content []byte) (*decodedResource, error) {
	// encoding/json replaces bad bytes silently and PostgreSQL refuses them.
	if !utf8.Valid(content) {
		return nil, invalid("Invalid JSON: the body is not valid UTF-8")
	}
	fields, err := orderedFields(content)
	if err != nil {
		return nil, err
	}
	d := &decodedResource{}
	dec := json.NewDecoder(bytes.NewReader(content))
	dec.UseNumber()
	if err := dec.Decode(&d.tree); err != nil {
		return nil, invalid("Invalid JSON: %v", err)
	}
	for _, f := range fields {
		switch f.key {
		case "resourceType", "id":
		case "meta":
			if d.meta, err = orderedFields(f.raw); err != nil {
				return nil, invalid("Invalid meta: %s", ward.ErrorMessage(err))
			}
			d.metaIn, _ = d.tree["meta"].(map[string]any)
		default:
			d.fields = append(d.fields, f)
		}
	}
	return d, nil
}

// orderedFields returns the members of the JSON object in data, in order.
func orderedFields(data []byte) ([]field, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, invalid("Invalid JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, invalid("Invalid JSON: expected an object")
	}
	var fields []field
	seen := make(map[string]bool)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, invalid("Invalid JSON: %v", err)
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, invalid("Invalid JSON: %v", err)
		}
		if seen[key] {
			return nil, invalid("Invalid JSON: duplicate property %q", key)
		}
		seen[key] = true
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, invalid("Invalid JSON: %v", err)
		}
		fields = append(fields, field{key, buf.Bytes()})
	}
	if _, err := dec.Token(); err != nil {
		return nil, invalid("Invalid JSON: %v", err)
	}
	if dec.More() {
		return nil, invalid("Invalid JSON: trailing data")
	}
	if _, err := dec.Token(); err == nil {
		return nil, invalid("Invalid JSON: trailing data")
	}
	return fields, nil
}

// serverMeta is what the server writes into meta.
type serverMeta struct {
	versionID   string
	lastUpdated string
	projectID   string
	author      string
	onBehalfOf  string   // the member an admin acts for (spec 2.14)
	accounts    []string // account references, kept only when the writer may set them
	compartment []string
}

// clientMetaKeys are the meta members the server owns; a client's values
// for them are dropped.
var serverOwnedMeta = map[string]bool{
	"versionId": true, "lastUpdated": true, "project": true, "author": true, "onBehalfOf": true,
	"compartment": true, "account": true, "accounts": true,
}

// encodeResource writes the stored JSON: resourceType, id, meta, then the
// client's members in the client's order.
func encodeResource(typ, id string, m serverMeta, d *decodedResource) []byte {
	var b bytes.Buffer
	b.Grow(256 + len(d.fields)*64)
	b.WriteString(`{"resourceType":`)
	writeString(&b, typ)
	b.WriteString(`,"id":`)
	writeString(&b, id)
	b.WriteString(`,"meta":`)
	encodeMeta(&b, m, d.meta)
	for _, f := range d.fields {
		b.WriteByte(',')
		writeString(&b, f.key)
		b.WriteByte(':')
		b.Write(f.raw)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func encodeMeta(b *bytes.Buffer, m serverMeta, client []field) {
	b.WriteString(`{"versionId":`)
	writeString(b, m.versionID)
	b.WriteString(`,"lastUpdated":`)
	writeString(b, m.lastUpdated)
	for _, f := range client {
		if serverOwnedMeta[f.key] {
			continue
		}
		b.WriteByte(',')
		writeString(b, f.key)
		b.WriteByte(':')
		b.Write(f.raw)
	}
	if m.author != "" {
		b.WriteString(`,"author":{"reference":`)
		writeString(b, m.author)
		b.WriteByte('}')
	}
	if m.onBehalfOf != "" {
		b.WriteString(`,"onBehalfOf":{"reference":`)
		writeString(b, m.onBehalfOf)
		b.WriteByte('}')
	}
	if m.projectID != ward.SystemProjectID {
		b.WriteString(`,"project":`)
		writeString(b, m.projectID)
	}
	if len(m.accounts) > 0 {
		b.WriteString(`,"account":{"reference":`)
		writeString(b, m.accounts[0])
		b.WriteString(`},"accounts":`)
		writeRefs(b, m.accounts)
	}
	if len(m.compartment) > 0 {
		b.WriteString(`,"compartment":`)
		writeRefs(b, m.compartment)
	}
	b.WriteByte('}')
}

func writeRefs(b *bytes.Buffer, refs []string) {
	b.WriteByte('[')
	for i, r := range refs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"reference":`)
		writeString(b, r)
		b.WriteByte('}')
	}
	b.WriteByte(']')
}

func writeString(b *bytes.Buffer, s string) {
	data, err := json.Marshal(s)
	if err != nil {
		panic(fmt.Sprintf("marshal string: %v", err)) // a Go string always marshals
	}
	b.Write(data)
}

// sameContent reports whether two stored JSON documents are equal apart
// from meta.versionId and meta.lastUpdated: an update that changes nothing
// else keeps the current version.
func sameContent(a, b []byte) bool {
	var x, y map[string]any
	da := json.NewDecoder(bytes.NewReader(a))
	da.UseNumber()
	db := json.NewDecoder(bytes.NewReader(b))
	db.UseNumber()
	if da.Decode(&x) != nil || db.Decode(&y) != nil {
		return false
	}
	for _, m := range []map[string]any{x, y} {
		if meta, ok := m["meta"].(map[string]any); ok {
			delete(meta, "versionId")
			delete(meta, "lastUpdated")
		}
	}
	return reflect.DeepEqual(x, y)
}
