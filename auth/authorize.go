package auth

import (
	"context"
	_ "embed"
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wardhealth/ward"
)

// /oauth2/authorize (spec 5.6) and the built-in sign-in page at /oauth.
// The console of a later issue will own "/", so only /oauth is claimed.

func (s *Service) mountAuthorize(mux *http.ServeMux) {
	mux.HandleFunc("GET /oauth2/authorize", s.audited(kindLogin, "login", "E", s.handleAuthorize))
	mux.HandleFunc("POST /oauth2/authorize", s.audited(kindLogin, "login", "E", s.handleAuthorize))
	mux.HandleFunc("GET /oauth", s.handleSignInPage)
}

// defaultMaxAge is how old (seconds) a cookie login may be for silent
// re-login when the request gives no max_age.
const defaultMaxAge = 3600

// authorizeRequest is the validated query of /oauth2/authorize.
type authorizeRequest struct {
	client      *Client
	redirectURI string
	state       string
	params      url.Values
}

func (s *Service) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeError(w, r, badRequest("request", "Invalid request"))
		return
	}
	ctx := r.Context()
	req, err := s.authorizeTarget(ctx, r.Form)
	if err != nil {
		writeError(w, r, err)
		return
	}
	if code := authorizeProblem(req); code != "" {
		noteSkip(ctx)
		redirectBack(w, r, req, url.Values{"error": {code}})
		return
	}
	prompt := r.Form.Get("prompt")
	if prompt != "login" {
		code, err := s.silentLogin(ctx, r, req)
		if err != nil {
			writeError(w, r, err)
			return
		}
		if code != "" {
			redirectBack(w, r, req, url.Values{"code": {code}})
			return
		}
	}
	// Nobody signed in here: the browser goes on to sign in elsewhere.
	noteSkip(ctx)
	if prompt == "none" {
		redirectBack(w, r, req, url.Values{"error": {"login_required"}})
		return
	}
	http.Redirect(w, r, s.cfg.AppBaseURL+"oauth?"+r.Form.Encode(), http.StatusFound)
}

// authorizeTarget checks the client and its redirect URI. These errors are
// shown (400), never redirected: an unchecked redirect_uri must never
// receive anything.
func (s *Service) authorizeTarget(ctx context.Context, q url.Values) (*authorizeRequest, error) {
	clientID := q.Get("client_id")
	if clientID == "" {
		return nil, badRequest("client_id", "Client not found")
	}
	client, _, err := s.readClient(ctx, clientID)
	if err != nil {
		if ward.ErrorCode(err) == ward.EINTERNAL {
			return nil, err
		}
		return nil, badRequest("client_id", "Client not found")
	}
	if client.Status != "" && client.Status != "active" {
		return nil, badRequest("client_id", "Client not found")
	}
	redirect := q.Get("redirect_uri")
	if !registeredRedirect(client, redirect) {
		return nil, badRequest("redirect_uri", "Incorrect redirect_uri")
	}
	return &authorizeRequest{client: client, redirectURI: redirect, state: q.Get("state"), params: q}, nil
}

// registeredRedirect reports whether uri is exactly one of the client's
// registered redirect URIs.
func registeredRedirect(c *Client, uri string) bool {
	if uri == "" {
		return false
	}
	if c.RedirectURI == uri {
		return true
	}
	for _, u := range c.RedirectURIs {
		if u == uri {
			return true
		}
	}
	return false
}

// authorizeProblem returns the OAuth error code for a request that can be
// redirected back with an error, "" when it is acceptable.
func authorizeProblem(req *authorizeRequest) string {
	q := req.params
	switch {
	case q.Get("response_type") != "code":
		return "unsupported_response_type"
	case q.Has("request") || q.Has("request_uri"):
		return "request_not_supported"
	case req.state == "":
		return "invalid_request"
	case validatePKCE(q.Get("code_challenge"), q.Get("code_challenge_method")) != nil:
		return "invalid_request"
	case q.Get("code_challenge") == "" && !req.client.PkceOptional:
		return "invalid_request"
	}
	if ma := q.Get("max_age"); ma != "" {
		if n, err := strconv.Atoi(ma); err != nil || n < 0 {
			return "invalid_request"
		}
	}
	return ""
}

