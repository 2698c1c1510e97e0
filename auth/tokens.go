package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/wardhealth/ward"
)

// The tokens work: signing keys (keys.go), JWTs (jwt.go), callers and their
// cache (caller.go, cache.go), /oauth2/token, /oauth2/logout,
// /oauth2/userinfo, /.well-known/* (this file), /auth/me (me.go), Seed (seed.go).

func (s *Service) setup() {
	s.keys = &keyRing{}
	s.cache = newPrincipalCache()
	s.limit = newLimiter(s.cfg)
	s.mfa = newMfaGuard()
	if st, ok := s.store.(AttemptStore); ok && s.cfg.SharedLoginLimits {
		s.limit.share(st, "login", s.cfg.Logger)
		used, _ := s.store.(UsedStepStore) // nil: used codes stay in memory
		s.mfa.share(st, used, s.cfg.Logger)
	}
}

func (s *Service) mountTokens(mux *http.ServeMux) {
	mux.HandleFunc("POST /oauth2/token", s.audited(kindLogin, "token", "E", s.handleToken))
	mux.HandleFunc("POST /oauth2/logout", s.audited(kindLogin, "logout", "E", s.handleLogout))
	mux.HandleFunc("GET /oauth2/userinfo", s.handleUserInfo)
	mux.HandleFunc("POST /oauth2/userinfo", s.handleUserInfo)
	mux.HandleFunc("GET /auth/me", s.handleMe)
	mux.HandleFunc("GET /.well-known/jwks.json", s.handleJWKS)
	mux.HandleFunc("GET /.well-known/openid-configuration", s.handleOpenIDConfiguration)
	mux.HandleFunc("GET /.well-known/smart-configuration", s.handleSmartConfiguration)
	mux.HandleFunc("GET /fhir/R4/.well-known/smart-configuration", s.handleSmartConfiguration)
}

// codeLifetime bounds the time between the last change of a Login (the
// membership choice that issued its code) and the code exchange.
const codeLifetime = time.Hour

// oauthError is a token endpoint failure: 400 {error, error_description}.
type oauthError struct{ code, description string }

func (e *oauthError) Error() string { return e.code + ": " + e.description }

func tokenError(code, description string) error { return &oauthError{code, description} }

func invalidRequest(description string) error { return tokenError("invalid_request", description) }

func invalidGrant(description string) error { return tokenError("invalid_grant", description) }

// handleToken is POST /oauth2/token (spec 5.5).
func (s *Service) handleToken(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, "Unsupported content type")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	var reply map[string]any
	var err error
	if err = r.ParseForm(); err != nil {
		err = invalidRequest("Invalid request")
	} else {
		reply, err = s.grant(r.Context(), r)
	}
	var oe *oauthError
	switch {
	case errors.As(err, &oe):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": oe.code, "error_description": oe.description})
	case err != nil:
		writeError(w, r, err)
	default:
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		writeJSON(w, http.StatusOK, reply)
	}
}

func (s *Service) grant(ctx context.Context, r *http.Request) (map[string]any, error) {
	switch gt := r.PostForm.Get("grant_type"); gt {
	case "":
		return nil, invalidRequest("Missing grant_type")
	case "authorization_code":
		return s.grantCode(ctx, r)
	case "client_credentials":
		return s.grantClientCredentials(ctx, r)
	case "refresh_token":
		return s.grantRefresh(ctx, r)
	default:
		return nil, tokenError("unsupported_grant_type", "Unsupported grant_type")
	}
}

// clientCredentials returns the client id and secret of the request:
// Authorization: Basic first, else the client_id/client_secret form fields.
func clientCredentials(r *http.Request) (id, secret string) {
	if scheme, cred, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Basic") {
		if id, secret, ok := decodeBasic(strings.TrimSpace(cred)); ok {
			return id, secret
		}
	}
	return r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
}

