package auth

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// mailbox is a fake Config.SendEmail that records what was sent, or fails.
type mailbox struct {
	mu   sync.Mutex
	sent []sentMail
	fail bool
}

type sentMail struct{ to, subject, body string }

func (m *mailbox) send(_ context.Context, to, subject, body string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail {
		return errors.New("smtp: connection refused")
	}
	m.sent = append(m.sent, sentMail{to, subject, body})
	return nil
}

// subjects returns the subjects sent so far and forgets them.
func (m *mailbox) subjects() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, s := range m.sent {
		out = append(out, s.to+": "+s.subject)
	}
	m.sent = nil
	return out
}

// adminWorld is Alice's registered project (Alice owner and admin, the
// default client) plus a super admin, on one store.
type adminWorld struct {
	s       *Service
	mail    *mailbox
	project *Project
	alice   *Caller
	super   *Caller
}

func newAdminWorld(t *testing.T, st *store.Store) *adminWorld {
	t.Helper()
	mail := &mailbox{}
	s := New(st, Config{BaseURL: "http://ward.test/", BcryptCost: bcrypt.MinCost, SendEmail: mail.send, Logger: slog.New(slog.DiscardHandler)})
	w := &adminWorld{s: s, mail: mail}
	w.project, w.alice = registerOwner(t, s, "Alice Project", "alice@example.com", false)
	_, w.super = registerOwner(t, s, "Super Admin", "admin@example.com", true)
	return w
}

