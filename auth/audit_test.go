package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/mock"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// auditWorld is an identity service with an audit log: project A with its
// admin alice (server-scoped) and a project-scoped user, project B with a
// client.
type auditWorld struct {
	*loginFixture
	audit        *mock.AuditRecorder
	a, b         *Project
	alice        *User
	aliceM       *Membership
	scoped       *User
	bClient      *Client
	clientMember string
}

func newAuditWorld(t *testing.T, st *store.Store) *auditWorld {
	t.Helper()
	w := &auditWorld{audit: &mock.AuditRecorder{}}
	w.loginFixture = newLoginFixture(t, st, func(c *Config) { c.Audit = w.audit })
	w.a = w.project(t, "Project A", false)
	w.b = w.project(t, "Project B", false)
	w.alice = w.user(t, "alice@example.com", "")
	w.aliceM = w.member(t, w.a, w.alice, "Practitioner", "Alice", "A", func(m *Membership) { m.Admin = true })
	w.scoped = w.user(t, "scoped@example.com", w.a.ID)
	w.member(t, w.a, w.scoped, "Patient", "Scoped", "A")
	w.bClient = w.client(t, w.b, NewClient{Name: "B service"})
	m, err := w.s.clientMembership(context.Background(), w.bClient.ID)
	if err != nil || m == nil {
		t.Fatalf("client membership: %v", err)
	}
	w.clientMember = m.ID
	w.audit.Take()
	return w
}

