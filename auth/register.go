package auth

import (
	"context"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/wardhealth/ward"
)

// Self-service registration (spec 5.9) and password change.

func (s *Service) mountRegister(mux *http.ServeMux) {
	mux.HandleFunc("POST /auth/newuser", s.audited(kindLogin, "register", "C", s.handleNewUser))
	mux.HandleFunc("POST /auth/newproject", s.audited(kindLogin, "register", "C", s.handleNewProject))
	mux.HandleFunc("POST /auth/newpatient", s.audited(kindLogin, "register", "C", s.handleNewPatient))
	mux.HandleFunc("POST /auth/changepassword", s.audited(kindLogin, "password-change", "U", s.handleChangePassword))
}

const registrationDisabledText = "Registration is disabled"

// newUserRequest is the body of POST /auth/newuser. recaptchaToken and
// recaptchaSiteKey are accepted and ignored: Ward has no reCAPTCHA.
type newUserRequest struct {
	FirstName           string `json:"firstName"`
	LastName            string `json:"lastName"`
	Email               string `json:"email"`
	Password            string `json:"password"`
	ProjectID           string `json:"projectId"`
	ClientID            string `json:"clientId"`
	Scope               string `json:"scope"`
	Nonce               string `json:"nonce"`
	CodeChallenge       string `json:"codeChallenge"`
	CodeChallengeMethod string `json:"codeChallengeMethod"`
	Remember            bool   `json:"remember"`
}

func (s *Service) handleNewUser(w http.ResponseWriter, r *http.Request) {
	var req newUserRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	login, err := s.registerUser(r.Context(), r, req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"login": login.ID, "emailVerificationRequired": false})
}

// registerUser validates req, creates the user (server-scoped, or scoped
// to a project that allows open registration) and a Login without a
// membership, which /auth/newproject or /auth/newpatient completes.
func (s *Service) registerUser(ctx context.Context, r *http.Request, req newUserRequest) (*Login, error) {
	if err := validateNewUser(req); err != nil {
		return nil, err
	}
	email := normalizeEmail(req.Email)
	if err := s.allowAttempt(r, email); err != nil {
		return nil, err
	}
	projectID, _, err := s.loginProject(ctx, req.ClientID, req.ProjectID)
	if err != nil {
		return nil, err
	}
	if projectID == "new" {
		projectID = ""
	}
	if projectID == "" && s.cfg.RegistrationDisabled {
		return nil, badRequest("email", registrationDisabledText)
	}
	if projectID != "" {
		// A project-scoped user is how a patient registers with a
		// project; only projects open to that accept one.
		if _, err := s.openProject(ctx, projectID); err != nil {
			return nil, err
		}
	}
	if err := validatePKCE(req.CodeChallenge, req.CodeChallengeMethod); err != nil {
		return nil, err
	}
	user, err := s.createUser(ctx, NewUser{
		FirstName: strings.TrimSpace(req.FirstName), LastName: strings.TrimSpace(req.LastName),
		Email: email, Password: req.Password, ProjectID: projectID,
	})
	if err != nil {
		if ward.ErrorCode(err) == ward.ECONFLICT {
			return nil, badRequest("email", emailRegisteredText)
		}
		return nil, err
	}
	noteUser(ctx, user)
	noteTarget(ctx, "User", user.ID)
	scope := req.Scope
	if scope == "" {
		scope = "openid"
	}
	return s.newLogin(ctx, loginParams{
		User:                &Reference{Reference: "User/" + user.ID, Display: user.Email},
		ClientID:            req.ClientID,
		ProjectID:           projectID,
		Scope:               scope,
		Nonce:               req.Nonce,
		CodeChallenge:       req.CodeChallenge,
		CodeChallengeMethod: req.CodeChallengeMethod,
		Remember:            req.Remember,
		RemoteAddress:       remoteAddress(r),
		UserAgent:           r.UserAgent(),
	})
}

// validateNewUser applies Medplum's field checks in its order.
func validateNewUser(req newUserRequest) error {
	switch {
	case strings.TrimSpace(req.FirstName) == "":
		return badRequest("firstName", "First name cannot be blank")
	case strings.TrimSpace(req.LastName) == "":
		return badRequest("lastName", "Last name cannot be blank")
	case !validEmail(normalizeEmail(req.Email)):
		return badRequest("email", "Valid email address is required")
	}
	return validateNewPassword(req.Password, "password")
}

// openProject returns the project's default patient access policy, or 400
// when the project does not exist or does not allow open registration.
func (s *Service) openProject(ctx context.Context, projectID string) (*Reference, error) {
	var p struct {
		DefaultPatientAccessPolicy *Reference `json:"defaultPatientAccessPolicy"`
	}
	if _, err := s.readJSON(ctx, "Project", projectID, &p); err != nil {
		if ward.ErrorCode(err) == ward.EINTERNAL {
			return nil, err
		}
		return nil, badRequest("projectId", "Project not found")
	}
	if p.DefaultPatientAccessPolicy == nil || p.DefaultPatientAccessPolicy.Reference == "" {
		return nil, badRequest("projectId", "Project does not allow open registration")
	}
	return p.DefaultPatientAccessPolicy, nil
}

type newProjectRequest struct {
	Login       string `json:"login"`
	ProjectName string `json:"projectName"`
}

