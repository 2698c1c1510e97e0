package auth

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

func newUserBody(email string, edit func(map[string]any)) map[string]any {
	body := map[string]any{
		"firstName": "Ivy", "lastName": "Ingram", "email": email, "password": testPassword,
		"recaptchaToken": "ignored", "codeChallenge": "xyz", "codeChallengeMethod": "plain", "scope": "openid offline",
	}
	if edit != nil {
		edit(body)
	}
	return body
}

// exchange trades a code (PKCE plain "xyz") for an access token.
func (f *loginFixture) exchange(t *testing.T, code string) string {
	t.Helper()
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {"xyz"}}
	r := httptest.NewRequest(http.MethodPost, "/oauth2/token", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, r)
	var out struct {
		AccessToken string `json:"access_token"`
	}
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &out) != nil || out.AccessToken == "" {
		t.Fatalf("token exchange %d: %s", w.Code, w.Body)
	}
	return out.AccessToken
}

func TestNewUserValidation(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newLoginFixture(t, st)
		f.user(t, "taken@example.com", "")
		closed := f.project(t, "Closed Clinic", false)
		other := f.project(t, "Other Clinic", false)
		client := f.client(t, closed, NewClient{Name: "Closed App"})
		cases := []struct {
			name string
			body map[string]any
			text string
		}{
			{"blank first name", newUserBody("ivy@example.com", func(b map[string]any) { b["firstName"] = " " }), "First name cannot be blank"},
			{"blank last name", newUserBody("ivy@example.com", func(b map[string]any) { delete(b, "lastName") }), "Last name cannot be blank"},
			{"bad email", newUserBody("ivy.example.com", nil), "Valid email address is required"},
			{"short password", newUserBody("ivy@example.com", func(b map[string]any) { b["password"] = "1234567" }), "Password must be at least 8 characters"},
			{"long password", newUserBody("ivy@example.com", func(b map[string]any) { b["password"] = strings.Repeat("p", 73) }), "Password must be at most 72 characters"},
			{"email already registered", newUserBody("TAKEN@example.com", nil), "Email already registered"},
			{"project without open registration", newUserBody("ivy@example.com", func(b map[string]any) { b["projectId"] = closed.ID }), "Project does not allow open registration"},
			{"unknown project", newUserBody("ivy@example.com", func(b map[string]any) { b["projectId"] = "00000000-0000-0000-0000-000000000000" }), "Project not found"},
			{"clientId of another project", newUserBody("ivy@example.com", func(b map[string]any) { b["clientId"] = client.ID; b["projectId"] = other.ID }), "Invalid projectId"},
			{"PKCE method without challenge", newUserBody("ivy@example.com", func(b map[string]any) { delete(b, "codeChallenge") }), "Missing code challenge"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				wantError(t, f.post(t, "/auth/newuser", c.body), 400, c.text)
			})
		}
	})
}

func TestRegistrationDisabled(t *testing.T) {
	f := newLoginFixture(t, storetest.OpenSQLite(t), func(c *Config) { c.RegistrationDisabled = true })
	wantError(t, f.post(t, "/auth/newuser", newUserBody("ivy@example.com", nil)), 400, "Registration is disabled")
	wantError(t, f.post(t, "/auth/newproject", map[string]any{"login": "x", "projectName": "Ivy Clinic"}), 400, "Registration is disabled")
	if u, _ := f.s.userByEmail(context.Background(), "ivy@example.com", ""); u != nil {
		t.Errorf("user created while registration is disabled")
	}
}