// form posts an OAuth form.
func (w *auditWorld) form(path string, v url.Values, header ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(v.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	w.h.ServeHTTP(rec, r)
	return rec
}

// aliceTokens signs alice in (with a refresh token) and exchanges the code.
func (w *auditWorld) aliceTokens(t *testing.T) map[string]any {
	t.Helper()
	return w.tokens(t, "alice@example.com", "")
}

// tokens signs email in (with a refresh token) and exchanges the code.
func (w *auditWorld) tokens(t *testing.T, email, projectID string) map[string]any {
	t.Helper()
	resp := w.post(t, "/auth/login", map[string]any{"email": email, "password": testPassword, "projectId": projectID,
		"scope": "openid offline", "codeChallenge": "verifier-verifier-verifier-verifier-verifier", "codeChallengeMethod": "plain"})
	code, _ := decodeMap(t, resp)["code"].(string)
	tok := w.form("/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"code_verifier": {"verifier-verifier-verifier-verifier-verifier"}})
	if tok.Code != 200 {
		t.Fatalf("token: %d %s", tok.Code, tok.Body)
	}
	w.audit.Take()
	return decodeMap(t, tok)
}

// wantRecord is what one event's single record must say.
type wantRecord struct {
	project, kind, interaction, action, outcome string
	status                                      int
	user, membership, client                    string
	resourceType                                string
	reason                                      string
}

func checkRecord(t *testing.T, recs []ward.AuditRecord, want wantRecord, secrets ...string) {
	t.Helper()
	if len(recs) != 1 {
		t.Fatalf("%d records, want 1: %+v", len(recs), recs)
	}
	r := recs[0]
	got := wantRecord{r.ProjectID, r.Kind, r.Interaction, r.Action, r.Outcome, r.Status, r.User, r.Membership, r.Client, r.ResourceType, r.Reason}
	if want.membership == "-" { // any membership, as long as there is one
		want.membership = got.membership
		if got.membership == "" {
			t.Errorf("record names no membership")
		}
	}
	if got != want {
		t.Errorf("record\n got %+v\nwant %+v", got, want)
	}
	if r.Time.IsZero() || r.Address == "" {
		t.Errorf("record without time or address: %+v", r)
	}
	raw, _ := json.Marshal(r)
	for _, s := range secrets {
		if strings.Contains(string(raw), s) {
			t.Errorf("record holds a secret %q: %s", s, raw)
		}
	}
}

func basic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
}

// TestAuditIdentityEvents: each identity event yields exactly one record,
// in the trail of the project the caller proved to belong to.
func TestAuditIdentityEvents(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAuditWorld(t, st)
		sys := ward.SystemProjectID
		alice := "User/" + w.alice.ID
		aliceM := "ProjectMembership/" + w.aliceM.ID
		client := "ClientApplication/" + w.bClient.ID
		const wrong = "not the password at all"
		cases := []struct {
			name    string
			do      func(t *testing.T) int
			status  int
			want    wantRecord
			secrets []string
		}{
			{"login", func(t *testing.T) int {
				return w.post(t, "/auth/login", map[string]any{"email": "alice@example.com", "password": testPassword}).Code
			}, 200, wantRecord{w.a.ID, "login", "login", "E", "0", 200, alice, aliceM, "", "", ""}, nil},
			{"wrong password of a server-scoped user", func(t *testing.T) int {
				return w.post(t, "/auth/login", map[string]any{"email": "alice@example.com", "password": wrong}).Code
			}, 400, wantRecord{sys, "login", "login", "E", "4", 400, alice, "", "", "", "wrong password"}, []string{wrong}},
			{"unknown email", func(t *testing.T) int {
				return w.post(t, "/auth/login", map[string]any{"email": "nobody@example.com", "password": wrong}).Code
			}, 400, wantRecord{sys, "login", "login", "E", "4", 400, "", "", "", "", "unknown email"}, []string{wrong}},
			{"wrong password of a project-scoped user", func(t *testing.T) int {
				return w.post(t, "/auth/login", map[string]any{"email": "scoped@example.com", "password": wrong, "projectId": w.a.ID}).Code
			}, 400, wantRecord{w.a.ID, "login", "login", "E", "4", 400, "User/" + w.scoped.ID, "", "", "", "wrong password"}, []string{wrong}},
			{"A's user failing into B is not in B's trail", func(t *testing.T) int {
				return w.post(t, "/auth/login", map[string]any{"email": "alice@example.com", "password": wrong, "projectId": w.b.ID}).Code
			}, 400, wantRecord{sys, "login", "login", "E", "4", 400, alice, "", "", "", "wrong password"}, []string{wrong}},
			{"A's user signing into B, where she has no membership", func(t *testing.T) int {
				return w.post(t, "/auth/login", map[string]any{"email": "alice@example.com", "password": testPassword, "projectId": w.b.ID}).Code
			}, 400, wantRecord{sys, "login", "login", "E", "4", 400, alice, "", "", "", "User not found"}, nil},
			{"client credentials", func(t *testing.T) int {
				return w.form("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {w.bClient.ID}, "client_secret": {w.bClient.Secret}}).Code
			}, 200, wantRecord{w.b.ID, "login", "token", "E", "0", 200, client, "ProjectMembership/" + w.clientMember, client, "", ""}, []string{w.bClient.Secret}},
			{"wrong client secret", func(t *testing.T) int {
				return w.form("/oauth2/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {w.bClient.ID}, "client_secret": {wrong}}).Code
			}, 400, wantRecord{sys, "login", "token", "E", "4", 400, "", "", client, "", "wrong client secret"}, []string{wrong}},
			{"Basic client on a FHIR request", func(t *testing.T) int {
				r := httptest.NewRequest("GET", "/fhir/R4/Patient", nil)
				r.Header.Set("Authorization", basic(w.bClient.ID, w.bClient.Secret))
				if _, err := w.s.Authenticate(r); err != nil {
					return 401
				}
				return 200
			}, 200, wantRecord{w.b.ID, "login", "login", "E", "0", 200, client, "ProjectMembership/" + w.clientMember, client, "", ""}, []string{w.bClient.Secret}},
			{"wrong Basic secret on a FHIR request", func(t *testing.T) int {
				r := httptest.NewRequest("GET", "/fhir/R4/Patient", nil)
				r.Header.Set("Authorization", basic(w.bClient.ID, wrong))
				if _, err := w.s.Authenticate(r); err != nil {
					return 401
				}
				return 200
			}, 401, wantRecord{sys, "login", "login", "E", "4", 401, "", "", client, "", "wrong client secret"}, []string{wrong}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				w.audit.Take()
				if got := c.do(t); got != c.status {
					t.Fatalf("status %d, want %d", got, c.status)
				}
				checkRecord(t, w.audit.Take(), c.want, c.secrets...)
			})
		}
	})
}

