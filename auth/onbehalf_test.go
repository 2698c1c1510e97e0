package auth

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// Spec 2.14: an admin acting on behalf of a member runs with the member's
// policy and admin flag; meta.author stays the admin, meta.onBehalfOf
// names the member. A non-admin gets 403.
func TestOnBehalfOf(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newTokFixture(t, st)
		st.OnCommit(func(_ context.Context, w []*ward.Resource) { f.s.Invalidate(w) })
		ctx := context.Background()
		bob, err := f.s.createUser(ctx, NewUser{FirstName: "Bob", LastName: "Jones", Email: "bob@example.com", Password: "correct horse"})
		if err != nil {
			t.Fatal(err)
		}
		member := f.addMember(t, f.project, bob, false)
		pol, err := f.s.writeSystem(ctx, f.project.ID, "AccessPolicy", "", map[string]any{
			"resourceType": "AccessPolicy", "resource": []any{map[string]any{"resourceType": "Patient"}}})
		if err != nil {
			t.Fatal(err)
		}
		var mm map[string]any
		f.s.readJSON(ctx, "ProjectMembership", member.ID, &mm)
		mm["accessPolicy"] = map[string]any{"reference": pol.Reference()}
		if _, err := f.s.writeSystem(ctx, f.project.ID, "ProjectMembership", member.ID, mm); err != nil {
			t.Fatal(err)
		}
		tok := f.accessToken(t)["access_token"].(string)
		asBob := func(value string) (*ward.Principal, error) {
			r := authRequest(tok)
			r.Header.Set(onBehalfOfHeader, value)
			return f.s.Authenticate(r)
		}

		if _, err := asBob("ProjectMembership/" + member.ID); ward.ErrorCode(err) != ward.EFORBIDDEN {
			t.Fatalf("non-admin on behalf of = %v, want 403", err)
		}
		setMembership(t, f, func(m map[string]any) { m["admin"] = true })
		for _, value := range []string{"ProjectMembership/" + member.ID, member.Profile.Reference} {
			p, err := asBob(value)
			if err != nil {
				t.Fatalf("admin on behalf of %s: %v", value, err)
			}
			if p.Admin || p.Author != f.member.Profile.Reference || p.OnBehalfOf != member.Profile.Reference ||
				len(p.Policy.RulesFor("Observation", ward.InteractionCreate)) != 0 || len(p.Policy.RulesFor("Patient", ward.InteractionCreate)) != 1 {
				t.Errorf("principal on behalf of %s: %+v, want Bob's policy, not admin, author the admin", value, p)
			}
		}
		if _, err := asBob("ProjectMembership/" + ward.NewID()); ward.ErrorCode(err) != ward.EFORBIDDEN {
			t.Errorf("unknown membership = %v, want 403", err)
		}

		// Cached like any caller, and dropped by a change to the member.
		var stored map[string]any
		f.s.readJSON(ctx, "AccessPolicy", pol.ID, &stored)
		stored["resource"] = []any{map[string]any{"resourceType": "Patient"}, map[string]any{"resourceType": "Observation"}}
		if _, err := f.s.writeSystem(ctx, f.project.ID, "AccessPolicy", pol.ID, stored); err != nil {
			t.Fatal(err)
		}
		if p, err := asBob("ProjectMembership/" + member.ID); err != nil || len(p.Policy.RulesFor("Observation", ward.InteractionCreate)) != 1 {
			t.Errorf("after Bob's policy changed: %+v %v, want Observation granted", p, err)
		}

		p, _ := asBob("ProjectMembership/" + member.ID)
		extended := *p // meta.author is shown in extended mode only
		extended.Extended = true
		var created *ward.Resource
		err = st.Write(ward.NewContextWithPrincipal(ctx, &extended), func(ctx context.Context, tx ward.ResourceTx) error {
			var err error
			created, err = tx.Create(ctx, "Patient", []byte(`{"resourceType":"Patient"}`))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Meta struct {
				Author, OnBehalfOf struct{ Reference string }
			}
		}
		json.Unmarshal(created.Content, &body)
		if body.Meta.Author.Reference != f.member.Profile.Reference || body.Meta.OnBehalfOf.Reference != member.Profile.Reference {
			t.Errorf("meta = %+v, want author the admin and onBehalfOf Bob", body.Meta)
		}
	})
}
