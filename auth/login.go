package auth

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"strings"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/access"
)

// The login work: /auth/method, /auth/login, /auth/login/{login},
// /auth/profile, /auth/scope (this file), /oauth2/authorize and the
// sign-in page (authorize.go), registration and password change
// (register.go), rate limits (limit.go).

func (s *Service) mountLogin(mux *http.ServeMux) {
	mux.HandleFunc("POST /auth/method", s.handleMethod)
	mux.HandleFunc("POST /auth/login", s.audited(kindLogin, "login", "E", s.handleLogin))
	mux.HandleFunc("GET /auth/login/{login}", s.handleGetLogin)
	mux.HandleFunc("POST /auth/profile", s.audited(kindLogin, "login", "E", s.handleProfile))
	mux.HandleFunc("POST /auth/scope", s.handleScope)
	s.mountAuthorize(mux)
	s.mountRegister(mux)
}

// loginParams is what a new Login records. Every caller that logs a
// principal in (password, registration, client credentials) goes through
// newLogin with it.
type loginParams struct {
	User                *Reference // User/… or ClientApplication/…
	ClientID            string     // ClientApplication id, "" without a client
	ProjectID           string     // "", "new" or a project id
	ProfileType         string     // optional membership profile filter ("Practitioner")
	AuthMethod          string     // "password" when empty
	AuthTime            string     // when the user authenticated; now when empty
	Scope               string
	Nonce               string
	CodeChallenge       string
	CodeChallengeMethod string
	Remember            bool // deprecated "remember me": also grants a refresh secret
	RemoteAddress       string
	UserAgent           string
	MfaVerified         bool // a re-login of a login that passed its MFA code
}

// newLogin stores a fresh Login (spec 1.8, 4.6 step 3) and returns it with its id.
func (s *Service) newLogin(ctx context.Context, p loginParams) (*Login, error) {
	login := &Login{
		ResourceType:        "Login",
		User:                p.User,
		ProfileType:         p.ProfileType,
		AuthMethod:          p.AuthMethod,
		AuthTime:            p.AuthTime,
		Code:                randomHex(16),
		Cookie:              randomHex(16),
		Scope:               p.Scope,
		Nonce:               p.Nonce,
		CodeChallenge:       p.CodeChallenge,
		CodeChallengeMethod: p.CodeChallengeMethod,
		RemoteAddress:       p.RemoteAddress,
		UserAgent:           p.UserAgent,
		MfaVerified:         p.MfaVerified,
	}
	if login.AuthMethod == "" {
		login.AuthMethod = "password"
	}
	if login.AuthTime == "" {
		login.AuthTime = instant(s.cfg.Now())
	}
	if p.ClientID != "" {
		login.Client = &Reference{Reference: "ClientApplication/" + p.ClientID}
	}
	if p.ProjectID != "" {
		login.Project = &Reference{Reference: "Project/" + p.ProjectID}
	}
	if p.Remember || hasScope(p.Scope, "offline") || hasScope(p.Scope, "offline_access") {
		login.RefreshSecret = randomHex(32)
	}
	res, err := s.writeSystem(ctx, ward.SystemProjectID, "Login", "", login)
	if err != nil {
		return nil, err
	}
	login.ID = res.ID
	return login, nil
}

// saveLogin stores a changed Login.
func (s *Service) saveLogin(ctx context.Context, login *Login) error {
	_, err := s.writeSystem(ctx, ward.SystemProjectID, "Login", login.ID, login)
	return err
}

// readLogin loads a Login; an unknown id is 404 "Login not found".
func (s *Service) readLogin(ctx context.Context, id string) (*Login, error) {
	var login Login
	if id == "" {
		return nil, badRequest("login", "Missing login")
	}
	if _, err := s.readJSON(ctx, "Login", id, &login); err != nil {
		if code := ward.ErrorCode(err); code == ward.ENOTFOUND || code == ward.EGONE || code == ward.EINVALID {
			return nil, ward.Errorf(ward.ENOTFOUND, "Login not found")
		}
		return nil, err
	}
	return &login, nil
}