// registerOwner creates what /auth/newproject creates: a server-scoped
// user, their project, a Practitioner profile and an admin membership,
// and returns the owner as a Caller.
func registerOwner(t *testing.T, s *Service, projectName, email string, superAdmin bool) (*Project, *Caller) {
	t.Helper()
	ctx := context.Background()
	u, err := s.createUser(ctx, NewUser{FirstName: "Owner", LastName: "Of " + projectName, Email: email, Password: "owner-password-1"})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.createProject(ctx, projectName, u.ID, superAdmin)
	if err != nil {
		t.Fatal(err)
	}
	prof, err := s.createProfile(ctx, p.ID, "Practitioner", u.FirstName, u.LastName, email)
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.createMembership(ctx, &Membership{
		Project: projectRef(p), User: &Reference{Reference: "User/" + u.ID, Display: u.Email}, Profile: prof, Admin: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p, callerOfMembership(t, s, m.ID)
}

// callerOfMembership builds the Caller a token of membershipID resolves to.
func callerOfMembership(t *testing.T, s *Service, membershipID string) *Caller {
	t.Helper()
	ctx := context.Background()
	var m Membership
	if _, err := s.readJSON(ctx, "ProjectMembership", membershipID, &m); err != nil {
		t.Fatal(err)
	}
	var p Project
	if _, err := s.readJSON(ctx, "Project", refID(m.Project, "Project"), &p); err != nil {
		t.Fatal(err)
	}
	c := &Caller{
		Principal: &ward.Principal{
			ProjectID: p.ID, Admin: m.Admin, MembershipID: m.ID,
			User: m.User.Reference, Author: m.Profile.Reference,
		},
		Membership: &m,
		Project:    &p,
	}
	if id := refID(m.User, "User"); id != "" {
		c.User = &User{}
		if _, err := s.readJSON(ctx, "User", id, c.User); err != nil {
			t.Fatal(err)
		}
	} else if id := refID(m.User, "ClientApplication"); id != "" {
		c.Client = &Client{}
		if _, err := s.readJSON(ctx, "ClientApplication", id, c.Client); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// invited is the membership an invite returned, decoded.
type invited struct {
	Membership
	Meta struct {
		Project string `json:"project"`
		Author  struct {
			Reference string `json:"reference"`
		} `json:"author"`
	} `json:"meta"`
}

// mustInvite invites req as c into pathProject and fails on error.
func (w *adminWorld) mustInvite(t *testing.T, c *Caller, pathProject string, req inviteRequest) *invited {
	t.Helper()
	m, err := w.invite(c, pathProject, req)
	if err != nil {
		t.Fatalf("invite %s: %v", req.Email, err)
	}
	return m
}

func (w *adminWorld) invite(c *Caller, pathProject string, req inviteRequest) (*invited, error) {
	out, err := w.s.invite(context.Background(), c, pathProject, req)
	if err != nil {
		return nil, err
	}
	if out.EmailError != nil {
		return nil, out.EmailError
	}
	var m invited
	return &m, json.Unmarshal(out.Membership.Content, &m)
}

func bob(rt string) inviteRequest {
	return inviteRequest{ResourceType: rt, FirstName: "Bob", LastName: "Jones", Email: "bob@example.com"}
}

func wantAdminError(t *testing.T, what string, err error, code, text string) {
	t.Helper()
	if ward.ErrorCode(err) != code || (text != "" && ward.ErrorMessage(err) != text) {
		t.Errorf("%s: %v, want %s %q", what, err, code, text)
	}
}

// Rows 66, 76: a new email becomes a server-scoped user with a Practitioner
// profile, invitedBy the inviter, a welcome email and a UserSecurityRequest.
func TestInviteNewPractitioner(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAdminWorld(t, st)
		req := bob("Practitioner")
		req.Email = "BOB.Jones@Example.com"
		req.MfaRequired = true
		m := w.mustInvite(t, w.alice, ":projectId", req)

		if m.Project.Reference != "Project/"+w.project.ID || m.Project.Display != "Alice Project" {
			t.Errorf("project = %+v", m.Project)
		}
		if m.User.Display != "bob.jones@example.com" {
			t.Errorf("user display = %q, want the lower-case email", m.User.Display)
		}
		if m.Profile.Display != "Bob Jones" || refID(m.Profile, "Practitioner") == "" {
			t.Errorf("profile = %+v", m.Profile)
		}
		if m.InvitedBy == nil || m.InvitedBy.Reference != w.alice.Membership.User.Reference {
			t.Errorf("invitedBy = %+v, want %s", m.InvitedBy, w.alice.Membership.User.Reference)
		}
		user := storedMap(t, w.s, "User", refID(m.User, "User"))
		if user["_project"] != ward.SystemProjectID || user["project"] != nil || user["mfaRequired"] != true {
			t.Errorf("Bob's user is project-scoped: %v", user)
		}
		if got := w.mail.subjects(); !slices.Equal(got, []string{"bob.jones@example.com: Welcome to Medplum"}) {
			t.Errorf("emails = %q", got)
		}
		reqs, err := w.s.searchSystem(context.Background(), "UserSecurityRequest", map[string][]string{"user": {m.User.Reference}})
		if err != nil || len(reqs) != 1 || !json.Valid(reqs[0].Content) {
			t.Fatalf("security requests of the new user: %d, %v", len(reqs), err)
		}
		var usr map[string]any
		_ = json.Unmarshal(reqs[0].Content, &usr)
		if usr["type"] != "invite" {
			t.Errorf("security request = %v", usr)
		}
	})
}

// Row 67: an existing server account joins; it stays server-scoped and gets
// the "Welcome to <project>" email.
func TestInviteExistingServerUser(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAdminWorld(t, st)
		existing, err := w.s.createUser(context.Background(), NewUser{FirstName: "Bob", LastName: "Jones", Email: "bob@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		m := w.mustInvite(t, w.alice, w.project.ID, bob("Practitioner"))
		if m.User.Reference != "User/"+existing.ID {
			t.Errorf("user = %s, want the existing User/%s", m.User.Reference, existing.ID)
		}
		if got := w.mail.subjects(); !slices.Equal(got, []string{"bob@example.com: Medplum: Welcome to Alice Project"}) {
			t.Errorf("emails = %q", got)
		}
		if u := storedMap(t, w.s, "User", existing.ID); u["_project"] != ward.SystemProjectID {
			t.Errorf("existing user moved to %v", u["_project"])
		}
	})
}

// Row 68: a Practitioner with the invitee's email in the project becomes
// the profile; membership.profile is reused too, if it is in the project.
func TestInviteReusesProfile(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAdminWorld(t, st)
		ctx := context.Background()
		same, err := w.s.createProfile(ctx, w.project.ID, "Practitioner", "Robert", "Jones", "bob@example.com")
		if err != nil {
			t.Fatal(err)
		}
		m := w.mustInvite(t, w.alice, "", bob("Practitioner"))
		if m.Profile.Reference != same.Reference {
			t.Errorf("profile = %s, want the existing %s", m.Profile.Reference, same.Reference)
		}

		chosen, _ := w.s.createProfile(ctx, w.project.ID, "Practitioner", "Carol", "White", "")
		req := inviteRequest{ResourceType: "Practitioner", FirstName: "Carol", LastName: "White", Email: "carol@example.com",
			Membership: &inviteMembership{Profile: chosen}}
		if m := w.mustInvite(t, w.alice, "", req); m.Profile.Reference != chosen.Reference || m.Profile.Display != "Carol White" {
			t.Errorf("membership.profile not used: %+v", m.Profile)
		}

		foreign, _ := w.s.createProfile(ctx, w.super.Project.ID, "Practitioner", "Dan", "Black", "")
		req = inviteRequest{ResourceType: "Practitioner", FirstName: "Dan", LastName: "Black", Email: "dan@example.com",
			Membership: &inviteMembership{Profile: foreign}}
		_, err = w.invite(w.alice, "", req)
		wantAdminError(t, "profile of another project", err, ward.EINVALID, "Profile does not belong to project")
	})
}

