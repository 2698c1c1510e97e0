package auth

import (
	"context"
	"encoding/json"
	"net/mail"
	"net/url"
	"strings"

	"github.com/wardhealth/ward"
)

// POST /admin/projects/:projectId/invite (spec 5.10): add a person to a
// project, creating their User and profile when needed.

// inviteRequest is the invite body.
type inviteRequest struct {
	ResourceType       string            `json:"resourceType"`
	FirstName          string            `json:"firstName"`
	LastName           string            `json:"lastName"`
	Email              string            `json:"email"`
	ExternalID         string            `json:"externalId"`
	Password           string            `json:"password"`
	SendEmail          *bool             `json:"sendEmail"`
	Scope              string            `json:"scope"`
	Upsert             bool              `json:"upsert"`
	ForceNewMembership bool              `json:"forceNewMembership"`
	MfaRequired        bool              `json:"mfaRequired"`
	Patient            *Reference        `json:"patient"`
	Membership         *inviteMembership `json:"membership"`
	// Deprecated top-level aliases of the membership fields.
	AccessPolicy *Reference     `json:"accessPolicy"`
	Access       []MemberAccess `json:"access"`
	Admin        *bool          `json:"admin"`
}

// inviteMembership is the part of the new membership the inviter chooses.
type inviteMembership struct {
	AccessPolicy *Reference     `json:"accessPolicy,omitempty"`
	Access       []MemberAccess `json:"access,omitempty"`
	Admin        *bool          `json:"admin,omitempty"`
	Profile      *Reference     `json:"profile,omitempty"`
}

// inviteResult is the stored membership, and the email failure that turns
// a successful invite into Medplum's 200 OperationOutcome.
type inviteResult struct {
	Membership *ward.Resource
	EmailError error
}

// Medplum's texts for invite conflicts.
const (
	alreadyMemberText        = "User is already a member of this project"
	alreadyMemberProfileText = "User is already a member of this project with a different profile"
	externalIDTakenText      = "ProjectMembership with this externalId already exists"
	emailFailedText          = "Could not send email. Make sure you have AWS SES set up."
)

// validate applies Medplum's request checks, each a 400 naming its field.
func (r *inviteRequest) validate() error {
	switch r.ResourceType {
	case "Practitioner", "Patient", "RelatedPerson":
	default:
		return badRequest("resourceType", "Invalid resourceType")
	}
	if strings.TrimSpace(r.FirstName) == "" {
		return badRequest("firstName", "First name is required")
	}
	if strings.TrimSpace(r.LastName) == "" {
		return badRequest("lastName", "Last name is required")
	}
	if (r.Email == "" && r.ExternalID == "") || (r.Email != "" && !isEmailAddress(r.Email)) {
		return badRequest("email", "Valid email address is required")
	}
	if r.Password != "" {
		if err := validateNewPassword(r.Password, "password"); err != nil {
			return err
		}
	}
	switch r.Scope {
	case "", "project", "server":
	default:
		return badRequest("scope", "Invalid scope")
	}
	if r.ResourceType == "RelatedPerson" && r.Patient == nil && r.membership().Profile == nil {
		return badRequest("patient", "Patient is required for RelatedPerson")
	}
	return nil
}

// isEmailAddress reports a bare address such as bob@example.com.
func isEmailAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == strings.TrimSpace(s) && strings.Contains(a.Address, "@")
}

// projectScoped reports whether the invitee's User belongs to the project
// (spec 1.3): patients unless scope is "server", anyone with an externalId,
// anyone invited with scope "project".
func (r *inviteRequest) projectScoped() bool {
	return (r.ResourceType == "Patient" && r.Scope != "server") || r.ExternalID != "" || r.Scope == "project"
}

// membership merges membership.* with the deprecated top-level aliases.
func (r *inviteRequest) membership() inviteMembership {
	var m inviteMembership
	if r.Membership != nil {
		m = *r.Membership
	}
	if m.AccessPolicy == nil {
		m.AccessPolicy = r.AccessPolicy
	}
	if m.Access == nil {
		m.Access = r.Access
	}
	if m.Admin == nil {
		m.Admin = r.Admin
	}
	return m
}

// sendsEmail is sendEmail, true when absent.
func (r *inviteRequest) sendsEmail() bool { return r.SendEmail == nil || *r.SendEmail }

