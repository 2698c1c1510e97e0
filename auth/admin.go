package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/wardhealth/ward"
	wardhttp "github.com/wardhealth/ward/http"
)

// The admin API of spec 5.10-5.11: /admin/projects/:projectId/... (invite,
// members, client, bot, secrets, settings, sites) and
// /admin/projects/setpassword. Every route needs a project admin or a
// super admin. The path's project id is used only for super admins; for
// everyone else it is ignored and the caller's own project is used, which
// is what lets Medplum's demos post to the literal "admin/projects/:projectId/…".

func (s *Service) mountAdmin(mux *http.ServeMux) {
	mux.HandleFunc("POST /admin/projects/setpassword", s.adminWrite("password-set", "U", s.handleSetPassword))
	mux.HandleFunc("GET /admin/projects/{projectId}", s.adminRoute(s.handleGetProject))
	mux.HandleFunc("POST /admin/projects/{projectId}/invite", s.adminWrite("invite", "C", s.handleInvite))
	mux.HandleFunc("GET /admin/projects/{projectId}/members/{membershipId}", s.adminRoute(s.handleGetMember))
	mux.HandleFunc("POST /admin/projects/{projectId}/members/{membershipId}", s.adminWrite("membership-update", "U", s.handleUpdateMember))
	mux.HandleFunc("DELETE /admin/projects/{projectId}/members/{membershipId}", s.adminWrite("membership-delete", "D", s.handleDeleteMember))
	mux.HandleFunc("POST /admin/projects/{projectId}/client", s.adminWrite("client-create", "C", s.handleCreateClient))
	mux.HandleFunc("POST /admin/projects/{projectId}/bot", s.adminWrite("bot-create", "C", s.handleCreateBot))
	mux.HandleFunc("POST /admin/projects/{projectId}/secrets", s.adminWrite("project-secrets", "U", s.projectListRoute("secret")))
	mux.HandleFunc("POST /admin/projects/{projectId}/settings", s.adminWrite("project-settings", "U", s.projectListRoute("setting")))
	mux.HandleFunc("POST /admin/projects/{projectId}/sites", s.adminWrite("project-sites", "U", s.projectListRoute("site")))
}

// adminHandler answers one admin request for an authenticated caller with
// a status and a JSON body.
type adminHandler func(ctx context.Context, c *Caller, r *http.Request) (int, any, error)

// adminRoute authenticates the request (401 without valid credentials) and
// runs h; each handler checks admin rights through adminProject.
func (s *Service) adminRoute(h adminHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := s.callerOf(r.Context(), r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		status, body, err := h(r.Context(), c, r)
		if err != nil {
			writeError(w, r, err)
			return
		}
		writeJSON(w, status, body)
	}
}

// adminWrite is adminRoute for a route that changes identity or project
// configuration: each request is recorded as interaction in the audit
// trail of the caller's project.
func (s *Service) adminWrite(interaction, action string, h adminHandler) http.HandlerFunc {
	return s.audited(kindRest, interaction, action, s.adminRoute(h))
}

// isPathID reports a resource id (FHIR: [A-Za-z0-9-.]{1,64}); anything
// else in the project position, such as the literal ":projectId", names no
// project.
func isPathID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		ok := r == '-' || r == '.' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
		if !ok {
			return false
		}
	}
	return true
}

// adminProject is the project an admin request acts on, as a struct and in
// its stored map form: the caller's own project, or for a super admin the
// one the path names. 403 for callers who are not admins.
func (s *Service) adminProject(ctx context.Context, c *Caller, pathProjectID string) (*Project, map[string]any, error) {
	if c == nil || c.Project == nil || !c.Admin() {
		return nil, nil, ward.Errorf(ward.EFORBIDDEN, "Forbidden")
	}
	id := c.Project.ID
	if c.SuperAdmin() && isPathID(pathProjectID) {
		id = pathProjectID
	}
	var raw map[string]any
	res, err := s.readJSON(ctx, "Project", id, &raw)
	if err != nil {
		return nil, nil, notFoundAs(err)
	}
	p, err := decodeAs[Project](res)
	return p, raw, err
}

// notFoundAs turns a missing or deleted resource into 404 "Not found".
func notFoundAs(err error) error {
	switch ward.ErrorCode(err) {
	case ward.ENOTFOUND, ward.EGONE:
		return ward.Errorf(ward.ENOTFOUND, "Not found")
	}
	return err
}

