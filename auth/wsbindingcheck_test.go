package auth

import (
	"context"
	"testing"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestCheckWSBinding: a bound token's login checks out until it is
// revoked; a binding claiming another membership never does.
func TestCheckWSBinding(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newTokFixture(t, st)
		ctx := context.Background()
		p, err := f.authenticate(f.accessToken(t)["access_token"].(string))
		if err != nil {
			t.Fatal(err)
		}
		token, _, err := f.s.IssueWSBindingToken(ctx, p, "sub-1")
		if err != nil {
			t.Fatal(err)
		}
		b, err := f.s.VerifyWSBindingToken(ctx, token)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.s.CheckWSBinding(ctx, token, b); err != nil {
			t.Fatalf("a valid binding failed its check: %v", err)
		}
		other := *b
		other.MembershipID = "another-membership"
		if err := f.s.CheckWSBinding(ctx, token, &other); ward.ErrorCode(err) != ward.EUNAUTHORIZED {
			t.Errorf("a binding of another membership checked out: %v", err)
		}
		if err := f.s.revokeLogin(ctx, p.LoginID); err != nil {
			t.Fatal(err)
		}
		if err := f.s.CheckWSBinding(ctx, token, b); ward.ErrorCode(err) != ward.EUNAUTHORIZED {
			t.Errorf("the binding of a revoked login checked out: %v", err)
		}
	})
}

// BenchmarkCheckWSBinding: the check made before each WebSocket
// notification and heartbeat, with the login cached (the usual case).
func BenchmarkCheckWSBinding(b *testing.B) {
	// The check reads nothing while cached: one engine is enough.
	b.Run("sqlite", func(b *testing.B) {
		f := newTokFixture(b, storetest.OpenSQLite(b))
		ctx := context.Background()
		p, err := f.authenticate(f.accessToken(b)["access_token"].(string))
		if err != nil {
			b.Fatal(err)
		}
		token, _, err := f.s.IssueWSBindingToken(ctx, p, "sub-1")
		if err != nil {
			b.Fatal(err)
		}
		grant, err := f.s.VerifyWSBindingToken(ctx, token)
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			if err := f.s.CheckWSBinding(ctx, token, grant); err != nil {
				b.Fatal(err)
			}
		}
	})
}
