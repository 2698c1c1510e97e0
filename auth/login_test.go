package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// loginFixture is a Service over a fresh store with helpers to create
// identity resources and call the handler.
type loginFixture struct {
	s        *Service
	h        http.Handler
	mu       sync.Mutex
	failures []LoginFailure
}

const testPassword = "correct horse battery"

func newLoginFixture(t *testing.T, st *store.Store, edit ...func(*Config)) *loginFixture {
	t.Helper()
	f := &loginFixture{}
	cfg := Config{
		BaseURL:    "https://ward.test/",
		BcryptCost: bcrypt.MinCost,
		Logger:     slog.New(slog.DiscardHandler),
		LoginFailed: func(_ context.Context, lf LoginFailure) {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.failures = append(f.failures, lf)
		},
	}
	for _, e := range edit {
		e(&cfg)
	}
	f.s = New(st, cfg)
	// Rate limits have their own tests; here they would only get in the
	// way of the many logins of one account.
	f.s.limit = nil
	f.h = f.s.Handler()
	return f
}

func (f *loginFixture) failed() []LoginFailure {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]LoginFailure(nil), f.failures...)
}

// user creates a user with testPassword; projectID "" = server-scoped.
func (f *loginFixture) user(t *testing.T, email, projectID string) *User {
	t.Helper()
	u, err := f.s.createUser(context.Background(), NewUser{FirstName: "Test", LastName: "User", Email: email, Password: testPassword, ProjectID: projectID})
	if err != nil {
		t.Fatalf("createUser %s: %v", email, err)
	}
	return u
}

func (f *loginFixture) project(t *testing.T, name string, superAdmin bool) *Project {
	t.Helper()
	p, err := f.s.createProject(context.Background(), name, "", superAdmin)
	if err != nil {
		t.Fatalf("createProject %s: %v", name, err)
	}
	return p
}

// member gives u a Practitioner profile named first/last in p.
func (f *loginFixture) member(t *testing.T, p *Project, u *User, profileType, first, last string, edit ...func(*Membership)) *Membership {
	t.Helper()
	ctx := context.Background()
	profile, err := f.s.createProfile(ctx, p.ID, profileType, first, last, u.Email)
	if err != nil {
		t.Fatal(err)
	}
	// Stored without displays, so the chooser's displays are proven to
	// come from the project and profile themselves.
	profile.Display = ""
	m := &Membership{
		ResourceType: "ProjectMembership",
		Project:      &Reference{Reference: "Project/" + p.ID},
		User:         &Reference{Reference: "User/" + u.ID},
		Profile:      profile,
	}
	for _, e := range edit {
		e(m)
	}
	m, err = f.s.createMembership(ctx, m)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (f *loginFixture) client(t *testing.T, p *Project, nc NewClient) *Client {
	t.Helper()
	c, err := f.s.createClient(context.Background(), p.ID, nc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// do sends a JSON request the way MedplumClient does.
func (f *loginFixture) do(t *testing.T, method, path string, body any, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	} else {
		rd = bytes.NewReader(nil)
	}
	r := httptest.NewRequest(method, path, rd)
	r.Header.Set("Content-Type", "application/fhir+json")
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	return w
}

func (f *loginFixture) post(t *testing.T, path string, body any, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	return f.do(t, http.MethodPost, path, body, header...)
}

// outcomeText returns the first issue's text and expression of an
// OperationOutcome body.
func outcomeText(t *testing.T, w *httptest.ResponseRecorder) (text string, expression []string) {
	t.Helper()
	var oo struct {
		ResourceType string
		Issue        []struct {
			Details    struct{ Text string }
			Expression []string
		}
	}
	if err := json.Unmarshal(w.Body.Bytes(), &oo); err != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		t.Fatalf("not an OperationOutcome (%d): %s", w.Code, w.Body)
	}
	return oo.Issue[0].Details.Text, oo.Issue[0].Expression
}

// wantError asserts status and OperationOutcome text.
func wantError(t *testing.T, w *httptest.ResponseRecorder, status int, text string) {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d: %s", w.Code, status, w.Body)
	}
	if got, _ := outcomeText(t, w); got != text {
		t.Fatalf("text %q, want %q", got, text)
	}
}