func (s *Service) handleInvite(ctx context.Context, c *Caller, r *http.Request) (int, any, error) {
	// Rights first: a plain member gets 403 whatever the body says.
	if _, _, err := s.adminProject(ctx, c, r.PathValue("projectId")); err != nil {
		return 0, nil, err
	}
	var req inviteRequest
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	out, err := s.invite(ctx, c, r.PathValue("projectId"), req)
	if err != nil {
		return 0, nil, err
	}
	noteTarget(ctx, out.Membership.Type, out.Membership.ID)
	if out.EmailError != nil {
		// Medplum keeps the membership and reports the failed email as a
		// 200 OperationOutcome.
		return http.StatusOK, outcome("error", "exception", emailFailedText), nil
	}
	return s.answer(ctx, http.StatusOK, out.Membership)
}

// outcome is a one-issue OperationOutcome with Medplum's "ok" id.
func outcome(severity, code, text string) *wardhttp.OperationOutcome {
	return &wardhttp.OperationOutcome{
		ResourceType: "OperationOutcome",
		ID:           "ok",
		Issue:        []wardhttp.Issue{{Severity: severity, Code: code, Details: &wardhttp.Details{Text: text}}},
	}
}

func allOKOutcome() *wardhttp.OperationOutcome {
	return outcome("information", "informational", "All OK")
}

func (s *Service) handleGetProject(ctx context.Context, c *Caller, r *http.Request) (int, any, error) {
	_, raw, err := s.adminProject(ctx, c, r.PathValue("projectId"))
	if err != nil {
		return 0, nil, err
	}
	view := map[string]any{}
	for _, k := range []string{"id", "name", "setting", "secret", "site"} {
		if v, ok := raw[k]; ok {
			view[k] = v
		}
	}
	return http.StatusOK, map[string]any{"project": view}, nil
}

// projectMember returns the membership membershipID of the admin's
// project: 404 when missing or in another project. Medplum answers 403
// for another project's membership (spec 5.11); Ward's wall never tells
// an id that exists elsewhere from one that does not (issue 3).
func (s *Service) projectMember(ctx context.Context, c *Caller, pathProjectID, membershipID string) (*Project, *ward.Resource, error) {
	project, _, err := s.adminProject(ctx, c, pathProjectID)
	if err != nil {
		return nil, nil, err
	}
	res, err := s.store.Read(systemIn(ctx, project.ID), "ProjectMembership", membershipID)
	if err != nil {
		return nil, nil, notFoundAs(err)
	}
	if res.ProjectID != project.ID {
		return nil, nil, ward.Errorf(ward.ENOTFOUND, "Not found")
	}
	return project, res, nil
}

func (s *Service) handleGetMember(ctx context.Context, c *Caller, r *http.Request) (int, any, error) {
	_, res, err := s.projectMember(ctx, c, r.PathValue("projectId"), r.PathValue("membershipId"))
	if err != nil {
		return 0, nil, err
	}
	return s.answer(ctx, http.StatusOK, res)
}

func (s *Service) handleUpdateMember(ctx context.Context, c *Caller, r *http.Request) (int, any, error) {
	noteTarget(ctx, "ProjectMembership", r.PathValue("membershipId"))
	var body map[string]any
	if err := decodeBody(r, &body); err != nil {
		return 0, nil, err
	}
	res, err := s.updateMember(ctx, c, r.PathValue("projectId"), r.PathValue("membershipId"), body)
	if err != nil {
		return 0, nil, err
	}
	return s.answer(ctx, http.StatusOK, res)
}

// updateMember replaces a membership with body, a full ProjectMembership
// of the same id. project and user are kept as stored (read-only for
// admins, and the wall: a membership never moves to another project).
func (s *Service) updateMember(ctx context.Context, c *Caller, pathProjectID, membershipID string, body map[string]any) (*ward.Resource, error) {
	project, old, err := s.projectMember(ctx, c, pathProjectID, membershipID)
	if err != nil {
		return nil, err
	}
	if body["resourceType"] != "ProjectMembership" || body["id"] != membershipID {
		return nil, ward.Errorf(ward.EFORBIDDEN, "Forbidden")
	}
	var stored map[string]any
	if err := json.Unmarshal(old.Content, &stored); err != nil {
		return nil, err
	}
	body["project"], body["user"] = stored["project"], stored["user"]
	if err := s.checkMemberRefs(ctx, project.ID, body, stored); err != nil {
		return nil, err
	}
	return s.writeSystem(ctx, project.ID, "ProjectMembership", membershipID, body)
}

