package auth

import (
	"context"
	"net/url"

	"github.com/wardhealth/ward"
)

// SubscriberPrincipal is the principal of author (a Subscription's
// meta.author: "Practitioner/…", "ClientApplication/…") in project: the
// membership whose profile it is, with that membership's access policy as
// it is now. Subscriptions are matched under it (package subscription),
// so an author whose membership is gone or inactive hears nothing.
func (s *Service) SubscriberPrincipal(ctx context.Context, projectID, author string) (*ward.Principal, error) {
	if author == "" {
		return nil, unauthorized()
	}
	found, err := s.searchSystem(ctx, "ProjectMembership", url.Values{"profile": {author}, "project": {"Project/" + projectID}})
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, unauthorized()
	}
	m, err := decodeAs[Membership](found[0])
	if err != nil {
		return nil, err
	}
	c, err := s.membershipCaller(ctx, m.ID)
	if err != nil {
		return nil, err
	}
	p := *c.Principal
	return &p, nil
}