// invite adds the person of req to the project (the caller's, or for a
// super admin the one named by pathProjectID) and returns the membership.
func (s *Service) invite(ctx context.Context, c *Caller, pathProjectID string, req inviteRequest) (*inviteResult, error) {
	project, raw, err := s.adminProject(ctx, c, pathProjectID)
	if err != nil {
		return nil, err
	}
	if err := req.validate(); err != nil {
		return nil, err
	}
	email := normalizeEmail(req.Email)
	userProject := ""
	if req.projectScoped() {
		userProject = project.ID
	}
	m := req.membership()
	if err := s.checkPolicies(ctx, project.ID, m.AccessPolicy, m.Access); err != nil {
		return nil, err
	}
	if m.AccessPolicy == nil && len(m.Access) == 0 {
		m.AccessPolicy, m.Access = defaultPolicy(raw, req.ResourceType, m.Admin != nil && *m.Admin, req.Patient)
	}
	if err := s.checkPatient(ctx, project.ID, req.Patient); err != nil {
		return nil, err
	}
	var profile *Reference
	if m.Profile != nil {
		if profile, err = s.projectProfile(ctx, project.ID, req.ResourceType, m.Profile); err != nil {
			return nil, err
		}
	}
	if email != "" && !req.ForceNewMembership {
		if err := s.checkOtherScope(ctx, project.ID, email, userProject); err != nil {
			return nil, err
		}
	}
	if !req.Upsert {
		// Before any user is created: a taken externalId must leave nothing behind.
		if err := s.checkExternalID(ctx, project.ID, req.ExternalID, ""); err != nil {
			return nil, err
		}
	}
	user, link, err := s.inviteUser(ctx, req, email, userProject)
	if err != nil {
		return nil, err
	}
	res, err := s.inviteMembership(ctx, c, project, req, user, profile, m)
	if err != nil {
		return nil, err
	}
	out := &inviteResult{Membership: res}
	if req.sendsEmail() && email != "" {
		out.EmailError = s.inviteEmail(ctx, project, user, link)
	}
	return out, nil
}

// checkOtherScope rejects an invite when the same email already holds a
// membership of this project through a user of the other scope (a second
// seat needs forceNewMembership).
func (s *Service) checkOtherScope(ctx context.Context, projectID, email, userProject string) error {
	other := projectID
	if userProject != "" {
		other = ""
	}
	u, err := s.userByEmail(ctx, email, other)
	if err != nil || u == nil {
		return err
	}
	existing, err := s.membershipOf(ctx, projectID, "User/"+u.ID)
	if err != nil {
		return err
	}
	if existing != nil {
		return ward.Errorf(ward.ECONFLICT, alreadyMemberText)
	}
	return nil
}

// inviteUser finds the invitee's User of the right scope by email or
// creates it with a UserSecurityRequest of type invite, whose password-set
// link it returns for the welcome email ("" for an existing user).
func (s *Service) inviteUser(ctx context.Context, req inviteRequest, email, userProject string) (*User, string, error) {
	if email != "" {
		u, err := s.userByEmail(ctx, email, userProject)
		if err != nil || u != nil {
			return u, "", err
		}
	}
	u, err := s.createUser(ctx, NewUser{
		FirstName: req.FirstName, LastName: req.LastName, Email: email,
		Password: req.Password, ProjectID: userProject, MfaRequired: req.MfaRequired,
	})
	if err != nil {
		return nil, "", err
	}
	secret := randomHex(16)
	usr, err := s.writeSystem(ctx, scopeProject(userProject), "UserSecurityRequest", "", map[string]any{
		"resourceType": "UserSecurityRequest",
		"type":         "invite",
		"user":         &Reference{Reference: "User/" + u.ID},
		"secret":       secret,
	})
	if err != nil {
		return nil, "", err
	}
	return u, s.cfg.AppBaseURL + "setpassword/" + usr.ID + "/" + secret, nil
}

// inviteMembership stores the invitee's membership: a new one, or with
// upsert the existing one updated in place.
func (s *Service) inviteMembership(ctx context.Context, c *Caller, project *Project, req inviteRequest, user *User, profile *Reference, m inviteMembership) (*ward.Resource, error) {
	userRef := &Reference{Reference: "User/" + user.ID, Display: userDisplay(user)}
	var existing *ward.Resource
	if !req.ForceNewMembership {
		var err error
		if existing, err = s.membershipOf(ctx, project.ID, userRef.Reference); err != nil {
			return nil, err
		}
	}
	if existing != nil {
		return s.upsertMembership(ctx, project, req, existing, profile, m)
	}
	if err := s.checkExternalID(ctx, project.ID, req.ExternalID, ""); err != nil {
		return nil, err
	}
	if profile == nil {
		var err error
		if profile, err = s.inviteProfile(ctx, project.ID, req); err != nil {
			return nil, err
		}
	}
	mem := &Membership{
		Project:      projectRef(project),
		User:         userRef,
		Profile:      profile,
		AccessPolicy: m.AccessPolicy,
		Access:       m.Access,
		ExternalID:   req.ExternalID,
		InvitedBy:    inviter(c),
	}
	if m.Admin != nil {
		mem.Admin = *m.Admin
	}
	return s.storeMembership(ctx, mem)
}

