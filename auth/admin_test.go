package auth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// adminRequest builds a request to an admin route with its path values set,
// for calling a handler directly with a Caller.
func adminRequest(method, path, body string, values map[string]string) *http.Request {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	for k, v := range values {
		r.SetPathValue(k, v)
	}
	return r
}

// Row 79: after one invite the project has three memberships (owner,
// default client, invitee), the invitee's written by the system.
func TestMembershipsAfterInvite(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAdminWorld(t, st)
		m := w.mustInvite(t, w.alice, "", bob("Practitioner"))
		found, err := w.s.searchSystem(context.Background(), "ProjectMembership", map[string][]string{"_project": {w.project.ID}})
		if err != nil || len(found) != 3 {
			t.Fatalf("memberships of the project: %d, %v; want 3", len(found), err)
		}
		if m.Meta.Author.Reference != "system" {
			t.Errorf("invitee meta.author = %q, want system", m.Meta.Author.Reference)
		}
	})
}

// Rows 80, 82 and 5.11: reading, updating and deleting members.
func TestMembers(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAdminWorld(t, st)
		ctx := context.Background()
		bobM := w.mustInvite(t, w.alice, "", bob("Practitioner"))
		foreign := w.super.Membership.ID

		for _, tc := range []struct {
			name, id, code string
		}{
			{"own member", bobM.ID, ""},
			{"another project's member", foreign, ward.ENOTFOUND},
			{"missing", ward.NewID(), ward.ENOTFOUND},
		} {
			_, res, err := w.s.projectMember(ctx, w.alice, "", tc.id)
			if ward.ErrorCode(err) != tc.code || (tc.code == "" && res.ID != tc.id) {
				t.Errorf("get %s: %v, want %q", tc.name, err, tc.code)
			}
		}

		var body map[string]any
		if _, err := w.s.readJSON(ctx, "ProjectMembership", bobM.ID, &body); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			edit func(m map[string]any)
			code string
		}{
			{"other resourceType", func(m map[string]any) { m["resourceType"] = "Patient" }, ward.EFORBIDDEN},
			{"other id", func(m map[string]any) { m["id"] = ward.NewID() }, ward.EFORBIDDEN},
			{"policy of nowhere", func(m map[string]any) {
				m["accessPolicy"] = map[string]any{"reference": "AccessPolicy/" + ward.NewID()}
			}, ward.EINVALID},
		} {
			m := cloneMap(t, body)
			tc.edit(m)
			_, err := w.s.updateMember(ctx, w.alice, "", bobM.ID, m)
			wantAdminError(t, "update with "+tc.name, err, tc.code, "")
		}

		m := cloneMap(t, body)
		m["admin"] = true
		m["userName"] = "bobby"                                                     // a field auth does not model
		m["user"] = map[string]any{"reference": w.alice.Membership.User.Reference}  // read-only
		m["project"] = map[string]any{"reference": "Project/" + w.super.Project.ID} // read-only
		res, err := w.s.updateMember(ctx, w.alice, "", bobM.ID, m)
		if err != nil {
			t.Fatal(err)
		}
		got := storedMap(t, w.s, "ProjectMembership", res.ID)
		if got["admin"] != true || got["userName"] != "bobby" || got["_project"] != w.project.ID ||
			got["user"].(map[string]any)["reference"] != bobM.User.Reference {
			t.Errorf("updated membership = %v", got)
		}

		err = w.s.deleteMember(ctx, w.alice, "", w.alice.Membership.ID)
		wantAdminError(t, "delete the owner", err, ward.EINVALID, "Cannot delete the owner of the project")
		err = w.s.deleteMember(ctx, w.alice, "", ward.NewID())
		wantAdminError(t, "delete a missing membership", err, ward.ENOTFOUND, "")
		err = w.s.deleteMember(ctx, w.alice, "", foreign)
		wantAdminError(t, "delete another project's membership", err, ward.ENOTFOUND, "")
	})
}

