package auth

import (
	"context"

	"github.com/wardhealth/ward"
)

// Owned by the admin work. Creation of identity resources shared by the
// seed, registration and invite. Stubs until then.

// NewUser is a User to create. ProjectID "" makes a server-scoped user.
type NewUser struct {
	FirstName, LastName, Email, Password string
	ProjectID                            string
}

// createUser stores a new User (email lower-cased, password hashed; a
// random password when Password is "") and returns it with its id.
func (s *Service) createUser(ctx context.Context, u NewUser) (*User, error) {
	return nil, ward.Errorf(ward.EINTERNAL, "createUser: not implemented")
}

// createProject stores a new Project owned by ownerUserID, with its
// "<name> Default Client" ClientApplication and that client's membership.
func (s *Service) createProject(ctx context.Context, name, ownerUserID string, superAdmin bool) (*Project, error) {
	return nil, ward.Errorf(ward.EINTERNAL, "createProject: not implemented")
}

// createProfile stores a new profile resource (Practitioner, Patient,
// RelatedPerson) with name and work email in projectID and returns its reference.
func (s *Service) createProfile(ctx context.Context, projectID, resourceType, firstName, lastName, email string) (*Reference, error) {
	return nil, ward.Errorf(ward.EINTERNAL, "createProfile: not implemented")
}

// createMembership stores m (Project, User, Profile set) in m.Project's project.
func (s *Service) createMembership(ctx context.Context, m *Membership) (*Membership, error) {
	return nil, ward.Errorf(ward.EINTERNAL, "createMembership: not implemented")
}