// Rows 69, 70: a plain member cannot invite (and no email leaves); invalid
// requests are 400 naming the field.
func TestInviteRejects(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAdminWorld(t, st)
		bobM := w.mustInvite(t, w.alice, "", bob("Practitioner"))
		w.mail.subjects()
		bobCaller := callerOfMembership(t, w.s, bobM.ID)

		carol := inviteRequest{ResourceType: "Practitioner", FirstName: "Carol", LastName: "White", Email: "carol@example.com"}
		_, err := w.invite(bobCaller, "", carol)
		wantAdminError(t, "plain member invites", err, ward.EFORBIDDEN, "Forbidden")
		if got := w.mail.subjects(); len(got) != 0 {
			t.Errorf("a refused invite sent %q", got)
		}

		for _, tc := range []struct {
			name  string
			edit  func(r *inviteRequest)
			field string
		}{
			{"empty email", func(r *inviteRequest) { r.Email = "" }, "email"},
			{"bad email", func(r *inviteRequest) { r.Email = "carol" }, "email"},
			{"no first name", func(r *inviteRequest) { r.FirstName = "" }, "firstName"},
			{"no last name", func(r *inviteRequest) { r.LastName = " " }, "lastName"},
			{"bad type", func(r *inviteRequest) { r.ResourceType = "Organization" }, "resourceType"},
			{"short password", func(r *inviteRequest) { r.Password = "abc" }, "password"},
			{"related person without patient", func(r *inviteRequest) { r.ResourceType = "RelatedPerson" }, "patient"},
		} {
			req := carol
			tc.edit(&req)
			_, err := w.invite(w.alice, "", req)
			var we *ward.Error
			if !errors.As(err, &we) || we.Code != ward.EINVALID || !slices.Equal(we.Expression, []string{tc.field}) {
				t.Errorf("%s: %v, want 400 on %s", tc.name, err, tc.field)
			}
		}
	})
}