// memberships lists the ProjectMemberships of user (at most 100), only
// those of projectID when it names a real project (spec 4.6 step 4).
// Without a project they are read in the user's homes (homesOf), not in
// every project.
func (s *Service) memberships(ctx context.Context, user *Reference, projectID string) ([]*Membership, error) {
	q := url.Values{"user": {user.Reference}, "_count": {"100"}}
	var home []string
	if projectID != "" && projectID != "new" {
		q.Set("project", "Project/"+projectID)
		home = []string{projectID}
	} else {
		homes, known, err := s.homesOf(ctx, user.Reference)
		if err != nil || known && len(homes) == 0 {
			return nil, err
		}
		home = homes
	}
	found, err := s.searchIn(ctx, "ProjectMembership", q, home)
	if err != nil {
		return nil, err
	}
	out := make([]*Membership, 0, len(found))
	for _, res := range found {
		var m Membership
		if err := decodeResource(res, &m); err != nil {
			return nil, err
		}
		out = append(out, &m)
	}
	return out, nil
}

// withProfileType keeps the memberships whose profile is of type t ("" keeps all).
func withProfileType(ms []*Membership, t string) []*Membership {
	if t == "" {
		return ms
	}
	var out []*Membership
	for _, m := range ms {
		if m.Profile != nil && strings.HasPrefix(m.Profile.Reference, t+"/") {
			out = append(out, m)
		}
	}
	return out
}

// chooseMembership sets the login's membership after every check of spec
// 4.6 step 6, and returns the updated login.
func (s *Service) chooseMembership(ctx context.Context, login *Login, membershipID string) (*Login, error) {
	login, _, err := s.chooseMembershipIn(ctx, login, membershipID, loginProject(login))
	return login, err
}

// chooseMembershipIn is chooseMembership, also returning the membership's
// project. home is the project the membership is expected in ("":
// unknown, looked for in every project).
func (s *Service) chooseMembershipIn(ctx context.Context, login *Login, membershipID, home string) (*Login, *Project, error) {
	if err := checkLoginOpen(login); err != nil {
		return nil, nil, err
	}
	if login.Membership != nil {
		return nil, nil, badRequest("login", "Login profile already set")
	}
	if membershipID == "" {
		return nil, nil, badRequest("profile", "Profile not found")
	}
	var mJSON map[string]any
	mRes, err := s.readJSON(ctx, "ProjectMembership", membershipID, &mJSON, home)
	if err != nil {
		if ward.ErrorCode(err) == ward.EINTERNAL {
			return nil, nil, err
		}
		return nil, nil, badRequest("profile", "Profile not found")
	}
	m, err := decodeAs[Membership](mRes)
	if err != nil {
		return nil, nil, err
	}
	if m.User == nil || login.User == nil || m.User.Reference != login.User.Reference {
		return nil, nil, badRequest("profile", "Invalid profile")
	}
	// A login started for one project (clientId or projectId) may only
	// end in that project.
	if pid := loginProjectID(login); pid != "" && pid != "new" && referenceID(m.Project) != pid {
		return nil, nil, badRequest("profile", "Invalid profile")
	}
	if m.Active != nil && !*m.Active {
		return nil, nil, badRequest("profile", "Profile not active")
	}
	var pJSON map[string]any
	pRes, err := s.readJSON(ctx, "Project", referenceID(m.Project), &pJSON)
	if err != nil {
		if ward.ErrorCode(err) == ward.EINTERNAL {
			return nil, nil, err
		}
		return nil, nil, badRequest("profile", "Profile not found")
	}
	project, err := decodeAs[Project](pRes)
	if err != nil {
		return nil, nil, err
	}
	if hasFeature(project.Features, "google-auth-required") && login.AuthMethod != "google" {
		return nil, nil, badRequest("profile", "Google authentication is required")
	}
	// A membership whose policies cannot be built would fail every
	// request; refuse it here, with Medplum's text, instead.
	policies, err := s.membershipPolicies(ctx, m)
	if err != nil {
		return nil, nil, err
	}
	_, policyJSON, err := access.Build(access.Input{Project: pJSON, Membership: mJSON, Policies: policies})
	if err != nil {
		return nil, nil, err
	}
	// The policy's IP rules apply at membership selection (spec 2.13),
	// to the address the login came from.
	if !ipAllowed(policyJSON, login.RemoteAddress) {
		s.loginFailed(ctx, LoginFailure{ClientID: refID(login.Client, "ClientApplication"), RemoteAddress: login.RemoteAddress, Reason: "ip rule"})
		return nil, nil, ward.Errorf(ward.EINVALID, "IP address not allowed")
	}
	login.Membership = &Reference{Reference: "ProjectMembership/" + m.ID}
	// The chosen project, as Medplum records it: where the membership,
	// its profile and policies are read from this login on (one shard).
	login.Project = &Reference{Reference: "Project/" + project.ID}
	if project.SuperAdmin {
		// Super admin sessions never get refresh tokens.
		login.RefreshSecret = ""
	}
	if err := s.saveLogin(ctx, login); err != nil {
		return nil, nil, err
	}
	noteLoginMembership(ctx, login, m)
	return login, project, nil
}