func decodeLogin(t *testing.T, w *httptest.ResponseRecorder) loginResponse {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	var out loginResponse
	if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if out.Login == "" {
		t.Fatalf("no login in %s", w.Body)
	}
	return out
}

var codePattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestLoginValidation(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newLoginFixture(t, st)
		alice := f.user(t, "alice@example.com", "")
		lonely := f.user(t, "lonely@example.com", "")
		_ = lonely
		pa := f.project(t, "Alpha Clinic", false)
		pb := f.project(t, "Beta Clinic", false)
		f.member(t, pa, alice, "Practitioner", "Alice", "Smith")
		client := f.client(t, pa, NewClient{Name: "Alpha App"})
		strict := f.client(t, pa, NewClient{Name: "Strict App"})
		setAllowedOrigin(t, f.s, pa.ID, strict.ID, "https://app.alpha.test")

		login := func(extra map[string]any) map[string]any {
			body := map[string]any{"email": "alice@example.com", "password": testPassword, "scope": "openid"}
			for k, v := range extra {
				body[k] = v
			}
			return body
		}
		cases := []struct {
			name       string
			body       map[string]any
			header     []string
			status     int
			text       string
			expression string
		}{
			{"bad email", login(map[string]any{"email": "not-an-email"}), nil, 400, "Valid email address is required", "email"},
			{"empty email", login(map[string]any{"email": ""}), nil, 400, "Valid email address is required", "email"},
			{"short password", login(map[string]any{"password": "short"}), nil, 400, "Password must be at least 8 characters", "password"},
			{"wrong password", login(map[string]any{"password": "wrong password"}), nil, 400, "Email or password is invalid", "password"},
			{"unknown email", login(map[string]any{"email": "nobody@example.com"}), nil, 400, "Email or password is invalid", "password"},
			{"clientId with another projectId", login(map[string]any{"clientId": client.ID, "projectId": pb.ID}), nil, 400, "Invalid projectId", "projectId"},
			{"clientId with projectId new", login(map[string]any{"clientId": client.ID, "projectId": "new"}), nil, 400, "Invalid projectId", "projectId"},
			{"unknown clientId", login(map[string]any{"clientId": ward.NewID()}), nil, 404, "Not found", ""},
			{"challenge without method", login(map[string]any{"codeChallenge": "xyz"}), nil, 400, "Missing code challenge method", "codeChallengeMethod"},
			{"method without challenge", login(map[string]any{"codeChallengeMethod": "S256"}), nil, 400, "Missing code challenge", "codeChallenge"},
			{"unknown method", login(map[string]any{"codeChallenge": "xyz", "codeChallengeMethod": "S512"}), nil, 400, "Invalid code challenge method", "codeChallengeMethod"},
			{"origin not allowed", login(map[string]any{"clientId": strict.ID}), []string{"Origin", "https://evil.test"}, 400, "Invalid origin", "origin"},
			{"no membership", login(map[string]any{"email": "lonely@example.com"}), nil, 400, "User not found", "email"},
			{"no membership in projectId", login(map[string]any{"projectId": pb.ID}), nil, 400, "User not found", "email"},
			{"profile type filter", login(map[string]any{"resourceType": "Patient"}), nil, 400, "User not found", "email"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				w := f.post(t, "/auth/login", c.body, c.header...)
				wantError(t, w, c.status, c.text)
				if _, expr := outcomeText(t, w); c.expression != "" && (len(expr) != 1 || expr[0] != c.expression) {
					t.Errorf("expression %v, want [%s]", expr, c.expression)
				}
			})
		}
	})
}