// Rows 71, 72: a Patient with an externalId is a project-scoped user; the
// externalId is unique per project until its membership is deleted.
func TestInvitePatientExternalID(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAdminWorld(t, st)
		req := inviteRequest{ResourceType: "Patient", FirstName: "Pat", LastName: "Smith", ExternalID: "ext-1", SendEmail: new(bool)}
		m := w.mustInvite(t, w.alice, "", req)
		if refID(m.Profile, "Patient") == "" || m.ExternalID != "ext-1" {
			t.Errorf("membership = %+v", m.Membership)
		}
		raw := storedMap(t, w.s, "ProjectMembership", m.ID)
		if _, ok := raw["admin"]; ok {
			t.Errorf("admin present: %v", raw)
		}
		if u := storedMap(t, w.s, "User", refID(m.User, "User")); u["_project"] != w.project.ID {
			t.Errorf("patient user stored in %v, want the project", u["_project"])
		}

		users := func() int {
			found, err := w.s.searchSystem(context.Background(), "User", map[string][]string{"_project": {w.project.ID}})
			if err != nil {
				t.Fatal(err)
			}
			return len(found)
		}
		before := users()
		req.FirstName = "Other"
		_, err := w.invite(w.alice, "", req)
		wantAdminError(t, "same externalId", err, ward.ECONFLICT, externalIDTakenText)
		if after := users(); after != before {
			t.Errorf("a refused invite left %d new users behind", after-before)
		}

		if err := w.s.deleteMember(context.Background(), w.alice, "", m.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := w.invite(w.alice, "", req); err != nil {
			t.Errorf("externalId after deleting its membership: %v", err)
		}
	})
}

// Row 73 (without HTTP): a ClientApplication whose membership is admin invites.
func TestInviteByAdminClient(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAdminWorld(t, st)
		clientCaller := w.promotedClient(t)
		m := w.mustInvite(t, clientCaller, "", bob("Practitioner"))
		if m.InvitedBy == nil || refID(m.InvitedBy, "ClientApplication") != clientCaller.Client.ID {
			t.Errorf("invitedBy = %+v", m.InvitedBy)
		}
	})
}

// promotedClient is the project's default client with its membership made
// admin by Alice, as a Caller.
func (w *adminWorld) promotedClient(t *testing.T) *Caller {
	t.Helper()
	ctx := context.Background()
	members, err := w.s.searchSystem(ctx, "ProjectMembership", map[string][]string{"_project": {w.project.ID}})
	if err != nil {
		t.Fatal(err)
	}
	var id string
	for _, r := range members {
		var m Membership
		_ = json.Unmarshal(r.Content, &m)
		if refID(m.User, "ClientApplication") != "" && m.User.Display == w.project.Name+" Default Client" {
			id = m.ID
		}
	}
	var body map[string]any
	if _, err := w.s.readJSON(ctx, "ProjectMembership", id, &body); err != nil {
		t.Fatal(err)
	}
	body["admin"] = true
	if _, err := w.s.updateMember(ctx, w.alice, "", id, body); err != nil {
		t.Fatal(err)
	}
	return callerOfMembership(t, w.s, id)
}

// Row 74: a failing mail server still adds the member and reports the
// failure as Medplum's text.
func TestInviteEmailFailure(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAdminWorld(t, st)
		w.mail.fail = true
		out, err := w.s.invite(context.Background(), w.alice, "", bob("Practitioner"))
		if err != nil || out.EmailError == nil {
			t.Fatalf("invite = %+v, %v; want a membership and an email error", out, err)
		}
		if _, err := w.s.readJSON(context.Background(), "ProjectMembership", out.Membership.ID, &map[string]any{}); err != nil {
			t.Errorf("membership not kept: %v", err)
		}
		w.mail.fail = false
		no := false
		req := inviteRequest{ResourceType: "Practitioner", FirstName: "C", LastName: "W", Email: "c@example.com", SendEmail: &no}
		w.mustInvite(t, w.alice, "", req)
		if got := w.mail.subjects(); len(got) != 0 {
			t.Errorf("sendEmail false sent %q", got)
		}
	})
}

