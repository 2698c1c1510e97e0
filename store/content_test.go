package store

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/wardhealth/ward"
)

// FuzzDecodeResource feeds arbitrary bytes to the JSON reader of the write
// path: it must never panic, every rejection must be EINVALID, and what it
// accepts must encode back to valid JSON keeping every member.
func FuzzDecodeResource(f *testing.F) {
	for _, seed := range []string{
		`{"resourceType":"Patient","name":[{"family":"Smith"}]}`,
		`{"resourceType":"Observation","valueQuantity":{"value":1.50}}`,
		`{"resourceType":"Patient","meta":{"tag":[{"code":"x"}],"versionId":"1"}}`,
		`{"resourceType":"Patient","id":"x","id":"y"}`,
		`[1,2,3]`, `{"a":}`, `{"resourceType":"Patient"} {}`, `"\ud800"`, `{"a":1e400}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := decodeResource(data)
		if err != nil {
			if ward.ErrorCode(err) != ward.EINVALID {
				t.Fatalf("rejection with code %s: %v", ward.ErrorCode(err), err)
			}
			return
		}
		out := encodeResource("Patient", "00000000-0000-4000-8000-000000000000", serverMeta{versionID: "v", lastUpdated: "t", projectID: "p"}, d)
		var back map[string]any
		dec := json.NewDecoder(bytes.NewReader(out))
		dec.UseNumber()
		if err := dec.Decode(&back); err != nil {
			t.Fatalf("encoded resource is not JSON: %v\n%s", err, out)
		}
		for _, f := range d.fields {
			if _, ok := back[f.key]; !ok {
				t.Fatalf("member %q lost", f.key)
			}
		}
	})
}

func TestSameContent(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{`{"a":1,"meta":{"versionId":"1","lastUpdated":"x"}}`, `{"meta":{"lastUpdated":"y","versionId":"2"},"a":1}`, true},
		{`{"a":1.0}`, `{"a":1}`, false}, // FHIR decimals keep their precision
		{`{"a":[1,2]}`, `{"a":[2,1]}`, false},
		{`{"a":1,"meta":{"tag":[{"code":"x"}]}}`, `{"a":1,"meta":{}}`, false},
	}
	for _, c := range cases {
		if got := sameContent([]byte(c.a), []byte(c.b)); got != c.want {
			t.Errorf("sameContent(%s, %s) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