// TestAuditTokenEvents: code exchange, refresh, refresh-token reuse and
// logout are recorded in the signed-in member's project.
func TestAuditTokenEvents(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAuditWorld(t, st)
		alice := "User/" + w.alice.ID
		aliceM := "ProjectMembership/" + w.aliceM.ID

		resp := w.post(t, "/auth/login", map[string]any{"email": "alice@example.com", "password": testPassword,
			"scope": "openid offline", "codeChallenge": "verifier-verifier-verifier-verifier-verifier", "codeChallengeMethod": "plain"})
		code, _ := decodeMap(t, resp)["code"].(string)
		w.audit.Take()
		tok := w.form("/oauth2/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
			"code_verifier": {"verifier-verifier-verifier-verifier-verifier"}})
		if tok.Code != 200 {
			t.Fatalf("token: %d %s", tok.Code, tok.Body)
		}
		checkRecord(t, w.audit.Take(), wantRecord{w.a.ID, "login", "token", "E", "0", 200, alice, aliceM, "", "", ""})

		first, _ := decodeMap(t, tok)["refresh_token"].(string)
		ref := w.form("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first}})
		if ref.Code != 200 {
			t.Fatalf("refresh: %d %s", ref.Code, ref.Body)
		}
		checkRecord(t, w.audit.Take(), wantRecord{w.a.ID, "login", "refresh", "E", "0", 200, alice, aliceM, "", "", ""}, first)

		reuse := w.form("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first}})
		if reuse.Code != 400 {
			t.Fatalf("reuse: %d %s", reuse.Code, reuse.Body)
		}
		checkRecord(t, w.audit.Take(), wantRecord{w.a.ID, "login", "refresh-reuse", "E", "4", 400, alice, aliceM, "", "", "refresh token reused"}, first)

		access, _ := w.aliceTokens(t)["access_token"].(string)
		out := w.post(t, "/oauth2/logout", nil, "Authorization", "Bearer "+access)
		if out.Code != 200 {
			t.Fatalf("logout: %d %s", out.Code, out.Body)
		}
		checkRecord(t, w.audit.Take(), wantRecord{w.a.ID, "login", "logout", "E", "0", 200, alice, aliceM, "", "", ""}, access)
	})
}

// TestAuditAdminEvents: every admin write, and the identity writes of
// /auth, is recorded in the caller's project with what it changed.
func TestAuditAdminEvents(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAuditWorld(t, st)
		alice := "User/" + w.alice.ID
		aliceM := "ProjectMembership/" + w.aliceM.ID
		access, _ := w.aliceTokens(t)["access_token"].(string)
		bearer := []string{"Authorization", "Bearer " + access}
		invited := ""
		admin := func(interaction, action, typ string) wantRecord {
			return wantRecord{w.a.ID, "rest", interaction, action, "0", 200, alice, aliceM, "", typ, ""}
		}
		cases := []struct {
			name    string
			method  string
			path    func() string
			body    func() any
			status  int
			want    wantRecord
			secrets []string
		}{
			{"invite", "POST", func() string { return "/admin/projects/" + w.a.ID + "/invite" },
				func() any {
					return map[string]any{"resourceType": "Practitioner", "firstName": "Bob", "lastName": "B", "email": "bob@example.com", "sendEmail": false}
				}, 200, admin("invite", "C", "ProjectMembership"), nil},
			{"membership update", "POST", func() string { return "/admin/projects/" + w.a.ID + "/members/" + invited },
				func() any {
					var m map[string]any
					if _, err := w.s.readJSON(context.Background(), "ProjectMembership", invited, &m); err != nil {
						t.Fatal(err)
					}
					m["admin"] = true
					return m
				}, 200, admin("membership-update", "U", "ProjectMembership"), nil},
			{"membership delete", "DELETE", func() string { return "/admin/projects/" + w.a.ID + "/members/" + invited },
				func() any { return nil }, 200, admin("membership-delete", "D", "ProjectMembership"), nil},
			{"client create", "POST", func() string { return "/admin/projects/" + w.a.ID + "/client" },
				func() any { return map[string]any{"name": "A service"} }, 201,
				wantRecord{w.a.ID, "rest", "client-create", "C", "0", 201, alice, aliceM, "", "ClientApplication", ""}, nil},
			{"bot create", "POST", func() string { return "/admin/projects/" + w.a.ID + "/bot" },
				func() any { return map[string]any{"name": "A bot"} }, 201,
				wantRecord{w.a.ID, "rest", "bot-create", "C", "0", 201, alice, aliceM, "", "Bot", ""}, nil},
			{"project secrets", "POST", func() string { return "/admin/projects/" + w.a.ID + "/secrets" },
				func() any { return []any{map[string]any{"name": "apiKey", "valueString": "s3cr3t-value"}} }, 200,
				admin("project-secrets", "U", "Project"), []string{"s3cr3t-value"}},
			{"project settings", "POST", func() string { return "/admin/projects/" + w.a.ID + "/settings" },
				func() any { return []any{map[string]any{"name": "color", "valueString": "blue"}} }, 200,
				admin("project-settings", "U", "Project"), nil},
			{"project sites", "POST", func() string { return "/admin/projects/" + w.a.ID + "/sites" },
				func() any { return []any{map[string]any{"name": "site", "domain": []any{"a.example.com"}}} }, 200,
				admin("project-sites", "U", "Project"), nil},
			{"password set by an admin", "POST", func() string { return "/admin/projects/setpassword" },
				func() any { return map[string]any{"email": "scoped@example.com", "password": "a brand new password 1"} }, 200,
				admin("password-set", "U", "User"), []string{"a brand new password 1"}},
			{"password change", "POST", func() string { return "/auth/changepassword" },
				func() any {
					return map[string]any{"oldPassword": testPassword, "newPassword": "another new password 2"}
				}, 200, wantRecord{w.a.ID, "login", "password-change", "U", "0", 200, alice, aliceM, "", "User", ""},
				[]string{testPassword, "another new password 2"}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				w.audit.Take()
				resp := w.do(t, c.method, c.path(), c.body(), bearer...)
				if resp.Code != c.status {
					t.Fatalf("status %d, want %d: %s", resp.Code, c.status, resp.Body)
				}
				recs := w.audit.Take()
				checkRecord(t, recs, c.want, c.secrets...)
				if len(recs) == 1 && recs[0].ResourceID == "" {
					t.Errorf("record names no changed resource: %+v", recs[0])
				}
				if c.name == "invite" && len(recs) == 1 {
					invited = recs[0].ResourceID
				}
			})
		}
	})
}

