package store

import (
	"strings"
	"testing"

	"github.com/wardhealth/ward/fhir"
)

// TestPreparedRowsIgnoreVersionMeta: PrepareCreate extracts a create's
// index rows before its versionId and lastUpdated exist (they are drawn
// in the transaction, in commit order). That holds while no search
// parameter with index rows reads them; _lastUpdated is a column.
func TestPreparedRowsIgnoreVersionMeta(t *testing.T) {
	for _, typ := range fhir.ResourceTypes() {
		for _, p := range fhir.SearchParams(typ) {
			if p.Code == "_lastUpdated" {
				continue
			}
			for _, field := range []string{"meta.versionId", "meta.lastUpdated"} {
				if strings.Contains(p.Expression, field) {
					t.Errorf("%s %s reads %s (%q): PrepareCreate's rows would miss it", typ, p.Code, field, p.Expression)
				}
			}
		}
	}
}