func TestRegisterNewProject(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newLoginFixture(t, st)
		ctx := context.Background()
		w := f.post(t, "/auth/newuser", newUserBody("Ivy@Example.com", nil))
		if w.Code != 200 {
			t.Fatalf("newuser %d: %s", w.Code, w.Body)
		}
		var reg struct {
			Login                     string `json:"login"`
			EmailVerificationRequired *bool  `json:"emailVerificationRequired"`
		}
		_ = json.Unmarshal(w.Body.Bytes(), &reg)
		if reg.Login == "" || reg.EmailVerificationRequired == nil || *reg.EmailVerificationRequired {
			t.Fatalf("newuser body %s", w.Body)
		}
		user, err := f.s.userByEmail(ctx, "ivy@example.com", "")
		if err != nil || user == nil || user.Project != nil {
			t.Fatalf("server-scoped user: %+v %v", user, err)
		}

		cases := []struct {
			name string
			body map[string]any
			text string
		}{
			{"missing login", map[string]any{"projectName": "Ivy Clinic"}, "Missing login"},
			{"short name", map[string]any{"login": reg.Login, "projectName": "Ivy"}, "Invalid project name"},
			{"long name", map[string]any{"login": reg.Login, "projectName": strings.Repeat("x", 73)}, "Invalid project name"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) { wantError(t, f.post(t, "/auth/newproject", c.body), 400, c.text) })
		}

		out := decodeLogin(t, f.post(t, "/auth/newproject", map[string]any{"login": reg.Login, "projectName": "Ivy Clinic"}))
		if out.Login != reg.Login || !codePattern.MatchString(out.Code) {
			t.Fatalf("newproject %+v", out)
		}
		wantError(t, f.post(t, "/auth/newproject", map[string]any{"login": reg.Login, "projectName": "Second Clinic"}), 400, "Login already has a membership")

		login, _ := f.s.readLogin(ctx, out.Login)
		var m Membership
		if _, err := f.s.readJSON(ctx, "ProjectMembership", refID(login.Membership, "ProjectMembership"), &m); err != nil {
			t.Fatal(err)
		}
		var project Project
		if _, err := f.s.readJSON(ctx, "Project", refID(m.Project, "Project"), &project); err != nil {
			t.Fatal(err)
		}
		if !m.Admin || m.User.Reference != "User/"+user.ID || !strings.HasPrefix(m.Profile.Reference, "Practitioner/") {
			t.Errorf("membership %+v", m)
		}
		if project.Name != "Ivy Clinic" || project.Owner == nil || project.Owner.Reference != "User/"+user.ID || !project.StrictMode {
			t.Errorf("project %+v", project)
		}
		clients, err := f.s.searchSystem(ctx, "ClientApplication", url.Values{"_project": {project.ID}})
		if err != nil || len(clients) != 1 || !strings.Contains(string(clients[0].Content), "Ivy Clinic Default Client") {
			t.Errorf("default client: %v %d", err, len(clients))
		}
		members, _ := f.s.searchSystem(ctx, "ProjectMembership", url.Values{"project": {"Project/" + project.ID}})
		if len(members) != 2 {
			t.Errorf("want the owner's and the default client's memberships, got %d", len(members))
		}

		// The code is a real one, and a later password login picks the new
		// project on its own.
		f.exchange(t, out.Code)
		later := decodeLogin(t, f.post(t, "/auth/login", map[string]any{"email": "ivy@example.com", "password": testPassword}))
		again, _ := f.s.readLogin(ctx, later.Login)
		if later.Code == "" || again.Membership.Reference != login.Membership.Reference {
			t.Errorf("later login %+v → %+v", later, again.Membership)
		}
	})
}

