package auth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

const tokBase = "http://ward.test/"

// tokFixture is a Service with a controllable clock over a store, and one
// project with a user member (Alice, Practitioner) and the project's
// default client with its own membership.
type tokFixture struct {
	st      *store.Store
	s       *Service
	h       http.Handler
	now     time.Time
	project *Project
	user    *User
	member  *Membership
	client  *Client
}

func newTokFixture(t testing.TB, st *store.Store, edit ...func(*Config)) *tokFixture {
	t.Helper()
	f := &tokFixture{st: st, now: time.Now().UTC().Truncate(time.Second)}
	cfg := Config{BaseURL: tokBase, BcryptCost: bcrypt.MinCost, Now: func() time.Time { return f.now }}
	for _, e := range edit {
		e(&cfg)
	}
	f.s = New(st, cfg)
	f.h = f.s.Handler()
	ctx := context.Background()
	if err := f.s.ensureSigningKey(ctx); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.user, err = f.s.createUser(ctx, NewUser{FirstName: "Alice", LastName: "Smith", Email: "alice@example.com", Password: "correct horse"}); err != nil {
		t.Fatal(err)
	}
	if f.project, err = f.s.createProject(ctx, "Alice Project", f.user.ID, false); err != nil {
		t.Fatal(err)
	}
	f.member = f.addMember(t, f.project, f.user, false)
	f.client = f.defaultClient(t, f.project)
	return f
}