// checkMemberRefs validates what an admin may change on a membership:
// a changed profile must be in the project, policies must exist in it,
// externalId must stay unique.
func (s *Service) checkMemberRefs(ctx context.Context, projectID string, body, stored map[string]any) error {
	data, err := json.Marshal(body)
	if err != nil {
		return err
	}
	var m Membership
	if err := json.Unmarshal(data, &m); err != nil {
		return badRequest("ProjectMembership", "Invalid ProjectMembership")
	}
	if m.Profile == nil {
		return badRequest("profile", "Missing profile")
	}
	if old := mapReference(stored["profile"]); old == nil || old.Reference != m.Profile.Reference {
		typ, _, _ := strings.Cut(m.Profile.Reference, "/")
		if _, err := s.projectProfile(ctx, projectID, typ, m.Profile); err != nil {
			return err
		}
	}
	if err := s.checkPolicies(ctx, projectID, m.AccessPolicy, m.Access); err != nil {
		return err
	}
	id, _ := body["id"].(string)
	return s.checkExternalID(ctx, projectID, m.ExternalID, id)
}

func (s *Service) handleDeleteMember(ctx context.Context, c *Caller, r *http.Request) (int, any, error) {
	noteTarget(ctx, "ProjectMembership", r.PathValue("membershipId"))
	if err := s.deleteMember(ctx, c, r.PathValue("projectId"), r.PathValue("membershipId")); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, allOKOutcome(), nil
}

// deleteMember removes a membership, except the owner's. A project-scoped
// User exists only for this project, so it goes with its membership.
func (s *Service) deleteMember(ctx context.Context, c *Caller, pathProjectID, membershipID string) error {
	project, res, err := s.projectMember(ctx, c, pathProjectID, membershipID)
	if err != nil {
		return err
	}
	m, err := decodeAs[Membership](res)
	if err != nil {
		return err
	}
	if m.User != nil && project.Owner != nil && m.User.Reference == project.Owner.Reference {
		return badRequest("membership", "Cannot delete the owner of the project")
	}
	deleteUser := ""
	if userID := refID(m.User, "User"); userID != "" {
		var u User
		if _, err := s.readJSON(ctx, "User", userID, &u); err == nil && u.Project != nil && u.Project.Reference == "Project/"+project.ID {
			deleteUser = userID
		}
	}
	return s.store.Write(systemIn(ctx, project.ID), func(ctx context.Context, tx ward.ResourceTx) error {
		if err := tx.Delete(ctx, "ProjectMembership", membershipID); err != nil {
			return err
		}
		if deleteUser != "" {
			return tx.Delete(ctx, "User", deleteUser)
		}
		return nil
	})
}

func (s *Service) handleCreateClient(ctx context.Context, c *Caller, r *http.Request) (int, any, error) {
	project, _, err := s.adminProject(ctx, c, r.PathValue("projectId"))
	if err != nil {
		return 0, nil, err
	}
	var req NewClient
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	req.Admin = false // promotion to admin is a membership update, not a request field
	res, err := s.adminCreateClient(ctx, project, req)
	if err != nil {
		return 0, nil, err
	}
	noteTarget(ctx, res.Type, res.ID)
	return s.answer(ctx, http.StatusCreated, res)
}

// adminCreateClient validates and stores a client of project.
func (s *Service) adminCreateClient(ctx context.Context, project *Project, req NewClient) (*ward.Resource, error) {
	if req.Name == "" {
		return nil, badRequest("name", "Name is required")
	}
	if err := s.checkPolicies(ctx, project.ID, req.AccessPolicy, nil); err != nil {
		return nil, err
	}
	var client *ward.Resource
	err := s.store.Write(systemIn(ctx, project.ID), func(ctx context.Context, tx ward.ResourceTx) error {
		var err error
		client, _, err = s.createClientIn(ctx, tx, project, req)
		return err
	})
	return client, err
}

// newBot is the body of POST /admin/projects/:projectId/bot.
type newBot struct {
	Name         string     `json:"name"`
	Description  string     `json:"description,omitempty"`
	AccessPolicy *Reference `json:"accessPolicy,omitempty"`
}