func TestChangePassword(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newLoginFixture(t, st)
		pa := f.project(t, "Alpha Clinic", false)
		f.member(t, pa, f.user(t, "jack@example.com", ""), "Practitioner", "Jack", "J")
		out := decodeLogin(t, f.post(t, "/auth/login", map[string]any{
			"email": "jack@example.com", "password": testPassword, "codeChallenge": "xyz", "codeChallengeMethod": "plain",
		}))
		bearer := "Bearer " + f.exchange(t, out.Code)
		const newPassword = "a much better passphrase"

		cases := []struct {
			name   string
			auth   string
			body   map[string]any
			status int
			text   string
		}{
			{"no token", "", map[string]any{"oldPassword": testPassword, "newPassword": newPassword}, 401, "Unauthorized"},
			{"missing old", bearer, map[string]any{"newPassword": newPassword}, 400, "Missing oldPassword"},
			{"short new", bearer, map[string]any{"oldPassword": testPassword, "newPassword": "short"}, 400, "Password must be at least 8 characters"},
			{"wrong old", bearer, map[string]any{"oldPassword": "not my password", "newPassword": newPassword}, 400, "Incorrect password"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var hdr []string
				if c.auth != "" {
					hdr = []string{"Authorization", c.auth}
				}
				wantError(t, f.post(t, "/auth/changepassword", c.body, hdr...), c.status, c.text)
			})
		}
		w := f.post(t, "/auth/changepassword", map[string]any{"oldPassword": testPassword, "newPassword": newPassword}, "Authorization", bearer)
		if w.Code != 200 || !strings.Contains(w.Body.String(), "All OK") {
			t.Fatalf("change %d: %s", w.Code, w.Body)
		}
		wantError(t, f.post(t, "/auth/login", map[string]any{"email": "jack@example.com", "password": testPassword}), 400, "Email or password is invalid")
		decodeLogin(t, f.post(t, "/auth/login", map[string]any{"email": "jack@example.com", "password": newPassword}))
		user, _ := f.s.userByEmail(context.Background(), "jack@example.com", "")
		if user.FirstName != "Test" || user.Email != "jack@example.com" {
			t.Errorf("other user fields lost: %+v", user)
		}
	})
}

func TestNewPatient(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newLoginFixture(t, st)
		ctx := context.Background()
		open := f.project(t, "Open Clinic", false)
		ap, err := f.s.writeSystem(ctx, open.ID, "AccessPolicy", "", map[string]any{
			"resourceType": "AccessPolicy", "name": "Patients", "resource": []any{map[string]any{"resourceType": "Patient"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		var pm map[string]any
		_, _ = f.s.readJSON(ctx, "Project", open.ID, &pm)
		pm["defaultPatientAccessPolicy"] = map[string]any{"reference": ap.Reference()}
		if _, err := f.s.writeSystem(ctx, open.ID, "Project", open.ID, pm); err != nil {
			t.Fatal(err)
		}
		closed := f.project(t, "Closed Clinic", false)

		newUser := func(t *testing.T, email, projectID string) string {
			w := f.post(t, "/auth/newuser", newUserBody(email, func(b map[string]any) {
				if projectID != "" {
					b["projectId"] = projectID
				}
			}))
			return decodeLogin(t, w).Login
		}
		patientLogin := newUser(t, "kim@example.com", open.ID)
		serverLogin := newUser(t, "lee@example.com", "")

		cases := []struct {
			name string
			body map[string]any
			text string
		}{
			{"missing login", map[string]any{"projectId": open.ID}, "Missing login"},
			{"missing projectId", map[string]any{"login": patientLogin}, "Missing projectId"},
			{"server-scoped user", map[string]any{"login": serverLogin, "projectId": open.ID}, "User must be scoped to the project"},
			{"another project", map[string]any{"login": patientLogin, "projectId": closed.ID}, "User must be scoped to the project"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) { wantError(t, f.post(t, "/auth/newpatient", c.body), 400, c.text) })
		}
		out := decodeLogin(t, f.post(t, "/auth/newpatient", map[string]any{"login": patientLogin, "projectId": open.ID}))
		login, _ := f.s.readLogin(ctx, out.Login)
		var m Membership
		_, _ = f.s.readJSON(ctx, "ProjectMembership", refID(login.Membership, "ProjectMembership"), &m)
		if out.Code == "" || !strings.HasPrefix(m.Profile.Reference, "Patient/") || m.AccessPolicy == nil ||
			m.AccessPolicy.Reference != ap.Reference() || m.Admin {
			t.Errorf("patient membership %+v", m)
		}
		user, _ := f.s.userByEmail(ctx, "kim@example.com", open.ID)
		if user == nil {
			t.Errorf("no project-scoped user")
		}
	})
}
