package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestIdentityHomes: a ClientApplication and the memberships naming a User
// or a client leave, in their own transaction, the projects an identity
// lookup must read (store.IdentityHomes); nothing else does, a write
// rolled back leaves none, only system principals may ask, and the
// migration's backfill finds the same homes from the stored rows.
func TestIdentityHomes(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		const (
			p1 = "0e000000-0000-4000-8000-000000000001"
			p2 = "0e000000-0000-4000-8000-000000000002"
			p3 = "0e000000-0000-4000-8000-000000000003"
		)
		client := sysCreate(t, s, p1, "ClientApplication", `{"name":"Service","secret":"s3cret"}`)
		elsewhere := sysCreate(t, s, p3, "ClientApplication", `{"name":"Other"}`)
		sysCreate(t, s, p1, "ProjectMembership", `{"project":{"reference":"Project/`+p1+`"},"user":{"reference":"ClientApplication/`+client.ID+`"},"profile":{"reference":"ClientApplication/`+client.ID+`"}}`)
		sysCreate(t, s, p2, "ProjectMembership", `{"project":{"reference":"Project/`+p2+`"},"user":{"reference":"ClientApplication/`+client.ID+`"},"profile":{"reference":"ClientApplication/`+client.ID+`"}}`)
		for _, p := range []string{p1, p3, p3} { // twice in p3: one home
			sysCreate(t, s, p, "ProjectMembership", `{"project":{"reference":"Project/`+p+`"},"user":{"reference":"User/u1"},"profile":{"reference":"Practitioner/x"}}`)
		}
		sysCreate(t, s, p2, "ProjectMembership", `{"project":{"reference":"Project/`+p2+`"},"user":{"reference":"Bot/b1"},"profile":{"reference":"Bot/b1"}}`)
		sysCreate(t, s, p2, "Patient", `{"managingOrganization":{"reference":"User/u3"}}`)
		rolledBack := errors.New("rolled back")
		err := s.Write(ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipalIn(p2)), func(ctx context.Context, tx ward.ResourceTx) error {
			if _, err := tx.Create(ctx, "ProjectMembership", []byte(`{"resourceType":"ProjectMembership","meta":{"project":"`+p2+`"},"project":{"reference":"Project/`+p2+`"},"user":{"reference":"User/u2"},"profile":{"reference":"Patient/p"}}`)); err != nil {
				return err
			}
			return rolledBack
		})
		if !errors.Is(err, rolledBack) {
			t.Fatalf("rolled-back write: %v", err)
		}

		want := map[string][]string{
			"ClientApplication/" + client.ID:    {p1, p2}, // its own project, and a membership's elsewhere
			"ClientApplication/" + elsewhere.ID: {p3},     // no membership: its own project
			"User/u1":                           {p1, p3},
			"User/u2":                           nil, // its membership was rolled back
			"User/u3":                           nil, // a Patient's reference is no membership
			"Bot/b1":                            nil, // only Users and clients authenticate by them
			"User/nobody":                       nil,
		}
		check := func(when string) {
			t.Helper()
			for ref, w := range want {
				got, err := s.IdentityHomes(sysCtx(), ref)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(got, w) {
					t.Errorf("%s: homes of %s are %v, want %v", when, ref, got, w)
				}
			}
		}
		check("written")

		if _, err := s.WriterDB().Exec("DELETE FROM identity_homes"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.WriterDB().Exec(store.HomesBackfill(s.Dialect().Name())); err != nil {
			t.Fatalf("the migration's backfill: %v", err)
		}
		check("backfilled")

		member := ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: p1, Admin: true})
		if _, err := s.IdentityHomes(member, "User/u1"); ward.ErrorCode(err) != ward.EFORBIDDEN {
			t.Errorf("a project admin asks where User/u1 is a member: %v, want forbidden", err)
		}
	})
}