func cloneMap(t *testing.T, m map[string]any) map[string]any {
	t.Helper()
	data, _ := json.Marshal(m)
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Deleting a project-scoped user's membership deletes the User; a
// server-scoped user survives.
func TestDeleteMemberUser(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAdminWorld(t, st)
		ctx := context.Background()
		scoped := w.mustInvite(t, w.alice, "", inviteRequest{ResourceType: "Patient", FirstName: "P", LastName: "S", Email: "pat@example.com"})
		server := w.mustInvite(t, w.alice, "", bob("Practitioner"))
		for _, tc := range []struct {
			m        *invited
			userGone bool
		}{{scoped, true}, {server, false}} {
			if err := w.s.deleteMember(ctx, w.alice, "", tc.m.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := w.s.store.Read(system(ctx), "ProjectMembership", tc.m.ID); ward.ErrorCode(err) != ward.EGONE {
				t.Errorf("membership after delete: %v, want gone", err)
			}
			_, err := w.s.store.Read(system(ctx), "User", refID(tc.m.User, "User"))
			if gone := ward.ErrorCode(err) == ward.EGONE; gone != tc.userGone {
				t.Errorf("user %s gone = %v, want %v", tc.m.User.Display, gone, tc.userGone)
			}
		}
	})
}

// Row 81: a plain member gets 403 from every admin route.
func TestAdminRoutesForbidPlainMembers(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAdminWorld(t, st)
		bobM := w.mustInvite(t, w.alice, "", bob("Practitioner"))
		bobCaller := callerOfMembership(t, w.s, bobM.ID)
		ids := map[string]string{"projectId": w.project.ID, "membershipId": bobM.ID}
		for _, tc := range []struct {
			name string
			h    adminHandler
			body string
		}{
			{"get project", w.s.handleGetProject, ""},
			{"invite", w.s.handleInvite, `{"resourceType":"Practitioner","firstName":"C","lastName":"W","email":"c@example.com"}`},
			{"get member", w.s.handleGetMember, ""},
			{"update member", w.s.handleUpdateMember, `{"resourceType":"ProjectMembership","id":"` + bobM.ID + `","admin":true}`},
			{"delete member", w.s.handleDeleteMember, ""},
			{"client", w.s.handleCreateClient, `{"name":"c"}`},
			{"bot", w.s.handleCreateBot, `{"name":"b"}`},
			{"secrets", w.s.projectListRoute("secret"), `[]`},
			{"settings", w.s.projectListRoute("setting"), `[]`},
			{"sites", w.s.projectListRoute("site"), `[]`},
			{"setpassword", w.s.handleSetPassword, `{"email":"bob@example.com","password":"bob-password-1"}`},
		} {
			r := adminRequest(http.MethodPost, "/admin/projects/x", tc.body, ids)
			_, _, err := tc.h(context.Background(), bobCaller, r)
			wantAdminError(t, tc.name, err, ward.EFORBIDDEN, "Forbidden")
		}
		if m := storedMap(t, w.s, "ProjectMembership", bobM.ID); m["admin"] != nil {
			t.Errorf("a refused update changed the membership: %v", m)
		}
	})
}

