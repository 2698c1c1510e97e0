package store

import (
	"net/url"
	"testing"

	"github.com/wardhealth/ward/search"
)

// TestOrDriver: only an or whose comparisons are all plain reference
// equalities is read from the references' index; anything else (a token, a
// negation, a chain, :identifier, an and) is checked row by row.
func TestOrDriver(t *testing.T) {
	for _, c := range []struct {
		filter string
		driven bool
	}{
		{"based-on eq Patient/1 or focus eq Patient/1 or subject eq Patient/1", true},
		{"subject eq Patient/1 or subject eq Group/2", true},
		{"subject eq Patient/1 or status eq requested", false},
		{"subject eq Patient/1 or not (focus eq Patient/1)", false},
		{"subject eq Patient/1 or subject ne Patient/2", false},
		{"subject eq Patient/1 or subject:Patient.name eq x", false},
		{"subject eq Patient/1 or owner identifier http://x|1", false},
		{"subject eq Patient/1 or _compartment eq Patient/1", false},
		{"subject eq Patient/1 or (focus eq Patient/1 and status eq requested)", false},
		{"subject eq Patient/1 and focus eq Patient/1", false},
	} {
		q, err := search.Parse("Task", url.Values{"_filter": {c.filter}})
		if err != nil {
			t.Fatalf("%s: %v", c.filter, err)
		}
		if got := orDriver(q.Filters) >= 0; got != c.driven {
			t.Errorf("%s: driven from the references' index = %v, want %v", c.filter, got, c.driven)
		}
	}
}