// checkLoginOpen rejects a login that can no longer change.
func checkLoginOpen(login *Login) error {
	switch {
	case login.Revoked:
		return badRequest("login", "Login revoked")
	case login.Granted:
		return badRequest("login", "Login granted")
	}
	return nil
}

// loginResponse is the body of /auth/login and its follow-ups (spec 5.3).
type loginResponse struct {
	Login       string             `json:"login"`
	Code        string             `json:"code,omitempty"`
	Memberships []membershipChoice `json:"memberships,omitempty"`
	// MFA steps (mfa.go): a code to verify, or an enrolment to make.
	MfaRequired       bool   `json:"mfaRequired,omitempty"`
	MfaEnrollRequired bool   `json:"mfaEnrollRequired,omitempty"`
	EnrollURI         string `json:"enrollUri,omitempty"`
	EnrollQrCode      string `json:"enrollQrCode,omitempty"`
}

// membershipChoice is one entry of the profile chooser.
type membershipChoice struct {
	ID         string     `json:"id"`
	Project    *Reference `json:"project,omitempty"`
	Profile    *Reference `json:"profile,omitempty"`
	Identifier []any      `json:"identifier,omitempty"`
}

// loginResult decides what a login needs next (spec 4.6 steps 4-5): the
// MFA step it owes (mfa.go) first, then its code once a membership is
// chosen (choosing the only one automatically), or the list to choose
// from. A code — and the client cookie — is only ever handed out here, and
// only to a login that owes no MFA step for the project it enters.
func (s *Service) loginResult(ctx context.Context, w http.ResponseWriter, login *Login) (*loginResponse, error) {
	due, u, err := s.loginMfa(ctx, login, nil)
	if err != nil {
		return nil, err
	}
	if due != mfaNothing {
		return s.mfaAnswer(ctx, login, due, u)
	}
	var project *Project // the membership's, when chosen here
	if login.Membership == nil {
		pid := loginProjectID(login)
		if pid == "new" {
			return &loginResponse{Login: login.ID}, nil
		}
		ms, err := s.memberships(ctx, login.User, pid)
		if err != nil {
			return nil, err
		}
		ms = withProfileType(ms, login.ProfileType)
		switch len(ms) {
		case 0:
			return nil, badRequest("email", "User not found")
		case 1:
			if login, project, err = s.chooseMembershipIn(ctx, login, ms[0].ID, refID(ms[0].Project, "Project")); err != nil {
				return nil, err
			}
		default:
			choices, err := s.membershipChoices(ctx, ms)
			if err != nil {
				return nil, err
			}
			return &loginResponse{Login: login.ID, Memberships: choices}, nil
		}
	}
	if u != nil { // a password login not yet verified: does its project require MFA?
		required := project != nil && project.requiresMfa()
		if project == nil {
			projectID, err := s.membershipProjectID(ctx, login)
			if err == nil {
				required, err = s.projectRequiresMfa(ctx, projectID)
			}
			if err != nil {
				return nil, err
			}
		}
		if required {
			return s.mfaAnswer(ctx, login, mfaEnroll, u)
		}
	}
	s.setLoginCookie(w, login)
	return &loginResponse{Login: login.ID, Code: login.Code}, nil
}

// setLoginCookie sets medplum-<clientId> for silent re-login through
// /oauth2/authorize when the login has a client.
func (s *Service) setLoginCookie(w http.ResponseWriter, login *Login) {
	clientID := referenceID(login.Client)
	if clientID == "" || login.Cookie == "" {
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name:     "medplum-" + clientID,
		Value:    login.Cookie,
		Path:     "/",
		MaxAge:   3600,
		HttpOnly: true,
		Secure:   true,
		SameSite: http.SameSiteNoneMode,
	})
}