// addMember gives u a Practitioner profile and a membership in p.
func (f *tokFixture) addMember(t testing.TB, p *Project, u *User, admin bool) *Membership {
	t.Helper()
	ctx := context.Background()
	profile, err := f.s.createProfile(ctx, p.ID, "Practitioner", u.FirstName, u.LastName, u.Email)
	if err != nil {
		t.Fatal(err)
	}
	m, err := f.s.createMembership(ctx, &Membership{Project: projectRef(p), User: &Reference{Reference: "User/" + u.ID}, Profile: profile, Admin: admin})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// defaultClient returns the client createProject made for p.
func (f *tokFixture) defaultClient(t testing.TB, p *Project) *Client {
	t.Helper()
	found, err := f.s.searchSystem(context.Background(), "ClientApplication", url.Values{"_project": {p.ID}})
	if err != nil || len(found) == 0 {
		t.Fatalf("default client of %s: %v (%d found)", p.Name, err, len(found))
	}
	c, err := decodeAs[Client](found[0])
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// loginOpts shape a Login stored directly (as /auth/login would).
type loginOpts struct {
	client          *Client
	challenge       string
	challengeMethod string
	refresh         bool
	scope           string
	membership      *Membership
}

// newCodeLogin stores a Login ready for the code exchange and returns it.
func (f *tokFixture) newCodeLogin(t testing.TB, o loginOpts) *Login {
	t.Helper()
	m := o.membership
	if m == nil {
		m = f.member
	}
	l := &Login{
		ResourceType: "Login", User: m.User, Project: m.Project,
		Membership: &Reference{Reference: "ProjectMembership/" + m.ID},
		AuthMethod: "password", AuthTime: f.now.Format(time.RFC3339Nano),
		Code: randomHex(16), Cookie: randomHex(16), Scope: o.scope,
		CodeChallenge: o.challenge, CodeChallengeMethod: o.challengeMethod,
	}
	if l.Scope == "" {
		l.Scope = "openid offline"
	}
	if o.refresh {
		l.RefreshSecret = randomHex(32)
	}
	if o.client != nil {
		l.Client = &Reference{Reference: "ClientApplication/" + o.client.ID}
	}
	res, err := f.s.writeSystem(context.Background(), ward.SystemProjectID, "Login", "", l)
	if err != nil {
		t.Fatal(err)
	}
	out, err := decodeAs[Login](res)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// postForm posts form to path with optional header pairs.
func (f *tokFixture) postForm(t testing.TB, path string, form url.Values, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

// get sends GET path with a bearer token ("" = none).
func (f *tokFixture) get(t testing.TB, path, token string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest("GET", path, nil)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

// exchange runs the code grant and returns the decoded reply.
func (f *tokFixture) exchange(t testing.TB, code, verifier string) (int, map[string]any) {
	t.Helper()
	w := f.postForm(t, "/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {verifier}})
	return w.Code, decodeMap(t, w)
}

func decodeMap(t testing.TB, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("reply %d is not JSON: %s", w.Code, w.Body)
	}
	return m
}

// authenticate resolves a bearer token the way the FHIR API does.
func (f *tokFixture) authenticate(token string) (*ward.Principal, error) {
	r := httptest.NewRequest("GET", "/fhir/R4/Patient", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return f.s.Authenticate(r)
}

// accessToken runs a plain-PKCE login of the fixture's member and returns
// the token reply.
func (f *tokFixture) accessToken(t testing.TB) map[string]any {
	t.Helper()
	l := f.newCodeLogin(t, loginOpts{challenge: "xyz", challengeMethod: "plain", refresh: true})
	status, reply := f.exchange(t, l.Code, "xyz")
	if status != 200 {
		t.Fatalf("code exchange: %d %v", status, reply)
	}
	return reply
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// claimsOf decodes a JWT's payload without verifying it.
func claimsOf(t testing.TB, token string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	for i, dst := range []*map[string]any{&header, &claims} {
		raw, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil || json.Unmarshal(raw, dst) != nil {
			t.Fatalf("bad JWT part %d", i)
		}
	}
	return header, claims
}

func TestCodeExchangeShapeAndClaims(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newTokFixture(t, st)
		verifier := "a-verifier-of-decent-length-0123456789"
		l := f.newCodeLogin(t, loginOpts{client: f.client, challenge: s256(verifier), challengeMethod: "S256", refresh: true, scope: "openid offline email"})
		w := f.postForm(t, "/oauth2/token", url.Values{
			"grant_type": {"authorization_code"}, "code": {l.Code}, "code_verifier": {verifier},
			"client_id": {f.client.ID}, "redirect_uri": {"http://app.test/"},
		})
		if w.Code != 200 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		reply := decodeMap(t, w)
		if reply["token_type"] != "Bearer" || reply["expires_in"] != float64(3600) || reply["scope"] != "openid offline email" {
			t.Errorf("reply = %v", reply)
		}
		for _, k := range []string{"access_token", "id_token", "refresh_token"} {
			if s, _ := reply[k].(string); s == "" {
				t.Errorf("%s missing", k)
			}
		}
		if p, _ := reply["project"].(map[string]any); p["reference"] != "Project/"+f.project.ID || p["display"] != "Alice Project" {
			t.Errorf("project = %v", reply["project"])
		}
		if p, _ := reply["profile"].(map[string]any); p["reference"] != f.member.Profile.Reference || p["display"] != "Alice Smith" {
			t.Errorf("profile = %v", reply["profile"])
		}
		if _, ok := reply["patient"]; ok {
			t.Error("patient set for a Practitioner profile")
		}

		header, access := claimsOf(t, reply["access_token"].(string))
		if header["alg"] != "RS256" || header["typ"] != "JWT" || header["kid"] == "" {
			t.Errorf("header = %v", header)
		}
		want := map[string]any{
			"iss": tokBase, "aud": f.client.ID, "client_id": f.client.ID, "login_id": l.ID,
			"sub": f.user.ID, "username": f.user.ID, "scope": "openid offline email", "profile": f.member.Profile.Reference,
		}
		for k, v := range want {
			if access[k] != v {
				t.Errorf("access %s = %v, want %v", k, access[k], v)
			}
		}
		if access["exp"].(float64)-access["iat"].(float64) != 3600 {
			t.Errorf("access lifetime = %v", access["exp"].(float64)-access["iat"].(float64))
		}
		_, id := claimsOf(t, reply["id_token"].(string))
		if id["fhirUser"] != f.member.Profile.Reference || id["email"] != "alice@example.com" || id["login_id"] != l.ID || id["auth_time"] == nil {
			t.Errorf("id token = %v", id)
		}
		_, refresh := claimsOf(t, reply["refresh_token"].(string))
		if refresh["login_id"] != l.ID || refresh["refresh_secret"] == nil || refresh["client_id"] != f.client.ID {
			t.Errorf("refresh token = %v", refresh)
		}
		if _, err := f.authenticate(reply["access_token"].(string)); err != nil {
			t.Errorf("issued access token refused: %v", err)
		}
	})
}

func TestCodeExchangeFailures(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newTokFixture(t, st)
		noMembership := f.newCodeLogin(t, loginOpts{challenge: "xyz", challengeMethod: "plain"})
		if _, err := f.s.updateLogin(context.Background(), noMembership.ID, "", func(m map[string]any) { delete(m, "membership") }); err != nil {
			t.Fatal(err)
		}
		revoked := f.newCodeLogin(t, loginOpts{challenge: "xyz", challengeMethod: "plain"})
		if err := f.s.revokeLogin(context.Background(), revoked.ID); err != nil {
			t.Fatal(err)
		}
		cases := []struct {
			name      string
			form      url.Values
			errorCode string
			text      string
		}{
			{"no grant type", url.Values{}, "invalid_request", "Missing grant_type"},
			{"unknown grant type", url.Values{"grant_type": {"password"}}, "unsupported_grant_type", "Unsupported grant_type"},
			{"no code", url.Values{"grant_type": {"authorization_code"}}, "invalid_request", "Missing code"},
			{"unknown code", url.Values{"grant_type": {"authorization_code"}, "code": {randomHex(16)}}, "invalid_request", "Invalid code"},
			{"no membership", url.Values{"grant_type": {"authorization_code"}, "code": {noMembership.Code}, "code_verifier": {"xyz"}}, "invalid_request", "Invalid profile"},
			{"revoked", url.Values{"grant_type": {"authorization_code"}, "code": {revoked.Code}, "code_verifier": {"xyz"}}, "invalid_grant", "Token revoked"},
			{"missing verifier", url.Values{"grant_type": {"authorization_code"}, "code": {f.newCodeLogin(t, loginOpts{challenge: "xyz", challengeMethod: "plain"}).Code}}, "invalid_request", "Missing code verifier"},
			{"wrong plain verifier", url.Values{"grant_type": {"authorization_code"}, "code": {f.newCodeLogin(t, loginOpts{challenge: "xyz", challengeMethod: "plain"}).Code}, "code_verifier": {"xyZ"}}, "invalid_request", "Invalid code verifier"},
			{"S256 verifier sent as the challenge", url.Values{"grant_type": {"authorization_code"}, "code": {f.newCodeLogin(t, loginOpts{challenge: s256("v"), challengeMethod: "S256"}).Code}, "code_verifier": {s256("v")}}, "invalid_request", "Invalid code verifier"},
			{"no challenge stored", url.Values{"grant_type": {"authorization_code"}, "code": {f.newCodeLogin(t, loginOpts{}).Code}, "code_verifier": {"xyz"}}, "invalid_request", "Missing verification context"},
			{"other client", url.Values{"grant_type": {"authorization_code"}, "code": {f.newCodeLogin(t, loginOpts{client: f.client, challenge: "xyz", challengeMethod: "plain"}).Code}, "code_verifier": {"xyz"}, "client_id": {ward.NewID()}}, "invalid_request", "Invalid client"},
			{"wrong client secret", url.Values{"grant_type": {"authorization_code"}, "code": {f.newCodeLogin(t, loginOpts{client: f.client}).Code}, "client_id": {f.client.ID}, "client_secret": {"nope"}}, "invalid_client", "Invalid secret"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				w := f.postForm(t, "/oauth2/token", c.form)
				got := decodeMap(t, w)
				if w.Code != 400 || got["error"] != c.errorCode || got["error_description"] != c.text {
					t.Errorf("got %d %v, want 400 %s %q", w.Code, got, c.errorCode, c.text)
				}
			})
		}

		t.Run("expired code", func(t *testing.T) {
			l := f.newCodeLogin(t, loginOpts{challenge: "xyz", challengeMethod: "plain"})
			f.now = f.now.Add(codeLifetime + time.Minute)
			defer func() { f.now = f.now.Add(-codeLifetime - time.Minute) }()
			if status, reply := f.exchange(t, l.Code, "xyz"); status != 400 || reply["error_description"] != "Invalid code" {
				t.Errorf("got %d %v", status, reply)
			}
		})
		t.Run("client secret replaces PKCE", func(t *testing.T) {
			l := f.newCodeLogin(t, loginOpts{client: f.client})
			w := f.postForm(t, "/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {l.Code}, "client_id": {f.client.ID}, "client_secret": {f.client.Secret}})
			if w.Code != 200 {
				t.Errorf("got %d %s", w.Code, w.Body)
			}
		})
		t.Run("JSON body", func(t *testing.T) {
			r := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader(`{"grant_type":"client_credentials"}`))
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			f.h.ServeHTTP(w, r)
			if w.Code != 400 || w.Body.String() != "Unsupported content type" {
				t.Errorf("got %d %q", w.Code, w.Body)
			}
		})
	})
}

func TestCodeReuseRevokesLogin(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newTokFixture(t, st)
		l := f.newCodeLogin(t, loginOpts{challenge: "xyz", challengeMethod: "plain", refresh: true})
		status, first := f.exchange(t, l.Code, "xyz")
		if status != 200 {
			t.Fatalf("first exchange: %d %v", status, first)
		}
		status, second := f.exchange(t, l.Code, "xyz")
		if status != 400 || second["error"] != "invalid_grant" || second["error_description"] != "Token already granted" {
			t.Errorf("second exchange: %d %v", status, second)
		}
		if _, err := f.authenticate(first["access_token"].(string)); ward.ErrorCode(err) != ward.EUNAUTHORIZED {
			t.Errorf("token of a reused code still works: %v", err)
		}
	})
}