func (s *Service) handleCreateBot(ctx context.Context, c *Caller, r *http.Request) (int, any, error) {
	project, _, err := s.adminProject(ctx, c, r.PathValue("projectId"))
	if err != nil {
		return 0, nil, err
	}
	var req newBot
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	if req.Name == "" {
		return 0, nil, badRequest("name", "Name is required")
	}
	if err := s.checkPolicies(ctx, project.ID, req.AccessPolicy, nil); err != nil {
		return 0, nil, err
	}
	var bot *ward.Resource
	err = s.store.Write(systemIn(ctx, project.ID), func(ctx context.Context, tx ward.ResourceTx) error {
		body := map[string]any{"resourceType": "Bot", "name": req.Name}
		setString(body, "description", req.Description)
		var err error
		if bot, err = createIn(ctx, tx, project.ID, "Bot", body); err != nil {
			return err
		}
		self := &Reference{Reference: bot.Reference(), Display: req.Name}
		_, err = createIn(ctx, tx, project.ID, "ProjectMembership", &Membership{
			ResourceType: "ProjectMembership", Project: projectRef(project),
			User: self, Profile: self, AccessPolicy: req.AccessPolicy,
		})
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	noteTarget(ctx, bot.Type, bot.ID)
	return s.answer(ctx, http.StatusCreated, bot)
}

// projectListRoute replaces one list field of the project (secret,
// setting, site) with the request body, an array.
func (s *Service) projectListRoute(field string) adminHandler {
	return func(ctx context.Context, c *Caller, r *http.Request) (int, any, error) {
		var list []map[string]any
		if err := decodeBody(r, &list); err != nil {
			return 0, nil, err
		}
		out, err := s.setProjectList(ctx, c, r.PathValue("projectId"), field, list)
		if err != nil {
			return 0, nil, err
		}
		return http.StatusOK, out, nil
	}
}

// setProjectList stores list as the project's field, keeping every other
// field, and returns the project as the caller may see it.
func (s *Service) setProjectList(ctx context.Context, c *Caller, pathProjectID, field string, list []map[string]any) (map[string]any, error) {
	project, raw, err := s.adminProject(ctx, c, pathProjectID)
	if err != nil {
		return nil, err
	}
	noteTarget(ctx, "Project", project.ID)
	setField(raw, field, list, len(list) > 0)
	res, err := s.writeSystem(ctx, project.ID, "Project", project.ID, raw)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(res.Content, &out); err != nil {
		return nil, err
	}
	if !c.SuperAdmin() {
		// Hidden from project admins (spec 2.9).
		for _, k := range []string{"superAdmin", "strictMode", "systemSecret"} {
			delete(out, k)
		}
	}
	return out, nil
}

// setPasswordRequest is the body of POST /admin/projects/setpassword.
type setPasswordRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (s *Service) handleSetPassword(ctx context.Context, c *Caller, r *http.Request) (int, any, error) {
	var req setPasswordRequest
	if _, _, err := s.adminProject(ctx, c, ""); err != nil {
		return 0, nil, err
	}
	if err := decodeBody(r, &req); err != nil {
		return 0, nil, err
	}
	if err := s.setPassword(ctx, c, req); err != nil {
		return 0, nil, err
	}
	return http.StatusOK, allOKOutcome(), nil
}

// setPassword sets the password of a project-scoped user of the caller's
// project. Server-scoped users own their password; admins cannot set it.
func (s *Service) setPassword(ctx context.Context, c *Caller, req setPasswordRequest) error {
	project, _, err := s.adminProject(ctx, c, "")
	if err != nil {
		return err
	}
	if !isEmailAddress(req.Email) {
		return badRequest("email", "Valid email address is required")
	}
	if err := validateNewPassword(req.Password, "password"); err != nil {
		return err
	}
	u, err := s.userByEmail(ctx, req.Email, project.ID)
	if err != nil {
		return err
	}
	if u == nil {
		return ward.Errorf(ward.ENOTFOUND, "User not found")
	}
	noteTarget(ctx, "User", u.ID)
	var raw map[string]any
	if _, err := s.readJSON(ctx, "User", u.ID, &raw); err != nil {
		return err
	}
	hash, err := s.hashPassword(req.Password)
	if err != nil {
		return err
	}
	raw["passwordHash"] = hash
	_, err = s.writeSystem(ctx, project.ID, "User", u.ID, raw)
	return err
}
