package graphql

import (
	"testing"
	"time"

	gql "github.com/graphql-go/graphql"
	"github.com/graphql-go/graphql/language/ast"
	"github.com/graphql-go/graphql/language/parser"
	"github.com/graphql-go/graphql/language/source"
)

// benchQueries are the queries of bench_test.go (requestSchema, and the
// nested list of BenchmarkPatientListNested), and the latter through
// fragments.
var benchQueries = map[string]string{
	"requestSchema":     `{ StructureDefinitionList(_filter: "name eq Patient") { resourceType, name, kind, description, type, url, snapshot { element { id, path, definition, min, max, base { path, min, max }, contentReference, type { code, profile, targetProfile }, binding { strength, valueSet } } } } SearchParameterList(base: "Patient", _count: 100) { base, code, type, expression, target } }`,
	"patientListNested": `{ PatientList(_count: 20) { id name { given family } birthDate managingOrganization { reference resource { ... on Organization { id name } } } } }`,
	"patientListFragments": `{ PatientList(_count: 20) { ...P } } fragment P on Patient { id name { given family } birthDate managingOrganization { ...R } }
		fragment R on Reference { reference resource { ... on Organization { id name } } }`,
}

// BenchmarkValidate compares what a query costs before execution today
// (parseQuery's scan and fragment checks, then the shape checks and
// graphql-go's validation) with the same steps without parseQuery's
// additions (graphql-go's parse with the source), in one loop;
// checks/plain is the ratio of their times.
func BenchmarkValidate(b *testing.B) {
	schema, err := newSchemaBuilder(&resolvers{}).build()
	if err != nil {
		b.Fatal(err)
	}
	for name, query := range benchQueries {
		b.Run(name, func(b *testing.B) {
			var checked, plain time.Duration
			for b.Loop() {
				t0 := time.Now()
				doc, err := parseQuery(query)
				validate(b, &schema, doc, err)
				t1 := time.Now()
				doc, err = parser.Parse(parser.ParseParams{Source: source.NewSource(&source.Source{Body: []byte(query), Name: "GraphQL request"})})
				validate(b, &schema, doc, err)
				plain += time.Since(t1)
				checked += t1.Sub(t0)
			}
			n := float64(b.N)
			b.ReportMetric(float64(checked.Nanoseconds())/n/1000, "checks-µs/op")
			b.ReportMetric(float64(plain.Nanoseconds())/n/1000, "plain-µs/op")
			b.ReportMetric(float64(checked)/float64(plain), "checks/plain")
		})
	}
}

func validate(b *testing.B, schema *gql.Schema, doc *ast.Document, err error) {
	if err == nil {
		err = checkShape(doc)
	}
	if err != nil {
		b.Fatal(err)
	}
	if v := gql.ValidateDocument(schema, doc, gql.SpecifiedRules); !v.IsValid {
		b.Fatal(v.Errors[0].Message)
	}
}
