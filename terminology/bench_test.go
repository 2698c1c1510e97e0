package terminology_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"github.com/wardhealth/ward/fhir/definitions"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
	"github.com/wardhealth/ward/terminology"
)

// benchSets are the loaded ValueSets the benchmark expands, small to
// large, each with a typeahead filter.
var benchSets = []struct{ name, url, filter string }{
	{"administrative-gender", "http://hl7.org/fhir/ValueSet/administrative-gender", "fe"},
	{"languages", "http://hl7.org/fhir/ValueSet/languages", "engl"},
	{"v3-ActCode", "http://terminology.hl7.org/ValueSet/v3-ActCode", "inpat"},
}

// BenchmarkExpand expands real R4 ValueSets (loaded from the embedded
// definitions) with a filter, as a form's typeahead does, on each engine.
func BenchmarkExpand(b *testing.B) {
	for _, engine := range []struct {
		name string
		open func(testing.TB) *store.Store
	}{{"sqlite", storetest.OpenSQLite}, {"postgres", storetest.OpenPostgres}} {
		b.Run(engine.name, func(b *testing.B) {
			s := engine.open(b)
			if err := definitions.LoadData(context.Background(), s, benchSubset(b), slog.New(slog.NewTextHandler(io.Discard, nil))); err != nil {
				b.Fatal(err)
			}
			ctx := as(projectA)
			x := terminology.NewExpander(s)
			for _, vs := range benchSets {
				b.Run(vs.name, func(b *testing.B) {
					for b.Loop() {
						res, err := x.Expand(ctx, terminology.Request{URL: vs.url, Filter: vs.filter, Count: 10})
						if err != nil || len(res.Expansion.Contains) == 0 {
							b.Fatalf("%v %v", res, err)
						}
					}
				})
			}
		})
	}
}

// benchSubset is the benchmark's ValueSets and the CodeSystems they use.
func benchSubset(b *testing.B) *definitions.Data {
	all, err := definitions.R4()
	if err != nil {
		b.Fatal(err)
	}
	want := map[string]bool{"http://hl7.org/fhir/administrative-gender": true, "http://terminology.hl7.org/CodeSystem/v3-ActCode": true}
	for _, vs := range benchSets {
		want[vs.url] = true
	}
	sub := &definitions.Data{Version: "bench"}
	for _, r := range all.Resources {
		var head struct {
			URL string `json:"url"`
		}
		json.Unmarshal(r.Content, &head)
		if (r.Type == "ValueSet" || r.Type == "CodeSystem") && want[head.URL] {
			sub.Resources = append(sub.Resources, r)
		}
	}
	return sub
}
