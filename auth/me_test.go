package auth

import (
	"context"
	"encoding/base64"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

func menuTitles(config map[string]any) []string {
	var out []string
	menu, _ := config["menu"].([]any)
	for _, m := range menu {
		out = append(out, m.(map[string]any)["title"].(string))
	}
	return out
}

func TestMeShape(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newTokFixture(t, st)
		setMembership(t, f, func(m map[string]any) { m["admin"] = true })
		var pm map[string]any
		f.s.readJSON(context.Background(), "Project", f.project.ID, &pm)
		pm["secret"] = []any{map[string]any{"name": "api", "valueString": "s3cret"}}
		pm["setting"] = []any{map[string]any{"name": "color", "valueString": "blue"}}
		if _, err := f.s.writeSystem(context.Background(), f.project.ID, "Project", f.project.ID, pm); err != nil {
			t.Fatal(err)
		}
		reply := f.accessToken(t)
		w := f.get(t, "/auth/me", reply["access_token"].(string))
		if w.Code != 200 {
			t.Fatalf("/auth/me: %d %s", w.Code, w.Body)
		}
		if strings.Contains(w.Body.String(), `"passwordHash":`) {
			t.Errorf("/auth/me shows passwordHash: %s", w.Body)
		}
		me := decodeMap(t, w)
		for _, k := range []string{"user", "project", "membership", "profile", "config", "accessPolicy", "security"} {
			if _, ok := me[k].(map[string]any); !ok {
				t.Errorf("%s missing: %v", k, me[k])
			}
		}
		user := me["user"].(map[string]any)
		if user["resourceType"] != "User" || user["id"] != f.user.ID || user["email"] != "alice@example.com" {
			t.Errorf("user = %v", user)
		}
		project := me["project"].(map[string]any)
		if project["id"] != f.project.ID || project["name"] != "Alice Project" || project["superAdmin"] != false || project["strictMode"] != true {
			t.Errorf("project = %v", project)
		}
		for _, k := range []string{"setting", "secret", "systemSecret", "link", "owner"} {
			if _, ok := project[k]; ok {
				t.Errorf("project shows %s to a member", k)
			}
		}
		membership := me["membership"].(map[string]any)
		if membership["id"] != f.member.ID || membership["admin"] != true || membership["resourceType"] != "ProjectMembership" {
			t.Errorf("membership = %v", membership)
		}
		profile := me["profile"].(map[string]any)
		if profile["resourceType"] != "Practitioner" || "Practitioner/"+profile["id"].(string) != f.member.Profile.Reference {
			t.Errorf("profile = %v", profile)
		}
		if got := strings.Join(menuTitles(me["config"].(map[string]any)), ","); got != "Favorites,Admin" {
			t.Errorf("menus = %s", got)
		}
		if me["accessPolicy"].(map[string]any)["resourceType"] != "AccessPolicy" {
			t.Errorf("accessPolicy = %v", me["accessPolicy"])
		}
		security := me["security"].(map[string]any)
		_, claims := claimsOf(t, reply["access_token"].(string))
		sessions, _ := security["sessions"].([]any)
		found := false
		for _, s := range sessions {
			found = found || s.(map[string]any)["id"] == claims["login_id"]
		}
		if security["mfaEnrolled"] != false || !found {
			t.Errorf("security = %v, want this login among the sessions", security)
		}

		// A client acting with Basic credentials has no user and no sessions.
		r := httptest.NewRequest("GET", "/auth/me", nil)
		r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(f.client.ID+":"+f.client.Secret)))
		cw := httptest.NewRecorder()
		f.h.ServeHTTP(cw, r)
		client := decodeMap(t, cw)
		if cw.Code != 200 || client["user"] != nil || client["security"] != nil || strings.Contains(cw.Body.String(), f.client.Secret) {
			t.Errorf("client /auth/me: %d %s", cw.Code, cw.Body)
		}
		if got := strings.Join(menuTitles(client["config"].(map[string]any)), ","); got != "Favorites" {
			t.Errorf("client menus = %s", got)
		}
		if w := f.get(t, "/auth/me", ""); w.Code != 401 || decodeMap(t, w)["id"] != "unauthorized" {
			t.Errorf("/auth/me without a token: %d %s", w.Code, w.Body)
		}
	})
}