func TestRefreshRotationAndReuse(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newTokFixture(t, st)
		first := f.accessToken(t)
		refresh := func(token string) (int, map[string]any) {
			w := f.postForm(t, "/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}})
			return w.Code, decodeMap(t, w)
		}
		status, second := refresh(first["refresh_token"].(string))
		if status != 200 || second["refresh_token"] == first["refresh_token"] || second["access_token"] == nil {
			t.Fatalf("refresh: %d %v", status, second)
		}
		_, c1 := claimsOf(t, first["refresh_token"].(string))
		_, c2 := claimsOf(t, second["refresh_token"].(string))
		if c1["refresh_secret"] == c2["refresh_secret"] {
			t.Error("refresh secret not rotated")
		}
		if _, err := f.authenticate(second["access_token"].(string)); err != nil {
			t.Fatalf("refreshed access token refused: %v", err)
		}
		// The first refresh token was used already: presenting it again
		// means it leaked, and the whole login ends.
		status, reused := refresh(first["refresh_token"].(string))
		if status != 400 || reused["error_description"] != "Invalid token" {
			t.Errorf("reuse: %d %v", status, reused)
		}
		if _, err := f.authenticate(second["access_token"].(string)); ward.ErrorCode(err) != ward.EUNAUTHORIZED {
			t.Errorf("access token after reuse: %v, want 401", err)
		}
		if status, after := refresh(second["refresh_token"].(string)); status != 400 || after["error"] != "invalid_grant" {
			t.Errorf("refresh after revocation: %d %v", status, after)
		}
		if status, bad := refresh("not-a-jwt"); status != 400 || bad["error_description"] != "Invalid refresh token" {
			t.Errorf("garbage refresh token: %d %v", status, bad)
		}
		if status, bad := refresh(second["access_token"].(string)); status != 400 || bad["error_description"] != "Invalid refresh token" {
			t.Errorf("access token as refresh token: %d %v", status, bad)
		}
	})
}

