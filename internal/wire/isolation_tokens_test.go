package wire_test

import (
	"fmt"
	"maps"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestProjectWallsWithTokens is TestProjectWalls with identity on: three
// projects registered through /auth/newuser and /auth/newproject, every
// caller with a real bearer token — B's owner (an admin) and a plain member
// of B invited with an AccessPolicy — attacking A through every endpoint
// family, plus the identity endpoints (admin API, /auth/me, /oauth2/token)
// and bulk export (job status, manifests, files, cancellation).
// Foreign resources are 404, never 403; no answer to B names A or C (their
// ids, names and owners' emails); A and C are unchanged afterwards. The
// super admin alone acts across projects, explicitly.
func TestProjectWallsWithTokens(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		projectWallsWithTokens(t, startAuthServer(t, s))
	})
}

// projectWallsWithTokens is TestProjectWallsWithTokens on srv (also the
// workload of TestCitusRules).
func projectWallsWithTokens(t *testing.T, srv *httptest.Server) {
	pa := registerProject(t, srv, "owner-a@example.com", "Aardvarkian Wall Clinic")
	pb := registerProject(t, srv, "owner-b@example.com", "Bisonian Wall Clinic")
	pc := registerProject(t, srv, "owner-c@example.com", "Coyotean Wall Clinic")
	a, bAdmin, c := pa.owner, pb.owner, pc.owner
	bMember := pb.inviteMember(t, srv, "member-b@example.com")
	walled := []string{pa.id, pa.name, pa.email, pc.id, pc.name, pc.email}
	bAdmin.walled, bMember.walled = walled, walled
	attackers := map[string]fhirClient{"admin": bAdmin, "member": bMember}

	// What each attacker's system history holds before the fixture:
	// its project's identity resources (project, memberships, profiles,
	// clients, the policy), counted as its own.
	identity := map[string][]string{}
	for role, b := range attackers {
		identity[role] = entryHistoryRefs(b.mustGet("_history?_count=1000").body)
	}
	historyC := c.historyTotal("_history")

	fa, fb, fc := loadFixture(a), loadFixture(bAdmin), loadFixture(c)
	addMarker(t, a, fa)
	before := snapshot(a, fa)
	versionsA := versionsOf(before)
	historyA := a.historyTotal("_history")

	// Reads first, by both attackers: nothing below has written yet.
	for role, b := range attackers {
		t.Run("read as "+role, func(t *testing.T) { readWalls(t, a, b, fa) })
		t.Run("history as "+role, func(t *testing.T) { historyWalls(t, b, withVersions(fb, identity[role]), versionsA) })
		t.Run("search as "+role, func(t *testing.T) { searchWalls(t, a, b, fa, fb) })
	}
	t.Run("references", func(t *testing.T) { referenceWalls(t, a, bMember, fa) })
	t.Run("write", func(t *testing.T) { writeWalls(t, a, bMember, fa, fb) })
	t.Run("transaction", func(t *testing.T) { transactionWalls(t, bMember, fa, versionsA) })
	t.Run("meta.project", func(t *testing.T) { metaProjectWall(t, a, bMember) })
	t.Run("admin API", func(t *testing.T) { adminWalls(t, pa, pb, bAdmin, bMember) })
	t.Run("auth/me", func(t *testing.T) { meWalls(t, pb, bAdmin, bMember) })
	t.Run("oauth2/token", func(t *testing.T) { tokenWalls(t, srv, pa, bAdmin, walled) })

	if after := snapshot(a, fa); !maps.Equal(before, after) {
		t.Errorf("A's resources changed by B:\n before %v\n after  %v", before, after)
	}
	if got := a.historyTotal("_history"); got != historyA {
		t.Errorf("A's system history has %d versions, had %d before B acted", got, historyA)
	}
	if got := c.historyTotal("_history"); got != historyC+len(fc) {
		t.Errorf("C's system history has %d versions, want %d (identity) + %d (fixture)", got, historyC, len(fc))
	}

	// Exports write jobs and a group into A (after the checks above).
	t.Run("bulk export", func(t *testing.T) { exportWalls(t, srv, a, fa, attackers) })
	t.Run("super admin", func(t *testing.T) { superAdminAcross(t, srv, a, fa, bAdmin, fb) })
}

// tokenProject is a project registered through the sign-up endpoints and
// its owner, an admin, as a client with a bearer token.
type tokenProject struct {
	id, name, email string
	owner           fhirClient
}