// Row 75 and the path rule: a super admin invites into the project the
// path names; for a project admin the path id is ignored.
func TestInvitePathProject(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAdminWorld(t, st)
		m := w.mustInvite(t, w.super, w.project.ID, bob("Practitioner"))
		if m.Project.Reference != "Project/"+w.project.ID || m.Meta.Project != w.project.ID {
			t.Errorf("super admin invite landed in %s (meta %s), want Alice's project", m.Project.Reference, m.Meta.Project)
		}

		carol := inviteRequest{ResourceType: "Practitioner", FirstName: "Carol", LastName: "White", Email: "carol@example.com"}
		for _, path := range []string{w.super.Project.ID, ":projectId", ward.NewID()} {
			m := w.mustInvite(t, w.alice, path, carol)
			if m.Meta.Project != w.project.ID {
				t.Errorf("admin invite with path %q landed in %s, want Alice's project", path, m.Meta.Project)
			}
			carol.ForceNewMembership = true
		}
		_, err := w.invite(w.super, ward.NewID(), carol)
		wantAdminError(t, "super admin into a missing project", err, ward.ENOTFOUND, "")
	})
}

// Rows 77, 78: a second invite of a member is a conflict unless upsert
// (same membership, same profile) or forceNewMembership (another seat);
// the other user scope counts as the same person.
func TestInviteExistingMember(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAdminWorld(t, st)
		ctx := context.Background()
		first := w.mustInvite(t, w.alice, "", bob("Practitioner"))

		_, err := w.invite(w.alice, "", bob("Practitioner"))
		wantAdminError(t, "invite again", err, ward.ECONFLICT, alreadyMemberText)

		up := bob("Practitioner")
		up.Upsert = true
		up.Membership = &inviteMembership{Admin: ptr(true)}
		if m := w.mustInvite(t, w.alice, "", up); m.ID != first.ID || !m.Admin || m.Profile.Reference != first.Profile.Reference {
			t.Errorf("upsert = %s admin=%v, want %s updated", m.ID, m.Admin, first.ID)
		}

		other, _ := w.s.createProfile(ctx, w.project.ID, "Practitioner", "Bob", "Jones", "")
		up.Membership = &inviteMembership{Profile: other}
		_, err = w.invite(w.alice, "", up)
		wantAdminError(t, "upsert with another profile", err, ward.ECONFLICT, alreadyMemberProfileText)

		force := bob("Practitioner")
		force.ForceNewMembership = true
		if m := w.mustInvite(t, w.alice, "", force); m.ID == first.ID {
			t.Error("forceNewMembership returned the existing membership")
		}

		scoped := bob("Practitioner")
		scoped.Scope = "project"
		_, err = w.invite(w.alice, "", scoped)
		wantAdminError(t, "server member invited at project scope", err, ward.ECONFLICT, alreadyMemberText)

		pat := inviteRequest{ResourceType: "Patient", FirstName: "Pat", LastName: "S", Email: "pat@example.com"}
		w.mustInvite(t, w.alice, "", pat)
		pat.Scope = "server"
		_, err = w.invite(w.alice, "", pat)
		wantAdminError(t, "project member invited at server scope", err, ward.ECONFLICT, alreadyMemberText)
	})
}

func ptr[T any](v T) *T { return &v }