// upsertMembership updates an existing membership with the invite's
// policy and admin choices, keeping every field it does not set.
func (s *Service) upsertMembership(ctx context.Context, project *Project, req inviteRequest, existing *ward.Resource, profile *Reference, m inviteMembership) (*ward.Resource, error) {
	if !req.Upsert {
		return nil, ward.Errorf(ward.ECONFLICT, alreadyMemberText)
	}
	var body map[string]any
	if err := json.Unmarshal(existing.Content, &body); err != nil {
		return nil, err
	}
	current, _ := body["profile"].(map[string]any)
	if profile != nil && (current == nil || current["reference"] != profile.Reference) {
		return nil, ward.Errorf(ward.ECONFLICT, alreadyMemberProfileText)
	}
	if err := s.checkExternalID(ctx, project.ID, req.ExternalID, existing.ID); err != nil {
		return nil, err
	}
	setField(body, "accessPolicy", m.AccessPolicy, m.AccessPolicy != nil)
	setField(body, "access", m.Access, m.Access != nil)
	if m.Admin != nil {
		setField(body, "admin", *m.Admin, *m.Admin)
	}
	if req.ExternalID != "" {
		body["externalId"] = req.ExternalID
	}
	return s.writeSystem(ctx, project.ID, "ProjectMembership", existing.ID, body)
}

// setField sets body[key] = v when keep, else removes the key.
func setField(body map[string]any, key string, v any, keep bool) {
	if keep {
		body[key] = v
	} else {
		delete(body, key)
	}
}

// inviteProfile reuses the project's profile of the invited type with the
// same email, or creates one.
func (s *Service) inviteProfile(ctx context.Context, projectID string, req inviteRequest) (*Reference, error) {
	if email := normalizeEmail(req.Email); email != "" {
		found, err := s.searchSystem(ctx, req.ResourceType, url.Values{
			"email":    {email},
			"_project": {projectID},
		})
		if err != nil {
			return nil, err
		}
		if len(found) > 0 {
			return &Reference{Reference: found[0].Reference(), Display: profileDisplay(found[0])}, nil
		}
	}
	return s.createProfileOf(ctx, projectID, NewProfile{
		ResourceType: req.ResourceType, FirstName: req.FirstName, LastName: req.LastName,
		Email: req.Email, Patient: req.Patient,
	})
}

// projectProfile checks that ref names a profile of type typ in the
// project and returns it with its display.
func (s *Service) projectProfile(ctx context.Context, projectID, typ string, ref *Reference) (*Reference, error) {
	id := refID(ref, typ)
	if id == "" {
		return nil, badRequest("membership.profile", "Profile must be a "+typ)
	}
	res, err := s.store.Read(systemIn(ctx, projectID), typ, id)
	if err != nil || res.ProjectID != projectID {
		// Another project's profile and a missing one look the same.
		return nil, badRequest("membership.profile", "Profile does not belong to project")
	}
	return &Reference{Reference: res.Reference(), Display: profileDisplay(res)}, nil
}

// checkPatient requires the patient a RelatedPerson is invited for to be
// in the project: projects never reference each other.
func (s *Service) checkPatient(ctx context.Context, projectID string, patient *Reference) error {
	if patient == nil {
		return nil
	}
	id := refID(patient, "Patient")
	res, err := s.store.Read(systemIn(ctx, projectID), "Patient", id)
	if id == "" || err != nil || res.ProjectID != projectID {
		return badRequest("patient", "Patient does not belong to project")
	}
	return nil
}

// profileDisplay is "given family" of a stored profile's first name.
func profileDisplay(res *ward.Resource) string {
	var p struct {
		Name []struct {
			Given  []string `json:"given"`
			Family string   `json:"family"`
		} `json:"name"`
	}
	if json.Unmarshal(res.Content, &p) != nil || len(p.Name) == 0 {
		return ""
	}
	return personName(strings.Join(p.Name[0].Given, " "), p.Name[0].Family)
}

// checkPolicies requires every referenced AccessPolicy to exist in the
// project. A policy of another project gets the same answer as a missing
// one, so an admin cannot probe other projects' ids.
func (s *Service) checkPolicies(ctx context.Context, projectID string, policy *Reference, access []MemberAccess) error {
	refs := []*Reference{policy}
	for _, a := range access {
		refs = append(refs, a.Policy)
	}
	for _, ref := range refs {
		if ref == nil {
			continue
		}
		id := refID(ref, "AccessPolicy")
		res, err := s.store.Read(inProject(ctx, projectID), "AccessPolicy", id)
		if id == "" || err != nil || res.ProjectID != projectID {
			return badRequest("membership.accessPolicy", "Access policy "+ref.Reference+" does not exist")
		}
	}
	return nil
}