// setAllowedOrigin edits a stored client (tests only).
func setAllowedOrigin(t *testing.T, s *Service, projectID, clientID, origin string) {
	t.Helper()
	var m map[string]any
	ctx := context.Background()
	if _, err := s.readJSON(ctx, "ClientApplication", clientID, &m); err != nil {
		t.Fatal(err)
	}
	m["allowedOrigin"] = []string{origin}
	if _, err := s.writeSystem(ctx, projectID, "ClientApplication", clientID, m); err != nil {
		t.Fatal(err)
	}
}

func TestLoginSingleMembership(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newLoginFixture(t, st)
		alice := f.user(t, "alice@example.com", "")
		pa := f.project(t, "Alpha Clinic", false)
		m := f.member(t, pa, alice, "Practitioner", "Alice", "Smith")
		client := f.client(t, pa, NewClient{Name: "Alpha App"})
		setAllowedOrigin(t, f.s, pa.ID, client.ID, "https://app.alpha.test")

		t.Run("code and membership", func(t *testing.T) {
			// Upper-case email: emails are matched lower-cased.
			out := decodeLogin(t, f.post(t, "/auth/login", map[string]any{
				"email": "ALICE@Example.com", "password": testPassword, "scope": "openid",
				"codeChallenge": "xyz", "codeChallengeMethod": "plain",
			}))
			if !codePattern.MatchString(out.Code) || len(out.Memberships) != 0 {
				t.Fatalf("want a 32-hex code and no memberships, got %+v", out)
			}
			login, err := f.s.readLogin(context.Background(), out.Login)
			if err != nil {
				t.Fatal(err)
			}
			if login.Membership == nil || login.Membership.Reference != "ProjectMembership/"+m.ID {
				t.Errorf("membership %+v, want %s", login.Membership, m.ID)
			}
			if login.Code != out.Code || login.CodeChallenge != "xyz" || login.CodeChallengeMethod != "plain" ||
				login.AuthMethod != "password" || login.AuthTime == "" || login.User.Reference != "User/"+alice.ID {
				t.Errorf("login %+v", login)
			}
			if login.RefreshSecret != "" {
				t.Errorf("refresh secret without offline scope")
			}
		})
		t.Run("client cookie", func(t *testing.T) {
			w := f.post(t, "/auth/login", map[string]any{
				"email": "alice@example.com", "password": testPassword, "clientId": client.ID, "projectId": pa.ID,
				"scope": "openid offline_access",
			}, "Origin", "https://app.alpha.test")
			out := decodeLogin(t, w)
			cookie := findCookie(w, "medplum-"+client.ID)
			if cookie == nil || !cookie.HttpOnly || !cookie.Secure || cookie.SameSite != http.SameSiteNoneMode || cookie.MaxAge != 3600 {
				t.Fatalf("cookie %+v", cookie)
			}
			login, _ := f.s.readLogin(context.Background(), out.Login)
			if cookie.Value != login.Cookie || login.Client.Reference != "ClientApplication/"+client.ID {
				t.Errorf("cookie value %q, login cookie %q, client %+v", cookie.Value, login.Cookie, login.Client)
			}
			if len(login.RefreshSecret) != 64 {
				t.Errorf("offline_access should give a refresh secret, got %q", login.RefreshSecret)
			}
		})
		t.Run("no cookie without client", func(t *testing.T) {
			w := f.post(t, "/auth/login", map[string]any{"email": "alice@example.com", "password": testPassword})
			decodeLogin(t, w)
			if len(w.Result().Cookies()) != 0 {
				t.Errorf("cookies %v", w.Result().Cookies())
			}
		})
		t.Run("projectId new", func(t *testing.T) {
			w := f.post(t, "/auth/login", map[string]any{"email": "alice@example.com", "password": testPassword, "projectId": "new"})
			if body := strings.TrimSpace(w.Body.String()); w.Code != 200 || !regexp.MustCompile(`^\{"login":"[^"]+"\}$`).MatchString(body) {
				t.Fatalf("want only {login}, got %d %s", w.Code, body)
			}
		})
		t.Run("remember gives a refresh secret", func(t *testing.T) {
			out := decodeLogin(t, f.post(t, "/auth/login", map[string]any{"email": "alice@example.com", "password": testPassword, "remember": true}))
			login, _ := f.s.readLogin(context.Background(), out.Login)
			if login.RefreshSecret == "" {
				t.Errorf("no refresh secret with remember")
			}
		})
	})
}

