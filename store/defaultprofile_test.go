package store_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

const (
	patientProfile = "http://example.org/StructureDefinition/clinic-patient"
	ownProfile     = "http://example.org/StructureDefinition/own"
)

// profilesOf returns meta.profile of stored content.
func profilesOf(t *testing.T, res *ward.Resource) []string {
	t.Helper()
	var r struct{ Meta struct{ Profile []string } }
	if err := json.Unmarshal(res.Content, &r); err != nil {
		t.Fatal(err)
	}
	return r.Meta.Profile
}

// TestDefaultProfile: row 65 — the default profile is stamped on a
// Patient written without meta.profile and leaves the accounts and
// compartments as they would be without it; a client's own profile,
// other types, other projects and system writes get no default.
func TestDefaultProfile(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		project := uuid.NewString()
		defaults := map[string][]string{"Patient": {patientProfile}}
		org := orgRef()
		admin := caller{admin: true, extended: true, defaults: defaults}.in(project)

		// Row 65.
		pat := create(t, s, admin, "Patient", `{"resourceType":"Patient","meta":{"accounts":[{"reference":"`+org+`"}]}}`)
		dr := create(t, s, admin, "DiagnosticReport", `{"resourceType":"DiagnosticReport","status":"final","code":{"text":"panel"},"subject":{"reference":"Patient/`+pat.ID+`"}}`)
		if got := profilesOf(t, pat); !slices.Equal(got, []string{patientProfile}) {
			t.Errorf("row 65: Patient meta.profile %v, want the default", got)
		}
		wantAccounts(t, s, "row 65: Patient", pat, org)
		wantAccounts(t, s, "row 65: DiagnosticReport", dr, org)
		if c := stampOf(t, dr.Content).compartment; !slices.Contains(c, "Patient/"+pat.ID) {
			t.Errorf("row 65: DiagnosticReport compartment %v lacks the Patient", c)
		}
		if got := profilesOf(t, dr); got != nil {
			t.Errorf("DiagnosticReport meta.profile %v, want none (no default for its type)", got)
		}

		clinician := caller{policy: compartmentPolicy(t, org, `[{"resourceType":"Patient"}]`), defaults: defaults}.in(project)
		other := caller{admin: true}.in(uuid.NewString())
		for _, c := range []struct {
			name string
			ctx  context.Context
			body string
			want []string
		}{
			{"no meta", admin, `{"resourceType":"Patient"}`, []string{patientProfile}},
			{"a clinician's create", clinician, `{"resourceType":"Patient"}`, []string{patientProfile}},
			{"the client's own profile", admin, `{"resourceType":"Patient","meta":{"profile":["` + ownProfile + `"]}}`, []string{ownProfile}},
			{"another project", other, `{"resourceType":"Patient"}`, nil},
			{"a system write", sysCtx(), `{"resourceType":"Patient","meta":{"project":"` + project + `"}}`, nil},
		} {
			res := create(t, s, c.ctx, "Patient", c.body)
			if got := profilesOf(t, res); !slices.Equal(got, c.want) {
				t.Errorf("%s: meta.profile %v, want %v", c.name, got, c.want)
			}
			if c.name == "a clinician's create" {
				wantAccounts(t, s, c.name, res, org) // the policy compartment, as without a default
			}
		}

		// An update without meta.profile gets it too, and the index has it.
		res, _, err := update(s, admin, "Patient", pat.ID, `{"resourceType":"Patient","id":"`+pat.ID+`","meta":{"accounts":[{"reference":"`+org+`"}]},"active":true}`, "")
		if err != nil || !slices.Equal(profilesOf(t, res), []string{patientProfile}) {
			t.Errorf("update: %v %s, want the default profile", err, res.Content)
		}
		// An extended admin's write without meta keeps the derived
		// accounts: the default profile's meta is not the client's.
		bare := create(t, s, admin, "Patient", `{"resourceType":"Patient"}`)
		if _, err := s.SetAccounts(admin, "Patient", bare.ID, []string{org}, false); err != nil {
			t.Fatal(err)
		}
		res, _, err = update(s, admin, "Patient", bare.ID, `{"resourceType":"Patient","id":"`+bare.ID+`","active":false}`, "")
		if err != nil {
			t.Fatal(err)
		}
		wantAccounts(t, s, "an extended admin's update without meta", res, org)
		found, err := trySearch(s, admin, "Patient", "_profile="+patientProfile+"&_count=100")
		if err != nil || !slices.Contains(ids(found.Matches), pat.ID) {
			t.Errorf("Patient?_profile=default: %v, want the defaulted Patient", err)
		}
	})
}
