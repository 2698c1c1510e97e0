package auth

import (
	"context"

	"github.com/wardhealth/ward"
)

// JobPrincipal resolves, as it is now, the caller an async job was
// started by, so another process of a fleet can run the job again when
// its own process died: the Login (revoked, or its membership gone or
// inactive: EUNAUTHORIZED) or, for Basic client credentials (loginID ""),
// the client's membership (the client inactive: EUNAUTHORIZED), then the
// on-behalf-of membership if the job ran as one. The policy is the one in
// force now, never the one the job started with.
func (s *Service) JobPrincipal(ctx context.Context, loginID, membershipID, onBehalfOf string) (*ward.Principal, error) {
	var c *Caller
	var err error
	if loginID != "" {
		c, err = s.loginCaller(ctx, loginID)
	} else if membershipID != "" {
		c, err = s.membershipCaller(ctx, membershipID)
		if err == nil && c.Client != nil && c.Client.Status != "" && c.Client.Status != "active" {
			err = unauthorized()
		}
	} else {
		err = unauthorized()
	}
	if err != nil {
		return nil, err
	}
	if onBehalfOf != "" {
		return s.onBehalfOf(ctx, c, onBehalfOf, loginID == "")
	}
	p := *c.Principal
	return &p, nil
}
