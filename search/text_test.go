package search

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/wardhealth/ward"
)

// TestParseRefusesNULAndBadUTF8: PostgreSQL refuses a NUL or invalid UTF-8
// in a query argument (a 500 there), so Parse refuses them for every
// surface alike, naming the parameter.
func TestParseRefusesNULAndBadUTF8(t *testing.T) {
	cases := []struct {
		typ, query string // raw query, percent-encoded
		param      string // the expression the error names
		message    string
	}{
		{"Patient", "name=%00", "name", "NUL"},
		{"Patient", "identifier=a%00b", "identifier", "NUL"},
		{"Patient", "_id=%00", "_id", "NUL"},
		{"Patient", "name:exact=%FF", "name:exact", "UTF-8"},
		{"Patient", "na%00me=x", `na\x00me`, "NUL"},
		{"Patient", "na%FFme=x", `na\xffme`, "UTF-8"},
		{"Observation", "subject:Patient.name=a%00", "subject:Patient.name", "NUL"},
		{"Patient", "_has:Observation:subject:code=%00", "_has:Observation:subject:code", "NUL"},
		{"Patient", "_filter=name%20eq%20%22a%00%22", "_filter", "NUL"},
		{"Patient", "_sort=%00", "_sort", "NUL"},
		{"Patient", "_include=Patient:organization%00", "_include", "NUL"},
		{"Patient", "name=ok&birthdate=1970%00", "birthdate", "NUL"},
	}
	for _, c := range cases {
		t.Run(c.query, func(t *testing.T) {
			v, err := url.ParseQuery(c.query)
			if err != nil {
				t.Fatal(err)
			}
			for _, parse := range []func() error{
				func() error { _, err := Parse(c.typ, v); return err },
				func() error { _, err := ParseCriteria(c.typ + "?" + c.query); return err },
			} {
				err := parse()
				var e *ward.Error
				if !errors.As(err, &e) || e.Code != ward.EINVALID {
					t.Fatalf("got %v, want EINVALID", err)
				}
				if len(e.Expression) != 1 || e.Expression[0] != c.param || !strings.Contains(e.Message, c.message) {
					t.Errorf("got %q %q, want expression %q and a message naming %s", e.Expression, e.Message, c.param, c.message)
				}
			}
		})
	}
}