const ownerPassword = "owner-password-1" // registerOwner's

func registerProject(t *testing.T, srv *httptest.Server, email, name string) tokenProject {
	t.Helper()
	email = runEmail(email)
	token, id := registerOwner(t, srv, email, name)
	return tokenProject{id: id, name: name, email: email, owner: fhirClient{t: t, base: srv.URL, project: id, authz: "Bearer " + token}}
}

// inviteMember: p's owner creates an AccessPolicy granting every resource
// type and invites a plain (non-admin) member with it, who signs in.
func (p tokenProject) inviteMember(t *testing.T, srv *httptest.Server, email string) fhirClient {
	t.Helper()
	email = runEmail(email)
	r := p.owner.do("POST", "AccessPolicy", `{"resourceType":"AccessPolicy","name":"Everything","resource":[{"resourceType":"*"}]}`)
	if r.status != 201 {
		t.Fatalf("create AccessPolicy: %d %s", r.status, r.raw)
	}
	r = p.owner.do("POST", "/admin/projects/:projectId/invite", `{"resourceType":"Practitioner","firstName":"Mona","lastName":"Member",
		"email":"`+email+`","password":"member-password-1","sendEmail":false,
		"membership":{"accessPolicy":{"reference":"AccessPolicy/`+r.body["id"].(string)+`"}}}`)
	if r.status != 200 || field(r.body, "admin") == true {
		t.Fatalf("invite a member: %d %s", r.status, r.raw)
	}
	token := signIn(t, srv, email, "member-password-1")["access_token"].(string)
	return fhirClient{t: t, base: srv.URL, project: p.id, authz: "Bearer " + token}
}

// signIn logs email in with PKCE plain "xyz" and returns the token reply.
func signIn(t *testing.T, srv *httptest.Server, email, password string) map[string]any {
	t.Helper()
	status, login := postJSON(t, srv, "/auth/login", "", map[string]any{
		"email": email, "password": password, "scope": "openid offline", "codeChallenge": "xyz", "codeChallengeMethod": "plain",
	})
	if status != 200 {
		t.Fatalf("login %s: %d %v", email, status, login)
	}
	return tokenGrant(t, srv, url.Values{"grant_type": {"authorization_code"}, "code": {login["code"].(string)}, "code_verifier": {"xyz"}})
}

// withVersions is f plus one entry per reference in refs (versions that
// were there before f was loaded).
func withVersions(f fixture, refs []string) fixture {
	out := maps.Clone(f)
	for i, ref := range refs {
		out[fmt.Sprintf("identity-%d", i)] = ref
	}
	return out
}

// adminWalls: the admin API acts in the caller's own project whatever the
// path names. Another project's membership is 404 to read, update or
// delete; an invite into A's id lands in B; a plain member gets the same
// 403 for every project id.
func adminWalls(t *testing.T, pa, pb tokenProject, bAdmin, bMember fhirClient) {
	me := pa.owner.mustGet("/auth/me")
	memberA, _ := field(me.body, "membership", "id").(string)
	if memberA == "" {
		t.Fatalf("A's /auth/me has no membership: %s", me.raw)
	}
	beforeA := pa.owner.mustGet("/admin/projects/" + pa.id + "/members/" + memberA)

	if r := bAdmin.get("/admin/projects/" + pa.id); r.status != 200 || field(r.body, "project", "id") != pb.id {
		t.Errorf("B's admin GET A's project: %d %s, want B's own project", r.status, r.raw)
	}
	path := "/admin/projects/" + pa.id + "/members/" + memberA
	for _, req := range []struct{ method, body string }{
		{"GET", ""},
		{"POST", string(beforeA.raw)},
		{"DELETE", ""},
	} {
		if r := bAdmin.do(req.method, path, req.body); r.status != 404 || !isOutcome(r.body) {
			t.Errorf("B's admin %s %s: %d %s, want 404", req.method, path, r.status, r.raw)
		}
	}
	if after := pa.owner.mustGet(path); field(after.body, "meta", "versionId") != field(beforeA.body, "meta", "versionId") {
		t.Errorf("A's membership changed: %s", after.raw)
	}

	r := bAdmin.do("POST", "/admin/projects/"+pa.id+"/invite", `{"resourceType":"Practitioner","firstName":"Nell","lastName":"Newcomer",
		"email":"newcomer@example.com","sendEmail":false}`)
	if r.status != 200 || field(r.body, "project", "reference") != "Project/"+pb.id {
		t.Errorf("B's admin invites into A's id: %d %s, want a membership of B", r.status, r.raw)
	}

	for _, id := range []string{pa.id, pb.id} {
		if r := bMember.get("/admin/projects/" + id); r.status != 403 {
			t.Errorf("B's member GET /admin/projects/%s: %d, want 403 as for any project", id, r.status)
		}
		if r := bMember.get("/admin/projects/" + id + "/members/" + memberA); r.status != 403 {
			t.Errorf("B's member GET A's membership through %s: %d, want 403 as for any membership", id, r.status)
		}
	}
}