func TestClientCredentials(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newTokFixture(t, st)
		basic := func(id, secret string) string {
			return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
		}
		cases := []struct {
			name   string
			form   url.Values
			header []string
			status int
			error  string
		}{
			{"form secret", url.Values{"client_id": {f.client.ID}, "client_secret": {f.client.Secret}}, nil, 200, ""},
			{"basic secret", url.Values{}, []string{"Authorization", basic(f.client.ID, f.client.Secret)}, 200, ""},
			{"bad secret", url.Values{"client_id": {f.client.ID}, "client_secret": {"wrong"}}, nil, 400, "Invalid secret"},
			{"bad basic secret", url.Values{}, []string{"Authorization", basic(f.client.ID, "wrong")}, 400, "Invalid secret"},
			{"unknown client", url.Values{"client_id": {ward.NewID()}, "client_secret": {"x"}}, nil, 400, "Invalid client"},
			{"no client", url.Values{}, nil, 400, "Missing client_id"},
			{"no secret", url.Values{"client_id": {f.client.ID}}, nil, 400, "Missing client_secret"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				c.form.Set("grant_type", "client_credentials")
				w := f.postForm(t, "/oauth2/token", c.form, c.header...)
				reply := decodeMap(t, w)
				if w.Code != c.status || (c.error != "" && reply["error_description"] != c.error) {
					t.Fatalf("got %d %v", w.Code, reply)
				}
				if c.status != 200 {
					return
				}
				if _, ok := reply["refresh_token"]; ok {
					t.Error("client credentials got a refresh token")
				}
				if reply["scope"] != "openid" {
					t.Errorf("scope = %v", reply["scope"])
				}
				p, err := f.authenticate(reply["access_token"].(string))
				if err != nil {
					t.Fatal(err)
				}
				if p.ProjectID != f.project.ID || p.ClientID != f.client.ID || p.Author != "ClientApplication/"+f.client.ID || p.LoginID == "" {
					t.Errorf("principal = %+v", p)
				}
			})
		}
		t.Run("blocked address", func(t *testing.T) {
			policy, err := f.s.writeSystem(context.Background(), f.project.ID, "AccessPolicy", "", map[string]any{
				"resourceType": "AccessPolicy", "resource": []any{map[string]any{"resourceType": "Patient"}},
				"ipAccessRule": []any{map[string]any{"value": "10.9.", "action": "allow"}, map[string]any{"value": "*", "action": "block"}},
			})
			if err != nil {
				t.Fatal(err)
			}
			m, _ := f.s.clientMembership(context.Background(), f.client.ID)
			var mm map[string]any
			f.s.readJSON(context.Background(), "ProjectMembership", m.ID, &mm)
			mm["accessPolicy"] = map[string]any{"reference": "AccessPolicy/" + policy.ID}
			if _, err := f.s.writeSystem(context.Background(), f.project.ID, "ProjectMembership", m.ID, mm); err != nil {
				t.Fatal(err)
			}
			form := url.Values{"grant_type": {"client_credentials"}, "client_id": {f.client.ID}, "client_secret": {f.client.Secret}}
			w := f.postForm(t, "/oauth2/token", form) // httptest's address 192.0.2.1
			if reply := decodeMap(t, w); w.Code != 400 || reply["error_description"] != "IP address not allowed" {
				t.Errorf("blocked address: %d %v", w.Code, reply)
			}
			r := httptest.NewRequest("POST", "/oauth2/token", strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.RemoteAddr = "10.9.0.7:5000"
			aw := httptest.NewRecorder()
			f.h.ServeHTTP(aw, r)
			if aw.Code != 200 {
				t.Errorf("allowed address: %d %s", aw.Code, aw.Body)
			}
			delete(mm, "accessPolicy")
			if _, err := f.s.writeSystem(context.Background(), f.project.ID, "ProjectMembership", m.ID, mm); err != nil {
				t.Fatal(err)
			}
		})
		t.Run("inactive client", func(t *testing.T) {
			var m map[string]any
			f.s.readJSON(context.Background(), "ClientApplication", f.client.ID, &m)
			m["status"] = "off"
			if _, err := f.s.writeSystem(context.Background(), f.project.ID, "ClientApplication", f.client.ID, m); err != nil {
				t.Fatal(err)
			}
			w := f.postForm(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {f.client.ID}, "client_secret": {f.client.Secret}})
			if reply := decodeMap(t, w); w.Code != 400 || reply["error_description"] != "Invalid client" {
				t.Errorf("got %d %v", w.Code, reply)
			}
		})
	})
}

