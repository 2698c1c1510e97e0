package auth

import (
	"context"
	"testing"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// A job's caller is resolved as it is now when another process takes the
// job over: the login's policy of the moment, and no principal at all
// once the membership is inactive or the login revoked.
func TestJobPrincipal(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		f := newTokFixture(t, st)
		tok := f.accessToken(t)["access_token"].(string)
		_, claims := claimsOf(t, tok)
		loginID := claims["login_id"].(string)

		p, err := f.s.JobPrincipal(ctx, loginID, "", "")
		if err != nil || p.ProjectID != f.project.ID || p.LoginID != loginID || p.Admin {
			t.Fatalf("a live login: %+v %v, want its member's principal in its project", p, err)
		}
		setMembership(t, f, func(m map[string]any) { m["admin"] = true })
		if p, err := f.s.JobPrincipal(ctx, loginID, "", ""); err != nil || !p.Admin {
			t.Errorf("after the admin flag was set: %+v %v, want the grant of now", p, err)
		}
		setMembership(t, f, func(m map[string]any) { m["active"] = false })
		if _, err := f.s.JobPrincipal(ctx, loginID, "", ""); ward.ErrorCode(err) != ward.EUNAUTHORIZED {
			t.Errorf("an inactive membership: %v, want 401", err)
		}
		setMembership(t, f, func(m map[string]any) { m["active"] = true })

		var login map[string]any
		f.s.readJSON(ctx, "Login", loginID, &login)
		login["revoked"] = true
		if _, err := f.s.writeSystem(ctx, ward.SystemProjectID, "Login", loginID, login); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.JobPrincipal(ctx, loginID, "", ""); ward.ErrorCode(err) != ward.EUNAUTHORIZED {
			t.Errorf("a revoked login: %v, want 401", err)
		}
		if _, err := f.s.JobPrincipal(ctx, "", "", ""); ward.ErrorCode(err) != ward.EUNAUTHORIZED {
			t.Errorf("no identity: %v, want 401", err)
		}
	})
}
