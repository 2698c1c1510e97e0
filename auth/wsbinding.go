package auth

import (
	"context"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/wardhealth/ward"
)

// WSBindingLifetime is how long a WebSocket binding token is valid:
// Medplum's hour.
const WSBindingLifetime = time.Hour

// WSBinding is what a verified WebSocket binding token says: the
// Subscription it binds and the caller it was issued to, as they are now.
type WSBinding struct {
	SubscriptionID string
	ProjectID      string // the project of the caller's membership
	Profile        string // the caller's profile, "Practitioner/…"
	LoginID        string
	MembershipID   string // the membership the token was issued for
	Expires        time.Time
}

// wsBindingClaims are the claims Medplum adds to an access token to make
// it a binding token.
type wsBindingClaims struct {
	jwt.RegisteredClaims
	SubscriptionID string `json:"subscription_id"`
	MembershipID   string `json:"membership_id"`
	Profile        string `json:"profile"`
}

// IssueWSBindingToken signs, with the server's keys, a token binding
// subscriptionID to p's login and membership for WSBindingLifetime
// (Subscription/$get-ws-binding-token). Like Medplum's it is an access
// token of the same login with subscription_id and membership_id added,
// so it never grants more than the caller already has. A caller without a
// login (Basic client credentials) gets none.
func (s *Service) IssueWSBindingToken(ctx context.Context, p *ward.Principal, subscriptionID string) (string, time.Time, error) {
	if p == nil || p.LoginID == "" || p.MembershipID == "" {
		return "", time.Time{}, ward.Errorf(ward.EINVALID, "Login missing user")
	}
	userID := refIDAny(p.User)
	token, err := s.signJWT(ctx, jwt.MapClaims{
		"client_id": p.ClientID, "login_id": p.LoginID, "sub": userID, "username": userID,
		"scope": p.Scope, "profile": p.Author,
		"subscription_id": subscriptionID, "membership_id": p.MembershipID,
	}, WSBindingLifetime)
	return token, s.cfg.Now().Add(WSBindingLifetime), err
}

// VerifyWSBindingToken checks a binding token — our signature and issuer,
// not expired, a subscription_id — and that its login is still valid and
// still on the membership it was issued for. Any failure is EUNAUTHORIZED.
func (s *Service) VerifyWSBindingToken(ctx context.Context, token string) (*WSBinding, error) {
	verified, err := s.parseJWT(ctx, token)
	if err != nil {
		return nil, err
	}
	var extra wsBindingClaims
	// The signature was verified just above: only the claims are read here.
	if _, _, err := jwt.NewParser().ParseUnverified(token, &extra); err != nil {
		return nil, badToken()
	}
	if extra.SubscriptionID == "" || verified.LoginID == "" || verified.ExpiresAt == nil {
		return nil, badToken()
	}
	c, err := s.loginCaller(ctx, verified.LoginID)
	if err != nil {
		return nil, badToken()
	}
	if extra.MembershipID != "" && c.Membership.ID != extra.MembershipID {
		return nil, badToken()
	}
	return &WSBinding{SubscriptionID: extra.SubscriptionID, ProjectID: c.Principal.ProjectID, Profile: extra.Profile,
		LoginID: verified.LoginID, MembershipID: c.Membership.ID, Expires: verified.ExpiresAt.Time}, nil
}

// CheckWSBinding checks again, for a socket bound with token, that the
// token's login is still valid and still on b's membership: EUNAUTHORIZED
// once it is revoked or the membership is gone. It reads through the
// caller cache, as every request does — a hit costs no query, and a
// login revoked in this process (Invalidate) or in another one on the
// same PostgreSQL database (NOTIFY) is dropped from it at once, else
// within cacheMaxAge — so package subscription can call it before each
// notification and each heartbeat.
func (s *Service) CheckWSBinding(ctx context.Context, token string, b *WSBinding) error {
	c, err := s.bearerCaller(ctx, token)
	if err != nil {
		return err
	}
	if c.Membership == nil || c.Membership.ID != b.MembershipID || c.Principal.ProjectID != b.ProjectID {
		return badToken()
	}
	return nil
}

// refIDAny is the id of a "Type/id" reference of any type.
func refIDAny(ref string) string {
	for i := len(ref) - 1; i >= 0; i-- {
		if ref[i] == '/' {
			return ref[i+1:]
		}
	}
	return ref
}