// TestAuditAdminRefusals: a refused admin write is recorded in the trail
// of the caller who was refused, or the server's when there is none, never
// in the project the request named.
func TestAuditAdminRefusals(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAuditWorld(t, st)
		access, _ := w.tokens(t, "scoped@example.com", w.a.ID)["access_token"].(string)
		scoped := "User/" + w.scoped.ID
		cases := []struct {
			name   string
			auth   string
			status int
			want   wantRecord
		}{
			{"plain member", "Bearer " + access, 403,
				wantRecord{w.a.ID, "rest", "project-secrets", "U", "4", 403, scoped, "-", "", "", "Forbidden"}},
			{"no credentials", "", 401,
				wantRecord{ward.SystemProjectID, "rest", "project-secrets", "U", "4", 401, "", "", "", "", "Unauthorized"}},
			{"wrong client secret", basic(w.bClient.ID, "not the secret"), 401,
				wantRecord{ward.SystemProjectID, "login", "project-secrets", "E", "4", 401, "", "", "ClientApplication/" + w.bClient.ID, "", "wrong client secret"}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				w.audit.Take()
				var header []string
				if c.auth != "" {
					header = []string{"Authorization", c.auth}
				}
				resp := w.post(t, "/admin/projects/"+w.b.ID+"/secrets", []any{}, header...)
				if resp.Code != c.status {
					t.Fatalf("status %d, want %d: %s", resp.Code, c.status, resp.Body)
				}
				checkRecord(t, w.audit.Take(), c.want, "not the secret")
			})
		}
	})
}

// TestAuditRegistration: a new user is recorded in the server's trail, the
// project they then create in that project's.
func TestAuditRegistration(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAuditWorld(t, st)
		const pw = "registration password 9"
		resp := w.post(t, "/auth/newuser", map[string]any{"firstName": "Carol", "lastName": "C", "email": "carol@example.com", "password": pw})
		if resp.Code != 200 {
			t.Fatalf("newuser: %d %s", resp.Code, resp.Body)
		}
		recs := w.audit.Take()
		carol := ""
		if len(recs) == 1 {
			carol = recs[0].User
		}
		checkRecord(t, recs, wantRecord{ward.SystemProjectID, "login", "register", "C", "0", 200, carol, "", "", "User", ""}, pw)
		if !strings.HasPrefix(carol, "User/") {
			t.Errorf("register record names user %q", carol)
		}
		loginID, _ := decodeMap(t, resp)["login"].(string)
		resp = w.post(t, "/auth/newproject", map[string]any{"login": loginID, "projectName": "Carol's project"})
		if resp.Code != 200 {
			t.Fatalf("newproject: %d %s", resp.Code, resp.Body)
		}
		recs = w.audit.Take()
		if len(recs) != 1 || recs[0].ResourceType != "Project" {
			t.Fatalf("newproject records: %+v", recs)
		}
		checkRecord(t, recs, wantRecord{recs[0].ResourceID, "login", "register", "C", "0", 200, carol, "-", "", "Project", ""})
	})
}