// defaultPolicy is the project's default for the invited profile type
// (defaultAccessPolicies, then the legacy defaultPatientAccessPolicy). A
// RelatedPerson's default is parameterised with the patient.
func defaultPolicy(project map[string]any, profileType string, admin bool, patient *Reference) (*Reference, []MemberAccess) {
	var chosen *Reference
	defaults, _ := project["defaultAccessPolicies"].([]any)
	for _, want := range []string{adminProfileType(admin), profileType} {
		for _, d := range defaults {
			entry, _ := d.(map[string]any)
			if entry["profileType"] == want && chosen == nil {
				chosen = mapReference(entry["accessPolicy"])
			}
		}
	}
	if chosen == nil && profileType == "Patient" {
		chosen = mapReference(project["defaultPatientAccessPolicy"])
	}
	if chosen == nil {
		return nil, nil
	}
	if profileType == "RelatedPerson" && patient != nil {
		return nil, []MemberAccess{{Policy: chosen, Parameter: []AccessParameter{{Name: "patient", ValueReference: patient}}}}
	}
	return chosen, nil
}

// adminProfileType is the defaultAccessPolicies profileType that applies
// before the profile's own type: "Admin" for an admin invite.
func adminProfileType(admin bool) string {
	if admin {
		return "Admin"
	}
	return "-"
}

// mapReference reads a Reference out of a decoded JSON value.
func mapReference(v any) *Reference {
	m, _ := v.(map[string]any)
	ref, _ := m["reference"].(string)
	if ref == "" {
		return nil
	}
	return &Reference{Reference: ref}
}

// membershipOf returns the (first) membership of user in the project, or nil.
func (s *Service) membershipOf(ctx context.Context, projectID, user string) (*ward.Resource, error) {
	found, err := s.searchSystem(ctx, "ProjectMembership", url.Values{
		"user":    {user},
		"project": {"Project/" + projectID},
	})
	if err != nil || len(found) == 0 {
		return nil, err
	}
	return found[0], nil
}

// checkExternalID keeps externalId unique among the project's live
// memberships; exceptID is the membership being updated.
func (s *Service) checkExternalID(ctx context.Context, projectID, externalID, exceptID string) error {
	if externalID == "" {
		return nil
	}
	found, err := s.searchSystem(ctx, "ProjectMembership", url.Values{
		"external-id:exact": {externalID},
		"project":           {"Project/" + projectID},
	})
	if err != nil {
		return err
	}
	for _, f := range found {
		if f.ID != exceptID {
			return &ward.Error{Code: ward.ECONFLICT, Message: externalIDTakenText, Expression: []string{"externalId"}}
		}
	}
	return nil
}

// inviter is invitedBy: the user (or client) of the caller's membership.
func inviter(c *Caller) *Reference {
	if c.Membership == nil || c.Membership.User == nil {
		return nil
	}
	return &Reference{Reference: c.Membership.User.Reference, Display: c.Membership.User.Display}
}

// userDisplay is how a User reference is displayed: its email, else its externalId.
func userDisplay(u *User) string {
	if u.Email != "" {
		return u.Email
	}
	return u.ExternalID
}

// inviteEmail tells the invitee: a welcome with the password-set link for
// a new user, a note naming the project for an existing one.
func (s *Service) inviteEmail(ctx context.Context, project *Project, user *User, link string) error {
	subject := "Medplum: Welcome to " + project.Name
	body := "You were invited to " + project.Name + ".\n\nSign in at " + s.cfg.AppBaseURL + "\n"
	if link != "" {
		subject = "Welcome to Medplum"
		body = "You were invited to " + project.Name + ".\n\nSet your password: " + link + "\n"
	}
	if err := s.sendEmail(ctx, user.Email, subject, body); err != nil {
		s.cfg.Logger.WarnContext(ctx, "invite email failed", "to", user.Email, "error", err)
		return err
	}
	return nil
}

// sendEmail delivers through cfg.SendEmail, or logs when none is configured.
func (s *Service) sendEmail(ctx context.Context, to, subject, body string) error {
	if s.cfg.SendEmail == nil {
		s.cfg.Logger.InfoContext(ctx, "email", "to", to, "subject", subject, "body", body)
		return nil
	}
	return s.cfg.SendEmail(ctx, to, subject, body)
}