// grantCode exchanges an authorization code (with PKCE) for tokens.
func (s *Service) grantCode(ctx context.Context, r *http.Request) (map[string]any, error) {
	code := r.PostForm.Get("code")
	if code == "" {
		return nil, invalidRequest("Missing code")
	}
	found, err := s.searchSystem(ctx, "Login", url.Values{"code": {code}})
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, invalidRequest("Invalid code")
	}
	res := found[0]
	login, err := decodeAs[Login](res)
	if err != nil {
		return nil, err
	}
	if login.Code != code { // token search may fold case; codes are exact
		return nil, invalidRequest("Invalid code")
	}
	if s.cfg.Now().Sub(res.LastUpdated) > codeLifetime {
		// Ward's addition: an unused code does not stay valid for ever.
		return nil, invalidRequest("Invalid code")
	}
	if login.Membership == nil {
		return nil, invalidRequest("Invalid profile")
	}
	if login.Granted {
		// A second use of a code means it leaked: end the session it opened.
		if err := s.revokeLogin(ctx, login.ID); err != nil {
			return nil, err
		}
		return nil, invalidGrant("Token already granted")
	}
	if login.Revoked {
		return nil, invalidGrant("Token revoked")
	}
	// Codes are handed out only after the MFA step (a project's
	// requireMfa included, loginResult); an enrolled user's code is
	// refused here too, should one leak some other way.
	if due, err := s.mfaOwed(ctx, login, nil); err != nil {
		return nil, err
	} else if due != mfaNothing {
		return nil, invalidGrant("MFA required")
	}
	client, err := s.codeClient(ctx, r, login)
	if err != nil {
		return nil, err
	}
	if err := checkVerifier(r, login, client); err != nil {
		return nil, err
	}
	granted, err := s.updateLogin(ctx, login.ID, res.VersionID, func(m map[string]any) { m["granted"] = true })
	if conflicted(err) {
		_ = s.revokeLogin(ctx, login.ID)
		return nil, invalidGrant("Token already granted")
	}
	if err != nil {
		return nil, err
	}
	return s.tokenResponse(ctx, granted, client)
}

// codeClient checks the client of a code exchange: the form's client_id
// (empty = absent) must be the login's client, and a secret, when one is
// sent, must be that client's.
func (s *Service) codeClient(ctx context.Context, r *http.Request, login *Login) (*Client, error) {
	loginClient := refID(login.Client, "ClientApplication")
	id, secret := clientCredentials(r)
	if id != "" && id != loginClient {
		return nil, invalidRequest("Invalid client")
	}
	if loginClient == "" {
		if secret != "" {
			return nil, invalidRequest("Invalid secret")
		}
		return nil, nil
	}
	var client Client
	if _, err := s.readJSON(ctx, "ClientApplication", loginClient, &client, loginProject(login)); err != nil {
		if ward.ErrorCode(err) == ward.ENOTFOUND || ward.ErrorCode(err) == ward.EGONE {
			return nil, invalidRequest("Invalid client")
		}
		return nil, err
	}
	if secret != "" {
		if err := s.checkClientSecret(ctx, r, &client, secret, tokenError("invalid_client", "Invalid secret")); err != nil {
			return nil, err
		}
	}
	if secret != "" {
		client.PkceOptional = true // an authenticated confidential client needs no PKCE
	}
	return &client, nil
}

// checkVerifier applies PKCE unless the client opted out (or authenticated
// with its secret).
func checkVerifier(r *http.Request, login *Login, client *Client) error {
	if client != nil && client.PkceOptional {
		return nil
	}
	if login.CodeChallenge == "" {
		return invalidRequest("Missing verification context")
	}
	verifier := r.PostForm.Get("code_verifier")
	if verifier == "" {
		return invalidRequest("Missing code verifier")
	}
	if !pkceMatches(login.CodeChallengeMethod, login.CodeChallenge, verifier) {
		return invalidRequest("Invalid code verifier")
	}
	return nil
}