func findCookie(w *httptest.ResponseRecorder, name string) *http.Cookie {
	for _, c := range w.Result().Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func TestLoginSeveralMemberships(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newLoginFixture(t, st)
		bob := f.user(t, "bob@example.com", "")
		pa := f.project(t, "Alpha Clinic", false)
		pb := f.project(t, "Beta Clinic", false)
		ma := f.member(t, pa, bob, "Practitioner", "Bob", "Jones")
		label := map[string]any{"system": "https://medplum.com/identifier/label", "value": "Night shift"}
		mb := f.member(t, pb, bob, "Practitioner", "Robert", "Jones", func(m *Membership) { m.Identifier = []any{label} })

		w := f.post(t, "/auth/login", map[string]any{"email": "bob@example.com", "password": testPassword, "scope": "openid"})
		out := decodeLogin(t, w)
		if out.Code != "" || len(out.Memberships) != 2 {
			t.Fatalf("want 2 memberships and no code: %s", w.Body)
		}
		want := map[string]string{ma.ID: "Alpha Clinic|Bob Jones", mb.ID: "Beta Clinic|Robert Jones"}
		for _, c := range out.Memberships {
			got := c.Project.Display + "|" + c.Profile.Display
			if want[c.ID] != got {
				t.Errorf("membership %s: displays %q, want %q", c.ID, got, want[c.ID])
			}
			if !strings.HasPrefix(c.Project.Reference, "Project/") || !strings.HasPrefix(c.Profile.Reference, "Practitioner/") {
				t.Errorf("references %+v %+v", c.Project, c.Profile)
			}
			// The chooser also shows the membership's label identifier.
			wantLabel := c.ID == mb.ID
			if got := strings.Contains(fmt.Sprint(c.Identifier), "Night shift"); got != wantLabel {
				t.Errorf("membership %s: identifier %v", c.ID, c.Identifier)
			}
		}

		t.Run("GET /auth/login/:login shows the same choice", func(t *testing.T) {
			again := decodeLogin(t, f.do(t, http.MethodGet, "/auth/login/"+out.Login, nil))
			if again.Login != out.Login || len(again.Memberships) != 2 {
				t.Errorf("got %+v", again)
			}
		})
		t.Run("projectId narrows to one", func(t *testing.T) {
			one := decodeLogin(t, f.post(t, "/auth/login", map[string]any{"email": "bob@example.com", "password": testPassword, "projectId": pb.ID}))
			login, _ := f.s.readLogin(context.Background(), one.Login)
			if one.Code == "" || login.Membership.Reference != "ProjectMembership/"+mb.ID {
				t.Errorf("got %+v, membership %+v", one, login.Membership)
			}
		})
		t.Run("profile chooses", func(t *testing.T) {
			chosen := decodeLogin(t, f.post(t, "/auth/profile", map[string]any{"login": out.Login, "profile": mb.ID}))
			if !codePattern.MatchString(chosen.Code) || chosen.Login != out.Login {
				t.Fatalf("got %+v", chosen)
			}
			again := decodeLogin(t, f.do(t, http.MethodGet, "/auth/login/"+out.Login, nil))
			if again.Code != chosen.Code {
				t.Errorf("GET after choice: %+v", again)
			}
			wantError(t, f.post(t, "/auth/profile", map[string]any{"login": out.Login, "profile": ma.ID}), 400, "Login profile already set")
		})
		t.Run("unknown login", func(t *testing.T) {
			wantError(t, f.do(t, http.MethodGet, "/auth/login/"+ward.NewID(), nil), 404, "Login not found")
		})
	})
}

