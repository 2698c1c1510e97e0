package csvexport

import (
	"slices"
	"strings"
	"testing"
)

// TestReadMembers: a row decodes only the members its columns start from,
// and the whole resource when a column may read anything.
func TestReadMembers(t *testing.T) {
	for _, c := range []struct {
		fields string
		want   string // sorted members; "all" for the whole resource
	}{
		{"id,name,birthdate", "birthDate id name resourceType"},
		{"_lastUpdated,gender", "gender meta resourceType"},
		{"name.where(use='official').given,telecom[0]", "name resourceType telecom"},
		{"deceased", "deceased resourceType"},
		{"phone", "resourceType telecom"},
		{"name | address", "address name resourceType"},
		{"%resource.name", "all"},
		{"name.where(family = %resource.id)", "all"},
		{"children()", "all"},
		{"Patient.name.family", "name resourceType"},
	} {
		t.Run(c.fields, func(t *testing.T) {
			columns, err := Columns("Patient", c.fields)
			if err != nil {
				t.Fatal(err)
			}
			need := readMembers("Patient", columns)
			got := "all"
			if need != nil {
				var names []string
				for n := range need {
					names = append(names, n)
				}
				slices.Sort(names)
				got = strings.Join(names, " ")
			}
			if got != c.want {
				t.Errorf("%s reads %q, want %q", c.fields, got, c.want)
			}
		})
	}
	need := members{"resourceType": true, "deceased": true, "birthDate": true}
	data, _ := need.project([]byte(`{"resourceType":"Patient","id":"x","deceasedBoolean":false,"_birthDate":{"extension":[]},"birthDate":"2000","name":[]}`))
	if string(data) != `{"resourceType":"Patient","deceasedBoolean":false,"_birthDate":{"extension":[]},"birthDate":"2000"}` {
		t.Errorf("projected %s", data)
	}
}