// pkceMatches verifies a code verifier against the stored challenge.
func pkceMatches(method, challenge, verifier string) bool {
	want := verifier
	if method != "plain" {
		sum := sha256.Sum256([]byte(verifier))
		want = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}

// grantClientCredentials logs a client in with its secret (Basic or form).
func (s *Service) grantClientCredentials(ctx context.Context, r *http.Request) (map[string]any, error) {
	id, secret := clientCredentials(r)
	if id == "" {
		return nil, invalidRequest("Missing client_id")
	}
	if secret == "" {
		return nil, invalidRequest("Missing client_secret")
	}
	var client Client
	if _, err := s.readJSON(ctx, "ClientApplication", id, &client); err != nil {
		if c := ward.ErrorCode(err); c == ward.ENOTFOUND || c == ward.EGONE {
			return nil, invalidRequest("Invalid client")
		}
		return nil, err
	}
	if client.Status != "" && client.Status != "active" {
		return nil, invalidRequest("Invalid client")
	}
	if err := s.checkClientSecret(ctx, r, &client, secret, tokenError("invalid_client", "Invalid secret")); err != nil {
		return nil, err
	}
	m, err := s.clientMembership(ctx, client.ID)
	if err != nil {
		return nil, err
	}
	if m == nil || (m.Active != nil && !*m.Active) {
		return nil, invalidRequest("Invalid client")
	}
	member, err := s.memberCaller(ctx, m)
	if err != nil {
		return nil, err
	}
	if !ipAllowed(member.AccessPolicy, remoteAddress(r)) {
		noteCaller(ctx, member)
		s.loginFailed(ctx, LoginFailure{ClientID: client.ID, RemoteAddress: remoteAddress(r), Reason: "ip rule"})
		return nil, invalidRequest("IP address not allowed")
	}
	scope := r.PostForm.Get("scope")
	if scope == "" {
		scope = "openid"
	}
	self := &Reference{Reference: "ClientApplication/" + client.ID}
	login := &Login{
		ResourceType: "Login", User: self, Client: self,
		Project:    m.Project,
		Membership: &Reference{Reference: "ProjectMembership/" + m.ID},
		AuthMethod: "client", AuthTime: s.cfg.Now().UTC().Format(time.RFC3339Nano),
		Scope: scope, Granted: true,
		RemoteAddress: remoteAddress(r), UserAgent: r.UserAgent(),
	}
	stored, err := s.writeSystem(ctx, ward.SystemProjectID, "Login", "", login)
	if err != nil {
		return nil, err
	}
	if login, err = decodeAs[Login](stored); err != nil {
		return nil, err
	}
	return s.tokenResponse(ctx, login, &client)
}

// grantRefresh exchanges a refresh token for new tokens and a new refresh
// secret. An old or reused secret means the token leaked: the login is revoked.
func (s *Service) grantRefresh(ctx context.Context, r *http.Request) (map[string]any, error) {
	noteInteraction(ctx, "refresh")
	token := r.PostForm.Get("refresh_token")
	if token == "" {
		return nil, invalidRequest("Invalid refresh token")
	}
	claims, err := s.parseJWT(ctx, token)
	if err != nil || claims.RefreshSecret == "" || claims.LoginID == "" {
		return nil, invalidRequest("Invalid refresh token")
	}
	var login Login
	res, err := s.readJSON(ctx, "Login", claims.LoginID, &login)
	if err != nil {
		if c := ward.ErrorCode(err); c == ward.ENOTFOUND || c == ward.EGONE {
			return nil, invalidRequest("Invalid token")
		}
		return nil, err
	}
	if login.Revoked {
		return nil, invalidGrant("Token revoked")
	}
	if login.RefreshSecret == "" {
		return nil, invalidRequest("Invalid token")
	}
	client, err := s.refreshClient(ctx, r, &login)
	if err != nil {
		return nil, err
	}
	if !secretMatches(login.RefreshSecret, claims.RefreshSecret) {
		s.noteReuse(ctx, &login)
		if err := s.revokeLogin(ctx, login.ID); err != nil {
			return nil, err
		}
		return nil, invalidRequest("Invalid token")
	}
	rotated, err := s.updateLogin(ctx, login.ID, res.VersionID, func(m map[string]any) {
		m["refreshSecret"] = randomHex(32)
	})
	if conflicted(err) {
		// Someone refreshed with the same token at the same moment: reuse.
		s.noteReuse(ctx, &login)
		_ = s.revokeLogin(ctx, login.ID)
		return nil, invalidRequest("Invalid token")
	}
	if err != nil {
		return nil, err
	}
	return s.tokenResponse(ctx, rotated, client)
}

// refreshClient loads the login's client; a Basic header, when sent, must
// name that client with its secret.
func (s *Service) refreshClient(ctx context.Context, r *http.Request, login *Login) (*Client, error) {
	loginClient := refID(login.Client, "ClientApplication")
	if scheme, cred, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Basic") {
		id, secret, _ := decodeBasic(strings.TrimSpace(cred))
		if id != loginClient {
			return nil, invalidGrant("Incorrect client")
		}
		if _, err := s.authenticClient(ctx, r, id, secret); ward.ErrorCode(err) == ward.ETOOMANY {
			return nil, err
		} else if err != nil {
			return nil, invalidGrant("Incorrect client secret")
		}
	}
	if loginClient == "" {
		return nil, nil
	}
	var client Client
	if _, err := s.readJSON(ctx, "ClientApplication", loginClient, &client, loginProject(login)); err != nil {
		return nil, invalidRequest("Invalid client")
	}
	return &client, nil
}