func TestProfileChecks(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newLoginFixture(t, st)
		carol := f.user(t, "carol@example.com", "")
		dave := f.user(t, "dave@example.com", "")
		pa := f.project(t, "Alpha Clinic", false)
		pb := f.project(t, "Beta Clinic", false)
		pc := f.project(t, "Gamma Clinic", false)
		active := f.member(t, pa, carol, "Practitioner", "Carol", "A")
		f.member(t, pb, carol, "Practitioner", "Carol", "B")
		inactive := f.member(t, pc, carol, "Practitioner", "Carol", "C", func(m *Membership) { no := false; m.Active = &no })
		davesOwn := f.member(t, pa, dave, "Practitioner", "Dave", "D")
		pd := f.project(t, "Delta Clinic", false)
		brokenPolicy := f.member(t, pd, carol, "Practitioner", "Carol", "D", func(m *Membership) {
			m.AccessPolicy = &Reference{Reference: "AccessPolicy/" + ward.NewID()}
		})

		pending := func(t *testing.T) string {
			out := decodeLogin(t, f.post(t, "/auth/login", map[string]any{"email": "carol@example.com", "password": testPassword}))
			if len(out.Memberships) != 4 {
				t.Fatalf("want 4 memberships, got %+v", out)
			}
			return out.Login
		}
		mark := func(edit func(*Login)) func(t *testing.T, id string) {
			return func(t *testing.T, id string) {
				login, err := f.s.readLogin(context.Background(), id)
				if err != nil {
					t.Fatal(err)
				}
				edit(login)
				if err := f.s.saveLogin(context.Background(), login); err != nil {
					t.Fatal(err)
				}
			}
		}
		cases := []struct {
			name    string
			prepare func(t *testing.T, id string)
			profile string
			text    string
		}{
			{"unknown membership", nil, ward.NewID(), "Profile not found"},
			{"another user's membership", nil, davesOwn.ID, "Invalid profile"},
			{"inactive membership", nil, inactive.ID, "Profile not active"},
			{"policy that does not exist (row 47)", nil, brokenPolicy.ID, "Cannot authenticate: Invalid access policy configuration. Please contact your administrator to update your project membership."},
			{"revoked login", mark(func(l *Login) { l.Revoked = true }), active.ID, "Login revoked"},
			{"granted login", mark(func(l *Login) { l.Granted = true }), active.ID, "Login granted"},
			{"missing profile", nil, "", "Missing profile"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				id := pending(t)
				if c.prepare != nil {
					c.prepare(t, id)
				}
				wantError(t, f.post(t, "/auth/profile", map[string]any{"login": id, "profile": c.profile}), 400, c.text)
			})
		}
		t.Run("unknown login", func(t *testing.T) {
			wantError(t, f.post(t, "/auth/profile", map[string]any{"login": ward.NewID(), "profile": active.ID}), 404, "Login not found")
		})
		t.Run("login for one project cannot choose another", func(t *testing.T) {
			out := decodeLogin(t, f.post(t, "/auth/login", map[string]any{"email": "carol@example.com", "password": testPassword, "projectId": pa.ID}))
			login, _ := f.s.readLogin(context.Background(), out.Login)
			login.Membership = nil
			_ = f.s.saveLogin(context.Background(), login)
			_, err := f.s.chooseMembership(context.Background(), login, inactive.ID)
			if ward.ErrorMessage(err) != "Invalid profile" {
				t.Errorf("got %v", err)
			}
		})
	})
}

func TestSuperAdminLoginHasNoRefreshSecret(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newLoginFixture(t, st)
		root := f.user(t, "root@example.com", "")
		sa := f.project(t, "Super Admin", true)
		f.member(t, sa, root, "Practitioner", "Root", "Admin", func(m *Membership) { m.Admin = true })
		out := decodeLogin(t, f.post(t, "/auth/login", map[string]any{"email": "root@example.com", "password": testPassword, "scope": "openid offline"}))
		login, _ := f.s.readLogin(context.Background(), out.Login)
		if out.Code == "" || login.RefreshSecret != "" {
			t.Errorf("super admin login: code %q, refresh secret %q", out.Code, login.RefreshSecret)
		}
	})
}