// GET /admin/projects/:id shows id, name, setting, secret, site; the list
// routes replace one list and keep the rest of the project.
func TestProjectLists(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAdminWorld(t, st)
		ctx := context.Background()
		var raw map[string]any
		_, _ = w.s.readJSON(ctx, "Project", w.project.ID, &raw)
		raw["description"] = "kept"
		raw["features"] = []any{"bots"}
		if _, err := w.s.writeSystem(ctx, w.project.ID, "Project", w.project.ID, raw); err != nil {
			t.Fatal(err)
		}

		secrets := []map[string]any{{"name": "apiKey", "valueString": "s3cret"}}
		settings := []map[string]any{{"name": "allowedMfaMethods", "valueString": "totp"}}
		sites := []map[string]any{{"name": "main", "domain": []any{"app.example.com"}}}
		out, err := w.s.setProjectList(ctx, w.alice, ":projectId", "secret", secrets)
		if err != nil {
			t.Fatal(err)
		}
		if _, hidden := out["strictMode"]; hidden || out["description"] != "kept" {
			t.Errorf("project after secrets = %v (strictMode must be hidden, description kept)", out)
		}
		for field, list := range map[string][]map[string]any{"setting": settings, "site": sites} {
			if _, err := w.s.setProjectList(ctx, w.alice, "", field, list); err != nil {
				t.Fatalf("%s: %v", field, err)
			}
		}
		_, err = w.s.setProjectList(ctx, w.alice, "", "setting", []map[string]any{{"valueString": "no name"}})
		if ward.ErrorCode(err) != ward.EINVALID {
			t.Errorf("setting without name: %v, want invalid", err)
		}

		status, view, err := w.s.handleGetProject(ctx, w.alice, adminRequest("GET", "/", "", map[string]string{"projectId": ":projectId"}))
		if err != nil || status != http.StatusOK {
			t.Fatal(status, err)
		}
		got, _ := json.Marshal(view)
		want := `{"project":{"id":"` + w.project.ID + `","name":"Alice Project",` +
			`"secret":[{"name":"apiKey","valueString":"s3cret"}],` +
			`"setting":[{"name":"allowedMfaMethods","valueString":"totp"}],` +
			`"site":[{"domain":["app.example.com"],"name":"main"}]}}`
		if string(got) != want {
			t.Errorf("GET project = %s\nwant %s", got, want)
		}
		if p := storedMap(t, w.s, "Project", w.project.ID); p["strictMode"] != true || p["features"] == nil {
			t.Errorf("stored project lost fields: %v", p)
		}
	})
}

// POST .../client: 201 with a secret, its own membership with the policy.
func TestAdminCreateClient(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAdminWorld(t, st)
		ctx := context.Background()
		pol, err := w.s.writeSystem(ctx, w.project.ID, "AccessPolicy", "", map[string]any{"resourceType": "AccessPolicy", "name": "P"})
		if err != nil {
			t.Fatal(err)
		}
		body := `{"name":"Lab feed","description":"d","redirectUri":"https://lab.example.com/cb","accessPolicy":{"reference":"` + pol.Reference() + `"},"admin":true}`
		status, out, err := w.s.handleCreateClient(ctx, w.alice, adminRequest("POST", "/", body, map[string]string{"projectId": ":projectId"}))
		if err != nil || status != http.StatusCreated {
			t.Fatal(status, err)
		}
		var c Client
		_ = json.Unmarshal(out.(json.RawMessage), &c)
		if c.Name != "Lab feed" || len(c.Secret) != 64 || c.RedirectURI != "https://lab.example.com/cb" {
			t.Errorf("client = %+v", c)
		}
		members, _ := w.s.searchSystem(ctx, "ProjectMembership", map[string][]string{"user": {"ClientApplication/" + c.ID}})
		if len(members) != 1 {
			t.Fatalf("client memberships = %d", len(members))
		}
		m, _ := decodeAs[Membership](members[0])
		if m.AccessPolicy == nil || m.AccessPolicy.Reference != pol.Reference() || m.Admin || members[0].ProjectID != w.project.ID {
			t.Errorf("client membership = %+v (the request cannot make it admin)", m)
		}

		_, _, err = w.s.handleCreateClient(ctx, w.alice, adminRequest("POST", "/", `{"description":"no name"}`, nil))
		wantAdminError(t, "client without name", err, ward.EINVALID, "Name is required")
	})
}

