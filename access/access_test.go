package access

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/wardhealth/ward"
)

func tree(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
	return m
}

const projectID = "11111111-1111-4111-8111-111111111111"

// ruleView is what a test asserts of one rule.
type ruleView struct {
	Type     string
	Criteria string
	Inter    ward.Interaction
	Hidden   string
	Readonly string
}

func view(p *ward.Policy) []ruleView {
	var out []ruleView
	for _, r := range p.Rules {
		var crit []string
		for _, f := range r.Criteria {
			var vals []string
			for _, v := range f.Values {
				vals = append(vals, v.Prefix+v.Value)
			}
			key := f.Code
			if f.Modifier != "" {
				key += ":" + f.Modifier
			}
			crit = append(crit, key+"="+strings.Join(vals, ","))
		}
		out = append(out, ruleView{r.ResourceType, strings.Join(crit, "&"), r.Interactions,
			strings.Join(r.HiddenFields, ","), strings.Join(r.ReadonlyFields, ",")})
	}
	return out
}

var definitions = []ruleView{
	{Type: "SearchParameter", Inter: ward.InteractionReadOnly},
	{Type: "StructureDefinition", Inter: ward.InteractionReadOnly},
}

func TestBuild(t *testing.T) {
	project := `{"resourceType":"Project","id":"` + projectID + `"}`
	cases := []struct {
		name       string
		project    string
		membership string
		policies   map[string]string
		want       []ruleView
		entries    int // JSON entries when rules were merged (else len(want))
		compart    string
	}{
		{
			name:       "no policy is * (row 42)",
			membership: `{"profile":{"reference":"Practitioner/p1"},"access":[]}`,
			want:       append([]ruleView{{Type: "*", Inter: ward.InteractionAll}}, definitions...),
		},
		{
			name:       "readonly and interaction lists (rows 3, 46)",
			membership: `{"accessPolicy":{"reference":"AccessPolicy/a"}}`,
			policies: map[string]string{"AccessPolicy/a": `{"resource":[{"resourceType":"Patient","readonly":true},
				{"resourceType":"Condition","interaction":["create","read"]}]}`},
			want: append([]ruleView{{Type: "Patient", Inter: ward.InteractionReadOnly},
				{Type: "Condition", Inter: ward.InteractionCreate | ward.InteractionRead}}, definitions...),
		},
		{
			name: "parameters are substituted per entry, %org never rewrites %organization (row 28, 29)",
			membership: `{"profile":{"reference":"Patient/me"},"access":[
				{"policy":{"reference":"AccessPolicy/p"},"parameter":[{"name":"organization","valueReference":{"reference":"Organization/o1"}},{"name":"org","valueString":"WRONG"}]},
				{"policy":{"reference":"AccessPolicy/p"},"parameter":[{"name":"organization","valueReference":{"reference":"Organization/o2"}},{"name":"status","valueString":"a,b"}]}]}`,
			policies: map[string]string{"AccessPolicy/p": `{"compartment":{"reference":"%organization"},"resource":[
				{"resourceType":"Patient","criteria":"Patient?_compartment=%organization&_id=%patient.id"},
				{"resourceType":"Task","criteria":"Task?status=%status"}]}`},
			// Entries differing only in one filter's values are one rule
			// ORing them (the JSON form keeps all four).
			want: append([]ruleView{
				{Type: "Patient", Criteria: "_compartment=Organization/o1,Organization/o2&_id=me", Inter: ward.InteractionAll},
				{Type: "Task", Criteria: "status=%status,a,b", Inter: ward.InteractionAll},
			}, definitions...),
			entries: 6,
			compart: "Organization/o2",
		},
		{
			name:       "regular members lose admin types",
			membership: `{"accessPolicy":{"reference":"AccessPolicy/a"}}`,
			policies: map[string]string{"AccessPolicy/a": `{"resource":[{"resourceType":"*"},{"resourceType":"Project"},
				{"resourceType":"User"},{"resourceType":"ProjectMembership"}]}`},
			want: append([]ruleView{{Type: "*", Inter: ward.InteractionAll}}, definitions...),
		},
		{
			name:       "project admin gets the synthetic rules and cannot widen them (rows 30-33)",
			project:    `{"resourceType":"Project","id":"` + projectID + `","link":[{"project":{"reference":"Project/linked"}}]}`,
			membership: `{"admin":true,"accessPolicy":{"reference":"AccessPolicy/a"}}`,
			policies: map[string]string{"AccessPolicy/a": `{"resource":[{"resourceType":"Patient"},{"resourceType":"Project"},
				{"resourceType":"ProjectMembership"}]}`},
			want: append(append([]ruleView{{Type: "Patient", Inter: ward.InteractionAll}}, definitions...),
				ruleView{Type: "Project", Criteria: "_id=" + projectID, Inter: ward.InteractionAll &^ ward.InteractionDelete,
					Hidden: "superAdmin,systemSecret,strictMode", Readonly: "features,link,systemSetting"},
				ruleView{Type: "Project", Criteria: "_id=linked", Inter: ward.InteractionReadOnly,
					Hidden: "superAdmin,setting,systemSetting,secret,systemSecret,strictMode"},
				ruleView{Type: "ProjectMembership", Inter: ward.InteractionAll, Readonly: "project,user"},
				ruleView{Type: "UserSecurityRequest", Inter: ward.InteractionReadOnly},
				ruleView{Type: "User", Inter: ward.InteractionAll, Hidden: "passwordHash,mfaSecret", Readonly: "email,emailVerified,mfaEnrolled,project"}),
		},
		{
			name:       "super admin project keeps its admin rules and gains the others (row 36)",
			project:    `{"resourceType":"Project","id":"` + projectID + `","superAdmin":true}`,
			membership: `{"accessPolicy":{"reference":"AccessPolicy/a"}}`,
			policies: map[string]string{"AccessPolicy/a": `{"resource":[{"resourceType":"Patient"},
				{"resourceType":"ProjectMembership","criteria":"ProjectMembership?_id:not=x"}]}`},
			want: append(append([]ruleView{{Type: "Patient", Inter: ward.InteractionAll},
				{Type: "ProjectMembership", Criteria: "_id:not=x", Inter: ward.InteractionAll}}, definitions...),
				ruleView{Type: "Project", Inter: ward.InteractionAll},
				ruleView{Type: "User", Inter: ward.InteractionAll},
				ruleView{Type: "UserSecurityRequest", Inter: ward.InteractionAll}),
		},
		{
			name:       "criteria naming another type grant nothing",
			membership: `{"accessPolicy":{"reference":"AccessPolicy/a"}}`,
			policies:   map[string]string{"AccessPolicy/a": `{"resource":[{"resourceType":"Patient","criteria":"Observation?code=x"}]}`},
			want:       append([]ruleView{{Type: "Patient", Criteria: "_id:missing=true", Inter: ward.InteractionAll}}, definitions...),
		},
		{
			name:       "* criteria and an explicit StructureDefinition entry",
			membership: `{"profile":{"reference":"Patient/x"},"accessPolicy":{"reference":"AccessPolicy/a"}}`,
			policies: map[string]string{"AccessPolicy/a": `{"resource":[{"resourceType":"*","criteria":"*?_compartment=%patient"},
				{"resourceType":"StructureDefinition","interaction":["read"]}]}`},
			want: []ruleView{{Type: "*", Criteria: "_compartment=Patient/x", Inter: ward.InteractionAll},
				{Type: "StructureDefinition", Inter: ward.InteractionRead},
				{Type: "SearchParameter", Inter: ward.InteractionReadOnly}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := Input{Project: tree(t, project), Membership: tree(t, c.membership), Policies: map[string]map[string]any{}}
			if c.project != "" {
				in.Project = tree(t, c.project)
			}
			for ref, body := range c.policies {
				in.Policies[ref] = tree(t, body)
			}
			p, js, err := Build(in)
			if err != nil {
				t.Fatal(err)
			}
			if got := view(p); !reflect.DeepEqual(got, c.want) {
				t.Errorf("rules:\n got %+v\nwant %+v", got, c.want)
			}
			if p.Compartment != c.compart {
				t.Errorf("compartment = %q, want %q", p.Compartment, c.compart)
			}
			entries := len(c.want)
			if c.entries > 0 {
				entries = c.entries
			}
			if res, _ := js["resource"].([]any); len(res) != entries || js["resourceType"] != "AccessPolicy" {
				t.Errorf("JSON form has %d resource entries, want %d: %v", len(res), entries, js)
			}
		})
	}
}