// tokenResponse signs the tokens of a granted login and answers with
// Medplum's shape (spec 5.5).
func (s *Service) tokenResponse(ctx context.Context, login *Login, client *Client) (map[string]any, error) {
	var m Membership
	if _, err := s.readJSON(ctx, "ProjectMembership", refID(login.Membership, "ProjectMembership"), &m, loginProject(login)); err != nil {
		return nil, invalidRequest("Invalid profile")
	}
	var project Project
	if _, err := s.readJSON(ctx, "Project", refID(m.Project, "Project"), &project); err != nil {
		return nil, invalidRequest("Invalid profile")
	}
	m.ID = refID(login.Membership, "ProjectMembership")
	noteLoginMembership(ctx, login, &m)
	f := tokenFacts{
		login:           login,
		clientID:        refID(login.Client, "ClientApplication"),
		refresh:         !project.SuperAdmin, // super admins never get refresh tokens
		accessLifetime:  s.cfg.AccessTokenLifetime,
		refreshLifetime: s.cfg.RefreshTokenLifetime,
	}
	if m.Profile != nil {
		f.profile = m.Profile.Reference
	}
	if f.userID = refID(login.User, "User"); f.userID != "" {
		var u User
		if _, err := s.readJSON(ctx, "User", f.userID, &u); err == nil {
			f.email = u.Email
		}
	} else {
		f.userID = refID(login.User, "ClientApplication")
	}
	if client != nil {
		f.accessLifetime = parseLifetime(client.AccessTokenLifetime, f.accessLifetime)
		f.refreshLifetime = parseLifetime(client.RefreshTokenLifetime, f.refreshLifetime)
	}
	tokens, err := s.issueTokens(ctx, f)
	if err != nil {
		return nil, err
	}
	reply := map[string]any{
		"token_type":   "Bearer",
		"expires_in":   int(f.accessLifetime / time.Second),
		"scope":        login.Scope,
		"id_token":     tokens.id,
		"access_token": tokens.access,
		"project":      projectRef(&project),
		"profile":      s.profileRef(ctx, m.Profile, project.ID),
	}
	if tokens.refresh != "" {
		reply["refresh_token"] = tokens.refresh
	}
	if id := refID(m.Profile, "Patient"); id != "" {
		reply["patient"] = id
	}
	return reply, nil
}