// POST /admin/projects/setpassword sets a project-scoped user's password;
// server-scoped users are not the admin's to change.
func TestAdminSetPassword(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAdminWorld(t, st)
		ctx := context.Background()
		pat := w.mustInvite(t, w.alice, "", inviteRequest{ResourceType: "Patient", FirstName: "P", LastName: "S", Email: "pat@example.com"})
		w.mustInvite(t, w.alice, "", bob("Practitioner"))

		if err := w.s.setPassword(ctx, w.alice, setPasswordRequest{Email: "PAT@example.com", Password: "new password"}); err != nil {
			t.Fatal(err)
		}
		var u User
		_, _ = w.s.readJSON(ctx, "User", refID(pat.User, "User"), &u)
		if !checkPassword(u.PasswordHash, "new password") || u.Email != "pat@example.com" {
			t.Errorf("patient user after setpassword: %+v", u)
		}
		err := w.s.setPassword(ctx, w.alice, setPasswordRequest{Email: "bob@example.com", Password: "new password"})
		wantAdminError(t, "server-scoped user", err, ward.ENOTFOUND, "User not found")
		err = w.s.setPassword(ctx, w.alice, setPasswordRequest{Email: "pat@example.com", Password: "short"})
		wantAdminError(t, "short password", err, ward.EINVALID, "")
	})
}