// membershipChoices gives every membership the displays the chooser shows:
// the project's name and the profile's name.
func (s *Service) membershipChoices(ctx context.Context, ms []*Membership) ([]membershipChoice, error) {
	out := make([]membershipChoice, 0, len(ms))
	for _, m := range ms {
		c := membershipChoice{ID: m.ID, Project: copyRef(m.Project), Profile: copyRef(m.Profile), Identifier: m.Identifier}
		if c.Project != nil && c.Project.Display == "" {
			c.Project.Display = s.displayOf(ctx, c.Project.Reference, "")
		}
		if c.Profile != nil && c.Profile.Display == "" {
			// A profile lives in its membership's project.
			c.Profile.Display = s.displayOf(ctx, c.Profile.Reference, referenceID(m.Project))
		}
		out = append(out, c)
	}
	return out, nil
}

// displayOf is the display name of the resource ref points to, "" when it
// cannot be read: a Project's or ClientApplication's name, a person's
// formatted HumanName. home is the project it is expected in ("": its
// type's, homeOf).
func (s *Service) displayOf(ctx context.Context, ref, home string) string {
	typ, id, ok := strings.Cut(ref, "/")
	if !ok {
		return ""
	}
	var v struct {
		Name any `json:"name"`
	}
	if _, err := s.readJSON(ctx, typ, id, &v, home); err != nil {
		return ""
	}
	return formatName(v.Name)
}

// formatName renders a "name" field: a string as is, or the first
// HumanName as its text or "prefix given family suffix".
func formatName(name any) string {
	switch n := name.(type) {
	case string:
		return n
	case []any:
		if len(n) == 0 {
			return ""
		}
		h, _ := n[0].(map[string]any)
		if text, _ := h["text"].(string); text != "" {
			return text
		}
		var parts []string
		for _, key := range []string{"prefix", "given", "family", "suffix"} {
			switch v := h[key].(type) {
			case string:
				parts = append(parts, v)
			case []any:
				for _, p := range v {
					if str, _ := p.(string); str != "" {
						parts = append(parts, str)
					}
				}
			}
		}
		return strings.Join(parts, " ")
	}
	return ""
}

// --- handlers ---

type methodRequest struct {
	Email string `json:"email"`
}