// TestAuditFailureToRecord: an event whose record cannot be kept is a 500,
// except a refused sign-in, which stays refused.
func TestAuditFailureToRecord(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAuditWorld(t, st)
		w.audit.SetFail(errors.New("disk full"))
		ok := w.post(t, "/auth/login", map[string]any{"email": "alice@example.com", "password": testPassword})
		if ok.Code != 500 || strings.Contains(ok.Body.String(), `"login"`) {
			t.Errorf("login with no audit trail = %d %s, want a 500 without the login", ok.Code, ok.Body)
		}
		bad := w.post(t, "/auth/login", map[string]any{"email": "alice@example.com", "password": "not the password at all"})
		wantError(t, bad, 400, "Email or password is invalid")
	})
}

// TestAuditKeyRotation: a rotation is recorded in the server's trail.
func TestAuditKeyRotation(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAuditWorld(t, st)
		if err := w.s.RotateKey(context.Background()); err != nil {
			t.Fatal(err)
		}
		recs := w.audit.Take()
		if len(recs) != 1 || recs[0].ProjectID != ward.SystemProjectID || recs[0].Interaction != "key-rotation" ||
			recs[0].ResourceType != "JsonWebKey" || recs[0].ResourceID == "" || recs[0].Outcome != "0" {
			t.Errorf("key rotation records: %+v", recs)
		}
	})
}

// TestNoAuditLogRecordsNothing: without an audit log every route answers
// as before.
func TestNoAuditLogRecordsNothing(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newLoginFixture(t, st)
		p := f.project(t, "Quiet", false)
		u := f.user(t, "quiet@example.com", "")
		f.member(t, p, u, "Practitioner", "Q", "Q")
		if resp := f.post(t, "/auth/login", map[string]any{"email": "quiet@example.com", "password": testPassword}); resp.Code != 200 {
			t.Errorf("login without audit log: %d %s", resp.Code, resp.Body)
		}
	})
}

// TestAuditAuthorize: a silent re-login through the client's cookie is a
// login of the member's project; sending the browser on to sign in is no
// event.
func TestAuditAuthorize(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAuditWorld(t, st)
		app := w.client(t, w.a, NewClient{Name: "A app", RedirectURIs: []string{testRedirect}})
		w.audit.Take()
		if u := location(t, w.authorize(t, authorizeQuery(app.ID, nil))); u.Path != "/oauth" {
			t.Fatalf("without a session: redirected to %s", u)
		}
		if recs := w.audit.Take(); len(recs) != 0 {
			t.Errorf("going to the sign-in page was recorded: %+v", recs)
		}

		resp := w.post(t, "/auth/login", map[string]any{"email": "alice@example.com", "password": testPassword, "clientId": app.ID, "scope": "openid"})
		cookie := findCookie(resp, "medplum-"+app.ID)
		out := decodeLogin(t, resp)
		login, err := w.s.readLogin(context.Background(), out.Login)
		if err != nil || cookie == nil {
			t.Fatalf("login %v, cookie %v", err, cookie)
		}
		login.Granted = true
		if err := w.s.saveLogin(context.Background(), login); err != nil {
			t.Fatal(err)
		}
		w.audit.Take()
		if u := location(t, w.authorize(t, authorizeQuery(app.ID, nil), cookie)); u.Query().Get("code") == "" {
			t.Fatalf("silent re-login redirected to %s", u)
		}
		checkRecord(t, w.audit.Take(), wantRecord{w.a.ID, "login", "login", "E", "0", 302,
			"User/" + w.alice.ID, "ProjectMembership/" + w.aliceM.ID, "ClientApplication/" + app.ID, "", ""})
	})
}
