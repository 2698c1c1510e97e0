package auth

import (
	"context"
	"net/url"
	"strings"

	"github.com/wardhealth/ward"
)

// onBehalfOfHeader names the membership an admin acts for (spec 2.14).
const onBehalfOfHeader = "X-Medplum-On-Behalf-Of"

// onBehalfOf returns the principal of caller c acting for the membership
// named by value ("ProjectMembership/<id>" or "<ProfileType>/<id>" of a
// member of c's project): that membership's project, policy and admin
// flag, with c's author. Only admins may do this: 403 otherwise, 401 for
// Basic client credentials (Medplum's answers).
func (s *Service) onBehalfOf(ctx context.Context, c *Caller, value string, basic bool) (*ward.Principal, error) {
	if !c.Admin() {
		if basic {
			return nil, unauthorized()
		}
		return nil, ward.Errorf(ward.EFORBIDDEN, "Forbidden")
	}
	// Cached per admin membership and header like any caller: every
	// identity write clears it.
	key := c.Principal.MembershipID + "\x00" + c.Principal.LoginID + "\x00" + value
	if p := s.cache.onBehalf(key); p != nil {
		out := *p
		return &out, nil
	}
	before := s.cache.writes.Load()
	target, err := s.onBehalfOfMembership(ctx, c, strings.TrimSpace(value))
	if err != nil {
		return nil, err
	}
	t, err := s.membershipCaller(ctx, target.ID)
	if err != nil {
		return nil, ward.Errorf(ward.EFORBIDDEN, "Forbidden")
	}
	p := *t.Principal
	p.Author = c.Principal.Author
	p.LoginID = c.Principal.LoginID
	p.OnBehalfOf = "ProjectMembership/" + target.ID
	if target.Profile != nil && target.Profile.Reference != "" {
		p.OnBehalfOf = target.Profile.Reference
	}
	s.cache.putOnBehalf(key, &p, before)
	out := p
	return &out, nil
}

// onBehalfOfMembership resolves the header to a membership of c's project
// (any project for a super admin); 403 when there is none.
func (s *Service) onBehalfOfMembership(ctx context.Context, c *Caller, value string) (*Membership, error) {
	typ, id, ok := strings.Cut(value, "/")
	if !ok || typ == "" || id == "" {
		return nil, ward.Errorf(ward.EFORBIDDEN, "Forbidden")
	}
	var m *Membership
	if typ == "ProjectMembership" {
		var mm Membership
		if _, err := s.readJSON(ctx, "ProjectMembership", id, &mm, c.Project.ID); err == nil {
			m = &mm
		}
	} else {
		found, err := s.searchSystem(ctx, "ProjectMembership", url.Values{"profile": {typ + "/" + id}, "project": {"Project/" + c.Project.ID}})
		if err != nil {
			return nil, err
		}
		if len(found) > 0 {
			if m, err = decodeAs[Membership](found[0]); err != nil {
				return nil, err
			}
		}
	}
	if m == nil || (!c.SuperAdmin() && refID(m.Project, "Project") != c.Project.ID) {
		return nil, ward.Errorf(ward.EFORBIDDEN, "Forbidden")
	}
	return m, nil
}
