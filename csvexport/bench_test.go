package csvexport

import (
	"context"
	"fmt"
	"testing"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhirpath"
)

// BenchmarkRows: the cells of 1,000 Patients (six columns), decoding only
// the members the columns read vs the whole resource.
// Run: go test ./csvexport/ -run XXX -bench Rows
func BenchmarkRows(b *testing.B) {
	resources := make([]*ward.Resource, 1000)
	for i := range resources {
		resources[i] = &ward.Resource{Type: "Patient", ID: fmt.Sprint(i), Content: fmt.Appendf(nil, `{"resourceType":"Patient","id":"%d",
			"meta":{"versionId":"1","lastUpdated":"2026-12-07T00:00:00.000Z"},
			"text":{"status":"generated","div":"<div xmlns=\"http://www.w3.org/1999/xhtml\">Pat Q Family%04d, female, 1 Main St, Springfield</div>"},
			"extension":[{"url":"http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex","valueCode":"F"}],
			"identifier":[{"system":"http://hospital.example/mrn","value":"MRN%06d"}],
			"name":[{"given":["Pat","Q"],"family":"Family%04d"}],"gender":"female","birthDate":"1980-03-04",
			"address":[{"line":["%d Main St"],"city":"Springfield","state":"IL","postalCode":"62701"}],
			"telecom":[{"system":"phone","value":"555-%04d"}]}`, i, i, i, i, i, i)}
	}
	columns, err := Columns("Patient", "id,name,birthdate,gender,address,telecom")
	if err != nil {
		b.Fatal(err)
	}
	whole := []Column{{name: "x", expr: columns[0].expr}, {name: "%resource", expr: mustExpr(b, "%resource.id")}}
	for _, c := range []struct {
		name    string
		columns []Column
	}{{"projected", columns}, {"whole", append(whole, columns[1:]...)}} {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				if _, err := Rows(context.Background(), c.columns, resources); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func mustExpr(b *testing.B, src string) *fhirpath.Expr {
	e, err := fhirpath.Parse(src)
	if err != nil {
		b.Fatal(err)
	}
	return e
}