func TestBasicAuthCaller(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newTokFixture(t, st)
		auth := func(h string) (*ward.Principal, error) {
			r := httptest.NewRequest("GET", "/fhir/R4/Patient", nil)
			r.Header.Set("Authorization", h)
			return f.s.Authenticate(r)
		}
		enc := func(s string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(s)) }
		p, err := auth(enc(f.client.ID + ":" + f.client.Secret))
		if err != nil {
			t.Fatal(err)
		}
		if p.ProjectID != f.project.ID || p.LoginID != "" || p.ClientID != f.client.ID {
			t.Errorf("principal = %+v", p)
		}
		for _, h := range []string{enc(f.client.ID + ":wrong"), enc(f.client.ID), "Basic !!!", enc(ward.NewID() + ":" + f.client.Secret), "", "Bearer", "Digest x"} {
			if _, err := auth(h); ward.ErrorCode(err) != ward.EUNAUTHORIZED {
				t.Errorf("%q: %v, want 401", h, err)
			}
		}
	})
}

func TestTokenVerificationMatrix(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newTokFixture(t, st)
		valid := f.accessToken(t)
		_, claims := claimsOf(t, valid["access_token"].(string))
		key := f.s.keys.active
		sign := func(method jwt.SigningMethod, key any, kid string, edit func(jwt.MapClaims)) string {
			c := jwt.MapClaims{}
			for k, v := range claims {
				c[k] = v
			}
			if edit != nil {
				edit(c)
			}
			tok := jwt.NewWithClaims(method, c)
			tok.Header["kid"] = kid
			s, err := tok.SignedString(key)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		der, _ := x509.MarshalPKIXPublicKey(&key.priv.PublicKey)
		publicPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
		other, _ := rsa.GenerateKey(rand.Reader, 2048)
		revokedLogin := f.accessToken(t)
		_, rc := claimsOf(t, revokedLogin["access_token"].(string))
		if err := f.s.revokeLogin(context.Background(), rc["login_id"].(string)); err != nil {
			t.Fatal(err)
		}
		tampered := valid["access_token"].(string)
		tampered = tampered[:len(tampered)-4] + "AAAA"
		cases := []struct {
			name  string
			token string
			ok    bool
		}{
			{"valid", valid["access_token"].(string), true},
			{"re-signed with our key", sign(jwt.SigningMethodRS256, key.priv, key.kid, nil), true},
			{"alg none", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, key.kid, nil), false},
			{"HS256 keyed with the public key", sign(jwt.SigningMethodHS256, publicPEM, key.kid, nil), false},
			{"HS256 keyed with the public key DER", sign(jwt.SigningMethodHS256, der, key.kid, nil), false},
			{"wrong issuer", sign(jwt.SigningMethodRS256, key.priv, key.kid, func(c jwt.MapClaims) { c["iss"] = "http://evil.test/" }), false},
			{"expired", sign(jwt.SigningMethodRS256, key.priv, key.kid, func(c jwt.MapClaims) { c["exp"] = f.now.Add(-time.Minute).Unix() }), false},
			{"no exp", sign(jwt.SigningMethodRS256, key.priv, key.kid, func(c jwt.MapClaims) { delete(c, "exp") }), false},
			{"unknown kid", sign(jwt.SigningMethodRS256, other, ward.NewID(), nil), false},
			{"foreign key with our kid", sign(jwt.SigningMethodRS256, other, key.kid, nil), false},
			{"unknown login", sign(jwt.SigningMethodRS256, key.priv, key.kid, func(c jwt.MapClaims) { c["login_id"] = ward.NewID() }), false},
			{"revoked login", revokedLogin["access_token"].(string), false},
			{"refresh token as bearer", valid["refresh_token"].(string), false},
			{"id token as bearer", valid["id_token"].(string), false},
			{"tampered signature", tampered, false},
			{"garbage", "abc.def.ghi", false},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				w := f.get(t, "/auth/me", c.token)
				if c.ok && w.Code != 200 || !c.ok && w.Code != 401 {
					t.Errorf("/auth/me: %d %s", w.Code, w.Body)
				}
				_, err := f.authenticate(c.token)
				if c.ok != (err == nil) || (err != nil && ward.ErrorCode(err) != ward.EUNAUTHORIZED) {
					t.Errorf("Authenticate: %v", err)
				}
			})
		}
		t.Run("expires while cached", func(t *testing.T) {
			tok := valid["access_token"].(string)
			if _, err := f.authenticate(tok); err != nil {
				t.Fatal(err)
			}
			f.now = f.now.Add(time.Hour + time.Second)
			defer func() { f.now = f.now.Add(-time.Hour - time.Second) }()
			if _, err := f.authenticate(tok); ward.ErrorCode(err) != ward.EUNAUTHORIZED {
				t.Errorf("expired cached token: %v", err)
			}
		})
	})
}