// bearer signs in membershipID the way a finished login does and returns
// its access token.
func (w *adminWorld) bearer(t *testing.T, membershipID string) string {
	t.Helper()
	ctx := context.Background()
	if err := w.s.ensureSigningKey(ctx); err != nil {
		t.Fatal(err)
	}
	var m Membership
	if _, err := w.s.readJSON(ctx, "ProjectMembership", membershipID, &m); err != nil {
		t.Fatal(err)
	}
	res, err := w.s.writeSystem(ctx, ward.SystemProjectID, "Login", "", &Login{
		ResourceType: "Login", User: m.User, Project: m.Project,
		Membership: &Reference{Reference: "ProjectMembership/" + m.ID},
		AuthMethod: "password", AuthTime: "2026-01-01T00:00:00Z", Scope: "openid", Granted: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	login, _ := decodeAs[Login](res)
	reply, err := w.s.tokenResponse(ctx, login, nil)
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + reply["access_token"].(string)
}

// call sends one request through the identity handler.
func (w *adminWorld) call(method, path, authorization, body string) (int, map[string]any) {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/fhir+json")
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	rec := httptest.NewRecorder()
	w.s.Handler().ServeHTTP(rec, r)
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

// issueText is the first issue's details.text of an OperationOutcome.
func issueText(out map[string]any) string {
	issues, _ := out["issue"].([]any)
	if len(issues) == 0 {
		return ""
	}
	details, _ := issues[0].(map[string]any)["details"].(map[string]any)
	text, _ := details["text"].(string)
	return text
}

// The admin routes over HTTP with real tokens: 401 without credentials,
// the literal ":projectId" path, 403 for members, Medplum's shapes.
func TestAdminHTTP(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAdminWorld(t, st)
		alice := w.bearer(t, w.alice.Membership.ID)
		invite := `{"resourceType":"Practitioner","firstName":"Bob","lastName":"Jones","email":"bob@example.com","password":"bob-password-1","sendEmail":false,"scope":"project"}`

		if status, _ := w.call("POST", "/admin/projects/:projectId/invite", "", invite); status != http.StatusUnauthorized {
			t.Errorf("invite without credentials: %d, want 401", status)
		}
		status, m := w.call("POST", "/admin/projects/:projectId/invite", alice, invite)
		project, _ := m["project"].(map[string]any)
		if status != http.StatusOK || m["resourceType"] != "ProjectMembership" || project["reference"] != "Project/"+w.project.ID {
			t.Fatalf("invite: %d %v", status, m)
		}
		bobID, _ := m["id"].(string)
		bob := w.bearer(t, bobID)

		for _, tc := range []struct {
			method, path, auth, body string
			status                   int
		}{
			{"GET", "/admin/projects/" + w.project.ID, alice, "", 200},
			{"GET", "/admin/projects/" + w.project.ID, bob, "", 403},
			{"GET", "/admin/projects/x/members/" + bobID, alice, "", 200},
			{"GET", "/admin/projects/x/members/" + bobID, bob, "", 403},
			{"GET", "/admin/projects/x/members/" + w.super.Membership.ID, alice, "", 404},
			{"GET", "/admin/projects/x/members/" + ward.NewID(), alice, "", 404},
			{"POST", "/admin/projects/x/members/" + bobID, alice, `{"resourceType":"Patient","id":"` + bobID + `"}`, 403},
			{"POST", "/admin/projects/x/client", alice, `{"name":"Feed"}`, 201},
			{"POST", "/admin/projects/x/client", bob, `{"name":"Feed"}`, 403},
			{"POST", "/admin/projects/x/settings", alice, `[{"name":"a","valueBoolean":true}]`, 200},
			{"POST", "/admin/projects/x/sites", bob, `[]`, 403},
			{"POST", "/admin/projects/x/invite", bob, invite, 403},
			{"DELETE", "/admin/projects/x/members/" + w.alice.Membership.ID, alice, "", 400},
			{"DELETE", "/admin/projects/x/members/" + ward.NewID(), alice, "", 404},
		} {
			if status, out := w.call(tc.method, tc.path, tc.auth, tc.body); status != tc.status {
				t.Errorf("%s %s: %d %v, want %d", tc.method, tc.path, status, out, tc.status)
			}
		}

		status, out := w.call("DELETE", "/admin/projects/x/members/"+w.alice.Membership.ID, alice, "")
		if text := issueText(out); status != 400 || text != "Cannot delete the owner of the project" {
			t.Errorf("delete owner: %d %q", status, text)
		}
		status, out = w.call("GET", "/admin/projects/:projectId", alice, "")
		if p, _ := out["project"].(map[string]any); status != 200 || p["id"] != w.project.ID || p["name"] != "Alice Project" {
			t.Errorf("GET project: %d %v", status, out)
		}

		w.mail.fail = true
		carol := `{"resourceType":"Practitioner","firstName":"Carol","lastName":"White","email":"carol@example.com"}`
		status, out = w.call("POST", "/admin/projects/:projectId/invite", alice, carol)
		if status != 200 || out["resourceType"] != "OperationOutcome" || issueText(out) != emailFailedText {
			t.Errorf("invite with a failing mail server: %d %v", status, out)
		}
		status, out = w.call("POST", "/admin/projects/:projectId/invite", alice, `{"resourceType":"Practitioner","firstName":"D","lastName":"E","email":""}`)
		if issues, _ := out["issue"].([]any); status != 400 || len(issues) == 0 || issues[0].(map[string]any)["expression"] == nil {
			t.Errorf("invite with empty email: %d %v, want 400 with an expression", status, out)
		}
	})
}

// Row 73: a ClientApplication whose membership an admin promoted invites
// with Basic client credentials; an unpromoted client cannot.
func TestInviteHTTPBasicClient(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		w := newAdminWorld(t, st)
		ctx := context.Background()
		plain, err := w.s.createClient(ctx, w.project.ID, NewClient{Name: "Plain"})
		if err != nil {
			t.Fatal(err)
		}
		promoted := w.promotedClient(t).Client
		basic := func(c *Client) string {
			return "Basic " + base64.StdEncoding.EncodeToString([]byte(c.ID+":"+c.Secret))
		}
		invite := `{"resourceType":"Practitioner","firstName":"Bob","lastName":"Jones","email":"bob@example.com","sendEmail":false}`
		if status, out := w.call("POST", "/admin/projects/:projectId/invite", basic(plain), invite); status != 403 {
			t.Errorf("unpromoted client: %d %v, want 403", status, out)
		}
		status, out := w.call("POST", "/admin/projects/:projectId/invite", basic(promoted), invite)
		if invitedBy, _ := out["invitedBy"].(map[string]any); status != 200 || invitedBy["reference"] != "ClientApplication/"+promoted.ID {
			t.Errorf("promoted client: %d %v", status, out)
		}
		wrong := *promoted
		wrong.Secret = strings.Repeat("0", 64)
		if status, _ := w.call("POST", "/admin/projects/:projectId/invite", basic(&wrong), invite); status != 401 {
			t.Errorf("wrong secret: %d, want 401", status)
		}
	})
}
