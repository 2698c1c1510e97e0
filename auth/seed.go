package auth

import (
	"context"
	"crypto/rand"
	"math/big"
	"net/url"

	"github.com/wardhealth/ward"
)

// seedAdminEmail is the first super admin (spec 1.9).
const seedAdminEmail = "admin@example.com"

// Seed prepares an empty database (spec 1.9): a signing key, the fixed
// "FHIR R4" project and, when no User exists, the super admin
// admin@example.com in a "Super Admin" project. Unlike Medplum there is no
// known default password: Config.AdminPassword, else a random one logged
// once. Run it before serving; it does nothing the second time.
//
// The seed takes several transactions, so it is resumable rather than
// atomic: a database whose only User is admin@example.com without its
// admin membership of a super admin project was left by a seed that
// stopped midway, and the next start creates what is missing (and sets
// the password again, since the one chosen before was never announced).
//
// Processes started together on one empty database take turns (the
// store's Exclusive, an advisory lock on PostgreSQL): the first seeds, the
// others find its super admin and signing key and do nothing.
func (s *Service) Seed(ctx context.Context) error {
	if err := s.checkAdminPassword(); err != nil {
		return err
	}
	if x, ok := s.store.(exclusiveStore); ok {
		return x.Exclusive(ctx, "seed", s.seed)
	}
	return s.seed(ctx)
}

// exclusiveStore runs work once per database at a time (store.Store).
type exclusiveStore interface {
	Exclusive(ctx context.Context, name string, fn func(ctx context.Context) error) error
}

func (s *Service) seed(ctx context.Context) error {
	if err := s.ensureSigningKey(ctx); err != nil {
		return err
	}
	if err := s.ensureR4Project(ctx); err != nil {
		return err
	}
	user, done, err := s.seedState(ctx)
	if err != nil || done {
		return err
	}
	password, generated := s.cfg.AdminPassword, false
	if password == "" {
		password, generated = randomPassword(24), true
	}
	if err := s.seedSuperAdmin(ctx, user, password); err != nil {
		return err
	}
	if generated {
		s.cfg.Logger.Warn("ward: created the super admin with a random password; sign in and change it",
			"email", seedAdminEmail, "password", password)
	} else {
		s.cfg.Logger.Info("ward: created the super admin", "email", seedAdminEmail)
	}
	return nil
}

// seedState tells a seeded (or otherwise used) database (done) from an
// empty one (user nil) and from one a stopped seed left (its admin user).
func (s *Service) seedState(ctx context.Context) (user *User, done bool, err error) {
	users, err := s.searchSystem(ctx, "User", url.Values{"_count": {"2"}})
	if err != nil || len(users) == 0 {
		return nil, false, err
	}
	if len(users) > 1 {
		return nil, true, nil
	}
	if user, err = s.userByEmail(ctx, seedAdminEmail, ""); err != nil || user == nil {
		return nil, user == nil, err
	}
	project, err := s.seedProject(ctx, user)
	if err != nil || project == nil {
		return user, false, err
	}
	m, err := s.seedMembership(ctx, project, user)
	return user, m != nil, err
}

// seedProject returns the super admin project user owns, or nil.
func (s *Service) seedProject(ctx context.Context, user *User) (*Project, error) {
	found, err := s.searchSystem(ctx, "Project", url.Values{"owner": {"User/" + user.ID}})
	if err != nil {
		return nil, err
	}
	for _, res := range found {
		p, err := decodeAs[Project](res)
		if err != nil {
			return nil, err
		}
		if p.SuperAdmin {
			return p, nil
		}
	}
	return nil, nil
}

// seedMembership returns user's admin membership of project, or nil.
func (s *Service) seedMembership(ctx context.Context, project *Project, user *User) (*Membership, error) {
	found, err := s.searchSystem(ctx, "ProjectMembership", url.Values{
		"project": {"Project/" + project.ID}, "user": {"User/" + user.ID}, "admin": {"true"},
	})
	if err != nil || len(found) == 0 {
		return nil, err
	}
	return decodeAs[Membership](found[0])
}

// ensureR4Project stores the FHIR R4 project under its fixed id.
func (s *Service) ensureR4Project(ctx context.Context) error {
	var p Project
	_, err := s.readJSON(ctx, "Project", ward.R4ProjectID, &p)
	if ward.ErrorCode(err) != ward.ENOTFOUND {
		return err
	}
	_, err = s.writeSystem(ctx, ward.R4ProjectID, "Project", ward.R4ProjectID,
		&Project{ResourceType: "Project", ID: ward.R4ProjectID, Name: "FHIR R4"})
	return err
}

// seedSuperAdmin creates what is missing of the super admin: the user
// (or, resuming, its new password), the Super Admin project with its
// default client (one transaction), the practitioner profile and the admin
// membership.
func (s *Service) seedSuperAdmin(ctx context.Context, user *User, password string) error {
	var err error
	if user == nil {
		user, err = s.createUser(ctx, NewUser{FirstName: "Medplum", LastName: "Admin", Email: seedAdminEmail, Password: password})
	} else {
		err = s.resetSeedPassword(ctx, user, password)
	}
	if err != nil {
		return err
	}
	project, err := s.seedProject(ctx, user)
	if err == nil && project == nil {
		project, err = s.createProject(ctx, "Super Admin", user.ID, true)
	}
	if err != nil {
		return err
	}
	profile, err := s.seedProfile(ctx, project)
	if err != nil {
		return err
	}
	_, err = s.createMembership(ctx, &Membership{
		Project: projectRef(project),
		User:    &Reference{Reference: "User/" + user.ID, Display: user.Email},
		Profile: profile,
		Admin:   true,
	})
	return err
}

// seedProfile returns the admin's Practitioner in project, creating it
// when a stopped seed did not.
func (s *Service) seedProfile(ctx context.Context, project *Project) (*Reference, error) {
	found, err := s.searchSystem(ctx, "Practitioner", url.Values{"_project": {project.ID}, "email": {seedAdminEmail}})
	if err != nil {
		return nil, err
	}
	if len(found) > 0 {
		return &Reference{Reference: found[0].Reference(), Display: "Medplum Admin"}, nil
	}
	return s.createProfile(ctx, project.ID, "Practitioner", "Medplum", "Admin", seedAdminEmail)
}

// resetSeedPassword sets the password of the admin a stopped seed created.
func (s *Service) resetSeedPassword(ctx context.Context, user *User, password string) error {
	var raw map[string]any
	if _, err := s.readJSON(ctx, "User", user.ID, &raw); err != nil {
		return err
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return err
	}
	raw["passwordHash"] = hash
	_, err = s.writeSystem(ctx, ward.SystemProjectID, "User", user.ID, raw)
	return err
}

// randomPassword returns n characters from an alphabet without look-alikes.
func randomPassword(n int) string {
	const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	out := make([]byte, n)
	for i := range out {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
		out[i] = alphabet[k.Int64()]
	}
	return string(out)
}