func TestKeyRotationKeepsOldTokens(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newTokFixture(t, st)
		before := f.accessToken(t)
		oldKid := f.s.keys.active.kid
		if err := f.s.RotateKey(context.Background()); err != nil {
			t.Fatal(err)
		}
		if f.s.keys.active.kid == oldKid {
			t.Fatal("rotation kept the active key")
		}
		// A fresh service (another process on the same database) verifies both.
		g := New(st, Config{BaseURL: tokBase, Now: func() time.Time { return f.now }})
		after := f.accessToken(t)
		if h, _ := claimsOf(t, after["access_token"].(string)); h["kid"] == oldKid {
			t.Error("new tokens still signed by the retired key")
		}
		for name, tok := range map[string]string{"before": before["access_token"].(string), "after": after["access_token"].(string)} {
			f.s.cache.dropAll()
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Authorization", "Bearer "+tok)
			if _, err := f.s.Authenticate(r); err != nil {
				t.Errorf("%s rotation, same service: %v", name, err)
			}
			if _, err := g.Authenticate(r); err != nil {
				t.Errorf("%s rotation, new service: %v", name, err)
			}
		}
		w := httptest.NewRecorder()
		f.h.ServeHTTP(w, httptest.NewRequest("GET", "/.well-known/jwks.json", nil))
		var jwks struct {
			Keys []map[string]any `json:"keys"`
		}
		json.Unmarshal(w.Body.Bytes(), &jwks)
		if len(jwks.Keys) != 2 {
			t.Errorf("jwks has %d keys, want the active and the retired one", len(jwks.Keys))
		}
		for _, k := range jwks.Keys {
			for _, private := range []string{"d", "p", "q", "dp", "dq", "qi"} {
				if _, ok := k[private]; ok {
					t.Errorf("jwks leaks %s", private)
				}
			}
		}
		// Past the refresh token lifetime the retired key is gone.
		f.now = f.now.Add(f.s.cfg.RefreshTokenLifetime + time.Hour)
		h := New(st, Config{BaseURL: tokBase, Now: func() time.Time { return f.now }})
		tok := before["access_token"].(string)
		if _, err := h.parseJWT(context.Background(), tok); err == nil {
			t.Error("a token of a long-retired key still verifies")
		}
	})
}