// meWalls: /auth/me shows B's callers their project and nothing of A's
// (the walled strings are checked on every answer).
func meWalls(t *testing.T, pb tokenProject, callers ...fhirClient) {
	for _, b := range callers {
		r := b.mustGet("/auth/me")
		if field(r.body, "project", "id") != pb.id {
			t.Errorf("/auth/me as a caller of B: project %v", field(r.body, "project"))
		}
	}
}

// tokenWalls: A's authorization code and refresh token do not work with
// B's client, and the errors name nothing of A.
func tokenWalls(t *testing.T, srv *httptest.Server, pa tokenProject, bAdmin fhirClient, walled []string) {
	r := bAdmin.do("POST", "/admin/projects/:projectId/client", `{"name":"Bisonian Service"}`)
	if r.status != 201 && r.status != 200 {
		t.Fatalf("create B's client: %d %s", r.status, r.raw)
	}
	clientID, secret := r.body["id"].(string), r.body["secret"].(string)
	anon := fhirClient{t: t, base: srv.URL, walled: walled}
	form := "application/x-www-form-urlencoded"

	status, login := postJSON(t, srv, "/auth/login", "", map[string]any{
		"email": pa.email, "password": ownerPassword, "scope": "openid offline", "codeChallenge": "xyz", "codeChallengeMethod": "plain",
	})
	if status != 200 {
		t.Fatalf("A's login: %d %v", status, login)
	}
	code := login["code"].(string)
	for name, v := range map[string]url.Values{
		"A's code with B's client id":     {"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {"xyz"}, "client_id": {clientID}},
		"A's code with B's client secret": {"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {"xyz"}, "client_id": {clientID}, "client_secret": {secret}},
	} {
		if r := anon.do("POST", "/oauth2/token", v.Encode(), "Content-Type", form); r.status != 400 || r.body["error"] == nil {
			t.Errorf("%s: %d %s, want a 400 OAuth error", name, r.status, r.raw)
		}
	}
	refresh, _ := signIn(t, srv, pa.email, ownerPassword)["refresh_token"].(string)
	if refresh == "" {
		t.Fatal("A's owner got no refresh token")
	}
	v := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}}
	if r := anon.do("POST", "/oauth2/token", v.Encode(), "Content-Type", form, "Authorization", "Basic "+base64Std(clientID+":"+secret)); r.status != 400 || r.body["error"] == nil {
		t.Errorf("A's refresh token with B's client: %d %s, want a 400 OAuth error", r.status, r.raw)
	}
}

// superAdminAcross: the super admin reads every project's resources and
// creates in another project by naming it in meta.project.
func superAdminAcross(t *testing.T, srv *httptest.Server, a fhirClient, fa fixture, b fhirClient, fb fixture) {
	email, password := superAdmin()
	token := signIn(t, srv, email, password)["access_token"].(string)
	super := fhirClient{t: t, base: srv.URL, authz: "Bearer " + token}
	for _, ref := range []string{fa.ref("pat-ann"), fb.ref("pat-ann")} {
		super.mustGet(ref)
	}
	r := super.do("POST", "Patient", `{"resourceType":"Patient","meta":{"project":"`+a.project+`"},"name":[{"family":"Placed"}]}`)
	if r.status != 201 {
		t.Fatalf("super admin creates in A: %d %s", r.status, r.raw)
	}
	id := r.body["id"].(string)
	if got := a.get("Patient/" + id); got.status != 200 {
		t.Errorf("A reads the patient the super admin placed in A: %d", got.status)
	}
	if got := b.get("Patient/" + id); got.status != 404 {
		t.Errorf("B reads the patient the super admin placed in A: %d", got.status)
	}
	if r := super.get("/admin/projects/" + a.project); r.status != 200 || field(r.body, "project", "id") != a.project {
		t.Errorf("super admin GET /admin/projects/<A>: %d %s", r.status, r.raw)
	}
}