// handleNewProject creates a project for a registered user's pending login
// and makes the user its admin: the project with its default client, a
// Practitioner profile and an admin membership, chosen for the login.
func (s *Service) handleNewProject(w http.ResponseWriter, r *http.Request) {
	var req newProjectRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	login, err := s.newProject(r.Context(), req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.respondLogin(w, r, login)
}

func (s *Service) newProject(ctx context.Context, req newProjectRequest) (*Login, error) {
	if s.cfg.RegistrationDisabled {
		return nil, badRequest("projectName", registrationDisabledText)
	}
	if req.Login == "" {
		return nil, badRequest("login", "Missing login")
	}
	name := strings.TrimSpace(req.ProjectName)
	if n := utf8.RuneCountInString(name); n < 4 || n > 72 {
		return nil, badRequest("projectName", "Invalid project name")
	}
	login, user, err := s.pendingLogin(ctx, req.Login)
	if err != nil {
		return nil, err
	}
	noteUser(ctx, user)
	if user.Project != nil {
		return nil, badRequest("login", "Project-scoped users cannot create projects")
	}
	project, err := s.createProject(ctx, name, user.ID, false)
	if err != nil {
		return nil, err
	}
	noteTarget(ctx, "Project", project.ID)
	m, err := s.memberWithProfile(ctx, project, user, "Practitioner", nil, true)
	if err != nil {
		return nil, err
	}
	login, _, err = s.chooseMembershipIn(ctx, login, m.ID, project.ID)
	return login, err
}

// pendingLogin loads a login that has authenticated a User but has no
// membership yet, and its User.
func (s *Service) pendingLogin(ctx context.Context, id string) (*Login, *User, error) {
	login, err := s.readLogin(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	if err := checkLoginOpen(login); err != nil {
		return nil, nil, err
	}
	if login.Membership != nil {
		return nil, nil, badRequest("login", "Login already has a membership")
	}
	userID := refID(login.User, "User")
	if userID == "" {
		return nil, nil, badRequest("login", "Invalid login")
	}
	var user User
	if _, err := s.readJSON(ctx, "User", userID, &user); err != nil {
		if ward.ErrorCode(err) == ward.EINTERNAL {
			return nil, nil, err
		}
		return nil, nil, badRequest("login", "User not found")
	}
	return login, &user, nil
}

// memberWithProfile creates a profile of type profileType for user in
// project and the membership joining them.
func (s *Service) memberWithProfile(ctx context.Context, project *Project, user *User, profileType string, policy *Reference, admin bool) (*Membership, error) {
	profile, err := s.createProfile(ctx, project.ID, profileType, user.FirstName, user.LastName, user.Email)
	if err != nil {
		return nil, err
	}
	return s.createMembership(ctx, &Membership{
		ResourceType: "ProjectMembership",
		Project:      projectRef(project),
		User:         &Reference{Reference: "User/" + user.ID, Display: user.Email},
		Profile:      profile,
		AccessPolicy: policy,
		Admin:        admin,
	})
}

type newPatientRequest struct {
	Login     string `json:"login"`
	ProjectID string `json:"projectId"`
}

// handleNewPatient completes a patient's self-registration with a project
// that allows it: a Patient profile and a membership with the project's
// default patient access policy.
func (s *Service) handleNewPatient(w http.ResponseWriter, r *http.Request) {
	var req newPatientRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	login, err := s.newPatient(r.Context(), req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.respondLogin(w, r, login)
}

func (s *Service) newPatient(ctx context.Context, req newPatientRequest) (*Login, error) {
	if req.Login == "" {
		return nil, badRequest("login", "Missing login")
	}
	if req.ProjectID == "" {
		return nil, badRequest("projectId", "Missing projectId")
	}
	login, user, err := s.pendingLogin(ctx, req.Login)
	if err != nil {
		return nil, err
	}
	noteUser(ctx, user)
	if refID(user.Project, "Project") != req.ProjectID {
		return nil, badRequest("projectId", "User must be scoped to the project")
	}
	policy, err := s.openProject(ctx, req.ProjectID)
	if err != nil {
		return nil, err
	}
	var project Project
	if _, err := s.readJSON(ctx, "Project", req.ProjectID, &project); err != nil {
		return nil, err
	}
	m, err := s.memberWithProfile(ctx, &project, user, "Patient", policy, false)
	if err != nil {
		return nil, err
	}
	noteTarget(ctx, "ProjectMembership", m.ID)
	login, _, err = s.chooseMembershipIn(ctx, login, m.ID, project.ID)
	return login, err
}

type changePasswordRequest struct {
	OldPassword string `json:"oldPassword"`
	NewPassword string `json:"newPassword"`
}

// handleChangePassword changes the signed-in user's password.
func (s *Service) handleChangePassword(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	caller, err := s.callerOf(ctx, r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	var req changePasswordRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.changePassword(ctx, r, caller, req); err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, okOutcome())
}

func (s *Service) changePassword(ctx context.Context, r *http.Request, caller *Caller, req changePasswordRequest) error {
	if caller.User == nil {
		return ward.Errorf(ward.EFORBIDDEN, "Forbidden")
	}
	if req.OldPassword == "" {
		return badRequest("oldPassword", "Missing oldPassword")
	}
	if err := validateNewPassword(req.NewPassword, "newPassword"); err != nil {
		return err
	}
	// Guessing the old password here must be as slow as at /auth/login.
	if err := s.allowAttempt(r, caller.User.Email); err != nil {
		return err
	}
	noteTarget(ctx, "User", caller.User.ID)
	var user map[string]any
	res, err := s.readJSON(ctx, "User", caller.User.ID, &user)
	if err != nil {
		return err
	}
	hash, _ := user["passwordHash"].(string)
	if !checkPassword(hash, req.OldPassword) {
		s.loginFailed(ctx, LoginFailure{Email: caller.User.Email, RemoteAddress: remoteAddress(r), Reason: "wrong password at password change"})
		return badRequest("oldPassword", "Incorrect password")
	}
	if user["passwordHash"], err = s.hashPassword(req.NewPassword); err != nil {
		return err
	}
	_, err = s.writeSystem(ctx, res.ProjectID, "User", caller.User.ID, user)
	return err
}