// redirectBack sends the browser to the validated redirect_uri with extra
// parameters and the state.
func redirectBack(w http.ResponseWriter, r *http.Request, req *authorizeRequest, extra url.Values) {
	u, err := url.Parse(req.redirectURI)
	if err != nil {
		writeError(w, r, badRequest("redirect_uri", "Incorrect redirect_uri"))
		return
	}
	q := u.Query()
	for k, vs := range extra {
		q[k] = vs
	}
	if req.state != "" {
		q.Set("state", req.state)
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// silentLogin returns a fresh code when the medplum-<clientId> cookie names
// a granted, unrevoked login of this client authenticated at most max_age
// seconds ago; "" when there is no such login. The code belongs to a new
// Login for the same membership, carrying this request's PKCE challenge,
// nonce and scope, so the old login's code is never handed out twice.
func (s *Service) silentLogin(ctx context.Context, r *http.Request, req *authorizeRequest) (string, error) {
	old := s.cookieLogin(ctx, r, req.client.ID, maxAge(req.params))
	if old == nil {
		return "", nil
	}
	q := req.params
	scope := q.Get("scope")
	if scope == "" {
		scope = old.Scope
	}
	login, err := s.newLogin(ctx, loginParams{
		User:                old.User,
		ClientID:            req.client.ID,
		ProjectID:           loginProjectID(old),
		AuthMethod:          old.AuthMethod,
		AuthTime:            old.AuthTime,
		Scope:               scope,
		Nonce:               q.Get("nonce"),
		CodeChallenge:       q.Get("code_challenge"),
		CodeChallengeMethod: q.Get("code_challenge_method"),
		RemoteAddress:       remoteAddress(r),
		UserAgent:           r.UserAgent(),
		MfaVerified:         old.MfaVerified,
	})
	if err != nil {
		return "", err
	}
	login, project, err := s.chooseMembershipIn(ctx, login, referenceID(old.Membership), loginProject(old))
	if err != nil {
		// The membership went away or was deactivated: sign in again.
		return "", nil
	}
	// MFA turned on (or became required) since the cookie's sign-in: sign
	// in again, with the code.
	if due, err := s.mfaOwed(ctx, login, project); err != nil || due != mfaNothing {
		return "", err
	}
	return login.Code, nil
}

func maxAge(q url.Values) time.Duration {
	if n, err := strconv.Atoi(q.Get("max_age")); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	return defaultMaxAge * time.Second
}

// cookieLogin is the login the client's cookie names, if it may be reused.
func (s *Service) cookieLogin(ctx context.Context, r *http.Request, clientID string, maxAge time.Duration) *Login {
	c, err := r.Cookie("medplum-" + clientID)
	if err != nil || len(c.Value) != 32 {
		return nil
	}
	found, err := s.searchSystem(ctx, "Login", url.Values{"cookie": {c.Value}, "_count": {"2"}})
	if err != nil || len(found) != 1 {
		return nil
	}
	var login Login
	if decodeResource(found[0], &login) != nil {
		return nil
	}
	if login.Cookie != c.Value || !login.Granted || login.Revoked || login.Membership == nil || referenceID(login.Client) != clientID {
		return nil
	}
	authTime, err := time.Parse(time.RFC3339, login.AuthTime)
	if err != nil || s.cfg.Now().Sub(authTime) > maxAge {
		return nil
	}
	return &login
}

// signInPage is the built-in sign-in page: a form that runs the
// /auth/login flow (with the membership chooser) and then sends the
// browser to redirect_uri with the code. No external assets.
//
//go:embed signin.html
var signInPage string

// handleSignInPage serves the sign-in page for a validated client and
// redirect URI only: the page hands the code to redirect_uri, so an
// unchecked one would send a user's code to whoever wrote the link.
func (s *Service) handleSignInPage(w http.ResponseWriter, r *http.Request) {
	req, err := s.authorizeTarget(r.Context(), r.URL.Query())
	if err != nil {
		writeError(w, r, err)
		return
	}
	if code := authorizeProblem(req); code != "" {
		redirectBack(w, r, req, url.Values{"error": {code}})
		return
	}
	nonce := randomHex(16)
	api, _ := json.Marshal(s.cfg.BaseURL) // JSON escapes <, > and & for a script context
	title := req.client.Name
	if title == "" {
		title = "Ward"
	}
	page := strings.NewReplacer(
		"{{API}}", string(api),
		"{{NONCE}}", nonce,
		"{{CLIENT}}", html.EscapeString(title),
	).Replace(signInPage)
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'nonce-"+nonce+
		"'; connect-src 'self' "+origin(s.cfg.BaseURL)+"; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(page))
}

// origin is scheme://host of a URL, "" when it has none.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