func TestLogoutAndUserInfo(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newTokFixture(t, st)
		l := f.newCodeLogin(t, loginOpts{client: f.client, challenge: "xyz", challengeMethod: "plain", scope: "openid profile email"})
		w := f.postForm(t, "/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {l.Code}, "code_verifier": {"xyz"}})
		tok := decodeMap(t, w)["access_token"].(string)

		info := decodeMap(t, f.get(t, "/oauth2/userinfo", tok))
		if info["sub"] != f.user.ID || info["email"] != "alice@example.com" || info["name"] != "Alice Smith" || info["profile"] != f.member.Profile.Reference {
			t.Errorf("userinfo = %v", info)
		}
		if w := f.get(t, "/oauth2/userinfo", ""); w.Code != 401 {
			t.Errorf("userinfo without token: %d", w.Code)
		}

		r := httptest.NewRequest("POST", "/oauth2/logout", strings.NewReader("{}"))
		r.Header.Set("Authorization", "Bearer "+tok)
		w = httptest.NewRecorder()
		f.h.ServeHTTP(w, r)
		if w.Code != 200 || decodeMap(t, w)["id"] != "ok" {
			t.Fatalf("logout: %d %s", w.Code, w.Body)
		}
		cleared := false
		for _, c := range w.Result().Cookies() {
			cleared = cleared || (c.Name == "medplum-"+f.client.ID && c.MaxAge < 0)
		}
		if !cleared {
			t.Error("client cookie not cleared")
		}
		if w := f.get(t, "/auth/me", tok); w.Code != 401 {
			t.Errorf("/auth/me after logout: %d", w.Code)
		}
	})
}

