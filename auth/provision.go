package auth

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/wardhealth/ward"
)

// Creation of identity resources shared by the seed, registration and
// invite. Every write goes through the system principal: no caller's policy
// governs them, the callers of these functions have decided already.

// NewUser is a User to create. ProjectID "" makes a server-scoped user.
type NewUser struct {
	FirstName, LastName, Email, Password string
	ProjectID                            string
	// MfaRequired makes the user enrol in MFA at the next sign-in.
	MfaRequired bool
}

// emailRegisteredText is Medplum's text for a second user with the same
// email in the same scope.
const emailRegisteredText = "Email already registered"

// createUser stores a new User (email lower-cased, password hashed; a
// random password when Password is "") and returns it with its id.
//
// A user with the same email in the same scope (the same project, or the
// server) is ECONFLICT "Email already registered"; /auth/newuser turns that
// into Medplum's 400.
func (s *Service) createUser(ctx context.Context, u NewUser) (*User, error) {
	email := normalizeEmail(u.Email)
	if email != "" {
		existing, err := s.userByEmail(ctx, email, u.ProjectID)
		if err != nil {
			return nil, err
		}
		if existing != nil {
			return nil, &ward.Error{Code: ward.ECONFLICT, Message: emailRegisteredText, Expression: []string{"email"}}
		}
	}
	password := u.Password
	if password == "" {
		password = randomHex(32)
	} else if err := validateNewPassword(password, "password"); err != nil {
		return nil, err
	}
	hash, err := s.hashPassword(password)
	if err != nil {
		return nil, err
	}
	user := &User{
		ResourceType: "User",
		FirstName:    u.FirstName,
		LastName:     u.LastName,
		Email:        email,
		PasswordHash: hash,
	}
	if u.ProjectID != "" {
		user.Project = &Reference{Reference: "Project/" + u.ProjectID}
	}
	var body any = user
	if u.MfaRequired {
		// User models no MFA fields; the stored resource carries the flag.
		body = struct {
			*User
			MfaRequired bool `json:"mfaRequired"`
		}{user, true}
	}
	res, err := s.writeSystem(ctx, scopeProject(u.ProjectID), "User", "", body)
	if err != nil {
		return nil, err
	}
	return decodeAs[User](res)
}

// userByEmail returns the user with email in scope projectID ("" = the
// server-scoped user), or nil when there is none.
func (s *Service) userByEmail(ctx context.Context, email, projectID string) (*User, error) {
	found, err := s.searchSystem(ctx, "User", url.Values{
		"email:exact": {normalizeEmail(email)},
		"_project":    {scopeProject(projectID)},
	})
	if err != nil || len(found) == 0 {
		return nil, err
	}
	return decodeAs[User](found[0])
}

// scopeProject is the project column of a user of scope projectID: the
// project itself, or the system project for a server-scoped user.
func scopeProject(projectID string) string {
	if projectID == "" {
		return ward.SystemProjectID
	}
	return projectID
}

