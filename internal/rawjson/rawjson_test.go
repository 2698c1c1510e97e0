package rawjson

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDropFromMember(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			"removes internal members, keeps the rest byte for byte",
			`{"resourceType":"Patient","id":"1","meta":{"versionId":"v1","lastUpdated":"2024-01-01T00:00:00.000Z","author":{"reference":"Practitioner/a"},"project":"p1","account":{"reference":"Organization/o"},"accounts":[{"reference":"Organization/o"}],"compartment":[{"reference":"Patient/1"}]},"name":[{"family":"Ünïcode \"quoted\""}],"n":1.50}`,
			`{"resourceType":"Patient","id":"1","meta":{"versionId":"v1","lastUpdated":"2024-01-01T00:00:00.000Z","accounts":[{"reference":"Organization/o"}]},"name":[{"family":"Ünïcode \"quoted\""}],"n":1.50}`,
		},
		{
			"nothing to strip",
			`{"resourceType":"Patient","meta":{"versionId":"v1"},"x":{"project":"kept"}}`,
			`{"resourceType":"Patient","meta":{"versionId":"v1"},"x":{"project":"kept"}}`,
		},
		{
			"only internal members",
			`{"resourceType":"Patient","meta":{"project":"p1"}}`,
			`{"resourceType":"Patient","meta":{}}`,
		},
		{
			"whitespace",
			"{ \"meta\" : { \"project\" : \"p\" , \"versionId\" : \"v\" } , \"a\" : [ 1 , 2 ] }",
			"{ \"meta\" : {\"versionId\" : \"v\"} , \"a\" : [ 1 , 2 ] }",
		},
		{"no meta", `{"resourceType":"Patient"}`, `{"resourceType":"Patient"}`},
		{
			"a member named twice is dropped twice",
			`{"meta":{"project":"p1","versionId":"v","project":"p2"}}`,
			`{"meta":{"versionId":"v"}}`,
		},
		{
			"a key spelled with an escape is still dropped",
			`{"meta":{"pro\u006aect":"p1","versionId":"v"}}`,
			`{"meta":{"versionId":"v"}}`,
		},
		{
			"many kept members (past the fixed spans)",
			`{"meta":{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"project":"p"}}`,
			`{"meta":{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := DropFromMember([]byte(tt.in), "meta", []string{"author", "project", "account", "compartment"})
			got := string(out)
			if err != nil || got != tt.want {
				t.Errorf("\n got %s, %v\nwant %s", got, err, tt.want)
			}
			if json.Valid([]byte(tt.in)) && !json.Valid([]byte(got)) {
				t.Errorf("invalid JSON out: %s", got)
			}
		})
	}
}

// TestMalformedIsAnError: the output gate fails closed, so the scanner
// must report what it cannot read instead of handing it back.
func TestMalformedIsAnError(t *testing.T) {
	for _, in := range []string{`[1]`, `{"meta":`, `{"a":"\"}`, `"s"`, ``} {
		if _, err := DropFromMember([]byte(in), "meta", []string{"project"}); err == nil {
			t.Errorf("DropFromMember(%q): no error", in)
		}
		if _, _, err := Drop([]byte(in), []string{"d"}); err == nil {
			t.Errorf("Drop(%q): no error", in)
		}
	}
}

func TestDrop(t *testing.T) {
	in := `{"resourceType":"JsonWebKey","id":"k","kty":"RSA","n":"AQAB","d":"secret","p":"x","q":"y","dp":"1","dq":"2","qi":"3","e":"AQAB"}`
	out, changed, err := Drop([]byte(in), []string{"d", "p", "q", "dp", "dq", "qi"})
	want := `{"resourceType":"JsonWebKey","id":"k","kty":"RSA","n":"AQAB","e":"AQAB"}`
	if err != nil || !changed || string(out) != want {
		t.Errorf("Drop = %s, %v, %v; want %s", out, changed, err, want)
	}
	if _, changed, _ := Drop([]byte(want), []string{"d"}); changed {
		t.Error("Drop reported a change with nothing to drop")
	}
}

// FuzzDropFromMember: never panics, and keeps valid JSON objects valid.
func FuzzDropFromMember(f *testing.F) {
	for _, seed := range []string{
		`{"resourceType":"Patient","meta":{"project":"p","tag":[]},"a":"urn:uuid:1"}`,
		`{"meta":{"tag":[{"code":"x"}]}}`, `{}`, `[]`, `"s"`, `{"a":"\"}`, `{"meta":1}`, `{"meta":{"project":{"a":[1]}}}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := DropFromMember([]byte(s), "meta", []string{"project", "author"})
		if err == nil && json.Valid([]byte(s)) && strings.HasPrefix(strings.TrimSpace(s), "{") && !json.Valid(out) {
			t.Errorf("made invalid JSON from %s: %s", s, out)
		}
	})
}

func BenchmarkDropMeta(b *testing.B) {
	content := []byte(`{"resourceType":"Observation","id":"0b9a0f7e-7c1e-4c1e-9d8e-6d2b7c1a2b3c","meta":{"versionId":"1f9e5c62-0b7e-4c55-9a4e-5b0f5d1d2a01","lastUpdated":"2024-01-01T00:00:00.000Z","author":{"reference":"Practitioner/1"},"project":"p","compartment":[{"reference":"Patient/1"}]},` +
		`"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"8867-4"}]},"note":[{"text":"` + strings.Repeat("x", 1500) + `"}]}`)
	drop := []string{"author", "project", "account", "compartment"}
	b.SetBytes(int64(len(content)))
	for b.Loop() {
		if _, err := DropFromMember(content, "meta", drop); err != nil {
			b.Fatal(err)
		}
	}
}

func TestValue(t *testing.T) {
	doc := []byte(`{ "a" : 1 , "meta":{"compartment":[{"reference":"Patient/1"}]}, "b":"x"}`)
	for _, c := range []struct{ in, name, want string }{
		{string(doc), "meta", `{"compartment":[{"reference":"Patient/1"}]}`},
		{string(doc), "b", `"x"`},
		{string(doc), "missing", ""},
		{`[1]`, "a", ""},
		{`{"a":`, "a", ""},
		{`{"a\u0062":1}`, "ab", ""}, // escaped keys are not matched
	} {
		if got := string(Value([]byte(c.in), c.name)); got != c.want {
			t.Errorf("Value(%s, %q) = %q, want %q", c.in, c.name, got, c.want)
		}
	}
}