func TestDiscovery(t *testing.T) {
	f := newTokFixture(t, storetest.OpenSQLite(t))
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, httptest.NewRequest("GET", "/.well-known/openid-configuration", nil))
	doc := decodeMap(t, w)
	want := map[string]string{
		"issuer": tokBase, "authorization_endpoint": tokBase + "oauth2/authorize", "token_endpoint": tokBase + "oauth2/token",
		"userinfo_endpoint": tokBase + "oauth2/userinfo", "jwks_uri": tokBase + ".well-known/jwks.json",
	}
	for k, v := range want {
		if doc[k] != v {
			t.Errorf("%s = %v, want %s", k, doc[k], v)
		}
	}
	if m, _ := doc["code_challenge_methods_supported"].([]any); len(m) != 2 || m[0] != "S256" || m[1] != "plain" {
		t.Errorf("code_challenge_methods_supported = %v", doc["code_challenge_methods_supported"])
	}
}

// BenchmarkAuthenticateCached: resolving a bearer token seen before (the
// per-request identity cost of an authenticated FHIR call).
func BenchmarkAuthenticateCached(b *testing.B) {
	f := newTokFixture(b, storetest.OpenSQLite(b))
	token := f.accessToken(b)["access_token"].(string)
	r := httptest.NewRequest("GET", "/fhir/R4/Patient", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.s.Authenticate(r); err != nil {
			b.Fatal(err)
		}
	}
}

func TestClientTokenLifetimes(t *testing.T) {
	f := newTokFixture(t, storetest.OpenSQLite(t))
	var m map[string]any
	f.s.readJSON(context.Background(), "ClientApplication", f.client.ID, &m)
	m["accessTokenLifetime"] = "2h"
	if _, err := f.s.writeSystem(context.Background(), f.project.ID, "ClientApplication", f.client.ID, m); err != nil {
		t.Fatal(err)
	}
	w := f.postForm(t, "/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {f.client.ID}, "client_secret": {f.client.Secret}})
	reply := decodeMap(t, w)
	if reply["expires_in"] != float64(7200) {
		t.Errorf("expires_in = %v, want 7200", reply["expires_in"])
	}
	_, claims := claimsOf(t, reply["access_token"].(string))
	if claims["exp"].(float64)-claims["iat"].(float64) != 7200 {
		t.Errorf("token lifetime %v", claims["exp"].(float64)-claims["iat"].(float64))
	}
}

func TestParseLifetime(t *testing.T) {
	for _, c := range []struct {
		in   string
		want time.Duration
	}{
		{"", time.Hour}, {"3600s", time.Hour}, {"90m", 90 * time.Minute}, {"2h", 2 * time.Hour},
		{"30d", 30 * 24 * time.Hour}, {"2w", 14 * 24 * time.Hour},
		{"h", time.Hour}, {"0h", time.Hour}, {"1y", time.Hour}, {"-1h", time.Hour}, {"1.5h", time.Hour},
	} {
		if got := parseLifetime(c.in, time.Hour); got != c.want {
			t.Errorf("parseLifetime(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

// Two exchanges of one code at the same moment: at most one gets tokens.
func TestConcurrentCodeExchange(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newTokFixture(t, st)
		for round := range 3 {
			l := f.newCodeLogin(t, loginOpts{challenge: "xyz", challengeMethod: "plain", refresh: true})
			const n = 4
			statuses := make(chan int, n)
			start := make(chan struct{})
			for range n {
				go func() {
					<-start
					w := f.postForm(t, "/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {l.Code}, "code_verifier": {"xyz"}})
					statuses <- w.Code
				}()
			}
			close(start)
			ok := 0
			for range n {
				if <-statuses == 200 {
					ok++
				}
			}
			if ok > 1 {
				t.Errorf("round %d: %d exchanges of one code succeeded", round, ok)
			}
		}
	})
}
