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
func (s *Service) Seed(ctx context.Context) error {
	if err := s.ensureSigningKey(ctx); err != nil {
		return err
	}
	if err := s.ensureR4Project(ctx); err != nil {
		return err
	}
	users, err := s.searchSystem(ctx, "User", url.Values{"_count": {"1"}})
	if err != nil || len(users) > 0 {
		return err
	}
	password, generated := s.cfg.AdminPassword, false
	if password == "" {
		password, generated = randomPassword(24), true
	}
	if err := s.seedSuperAdmin(ctx, password); err != nil {
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

// seedSuperAdmin creates the user, the Super Admin project, the
// practitioner profile and the admin membership.
func (s *Service) seedSuperAdmin(ctx context.Context, password string) error {
	user, err := s.createUser(ctx, NewUser{FirstName: "Medplum", LastName: "Admin", Email: seedAdminEmail, Password: password})
	if err != nil {
		return err
	}
	project, err := s.createProject(ctx, "Super Admin", user.ID, true)
	if err != nil {
		return err
	}
	profile, err := s.createProfile(ctx, project.ID, "Practitioner", "Medplum", "Admin", seedAdminEmail)
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