func TestBuildJSON(t *testing.T) {
	in := Input{
		Project:    tree(t, `{"id":"`+projectID+`"}`),
		Membership: tree(t, `{"access":[{"policy":{"reference":"AccessPolicy/p"},"parameter":[{"name":"organization","valueReference":{"reference":"Organization/o1"}}]}]}`),
		Policies: map[string]map[string]any{"AccessPolicy/p": tree(t, `{"compartment":{"reference":"%organization"},
			"resource":[{"resourceType":"Patient","criteria":"Patient?_compartment=%organization","hiddenFields":["name"]}]}`)},
	}
	_, js, err := Build(in)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(js)
	want := `{"basedOn":[{"reference":"AccessPolicy/p"}],"compartment":{"reference":"Organization/o1"},"resource":[` +
		`{"criteria":"Patient?_compartment=Organization/o1","hiddenFields":["name"],"resourceType":"Patient"},` +
		`{"readonly":true,"resourceType":"SearchParameter"},{"readonly":true,"resourceType":"StructureDefinition"}],"resourceType":"AccessPolicy"}`
	if string(got) != want {
		t.Errorf("computed policy:\n got %s\nwant %s", got, want)
	}
}

// TestBuildMissingPolicy: row 47.
func TestBuildMissingPolicy(t *testing.T) {
	_, _, err := Build(Input{Membership: map[string]any{"accessPolicy": map[string]any{"reference": "AccessPolicy/gone"}}})
	if ward.ErrorCode(err) != ward.EINVALID || !strings.Contains(ward.ErrorMessage(err), "Invalid access policy configuration") {
		t.Errorf("missing policy: %v, want 400 Invalid access policy configuration", err)
	}
}

func TestReadScope(t *testing.T) {
	project := tree(t, `{"link":[{"project":{"reference":"Project/a"}},{"project":{"reference":"Project/missing"}}]}`)
	linked := map[string]map[string]any{"a": tree(t, `{"exportedResourceType":["Patient"]}`)}
	ids, types := ReadScope(project, linked)
	if !reflect.DeepEqual(ids, []string{"a"}) || !reflect.DeepEqual(types, map[string][]string{"a": {"Patient"}}) {
		t.Errorf("ReadScope = %v, %v", ids, types)
	}
}