// Access policies: must exist in the project; the project's default per
// profile type applies when the invite names none.
func TestInviteAccessPolicies(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAdminWorld(t, st)
		ctx := context.Background()
		policy := func(projectID string) *Reference {
			res, err := w.s.writeSystem(ctx, projectID, "AccessPolicy", "", map[string]any{
				"resourceType": "AccessPolicy", "name": "P", "resource": []any{map[string]any{"resourceType": "Patient"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			return &Reference{Reference: res.Reference()}
		}
		own, foreign := policy(w.project.ID), policy(w.super.Project.ID)
		missing := &Reference{Reference: "AccessPolicy/" + ward.NewID()}

		for _, ref := range []*Reference{foreign, missing} {
			req := bob("Practitioner")
			req.Membership = &inviteMembership{Access: []MemberAccess{{Policy: ref}}}
			_, err := w.invite(w.alice, "", req)
			wantAdminError(t, "policy "+ref.Reference, err, ward.EINVALID, "Access policy "+ref.Reference+" does not exist")
		}
		req := bob("Practitioner")
		req.AccessPolicy = own // deprecated top-level alias
		if m := w.mustInvite(t, w.alice, "", req); m.AccessPolicy == nil || m.AccessPolicy.Reference != own.Reference {
			t.Errorf("accessPolicy = %+v, want %s", m.AccessPolicy, own.Reference)
		}

		var raw map[string]any
		_, _ = w.s.readJSON(ctx, "Project", w.project.ID, &raw)
		raw["defaultAccessPolicies"] = []any{map[string]any{"profileType": "Patient", "accessPolicy": map[string]any{"reference": own.Reference}}}
		if _, err := w.s.writeSystem(ctx, w.project.ID, "Project", w.project.ID, raw); err != nil {
			t.Fatal(err)
		}
		pat := inviteRequest{ResourceType: "Patient", FirstName: "Pat", LastName: "S", Email: "pat@example.com"}
		if m := w.mustInvite(t, w.alice, "", pat); m.AccessPolicy == nil || m.AccessPolicy.Reference != own.Reference {
			t.Errorf("patient default policy = %+v, want %s", m.AccessPolicy, own.Reference)
		}
		carol := inviteRequest{ResourceType: "Practitioner", FirstName: "C", LastName: "W", Email: "carol@example.com"}
		if m := w.mustInvite(t, w.alice, "", carol); m.AccessPolicy != nil || len(m.Access) != 0 {
			t.Errorf("practitioner got the patient default: %+v", m.Membership)
		}
	})
}

// A RelatedPerson is invited for a patient of the project; the project's
// RelatedPerson default policy is parameterised with that patient.
func TestInviteRelatedPerson(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAdminWorld(t, st)
		ctx := context.Background()
		patient, err := w.s.createProfile(ctx, w.project.ID, "Patient", "Kid", "Jones", "")
		if err != nil {
			t.Fatal(err)
		}
		foreign, _ := w.s.createProfile(ctx, w.super.Project.ID, "Patient", "Other", "Kid", "")
		pol, err := w.s.writeSystem(ctx, w.project.ID, "AccessPolicy", "", map[string]any{"resourceType": "AccessPolicy", "name": "RP"})
		if err != nil {
			t.Fatal(err)
		}
		var raw map[string]any
		_, _ = w.s.readJSON(ctx, "Project", w.project.ID, &raw)
		raw["defaultAccessPolicies"] = []any{map[string]any{"profileType": "RelatedPerson", "accessPolicy": map[string]any{"reference": pol.Reference()}}}
		if _, err := w.s.writeSystem(ctx, w.project.ID, "Project", w.project.ID, raw); err != nil {
			t.Fatal(err)
		}

		req := inviteRequest{ResourceType: "RelatedPerson", FirstName: "Mum", LastName: "Jones", Email: "mum@example.com", Patient: foreign}
		_, err = w.invite(w.alice, "", req)
		wantAdminError(t, "patient of another project", err, ward.EINVALID, "Patient does not belong to project")

		req.Patient = patient
		m := w.mustInvite(t, w.alice, "", req)
		if len(m.Access) != 1 || m.Access[0].Policy.Reference != pol.Reference() ||
			len(m.Access[0].Parameter) != 1 || m.Access[0].Parameter[0].ValueReference.Reference != patient.Reference {
			t.Errorf("access = %+v, want the default policy with patient %s", m.Access, patient.Reference)
		}
		rp := storedMap(t, w.s, "RelatedPerson", refID(m.Profile, "RelatedPerson"))
		if ref, _ := rp["patient"].(map[string]any); ref["reference"] != patient.Reference {
			t.Errorf("RelatedPerson.patient = %v", rp["patient"])
		}
	})
}