func TestScope(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newLoginFixture(t, st)
		erin := f.user(t, "erin@example.com", "")
		pa := f.project(t, "Alpha Clinic", false)
		f.member(t, pa, erin, "Practitioner", "Erin", "E")
		start := func(t *testing.T) string {
			return decodeLogin(t, f.post(t, "/auth/login", map[string]any{"email": "erin@example.com", "password": testPassword, "scope": "openid profile patient/*.read"})).Login
		}
		t.Run("subset", func(t *testing.T) {
			id := start(t)
			out := decodeLogin(t, f.post(t, "/auth/scope", map[string]any{"login": id, "scope": "openid patient/*.read"}))
			login, _ := f.s.readLogin(context.Background(), id)
			if out.Code == "" || login.Scope != "openid patient/*.read" {
				t.Errorf("got %+v, scope %q", out, login.Scope)
			}
		})
		t.Run("wider scope", func(t *testing.T) {
			wantError(t, f.post(t, "/auth/scope", map[string]any{"login": start(t), "scope": "openid user/*.*"}), 400, "Invalid scope")
		})
		t.Run("missing scope", func(t *testing.T) {
			wantError(t, f.post(t, "/auth/scope", map[string]any{"login": start(t)}), 400, "Missing scope")
		})
		t.Run("missing login", func(t *testing.T) {
			wantError(t, f.post(t, "/auth/scope", map[string]any{"scope": "openid"}), 400, "Missing login")
		})
	})
}

func TestMethod(t *testing.T) {
	f := newLoginFixture(t, storetest.OpenSQLite(t))
	w := f.post(t, "/auth/method", map[string]any{"email": "someone@example.com"})
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != "{}" {
		t.Errorf("got %d %s", w.Code, w.Body)
	}
	wantError(t, f.post(t, "/auth/method", map[string]any{"email": "nope"}), 400, "Valid email address is required")
}

func TestLoginFailedHook(t *testing.T) {
	f := newLoginFixture(t, storetest.OpenSQLite(t))
	f.user(t, "frank@example.com", "")
	f.post(t, "/auth/login", map[string]any{"email": "Frank@example.com", "password": "not the password"})
	f.post(t, "/auth/login", map[string]any{"email": "ghost@example.com", "password": "not the password"})
	got := f.failed()
	if len(got) != 2 {
		t.Fatalf("want 2 recorded failures, got %+v", got)
	}
	if got[0].Email != "frank@example.com" || got[0].Reason != "wrong password" || got[0].RemoteAddress == "" {
		t.Errorf("first failure %+v", got[0])
	}
	if got[1].Email != "ghost@example.com" || got[1].Reason != "unknown email" {
		t.Errorf("second failure %+v", got[1])
	}
}

func TestValidEmail(t *testing.T) {
	for email, want := range map[string]bool{
		"a@b.co": true, "first.last+tag@sub.example.org": true,
		"": false, "plain": false, "a@b": false, "a@b.": false, "A <a@b.co>": false, "a b@c.de": false, "@b.co": false,
	} {
		if got := validEmail(email); got != want {
			t.Errorf("validEmail(%q) = %v, want %v", email, got, want)
		}
	}
}

func TestFormatName(t *testing.T) {
	var name any
	_ = json.Unmarshal([]byte(`[{"prefix":["Dr."],"given":["Ann","B."],"family":"Lee"}]`), &name)
	if got := formatName(name); got != "Dr. Ann B. Lee" {
		t.Errorf("got %q", got)
	}
	_ = json.Unmarshal([]byte(`[{"text":"Ann Lee","family":"X"}]`), &name)
	if got := formatName(name); got != "Ann Lee" {
		t.Errorf("got %q", got)
	}
	if got := formatName("Alpha Clinic"); got != "Alpha Clinic" {
		t.Errorf("got %q", got)
	}
}