// handleMethod answers which sign-in method an email uses: always
// password ({}) until external identity providers exist.
func (s *Service) handleMethod(w http.ResponseWriter, r *http.Request) {
	var req methodRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if !validEmail(req.Email) {
		writeError(w, r, badRequest("email", "Valid email address is required"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

// loginRequest is the body of POST /auth/login (spec 5.3).
type loginRequest struct {
	Email               string `json:"email"`
	Password            string `json:"password"`
	Scope               string `json:"scope"`
	ProjectID           string `json:"projectId"`
	ClientID            string `json:"clientId"`
	ResourceType        string `json:"resourceType"`
	CodeChallenge       string `json:"codeChallenge"`
	CodeChallengeMethod string `json:"codeChallengeMethod"`
	Nonce               string `json:"nonce"`
	Remember            bool   `json:"remember"`
}

func (s *Service) handleLogin(w http.ResponseWriter, r *http.Request) {
	var req loginRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	login, err := s.passwordLogin(r.Context(), r, req)
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.respondLogin(w, r, login)
}

// respondLogin sends the login result of login.
func (s *Service) respondLogin(w http.ResponseWriter, r *http.Request, login *Login) {
	out, err := s.loginResult(r.Context(), w, login)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// passwordLogin validates req in Medplum's order, authenticates the user
// and stores a new Login. Every failure after the request is well-formed
// is recorded as a failed login.
func (s *Service) passwordLogin(ctx context.Context, r *http.Request, req loginRequest) (*Login, error) {
	email := strings.ToLower(strings.TrimSpace(req.Email))
	if !validEmail(email) {
		return nil, badRequest("email", "Valid email address is required")
	}
	if err := validatePassword(req.Password); err != nil {
		return nil, err
	}
	projectID, client, err := s.loginProject(ctx, req.ClientID, req.ProjectID)
	if err != nil {
		return nil, err
	}
	if err := checkOrigin(client, r.Header.Get("Origin")); err != nil {
		return nil, err
	}
	if err := validatePKCE(req.CodeChallenge, req.CodeChallengeMethod); err != nil {
		return nil, err
	}
	addr := remoteAddress(r)
	if err := s.limit.allow(ctx, s.cfg.Now(), email, addr); err != nil {
		s.loginFailed(ctx, LoginFailure{Email: email, ClientID: req.ClientID, RemoteAddress: addr, Reason: reasonRateLimited})
		return nil, err
	}
	user, err := s.loginUser(ctx, email, projectID)
	if err != nil {
		return nil, err
	}
	noteUser(ctx, user)
	if !s.authenticate(user, req.Password) {
		reason := "wrong password"
		if user == nil {
			reason = "unknown email"
		}
		s.loginFailed(ctx, LoginFailure{Email: email, ClientID: req.ClientID, RemoteAddress: addr, Reason: reason})
		return nil, badRequest("password", "Email or password is invalid")
	}
	return s.newLogin(ctx, loginParams{
		User:                &Reference{Reference: "User/" + user.ID, Display: user.Email},
		ClientID:            req.ClientID,
		ProjectID:           projectID,
		ProfileType:         req.ResourceType,
		Scope:               req.Scope,
		Nonce:               req.Nonce,
		CodeChallenge:       req.CodeChallenge,
		CodeChallengeMethod: req.CodeChallengeMethod,
		Remember:            req.Remember,
		RemoteAddress:       addr,
		UserAgent:           r.UserAgent(),
	})
}

// noSuchUserHash is compared against when the email is unknown, so that an
// unknown email costs as much time as a wrong password (no enumeration by
// timing). It is the hash of no password anyone knows.
const noSuchUserHash = "$2a$10$9S6VjpoRdY3xFA1NxGVmYuvh5Ta5xwf1Y1d7NkfimiWwaHgycDOm2"

// authenticate checks pw against user's hash; a nil user fails after the
// same work.
func (s *Service) authenticate(user *User, pw string) bool {
	if user == nil {
		checkPassword(noSuchUserHash, pw)
		return false
	}
	return checkPassword(user.PasswordHash, pw)
}

// loginProject resolves a login's project context (spec 4.6 step 1): the
// client's project when clientId is given (a different projectId is 400
// "Invalid projectId"), else projectId ("new" included).
func (s *Service) loginProject(ctx context.Context, clientID, projectID string) (string, *Client, error) {
	if clientID == "" {
		return projectID, nil, nil
	}
	client, res, err := s.readClient(ctx, clientID)
	if err != nil {
		return "", nil, err
	}
	if projectID != "" && projectID != res.ProjectID {
		return "", nil, badRequest("projectId", "Invalid projectId")
	}
	return res.ProjectID, client, nil
}

// readClient loads a ClientApplication; unknown is 404 "Not found".
func (s *Service) readClient(ctx context.Context, id string) (*Client, *ward.Resource, error) {
	var c Client
	res, err := s.readJSON(ctx, "ClientApplication", id, &c)
	if err != nil {
		if ward.ErrorCode(err) == ward.EINTERNAL {
			return nil, nil, err
		}
		return nil, nil, ward.Errorf(ward.ENOTFOUND, "Not found")
	}
	return &c, res, nil
}

// checkOrigin enforces a client's allowedOrigin list against the browser's
// Origin header.
func checkOrigin(c *Client, origin string) error {
	if c == nil || len(c.AllowedOrigin) == 0 || origin == "" {
		return nil
	}
	for _, o := range c.AllowedOrigin {
		if strings.TrimSuffix(o, "/") == strings.TrimSuffix(origin, "/") {
			return nil
		}
	}
	return badRequest("origin", "Invalid origin")
}

// validatePKCE requires a challenge and its method together, and a method
// the token endpoint can verify.
func validatePKCE(challenge, method string) error {
	switch {
	case challenge != "" && method == "":
		return badRequest("codeChallengeMethod", "Missing code challenge method")
	case challenge == "" && method != "":
		return badRequest("codeChallenge", "Missing code challenge")
	case method != "" && method != "plain" && method != "S256":
		return badRequest("codeChallengeMethod", "Invalid code challenge method")
	}
	return nil
}

// loginUser finds the user who signs in with email: the project-scoped
// user of projectID first, then the server-scoped user (spec 4.6 step 2).
// nil when there is none.
func (s *Service) loginUser(ctx context.Context, email, projectID string) (*User, error) {
	if projectID != "" && projectID != "new" {
		u, err := s.userByEmail(ctx, email, projectID)
		if u != nil || err != nil {
			return u, err
		}
	}
	return s.userByEmail(ctx, email, "")
}

func (s *Service) handleGetLogin(w http.ResponseWriter, r *http.Request) {
	login, err := s.readLogin(r.Context(), r.PathValue("login"))
	if err == nil {
		err = checkLoginOpen(login)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.respondLogin(w, r, login)
}

type profileRequest struct {
	Login   string `json:"login"`
	Profile string `json:"profile"` // the ProjectMembership id
}

func (s *Service) handleProfile(w http.ResponseWriter, r *http.Request) {
	var req profileRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if req.Profile == "" {
		writeError(w, r, badRequest("profile", "Missing profile"))
		return
	}
	login, err := s.readLogin(r.Context(), req.Login)
	if err == nil {
		login, err = s.chooseMembership(r.Context(), login, req.Profile)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.respondLogin(w, r, login)
}

type scopeRequest struct {
	Login string `json:"login"`
	Scope string `json:"scope"`
}

// handleScope narrows a login's scope to a subset of what it asked for.
func (s *Service) handleScope(w http.ResponseWriter, r *http.Request) {
	var req scopeRequest
	if err := decodeBody(r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	if strings.TrimSpace(req.Scope) == "" {
		writeError(w, r, badRequest("scope", "Missing scope"))
		return
	}
	login, err := s.readLogin(r.Context(), req.Login)
	if err == nil {
		err = s.narrowScope(r.Context(), login, req.Scope)
	}
	if err != nil {
		writeError(w, r, err)
		return
	}
	s.respondLogin(w, r, login)
}

// narrowScope replaces login's scope by scope, every word of which the
// login requested.
func (s *Service) narrowScope(ctx context.Context, login *Login, scope string) error {
	if err := checkLoginOpen(login); err != nil {
		return err
	}
	for _, sc := range strings.Fields(scope) {
		if !hasScope(login.Scope, sc) {
			return badRequest("scope", "Invalid scope")
		}
	}
	login.Scope = strings.Join(strings.Fields(scope), " ")
	return s.saveLogin(ctx, login)
}

// --- small helpers ---

// instant formats t as a FHIR instant in UTC with milliseconds.
func instant(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

func hasFeature(features []string, f string) bool {
	for _, x := range features {
		if x == f {
			return true
		}
	}
	return false
}

// referenceID is the id part of "Type/id", "" for nil.
func referenceID(ref *Reference) string {
	if ref == nil {
		return ""
	}
	_, id, _ := strings.Cut(ref.Reference, "/")
	return id
}

// loginProject is where the login's membership, client and profile are
// expected: the project it was started for, "" when none or new.
func loginProject(login *Login) string {
	if id := referenceID(login.Project); id != "new" {
		return id
	}
	return ""
}

// loginProjectID is the project a login was started for ("", "new" or an id).
func loginProjectID(login *Login) string { return referenceID(login.Project) }

func copyRef(r *Reference) *Reference {
	if r == nil {
		return nil
	}
	c := *r
	return &c
}

// validEmail is a practical address check: one @, a dotted domain, no
// display name or spaces.
func validEmail(email string) bool {
	if email == "" || len(email) > 254 || strings.ContainsAny(email, " \t\r\n<>") {
		return false
	}
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email {
		return false
	}
	_, domain, _ := strings.Cut(email, "@")
	return strings.Contains(domain, ".") && !strings.HasSuffix(domain, ".") && !strings.HasPrefix(domain, ".")
}

// remoteAddress is the client IP of r (without port).
func remoteAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// decodeResource decodes a stored resource's JSON into v.
func decodeResource(res *ward.Resource, v any) error {
	if err := json.Unmarshal(res.Content, v); err != nil {
		return ward.Errorf(ward.EINTERNAL, "decode %s: %v", res.Reference(), err)
	}
	return nil
}