// setMembership edits the fixture member's stored membership.
func setMembership(t *testing.T, f *tokFixture, edit func(m map[string]any)) {
	t.Helper()
	var m map[string]any
	if _, err := f.s.readJSON(context.Background(), "ProjectMembership", f.member.ID, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	if _, err := f.s.writeSystem(context.Background(), f.project.ID, "ProjectMembership", f.member.ID, m); err != nil {
		t.Fatal(err)
	}
}

// Callers are cached, yet every identity write shows on the next request:
// the store's commit hook drops what the write may change.
func TestCacheInvalidation(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, st *store.Store) {
		f := newTokFixture(t, st)
		st.OnCommit(func(_ context.Context, written []*ward.Resource) { f.s.Invalidate(written) })
		tok := f.accessToken(t)["access_token"].(string)
		p, err := f.authenticate(tok)
		if err != nil || p.Admin {
			t.Fatalf("first request: %+v %v", p, err)
		}
		if f.s.cache.get(bearerKey(tok), f.now) == nil {
			t.Fatal("caller not cached")
		}

		setMembership(t, f, func(m map[string]any) { m["admin"] = true })
		if p, err := f.authenticate(tok); err != nil || !p.Admin {
			t.Errorf("after admin flag set: %+v %v", p, err)
		}

		link := ward.NewID()
		if _, err := f.s.writeSystem(context.Background(), link, "Project", link, &Project{ResourceType: "Project", Name: "Shared", ExportedResourceType: []string{"Questionnaire"}}); err != nil {
			t.Fatal(err)
		}
		var pm map[string]any
		f.s.readJSON(context.Background(), "Project", f.project.ID, &pm)
		pm["link"] = []any{map[string]any{"project": map[string]any{"reference": "Project/" + link}}, map[string]any{"project": map[string]any{"reference": "Project/" + ward.NewID()}}}
		if _, err := f.s.writeSystem(context.Background(), f.project.ID, "Project", f.project.ID, pm); err != nil {
			t.Fatal(err)
		}
		p, _ = f.authenticate(tok)
		if p == nil || strings.Join(p.ReadProjects, ",") != link+","+ward.R4ProjectID || strings.Join(p.ReadProjectTypes[link], ",") != "Questionnaire" {
			t.Errorf("after linking: %+v (missing link ignored, R4 last)", p)
		}

		setMembership(t, f, func(m map[string]any) { m["active"] = false })
		if _, err := f.authenticate(tok); ward.ErrorCode(err) != ward.EUNAUTHORIZED {
			t.Errorf("inactive membership: %v, want 401", err)
		}
		setMembership(t, f, func(m map[string]any) { m["active"] = true })
		if _, err := f.authenticate(tok); err != nil {
			t.Errorf("reactivated membership: %v", err)
		}

		// Revocation written directly to the store (no auth code path).
		_, claims := claimsOf(t, tok)
		var login map[string]any
		f.s.readJSON(context.Background(), "Login", claims["login_id"].(string), &login)
		login["revoked"] = true
		if _, err := f.s.writeSystem(context.Background(), ward.SystemProjectID, "Login", claims["login_id"].(string), login); err != nil {
			t.Fatal(err)
		}
		if _, err := f.authenticate(tok); ward.ErrorCode(err) != ward.EUNAUTHORIZED {
			t.Errorf("revoked login: %v, want 401", err)
		}
	})
}

// Without the hook a cached caller survives a change: the hook is what
// makes changes visible (this guards the test above from passing by
// accident).
func TestCacheServesWithoutReading(t *testing.T) {
	f := newTokFixture(t, storetest.OpenSQLite(t))
	tok := f.accessToken(t)["access_token"].(string)
	if _, err := f.authenticate(tok); err != nil {
		t.Fatal(err)
	}
	setMembership(t, f, func(m map[string]any) { m["admin"] = true })
	if p, _ := f.authenticate(tok); p == nil || p.Admin {
		t.Errorf("cached caller re-read the membership: %+v", p)
	}
	f.s.Invalidate([]*ward.Resource{{Type: "ProjectMembership", ID: f.member.ID}})
	if p, _ := f.authenticate(tok); p == nil || !p.Admin {
		t.Errorf("after Invalidate: %+v", p)
	}
}
