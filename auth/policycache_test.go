package auth

import (
	"context"
	"testing"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store/storetest"
)

// The effective policy is compiled once per version of the membership,
// project and policies: two logins of one member share it, and a policy
// change compiles a new one for the next request.
func TestPolicyCompiledOncePerVersion(t *testing.T) {
	st := storetest.OpenSQLite(t)
	f := newTokFixture(t, st)
	st.OnCommit(func(_ context.Context, w []*ward.Resource) { f.s.Invalidate(w) })
	ctx := context.Background()
	pol, err := f.s.writeSystem(ctx, f.project.ID, "AccessPolicy", "", map[string]any{
		"resourceType": "AccessPolicy", "resource": []any{map[string]any{"resourceType": "Patient"}}})
	if err != nil {
		t.Fatal(err)
	}
	setMembership(t, f, func(m map[string]any) { m["accessPolicy"] = map[string]any{"reference": pol.Reference()} })

	first, err := f.authenticate(f.accessToken(t)["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	second, err := f.authenticate(f.accessToken(t)["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if first.Policy != second.Policy {
		t.Error("two logins of one membership compiled the policy twice")
	}

	var stored map[string]any
	f.s.readJSON(ctx, "AccessPolicy", pol.ID, &stored)
	stored["resource"] = []any{map[string]any{"resourceType": "Observation"}}
	if _, err := f.s.writeSystem(ctx, f.project.ID, "AccessPolicy", pol.ID, stored); err != nil {
		t.Fatal(err)
	}
	third, err := f.authenticate(f.accessToken(t)["access_token"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if len(third.Policy.RulesFor("Observation", ward.InteractionRead)) != 1 || len(third.Policy.RulesFor("Patient", ward.InteractionRead)) != 0 {
		t.Errorf("after the policy changed: %+v, want Observation only", third.Policy.Rules)
	}
}

// Project.defaultProfile travels on the caller's Principal (the store
// stamps it on writes without reading the Project), and a change to the
// Project reaches a token already in use on its next request.
func TestDefaultProfilesFollowTheProject(t *testing.T) {
	st := storetest.OpenSQLite(t)
	f := newTokFixture(t, st)
	st.OnCommit(func(_ context.Context, w []*ward.Resource) { f.s.Invalidate(w) })
	ctx := context.Background()
	token := f.accessToken(t)["access_token"].(string)
	before, err := f.authenticate(token)
	if err != nil {
		t.Fatal(err)
	}
	if before.DefaultProfiles != nil {
		t.Fatalf("a project without defaultProfile gave %v", before.DefaultProfiles)
	}

	var project map[string]any
	if _, err := f.s.readJSON(ctx, "Project", f.project.ID, &project); err != nil {
		t.Fatal(err)
	}
	project["defaultProfile"] = []any{map[string]any{"resourceType": "Patient", "profile": []any{"http://example.org/p"}}}
	if _, err := f.s.writeSystem(ctx, f.project.ID, "Project", f.project.ID, project); err != nil {
		t.Fatal(err)
	}
	after, err := f.authenticate(token)
	if err != nil {
		t.Fatal(err)
	}
	if got := after.DefaultProfiles["Patient"]; len(got) != 1 || got[0] != "http://example.org/p" {
		t.Errorf("after the Project changed: %v, want Patient's profile", after.DefaultProfiles)
	}
}
