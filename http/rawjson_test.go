package wardhttp

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestTrimElements(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			"keeps listed and mandatory members, adds tag",
			`{"resourceType":"Patient","id":"1","meta":{"versionId":"v"},"name":[{"family":"A"}],"gender":"x","birthDate":"2000"}`,
			`{"resourceType":"Patient","id":"1","meta":{"versionId":"v","tag":[` + subsettedTag + `]},"name":[{"family":"A"}]}`,
		},
		{
			"appends to existing tags",
			`{"resourceType":"Patient","meta":{"tag":[{"code":"a"}],"versionId":"v"},"name":[]}`,
			`{"resourceType":"Patient","meta":{"tag":[{"code":"a"},` + subsettedTag + `],"versionId":"v"},"name":[]}`,
		},
		{
			"creates meta",
			`{"resourceType":"Patient","gender":"x"}`,
			`{"resourceType":"Patient","meta":{"tag":[` + subsettedTag + `]}}`,
		},
		{
			"empty tag list",
			`{"resourceType":"Patient","meta":{"tag":[]}}`,
			`{"resourceType":"Patient","meta":{"tag":[` + subsettedTag + `]}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(trimElements([]byte(tt.in), map[string]bool{"name": true}))
			if got != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("invalid JSON out: %s", got)
			}
		})
	}
}

func TestRewriteStrings(t *testing.T) {
	in := `{"a":"urn:uuid:1","b":["urn:uuid:1",{"reference":"urn:uuid:2"}],"urn:uuid:1":1,"c":"x\u0041","d":[],"e":{}}`
	got, err := rewriteStrings([]byte(in), func(key, v string) (string, bool, error) {
		switch v {
		case "urn:uuid:1":
			return "Patient/1", true, nil
		case "xA":
			return "key=" + key, true, nil
		}
		return "", false, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"a":"Patient/1","b":["Patient/1",{"reference":"urn:uuid:2"}],"urn:uuid:1":1,"c":"key=c","d":[],"e":{}}`
	if string(got) != want {
		t.Errorf("\n got %s\nwant %s", got, want)
	}
	same := []byte(`{"a":[1,true,null,"s"]}`)
	out, err := rewriteStrings(same, func(string, string) (string, bool, error) { return "", false, nil })
	if err != nil || &out[0] != &same[0] {
		t.Errorf("unchanged input was copied (%v)", err)
	}
	if _, err := rewriteStrings([]byte(`{"a":`), func(string, string) (string, bool, error) { return "", false, nil }); err == nil {
		t.Error("truncated JSON accepted")
	}
}

func TestSetID(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"resourceType":"Patient","a":1}`, `{"resourceType":"Patient","id":"x","a":1}`},
		{`{"resourceType":"Patient","id":"old","a":1}`, `{"resourceType":"Patient","id":"x","a":1}`},
		{`{"a":1}`, `{"id":"x","a":1}`},
		{`{}`, `{"id":"x"}`},
	}
	for _, tt := range tests {
		got, err := setID([]byte(tt.in), "x")
		if err != nil || string(got) != tt.want {
			t.Errorf("setID(%s) = %s, %v; want %s", tt.in, got, err, tt.want)
		}
	}
}

// FuzzRawJSON: the raw helpers never panic and keep valid JSON valid.
func FuzzRawJSON(f *testing.F) {
	for _, seed := range []string{
		`{"resourceType":"Patient","meta":{"project":"p","tag":[]},"a":"urn:uuid:1"}`,
		`{"meta":{"tag":[{"code":"x"}]}}`, `{}`, `[]`, `"s"`, `{"a":"\"}`, `{"a":[{"b":{"c":"\u00e9"}}]}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		data := []byte(s)
		valid := json.Valid(data)
		for name, out := range map[string][]byte{
			"trimElements": trimElements(data, map[string]bool{"a": true}),
		} {
			if valid && strings.HasPrefix(strings.TrimSpace(s), "{") && !json.Valid(out) {
				t.Errorf("%s made invalid JSON from %s: %s", name, s, out)
			}
		}
		out, err := rewriteStrings(data, func(k, v string) (string, bool, error) { return v + "!", true, nil })
		if valid && (err != nil || !json.Valid(out)) {
			t.Errorf("rewriteStrings(%s) = %s, %v", s, out, err)
		}
	})
}
