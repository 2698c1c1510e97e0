package auth

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestWSBindingToken: a binding token names its Subscription and the
// caller's project until it expires; an access token without
// subscription_id, a revoked login, a tampered or expired token and
// garbage are all refused.
func TestWSBindingToken(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newTokFixture(t, st)
		ctx := context.Background()
		caller := func() *ward.Principal {
			p, err := f.authenticate(f.accessToken(t)["access_token"].(string))
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		p := caller()
		token, expires, err := f.s.IssueWSBindingToken(ctx, p, "sub-1")
		if err != nil {
			t.Fatal(err)
		}
		if want := f.now.Add(time.Hour); !expires.Equal(want) {
			t.Errorf("expires %v, want %v", expires, want)
		}
		b, err := f.s.VerifyWSBindingToken(ctx, token)
		if err != nil {
			t.Fatalf("valid token refused: %v", err)
		}
		if b.SubscriptionID != "sub-1" || b.ProjectID != f.project.ID || b.Profile != p.Author || b.Profile == "" || !b.Expires.Equal(expires) {
			t.Errorf("binding %+v, want Subscription sub-1 in project %s for %s", b, f.project.ID, p.Author)
		}
		if _, _, err := f.s.IssueWSBindingToken(ctx, &ward.Principal{ProjectID: f.project.ID, MembershipID: f.member.ID}, "sub-1"); ward.ErrorCode(err) != ward.EINVALID {
			t.Errorf("a caller without a login got a token: %v", err)
		}

		revoked := caller()
		revokedToken, _, err := f.s.IssueWSBindingToken(ctx, revoked, "sub-1")
		if err != nil {
			t.Fatal(err)
		}
		if err := f.s.revokeLogin(ctx, revoked.LoginID); err != nil {
			t.Fatal(err)
		}
		_, claims := claimsOf(t, token)
		noSubscription := jwt.MapClaims{}
		for k, v := range claims {
			noSubscription[k] = v
		}
		delete(noSubscription, "subscription_id")
		plain := jwt.NewWithClaims(jwt.SigningMethodRS256, noSubscription)
		plain.Header["kid"] = f.s.keys.active.kid
		accessOnly, err := plain.SignedString(f.s.keys.active.priv)
		if err != nil {
			t.Fatal(err)
		}
		for name, bad := range map[string]string{
			"no subscription_id": accessOnly,
			"revoked login":      revokedToken,
			"tampered":           token[:len(token)-4] + "AAAA",
			"garbage":            "abc.def.ghi",
		} {
			if _, err := f.s.VerifyWSBindingToken(ctx, bad); ward.ErrorCode(err) != ward.EUNAUTHORIZED {
				t.Errorf("%s: %v, want unauthorized", name, err)
			}
		}
		f.now = f.now.Add(time.Hour + time.Second)
		if _, err := f.s.VerifyWSBindingToken(ctx, token); ward.ErrorCode(err) != ward.EUNAUTHORIZED {
			t.Errorf("expired token: %v, want unauthorized", err)
		}
	})
}