// normalizeEmail is how emails are stored and looked up: trimmed, lower case.
func normalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// createProject stores a new Project owned by ownerUserID, with its
// "<name> Default Client" ClientApplication and that client's membership.
// The project and its client are written in one transaction.
func (s *Service) createProject(ctx context.Context, name, ownerUserID string, superAdmin bool) (*Project, error) {
	id := ward.NewID()
	project := &Project{ResourceType: "Project", ID: id, Name: name, StrictMode: true, SuperAdmin: superAdmin}
	if ownerUserID != "" {
		project.Owner = &Reference{Reference: "User/" + ownerUserID}
	}
	var stored *ward.Resource
	err := s.store.Write(systemIn(ctx, id), func(ctx context.Context, tx ward.ResourceTx) error {
		var err error
		// A Project's meta.project is its own id, so it is written with a
		// chosen id (an update that creates) rather than a create.
		if stored, err = putIn(ctx, tx, id, "Project", id, project); err != nil {
			return err
		}
		_, _, err = s.createClientIn(ctx, tx, project, NewClient{
			Name:        name + " Default Client",
			Description: "Default client for " + name,
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return decodeAs[Project](stored)
}

// NewClient is a ClientApplication to create (POST /admin/projects/:id/client).
type NewClient struct {
	Name                 string         `json:"name"`
	Description          string         `json:"description,omitempty"`
	RedirectURI          string         `json:"redirectUri,omitempty"`
	RedirectURIs         []string       `json:"redirectUris,omitempty"`
	IdentityProvider     map[string]any `json:"identityProvider,omitempty"`
	AccessTokenLifetime  string         `json:"accessTokenLifetime,omitempty"`
	RefreshTokenLifetime string         `json:"refreshTokenLifetime,omitempty"`
	PkceOptional         bool           `json:"pkceOptional,omitempty"`
	// AccessPolicy and Admin go on the client's membership.
	AccessPolicy *Reference `json:"accessPolicy,omitempty"`
	Admin        bool       `json:"admin,omitempty"`
}

// createClient stores a ClientApplication with a fresh 64-hex secret in
// projectID and its membership (user = profile = the client), atomically.
func (s *Service) createClient(ctx context.Context, projectID string, req NewClient) (*Client, error) {
	var project Project
	if _, err := s.readJSON(ctx, "Project", projectID, &project); err != nil {
		return nil, err
	}
	var client *ward.Resource
	err := s.store.Write(systemIn(ctx, projectID), func(ctx context.Context, tx ward.ResourceTx) error {
		var err error
		client, _, err = s.createClientIn(ctx, tx, &project, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	return decodeAs[Client](client)
}

// createClientIn writes the client and its membership inside tx.
func (s *Service) createClientIn(ctx context.Context, tx ward.ResourceTx, project *Project, req NewClient) (client, membership *ward.Resource, err error) {
	body := map[string]any{
		"resourceType": "ClientApplication",
		"name":         req.Name,
		"secret":       randomHex(32),
	}
	setString(body, "description", req.Description)
	setString(body, "redirectUri", req.RedirectURI)
	setString(body, "accessTokenLifetime", req.AccessTokenLifetime)
	setString(body, "refreshTokenLifetime", req.RefreshTokenLifetime)
	if len(req.RedirectURIs) > 0 {
		body["redirectUris"] = req.RedirectURIs
	}
	if req.IdentityProvider != nil {
		body["identityProvider"] = req.IdentityProvider
	}
	if req.PkceOptional {
		body["pkceOptional"] = true
	}
	if client, err = createIn(ctx, tx, project.ID, "ClientApplication", body); err != nil {
		return nil, nil, err
	}
	self := &Reference{Reference: client.Reference(), Display: req.Name}
	m := &Membership{
		ResourceType: "ProjectMembership",
		Project:      projectRef(project),
		User:         self,
		Profile:      self,
		AccessPolicy: req.AccessPolicy,
		Admin:        req.Admin,
	}
	membership, err = createIn(ctx, tx, project.ID, "ProjectMembership", m)
	return client, membership, err
}

// NewProfile is a profile resource to create.
type NewProfile struct {
	ResourceType               string // Practitioner, Patient or RelatedPerson
	FirstName, LastName, Email string
	// Patient is RelatedPerson.patient (required by FHIR for that type).
	Patient *Reference
}

// createProfile stores a new profile resource (Practitioner, Patient,
// RelatedPerson) with name and work email in projectID and returns its reference.
func (s *Service) createProfile(ctx context.Context, projectID, resourceType, firstName, lastName, email string) (*Reference, error) {
	return s.createProfileOf(ctx, projectID, NewProfile{
		ResourceType: resourceType, FirstName: firstName, LastName: lastName, Email: email,
	})
}

// createProfileOf is createProfile with every option.
func (s *Service) createProfileOf(ctx context.Context, projectID string, p NewProfile) (*Reference, error) {
	switch p.ResourceType {
	case "Practitioner", "Patient", "RelatedPerson":
	default:
		return nil, badRequest("resourceType", "Invalid profile resourceType: "+p.ResourceType)
	}
	name := map[string]any{}
	if p.FirstName != "" {
		name["given"] = []string{p.FirstName}
	}
	setString(name, "family", p.LastName)
	body := map[string]any{"resourceType": p.ResourceType, "name": []any{name}}
	if email := normalizeEmail(p.Email); email != "" {
		body["telecom"] = []any{map[string]any{"system": "email", "use": "work", "value": email}}
	}
	if p.Patient != nil {
		body["patient"] = p.Patient
	}
	res, err := s.writeSystem(ctx, projectID, p.ResourceType, "", body)
	if err != nil {
		return nil, err
	}
	return &Reference{Reference: res.Reference(), Display: personName(p.FirstName, p.LastName)}, nil
}

// personName is the display of a profile reference: "First Last".
func personName(first, last string) string { return strings.TrimSpace(first + " " + last) }

// createMembership stores m (Project, User, Profile set) in m.Project's project.
func (s *Service) createMembership(ctx context.Context, m *Membership) (*Membership, error) {
	res, err := s.storeMembership(ctx, m)
	if err != nil {
		return nil, err
	}
	return decodeAs[Membership](res)
}

// storeMembership is createMembership returning the stored resource, whose
// JSON (with meta) is what the admin API answers.
func (s *Service) storeMembership(ctx context.Context, m *Membership) (*ward.Resource, error) {
	projectID := refID(m.Project, "Project")
	if projectID == "" || m.User == nil || m.Profile == nil {
		return nil, ward.Errorf(ward.EINTERNAL, "createMembership: project, user and profile are required")
	}
	m.ResourceType = "ProjectMembership"
	return s.writeSystem(ctx, projectID, "ProjectMembership", "", m)
}

// projectRef is the reference to p with its name as display.
func projectRef(p *Project) *Reference {
	return &Reference{Reference: "Project/" + p.ID, Display: p.Name}
}

// refID returns the id of ref when it points at a resource of type typ, else "".
func refID(ref *Reference, typ string) string {
	if ref == nil {
		return ""
	}
	id, ok := strings.CutPrefix(ref.Reference, typ+"/")
	if !ok || id == "" || strings.Contains(id, "/") {
		return ""
	}
	return id
}

// createIn creates v in projectID inside tx.
func createIn(ctx context.Context, tx ward.ResourceTx, projectID, typ string, v any) (*ward.Resource, error) {
	body, err := withProject(v, projectID)
	if err != nil {
		return nil, err
	}
	return tx.Create(ctx, typ, body)
}

// putIn writes v as typ/id in projectID inside tx (creating it when missing).
func putIn(ctx context.Context, tx ward.ResourceTx, projectID, typ, id string, v any) (*ward.Resource, error) {
	body, err := withProject(v, projectID)
	if err != nil {
		return nil, err
	}
	res, _, err := tx.Update(ctx, typ, id, body, "")
	return res, err
}

// decodeAs decodes a stored resource into a T.
func decodeAs[T any](res *ward.Resource) (*T, error) {
	v := new(T)
	if err := json.Unmarshal(res.Content, v); err != nil {
		return nil, err
	}
	return v, nil
}

// setString sets m[key] = v unless v is empty.
func setString(m map[string]any, key, v string) {
	if v != "" {
		m[key] = v
	}
}

// randomHex returns n random bytes hex-encoded (2n characters); client
// secrets use 32 bytes, as Medplum does.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b)
}
