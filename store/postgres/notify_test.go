package postgres

import (
	"reflect"
	"testing"

	"github.com/wardhealth/ward"
)

func TestParsePayload(t *testing.T) {
	cases := []struct {
		name, payload string
		want          []*ward.Resource
	}{
		{"own schema", "s1\nLogin/a\nAccessPolicy/b", []*ward.Resource{{Type: "Login", ID: "a"}, {Type: "AccessPolicy", ID: "b"}}},
		{"another schema is ignored", "s2\nLogin/a", nil},
		{"too many writes to list", "s1\n*", []*ward.Resource{{Type: "*"}}},
		{"non-identity types are dropped", "s1\nPatient/p\nProject/x", []*ward.Resource{{Type: "Project", ID: "x"}}},
		{"no list", "s1", nil},
	}
	for _, c := range cases {
		if got := parsePayload("s1", c.payload); !reflect.DeepEqual(got, c.want) && !(len(got) == 0 && len(c.want) == 0) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