// profileRef is the membership profile reference with the profile's name
// as display.
func (s *Service) profileRef(ctx context.Context, ref *Reference, project string) *Reference {
	if ref == nil {
		return nil
	}
	out := &Reference{Reference: ref.Reference, Display: ref.Display}
	typ, id, _ := strings.Cut(ref.Reference, "/")
	var profile map[string]any
	if _, err := s.readJSON(ctx, typ, id, &profile, project); err == nil {
		if d := displayOf(profile); d != "" {
			out.Display = d
		}
	}
	return out
}

// displayOf is how a resource is named in a reference display: the first
// HumanName ("Given Family"), or a plain name string (ClientApplication).
func displayOf(res map[string]any) string {
	switch name := res["name"].(type) {
	case string:
		return name
	case []any:
		if len(name) == 0 {
			return ""
		}
		n, _ := name[0].(map[string]any)
		if text, _ := n["text"].(string); text != "" {
			return text
		}
		var parts []string
		if given, ok := n["given"].([]any); ok {
			for _, g := range given {
				if s, ok := g.(string); ok {
					parts = append(parts, s)
				}
			}
		}
		if family, _ := n["family"].(string); family != "" {
			parts = append(parts, family)
		}
		return strings.Join(parts, " ")
	}
	return ""
}

// updateLogin applies change to the stored Login in one transaction. A
// non-empty versionID must still be current (else ECONFLICT): the grant and
// refresh paths use it so two uses of one code or secret cannot both win.
func (s *Service) updateLogin(ctx context.Context, id, versionID string, change func(m map[string]any)) (*Login, error) {
	var out *ward.Resource
	err := s.store.Write(systemIn(ctx, ward.SystemProjectID), func(ctx context.Context, tx ward.ResourceTx) error {
		cur, err := tx.Read(ctx, "Login", id)
		if err != nil {
			return err
		}
		if versionID != "" && cur.VersionID != versionID {
			return ward.Errorf(ward.ECONFLICT, "Login changed concurrently")
		}
		var m map[string]any
		if err := json.Unmarshal(cur.Content, &m); err != nil {
			return err
		}
		change(m)
		body, err := withProject(m, ward.SystemProjectID)
		if err != nil {
			return err
		}
		out, _, err = tx.Update(ctx, "Login", id, body, cur.VersionID)
		return err
	})
	if err != nil {
		return nil, err
	}
	// Without waiting for the store's commit hook: a revoked login must be
	// refused by the very next request.
	s.Invalidate([]*ward.Resource{out})
	return decodeAs[Login](out)
}

// revokeLogin marks a Login revoked; every token of it is then 401.
func (s *Service) revokeLogin(ctx context.Context, id string) error {
	_, err := s.updateLogin(ctx, id, "", func(m map[string]any) { m["revoked"] = true })
	return err
}

// conflicted reports a lost race on a conditional Login update.
func conflicted(err error) bool {
	c := ward.ErrorCode(err)
	return c == ward.ECONFLICT || c == ward.EPRECONDITION
}

