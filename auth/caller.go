package auth

import (
	"context"
	"net/http"

	"github.com/wardhealth/ward"
)

// Owned by the tokens work.

// Caller is an authenticated request's identity: the principal the store
// enforces plus the resources auth endpoints decide on.
type Caller struct {
	Principal  *ward.Principal
	Login      *Login // nil for Basic client auth
	Membership *Membership
	Project    *Project
	User       *User   // nil when the membership user is a ClientApplication
	Client     *Client // the ClientApplication of a client login, else nil
	// AccessPolicy is the computed policy JSON /auth/me returns.
	AccessPolicy map[string]any
}

// SuperAdmin reports membership of a superAdmin project.
func (c *Caller) SuperAdmin() bool { return c.Project != nil && c.Project.SuperAdmin }

// Admin reports a project admin (or super admin).
func (c *Caller) Admin() bool { return c.SuperAdmin() || (c.Membership != nil && c.Membership.Admin) }

// callerOf authenticates r (Bearer JWT or Basic client credentials).
// EUNAUTHORIZED when it carries no valid credentials.
func (s *Service) callerOf(ctx context.Context, r *http.Request) (*Caller, error) {
	return nil, ward.Errorf(ward.EUNAUTHORIZED, "Unauthorized")
}

// Authenticate is the FHIR API's caller resolution.
func (s *Service) Authenticate(r *http.Request) (*ward.Principal, error) {
	c, err := s.callerOf(r.Context(), r)
	if err != nil {
		return nil, err
	}
	return c.Principal, nil
}
