package auth

import (
	"context"
	"encoding/base64"
	"testing"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// Row 14: a ClientApplication's membership with AP [Patient], through
// Basic client credentials: creating a Patient works, an Observation is 403.
func TestClientMembershipPolicy(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newTokFixture(t, st)
		st.OnCommit(func(_ context.Context, w []*ward.Resource) { f.s.Invalidate(w) })
		ctx := context.Background()
		pol, err := f.s.writeSystem(ctx, f.project.ID, "AccessPolicy", "", map[string]any{
			"resourceType": "AccessPolicy", "resource": []any{map[string]any{"resourceType": "Patient"}}})
		if err != nil {
			t.Fatal(err)
		}
		m, err := f.s.clientMembership(ctx, f.client.ID)
		if err != nil || m == nil {
			t.Fatalf("client membership: %v", err)
		}
		var mm map[string]any
		f.s.readJSON(ctx, "ProjectMembership", m.ID, &mm)
		mm["accessPolicy"] = map[string]any{"reference": pol.Reference()}
		if _, err := f.s.writeSystem(ctx, f.project.ID, "ProjectMembership", m.ID, mm); err != nil {
			t.Fatal(err)
		}
		r := authRequest("")
		r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(f.client.ID+":"+f.client.Secret)))
		p, err := f.s.Authenticate(r)
		if err != nil {
			t.Fatal(err)
		}
		pctx := ward.NewContextWithPrincipal(ctx, p)
		cases := []struct{ typ, body, want string }{
			{"Patient", `{"resourceType":"Patient"}`, ""},
			{"Observation", `{"resourceType":"Observation","status":"final","code":{"text":"x"}}`, ward.EFORBIDDEN},
		}
		for _, c := range cases {
			err := st.Write(pctx, func(ctx context.Context, tx ward.ResourceTx) error {
				_, err := tx.Create(ctx, c.typ, []byte(c.body))
				return err
			})
			if ward.ErrorCode(err) != c.want {
				t.Errorf("create %s = %v, want %q", c.typ, err, c.want)
			}
		}
		// On-behalf-of over Basic by a non-admin client is 401 (spec 2.14).
		r.Header.Set(onBehalfOfHeader, "ProjectMembership/"+f.member.ID)
		if _, err := f.s.Authenticate(r); ward.ErrorCode(err) != ward.EUNAUTHORIZED {
			t.Errorf("non-admin client on behalf of = %v, want 401", err)
		}
	})
}