// handleLogout is POST /oauth2/logout: the login is revoked and the
// client's sign-in cookie cleared.
func (s *Service) handleLogout(w http.ResponseWriter, r *http.Request) {
	c, err := s.callerOf(r.Context(), r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if c.Login != nil {
		if err := s.revokeLogin(r.Context(), c.Login.ID); err != nil {
			writeError(w, r, err)
			return
		}
		if id := refID(c.Login.Client, "ClientApplication"); id != "" {
			http.SetCookie(w, &http.Cookie{
				Name: "medplum-" + id, Value: "", Path: "/", MaxAge: -1,
				HttpOnly: true, Secure: true, SameSite: http.SameSiteNoneMode,
			})
		}
	}
	writeJSON(w, http.StatusOK, okOutcome())
}

// okOutcome is Medplum's "All OK" OperationOutcome.
func okOutcome() map[string]any {
	return map[string]any{
		"resourceType": "OperationOutcome",
		"id":           "ok",
		"issue": []any{map[string]any{
			"severity": "information", "code": "informational", "details": map[string]any{"text": "All OK"},
		}},
	}
}

// handleUserInfo is GET|POST /oauth2/userinfo (OpenID Connect): claims
// about the caller, by the scopes it was granted.
func (s *Service) handleUserInfo(w http.ResponseWriter, r *http.Request) {
	c, err := s.callerOf(r.Context(), r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	info := map[string]any{}
	if c.User != nil {
		info["sub"] = c.User.ID
	} else if c.Client != nil {
		info["sub"] = c.Client.ID
	}
	scope := c.Principal.Scope
	if c.Login == nil || hasScope(scope, "profile") {
		if ref := s.profileRef(r.Context(), c.Membership.Profile, c.Project.ID); ref != nil {
			info["profile"] = ref.Reference
			setNonEmpty(info, "name", ref.Display)
		}
		if c.User != nil {
			setNonEmpty(info, "given_name", c.User.FirstName)
			setNonEmpty(info, "family_name", c.User.LastName)
		}
	}
	if c.User != nil && (c.Login == nil || hasScope(scope, "email")) {
		info["email"] = c.User.Email
		info["email_verified"] = c.User.EmailVerified
	}
	writeJSON(w, http.StatusOK, info)
}

func setNonEmpty(m map[string]any, key, v string) {
	if v != "" {
		m[key] = v
	}
}

// handleJWKS serves the public signing keys.
func (s *Service) handleJWKS(w http.ResponseWriter, r *http.Request) {
	keys, err := s.publicKeys(r.Context())
	if err != nil {
		writeError(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "public, max-age=600")
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

// grantTypes are the grants /oauth2/token accepts.
func grantTypes() []string {
	return []string{"authorization_code", "client_credentials", "refresh_token"}
}

func scopesSupported() []string {
	return []string{"openid", "profile", "email", "phone", "address", "offline", "offline_access", "fhirUser",
		"launch", "launch/patient", "patient/*.*", "user/*.*", "system/*.*"}
}

// handleOpenIDConfiguration serves the OpenID Connect discovery document.
func (s *Service) handleOpenIDConfiguration(w http.ResponseWriter, r *http.Request) {
	base := s.cfg.BaseURL
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                base,
		"authorization_endpoint":                base + "oauth2/authorize",
		"token_endpoint":                        base + "oauth2/token",
		"userinfo_endpoint":                     base + "oauth2/userinfo",
		"end_session_endpoint":                  base + "oauth2/logout",
		"jwks_uri":                              base + ".well-known/jwks.json",
		"response_types_supported":              []string{"code"},
		"response_modes_supported":              []string{"query"},
		"grant_types_supported":                 grantTypes(),
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"code_challenge_methods_supported":      []string{"S256", "plain"},
		"scopes_supported":                      scopesSupported(),
		"claims_supported":                      []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "fhirUser", "email", "name", "given_name", "family_name", "profile"},
	})
}

// handleSmartConfiguration serves SMART App Launch discovery.
func (s *Service) handleSmartConfiguration(w http.ResponseWriter, r *http.Request) {
	base := s.cfg.BaseURL
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                base,
		"jwks_uri":                              base + ".well-known/jwks.json",
		"authorization_endpoint":                base + "oauth2/authorize",
		"token_endpoint":                        base + "oauth2/token",
		"userinfo_endpoint":                     base + "oauth2/userinfo",
		"grant_types_supported":                 grantTypes(),
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"response_types_supported":              []string{"code"},
		"code_challenge_methods_supported":      []string{"S256", "plain"},
		"scopes_supported":                      scopesSupported(),
		"capabilities": []string{"launch-standalone", "client-public", "client-confidential-symmetric",
			"sso-openid-connect", "context-standalone-patient", "permission-offline", "permission-patient", "permission-user"},
	})
}
