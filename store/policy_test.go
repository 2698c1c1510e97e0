package store_test

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/access"
	"github.com/wardhealth/ward/search"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

func sysCtx() context.Context {
	return ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal())
}

// sysCreate writes body into project as the system principal.
func sysCreate(t testing.TB, s *store.Store, project, typ, body string) *ward.Resource {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatal(err)
	}
	m["resourceType"] = typ
	m["meta"] = map[string]any{"project": project}
	data, _ := json.Marshal(m)
	return create(t, s, sysCtx(), typ, string(data))
}

// policyOf builds the effective policy of a membership with access.Build.
func policyOf(t testing.TB, project, membership string, policies map[string]string) *ward.Policy {
	t.Helper()
	in := access.Input{Project: jsonTree(t, project), Membership: jsonTree(t, membership), Policies: map[string]map[string]any{}}
	for ref, body := range policies {
		in.Policies[ref] = jsonTree(t, body)
	}
	p, _, err := access.Build(in)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func jsonTree(t testing.TB, s string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
	return m
}

// onePolicy is the policy of a member whose membership names one
// AccessPolicy with the given resource entries.
func onePolicy(t *testing.T, resources string) *ward.Policy {
	return policyOf(t, `{"id":"x"}`, `{"profile":{"reference":"Practitioner/me"},"accessPolicy":{"reference":"AccessPolicy/a"}}`,
		map[string]string{"AccessPolicy/a": `{"resource":` + resources + `}`})
}

func memberCtx(project string, pol *ward.Policy) context.Context {
	return ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: project, Author: "Practitioner/me", Policy: pol})
}

func tryCreate(s *store.Store, ctx context.Context, typ, body string) (*ward.Resource, error) {
	var res *ward.Resource
	err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
		var err error
		res, err = tx.Create(ctx, typ, []byte(body))
		return err
	})
	return res, err
}

func tryDelete(s *store.Store, ctx context.Context, typ, id string) error {
	return s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error { return tx.Delete(ctx, typ, id) })
}

func trySearch(s *store.Store, ctx context.Context, typ, query string) (*ward.SearchResult, error) {
	v, err := url.ParseQuery(query)
	if err != nil {
		return nil, err
	}
	q, err := search.Parse(typ, v)
	if err != nil {
		return nil, err
	}
	return s.Search(ctx, q)
}

// code names an outcome the way a client sees it.
func code(err error) string {
	if err == nil {
		return "ok"
	}
	return ward.ErrorCode(err)
}

func has(content []byte, member string) bool {
	return strings.Contains(string(content), `"`+member+`"`)
}

// TestProtectedTypes: only the system principal touches Login,
// JsonWebKey and DomainConfiguration, whatever the caller's policy.
func TestProtectedTypes(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		login := sysCreate(t, s, proj, "Login", `{"user":{"reference":"User/x"},"authMethod":"password","authTime":"2026-01-01T00:00:00Z"}`)
		for name, ctx := range map[string]context.Context{
			"no policy":  as(proj),
			"* policy":   memberCtx(proj, policyOf(t, `{}`, `{}`, nil)),
			"names them": memberCtx(proj, onePolicy(t, `[{"resourceType":"Login"},{"resourceType":"JsonWebKey"}]`)),
		} {
			if _, err := s.Read(ctx, "Login", login.ID); code(err) != ward.EFORBIDDEN {
				t.Errorf("%s: read Login = %s, want forbidden", name, code(err))
			}
			if _, err := trySearch(s, ctx, "Login", ""); code(err) != ward.EFORBIDDEN {
				t.Errorf("%s: search Login = %s, want forbidden", name, code(err))
			}
			if _, err := tryCreate(s, ctx, "JsonWebKey", `{"resourceType":"JsonWebKey"}`); code(err) != ward.EFORBIDDEN {
				t.Errorf("%s: create JsonWebKey = %s, want forbidden", name, code(err))
			}
		}
		if _, err := s.Read(sysCtx(), "Login", login.ID); err != nil {
			t.Errorf("system read Login: %v", err)
		}
	})
}

// TestAccessPolicyInteractions: rows 14/86 (AP [Patient]), 46 (Condition
// [create, read]), 3 (readonly), 1-2 (no entries) and admin types for a
// regular member with "*".
func TestAccessPolicyInteractions(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		pat := sysCreate(t, s, proj, "Patient", `{"active":true}`)
		cond := sysCreate(t, s, proj, "Condition", `{"subject":{"reference":"Patient/`+pat.ID+`"}}`)
		projRes := sysCreate(t, s, proj, "Project", `{"name":"P"}`)
		cases := []struct {
			name   string
			policy *ward.Policy
			typ    string
			id     string
			want   map[string]string // interaction → outcome
		}{
			{"AP [Patient], Patient", onePolicy(t, `[{"resourceType":"Patient"}]`), "Patient", pat.ID,
				map[string]string{"create": "ok", "read": "ok", "search": "ok", "update": "ok", "history": "ok"}},
			{"AP [Patient], Observation (row 86)", onePolicy(t, `[{"resourceType":"Patient"}]`), "Observation", "",
				map[string]string{"create": ward.EFORBIDDEN, "search": ward.EFORBIDDEN}},
			{"Condition [create, read] (row 46)", onePolicy(t, `[{"resourceType":"Condition","interaction":["create","read"]}]`), "Condition", cond.ID,
				map[string]string{"create": "ok", "read": "ok", "search": ward.EFORBIDDEN, "history": ward.EFORBIDDEN,
					"vread": ward.EFORBIDDEN, "update": ward.EFORBIDDEN, "delete": ward.EFORBIDDEN}},
			{"Patient readonly (row 3)", onePolicy(t, `[{"resourceType":"Patient","readonly":true}]`), "Patient", pat.ID,
				map[string]string{"read": "ok", "update": ward.EFORBIDDEN, "delete": ward.EFORBIDDEN, "create": ward.EFORBIDDEN}},
			{"no entries (rows 1-2)", onePolicy(t, `[]`), "Patient", pat.ID,
				map[string]string{"read": ward.EFORBIDDEN, "search": ward.EFORBIDDEN}},
			{"* member, Project", policyOf(t, `{}`, `{}`, nil), "Project", projRes.ID,
				map[string]string{"read": ward.EFORBIDDEN, "search": ward.EFORBIDDEN, "create": ward.EFORBIDDEN}},
			{"* member, ProjectMembership", policyOf(t, `{}`, `{}`, nil), "ProjectMembership", "",
				map[string]string{"search": ward.EFORBIDDEN, "create": ward.EFORBIDDEN}},
			{"* member, User", policyOf(t, `{}`, `{}`, nil), "User", "",
				map[string]string{"search": ward.EFORBIDDEN, "create": ward.EFORBIDDEN}},
		}
		for _, c := range cases {
			ctx := memberCtx(proj, c.policy)
			for interaction, want := range c.want {
				var err error
				switch interaction {
				case "create":
					body := `{"resourceType":"` + c.typ + `"}`
					if c.typ == "Condition" {
						body = `{"resourceType":"Condition","subject":{"reference":"Patient/` + pat.ID + `"}}`
					}
					_, err = tryCreate(s, ctx, c.typ, body)
				case "read":
					_, err = s.Read(ctx, c.typ, c.id)
				case "vread":
					var cur *ward.Resource
					if cur, err = s.Read(sysCtx(), c.typ, c.id); err == nil {
						_, err = s.VRead(ctx, c.typ, c.id, cur.VersionID)
					}
				case "search":
					_, err = trySearch(s, ctx, c.typ, "")
				case "history":
					_, err = s.History(ctx, ward.HistoryQuery{ResourceType: c.typ, ID: c.id})
				case "update":
					var cur *ward.Resource
					if cur, err = s.Read(sysCtx(), c.typ, c.id); err == nil {
						m := jsonTree(t, string(cur.Content))
						m["language"] = uuid.NewString()[:8]
						body, _ := json.Marshal(m)
						_, _, err = update(s, ctx, c.typ, c.id, string(body), "")
					}
				case "delete":
					err = tryDelete(s, ctx, c.typ, c.id)
				}
				if code(err) != want {
					t.Errorf("%s: %s = %s (%v), want %s", c.name, interaction, code(err), err, want)
				}
			}
		}
	})
}

// TestCriteriaFilterReads: a row the criteria filter out is absent from
// search (counts and includes too) and 404 on read, vread and history,
// never 403 (spec 2.10); hiddenFields leave every output.
func TestCriteriaFilterReads(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		active := sysCreate(t, s, proj, "Patient", `{"active":true,"name":[{"family":"Visible","given":["Ann"]}]}`)
		inactive := sysCreate(t, s, proj, "Patient", `{"active":false,"name":[{"family":"Hidden"}]}`)
		for _, p := range []*ward.Resource{active, inactive} {
			sysCreate(t, s, proj, "Observation", `{"status":"final","code":{"text":"x"},"subject":{"reference":"Patient/`+p.ID+`"}}`)
		}
		pol := onePolicy(t, `[{"resourceType":"Patient","criteria":"Patient?active=true","hiddenFields":["name.family","birthDate"]},
			{"resourceType":"Observation"}]`)
		ctx := memberCtx(proj, pol)

		res, err := trySearch(s, ctx, "Patient", "_total=accurate")
		if err != nil || res.Total != 1 || len(res.Matches) != 1 || res.Matches[0].ID != active.ID {
			t.Fatalf("search Patient: %v total %d matches %v, want only the active one", err, res.Total, ids(res.Matches))
		}
		if has(res.Matches[0].Content, "family") || !has(res.Matches[0].Content, "given") {
			t.Errorf("search match keeps name.family or lost name.given: %s", res.Matches[0].Content)
		}
		res, err = trySearch(s, ctx, "Observation", "_include=Observation:subject&_total=accurate")
		if err != nil || res.Total != 2 || len(res.Included) != 1 || res.Included[0].ID != active.ID {
			t.Fatalf("Observation _include: %v total %d included %v, want 2 matches and only the active patient", err, res.Total, ids(res.Included))
		}
		if has(res.Included[0].Content, "family") {
			t.Errorf("included Patient keeps a hidden field: %s", res.Included[0].Content)
		}
		res, err = trySearch(s, ctx, "Observation", "subject:Patient.name=hidden")
		if err != nil || len(res.Matches) != 0 {
			t.Errorf("chain through a filtered Patient matched %v (%v)", ids(res.Matches), err)
		}
		res, err = trySearch(s, ctx, "Patient", "_has:Observation:subject:status=final")
		if err != nil || len(res.Matches) != 1 {
			t.Errorf("_has: %v %v, want the active patient only", ids(res.Matches), err)
		}

		if _, err := s.Read(ctx, "Patient", inactive.ID); code(err) != ward.ENOTFOUND {
			t.Errorf("read filtered Patient = %s, want not-found", code(err))
		}
		if _, err := s.VRead(ctx, "Patient", inactive.ID, inactive.VersionID); code(err) != ward.ENOTFOUND {
			t.Errorf("vread filtered Patient = %s, want not-found", code(err))
		}
		if _, err := s.History(ctx, ward.HistoryQuery{ResourceType: "Patient", ID: inactive.ID}); code(err) != ward.ENOTFOUND {
			t.Errorf("history of filtered Patient = %s, want not-found", code(err))
		}
		got, err := s.Read(ctx, "Patient", active.ID)
		if err != nil || has(got.Content, "family") {
			t.Errorf("read: %v, hidden field shown: %s", err, got.Content)
		}
		h, err := s.History(ctx, ward.HistoryQuery{ResourceType: "Patient"})
		if err != nil || h.Total != 1 || len(h.Versions) != 1 || has(h.Versions[0].Content, "family") {
			t.Errorf("type history: %v total %d, want one version without name.family", err, h.Total)
		}
		h, err = s.History(ctx, ward.HistoryQuery{})
		if err != nil || h.Total != 3 {
			t.Errorf("system history: %v total %d, want 3 (1 patient, 2 observations)", err, h.Total)
		}
		for _, v := range h.Versions {
			if has(v.Content, "family") {
				t.Errorf("system history shows a hidden field: %s", v.Content)
			}
		}
		if err := tryDelete(s, ctx, "Patient", inactive.ID); code(err) != ward.ENOTFOUND {
			t.Errorf("delete filtered Patient = %s, want not-found", code(err))
		}
	})
}

// TestWriteChecks: rows 4-6 (pre-check on the existing version, post-check
// on the new one, nothing written on failure) and 16-17 (readonlyFields).
func TestWriteChecks(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		pol := onePolicy(t, `[{"resourceType":"ServiceRequest","criteria":"ServiceRequest?status=active"},
			{"resourceType":"ServiceRequest","criteria":"ServiceRequest?status=completed","readonly":true},
			{"resourceType":"Patient","readonlyFields":["name","identifier"]}]`)
		ctx := memberCtx(proj, pol)
		const sr = `{"resourceType":"ServiceRequest","status":"%s","intent":"order","subject":{"reference":"Patient/%s"}}`
		pat := sysCreate(t, s, proj, "Patient", `{"name":[{"family":"Old"}]}`)
		created, err := tryCreate(s, ctx, "ServiceRequest", strings.ReplaceAll(strings.Replace(sr, "%s", "active", 1), "%s", pat.ID))
		if err != nil {
			t.Fatalf("create active ServiceRequest: %v", err)
		}
		completed := strings.Replace(string(created.Content), `"status":"active"`, `"status":"completed"`, 1)
		if _, _, err := update(s, ctx, "ServiceRequest", created.ID, completed, ""); code(err) != ward.EFORBIDDEN {
			t.Errorf("update to completed (post-check) = %s, want forbidden", code(err))
		}
		if got, _ := s.Read(ctx, "ServiceRequest", created.ID); got == nil || !has(got.Content, "active") || got.VersionID != created.VersionID {
			t.Errorf("failed post-check left a write behind: %v", got)
		}
		if _, err := tryCreate(s, ctx, "ServiceRequest", strings.ReplaceAll(strings.Replace(sr, "%s", "completed", 1), "%s", pat.ID)); code(err) != ward.EFORBIDDEN {
			t.Errorf("create completed = %s, want forbidden", code(err))
		}
		if res, _ := trySearch(s, sysCtx(), "ServiceRequest", "status=completed"); res == nil || len(res.Matches) != 0 {
			t.Errorf("a create that failed the post-check was stored")
		}
		done := sysCreate(t, s, proj, "ServiceRequest", strings.ReplaceAll(strings.Replace(sr, "%s", "completed", 1), "%s", pat.ID))
		if _, err := s.Read(ctx, "ServiceRequest", done.ID); err != nil {
			t.Errorf("read completed: %v", err)
		}
		body := strings.Replace(string(done.Content), `"intent":"order"`, `"intent":"plan"`, 1)
		if _, _, err := update(s, ctx, "ServiceRequest", done.ID, body, ""); code(err) != ward.EFORBIDDEN {
			t.Errorf("update completed (pre-check) = %s, want forbidden", code(err))
		}

		upd, _, err := update(s, ctx, "Patient", pat.ID, `{"resourceType":"Patient","id":"`+pat.ID+`","name":[{"family":"New"}],"active":true}`, "")
		if err != nil || !has(upd.Content, "active") || !strings.Contains(string(upd.Content), "Old") || strings.Contains(string(upd.Content), "New") {
			t.Errorf("readonly name on update: %v %s, want name kept and active set", err, upd.Content)
		}
		np, err := tryCreate(s, ctx, "Patient", `{"resourceType":"Patient","identifier":[{"value":"x"}],"gender":"female"}`)
		if err != nil || has(np.Content, "identifier") || !has(np.Content, "gender") {
			t.Errorf("readonly identifier on create: %v %s, want it dropped", err, np.Content)
		}
	})
}

// TestProjectAdmin: rows 30-33 with the synthetic admin rules.
func TestProjectAdmin(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		other := sysCreate(t, s, uuid.NewString(), "Project", `{"name":"Other"}`)
		project := sysCreate(t, s, uuid.NewString(), "Project", `{"name":"Mine","superAdmin":false,"strictMode":true,"features":["bots"],"systemSecret":[{"name":"k","valueString":"v"}]}`)
		pid := project.ID
		sysCreate(t, s, pid, "User", `{"firstName":"A","lastName":"B","email":"a@example.com","passwordHash":"h","project":{"reference":"Project/`+pid+`"}}`)
		sysCreate(t, s, pid, "User", `{"firstName":"A","lastName":"B","email":"b@example.com","passwordHash":"h","project":{"reference":"Project/`+pid+`"}}`)
		sysCreate(t, s, other.ID, "User", `{"firstName":"A","lastName":"B","email":"c@example.com","passwordHash":"h"}`)
		mem := sysCreate(t, s, pid, "ProjectMembership", `{"project":{"reference":"Project/`+pid+`"},"user":{"reference":"User/u"},"profile":{"reference":"Practitioner/p"},"admin":true}`)
		pat := sysCreate(t, s, pid, "Patient", `{}`)
		task := sysCreate(t, s, pid, "Task", `{"status":"draft","intent":"order"}`)

		for _, pol := range map[string]string{
			"AP [Patient] (row 30)":                     `[{"resourceType":"Patient"}]`,
			"AP [*, Project, ProjectMembership] (r 33)": `[{"resourceType":"*"},{"resourceType":"Project"},{"resourceType":"ProjectMembership"}]`,
		} {
			policy := policyOf(t, string(project.Content), `{"admin":true,"accessPolicy":{"reference":"AccessPolicy/a"}}`,
				map[string]string{"AccessPolicy/a": `{"resource":` + pol + `}`})
			ctx := memberCtx(pid, policy)
			if _, err := s.Read(ctx, "Patient", pat.ID); err != nil {
				t.Errorf("read Patient: %v", err)
			}
			got, err := s.Read(ctx, "Project", pid)
			if err != nil || has(got.Content, "superAdmin") || has(got.Content, "strictMode") || has(got.Content, "systemSecret") || !has(got.Content, "features") {
				t.Errorf("read own Project: %v %s, want hidden fields absent", err, got.Content)
			}
			if _, err := s.Read(ctx, "Project", other.ID); code(err) != ward.ENOTFOUND {
				t.Errorf("read another Project = %s, want not-found", code(err))
			}
			if _, err := s.Read(ctx, "ProjectMembership", mem.ID); err != nil {
				t.Errorf("read own membership: %v", err)
			}
			users, err := trySearch(s, ctx, "User", "")
			if err != nil || len(users.Matches) != 2 {
				t.Errorf("search User: %v %v, want the project's 2 users", err, users)
			} else if has(users.Matches[0].Content, "passwordHash") {
				t.Errorf("User passwordHash shown to an admin: %s", users.Matches[0].Content)
			}
			if _, err := s.Read(ctx, "Task", task.ID); policy.Rules[0].ResourceType == "Patient" && code(err) != ward.EFORBIDDEN {
				t.Errorf("read Task = %s, want forbidden", code(err))
			}
			if err := tryDelete(s, ctx, "Project", pid); code(err) != ward.EFORBIDDEN {
				t.Errorf("delete own Project = %s, want forbidden (row 31)", code(err))
			}
			cur, _ := s.Read(sysCtx(), "Project", pid)
			renamed, _, err := update(s, ctx, "Project", pid, strings.Replace(string(cur.Content), `"name":"Mine"`, `"name":"Mine2"`, 1), "")
			if err != nil || !strings.Contains(string(renamed.Content), "Mine2") {
				t.Fatalf("rename own Project: %v", err)
			}
			cur, _ = s.Read(sysCtx(), "Project", pid)
			sneaky := `{"resourceType":"Project","id":"` + pid + `","name":"Mine2","superAdmin":true,"features":["ai"],"systemSetting":[{"name":"x","valueString":"y"}],"link":[{"project":{"reference":"Project/` + other.ID + `"}}]}`
			again, _, err := update(s, ctx, "Project", pid, sneaky, "")
			if err != nil || again.VersionID != cur.VersionID {
				t.Errorf("update of hidden/readonly Project fields: %v, version %v, want a no-op (row 32, 41)", err, again)
			}
			curMem, _ := s.Read(sysCtx(), "ProjectMembership", mem.ID)
			moved := strings.Replace(string(curMem.Content), "Project/"+pid, "Project/"+other.ID, 1)
			// The author changes (the admin writes), the project does not.
			if res, _, err := update(s, ctx, "ProjectMembership", mem.ID, moved, ""); err != nil || strings.Contains(string(res.Content), other.ID) || res.ProjectID != pid {
				t.Errorf("membership.project change: %v, want it kept: %s", err, res.Content)
			}
			if _, err := tryCreate(s, ctx, "Project", `{"resourceType":"Project","name":"New"}`); code(err) != ward.EFORBIDDEN {
				t.Errorf("create another Project = %s, want forbidden", code(err))
			}
			if _, err := tryCreate(s, ctx, "ProjectMembership", `{"resourceType":"ProjectMembership","project":{"reference":"Project/`+other.ID+`"},"user":{"reference":"User/x"},"profile":{"reference":"Practitioner/y"}}`); code(err) != ward.EFORBIDDEN {
				t.Errorf("create membership of another project = %s, want forbidden", code(err))
			}
			// restore the name for the next policy
			cur, _ = s.Read(sysCtx(), "Project", pid)
			update(s, sysCtx(), "Project", pid, strings.Replace(string(cur.Content), "Mine2", "Mine", 1), "")
		}
	})
}

// TestLinkedProjects: rows 40 and 49 and exportedResourceType; the R4
// project's definitions.
func TestLinkedProjects(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		a, b := uuid.NewString(), uuid.NewString()
		patA := sysCreate(t, s, a, "Patient", `{}`)
		obsA := sysCreate(t, s, a, "Observation", `{"status":"final","code":{"text":"x"}}`)
		memA := sysCreate(t, s, a, "ProjectMembership", `{"project":{"reference":"Project/`+a+`"},"user":{"reference":"User/u"},"profile":{"reference":"Practitioner/p"}}`)
		patB := sysCreate(t, s, b, "Patient", `{}`)
		sd := sysCreate(t, s, ward.R4ProjectID, "StructureDefinition", `{"url":"http://x","name":"X","status":"active","kind":"resource","abstract":false,"type":"Patient"}`)
		r4Patient := sysCreate(t, s, ward.R4ProjectID, "Patient", `{}`)

		inA := as(a)
		inB := ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: b, ReadProjects: []string{a}})
		exportsObs := ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: b, ReadProjects: []string{a},
			ReadProjectTypes: map[string][]string{a: {"Observation"}}})
		cases := []struct {
			name string
			ctx  context.Context
			typ  string
			id   string
			want string
		}{
			{"B reads A's Patient", inB, "Patient", patA.ID, "ok"},
			{"A reads B's Patient", inA, "Patient", patB.ID, ward.ENOTFOUND},
			{"B reads A's membership", inB, "ProjectMembership", memA.ID, ward.ENOTFOUND},
			{"A exporting Observation only: Patient", exportsObs, "Patient", patA.ID, ward.ENOTFOUND},
			{"A exporting Observation only: Observation", exportsObs, "Observation", obsA.ID, "ok"},
			{"R4 StructureDefinition", inA, "StructureDefinition", sd.ID, "ok"},
			{"R4 Patient", inA, "Patient", r4Patient.ID, ward.ENOTFOUND},
		}
		for _, c := range cases {
			if _, err := s.Read(c.ctx, c.typ, c.id); code(err) != c.want {
				t.Errorf("%s = %s, want %s", c.name, code(err), c.want)
			}
		}
		if _, _, err := update(s, inB, "Patient", patA.ID, `{"resourceType":"Patient","id":"`+patA.ID+`","active":true}`, ""); code(err) != ward.EFORBIDDEN {
			t.Errorf("B updates A's Patient = %s, want forbidden", code(err))
		}
		if err := tryDelete(s, inB, "Patient", patA.ID); code(err) != ward.EFORBIDDEN {
			t.Errorf("B deletes A's Patient = %s, want forbidden", code(err))
		}
		res, err := trySearch(s, inB, "Patient", "_total=accurate")
		if err != nil || res.Total != 2 {
			t.Errorf("B searches Patient: %v total %d, want its own and A's", err, res.Total)
		}
		res, err = trySearch(s, inB, "ProjectMembership", "")
		if err != nil || len(res.Matches) != 0 {
			t.Errorf("B searches ProjectMembership: %v %v, want none of A's", err, ids(res.Matches))
		}
	})
}

// TestCrossProjectReferences: row 38 — a reference into a project the
// caller cannot read is rejected with or without checkReferencesOnWrite;
// with it, every reference must resolve readable.
func TestCrossProjectReferences(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		p1, p2, linked := uuid.NewString(), uuid.NewString(), uuid.NewString()
		foreign := sysCreate(t, s, p1, "Practitioner", `{}`)
		own := sysCreate(t, s, p2, "Practitioner", `{}`)
		shared := sysCreate(t, s, linked, "Practitioner", `{}`)
		dangling := uuid.NewString()
		serverUser := sysCreate(t, s, ward.SystemProjectID, "User", `{"firstName":"S","lastName":"U","email":"s@example.com"}`)
		patient := func(ref string) string {
			return `{"resourceType":"Patient","generalPractitioner":[{"reference":"` + ref + `"}]}`
		}
		for _, check := range []bool{false, true} {
			ctx := ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: p2, ReadProjects: []string{linked}, CheckReferences: check,
				Policy: policyOf(t, `{}`, `{}`, nil)})
			cases := []struct {
				ref  string
				want string
			}{
				{"Practitioner/" + foreign.ID, ward.ESTRUCTURE},
				{"Practitioner/" + own.ID, "ok"},
				{"Practitioner/" + shared.ID, "ok"},
				{"Practitioner/" + dangling, map[bool]string{false: "ok", true: ward.ESTRUCTURE}[check]},
				{"%patient", "ok"},
				{"User/" + serverUser.ID, map[bool]string{false: "ok", true: ward.ESTRUCTURE}[check]}, // server-scoped: no tenant
			}
			for _, c := range cases {
				_, err := tryCreate(s, ctx, "Patient", patient(c.ref))
				if code(err) != c.want {
					t.Errorf("check=%v %s: %s (%v), want %s", check, c.ref, code(err), err, c.want)
				}
				var e *ward.Error
				if c.want == ward.ESTRUCTURE && err != nil && (!asError(err, &e) || e.Message != "Invalid reference (Not found)" || len(e.Expression) != 1 || e.Expression[0] != "Patient.generalPractitioner[0]") {
					t.Errorf("error = %+v, want Invalid reference (Not found) at Patient.generalPractitioner[0]", err)
				}
			}
		}
		// Updates are checked too.
		member := memberCtx(p2, policyOf(t, `{}`, `{}`, nil))
		mine := create(t, s, member, "Patient", `{"resourceType":"Patient"}`)
		if _, _, err := update(s, member, "Patient", mine.ID, patient("Practitioner/"+foreign.ID), ""); code(err) != ward.ESTRUCTURE {
			t.Errorf("update referencing another project = %s, want structure", code(err))
		}
	})
}

func asError(err error, target **ward.Error) bool {
	e, ok := err.(*ward.Error)
	*target = e
	return ok
}

// TestChainsStayInProject: row 51 — a reference across projects (written
// by the system) never lets a chain or _has match.
func TestChainsStayInProject(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		a, b := uuid.NewString(), uuid.NewString()
		patA := sysCreate(t, s, a, "Patient", `{"name":[{"family":"Across"}]}`)
		sysCreate(t, s, b, "Observation", `{"status":"final","code":{"coding":[{"code":"c1"}]},"subject":{"reference":"Patient/`+patA.ID+`"}}`)
		if res, err := trySearch(s, as(b), "Observation", "code=c1&subject:Patient.name=across"); err != nil || len(res.Matches) != 0 {
			t.Errorf("B chain into A: %v %v, want no match", err, ids(res.Matches))
		}
		if res, err := trySearch(s, as(a), "Patient", "_has:Observation:subject:code=c1"); err != nil || len(res.Matches) != 0 {
			t.Errorf("A _has from B: %v %v, want no match", err, ids(res.Matches))
		}
		if res, err := trySearch(s, as(b), "Observation", "_include=Observation:subject"); err != nil || len(res.Included) != 0 {
			t.Errorf("B includes A's Patient: %v %v", err, res)
		}
	})
}

// TestWriteConstraints: row 26 — FHIRPath constraints with %before and
// %after decide the post-check.
func TestWriteConstraints(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		pat := sysCreate(t, s, proj, "Patient", `{}`)
		for _, criteria := range []string{"", `"criteria":"Observation?_lastUpdated=gt2000-01-01",`} {
			pol := onePolicy(t, `[{"resourceType":"Patient"},{"resourceType":"Observation",`+criteria+`"writeConstraint":[
				{"language":"text/fhirpath","expression":"%before.exists() implies %before.status != 'final'"},
				{"language":"text/fhirpath","expression":"status = 'final' implies subject.exists()"}]}]`)
			ctx := memberCtx(proj, pol)
			obs, err := tryCreate(s, ctx, "Observation", `{"resourceType":"Observation","status":"preliminary","code":{"text":"x"}}`)
			if err != nil {
				t.Fatalf("create preliminary: %v", err)
			}
			body := func(status, subject string) string {
				b := `{"resourceType":"Observation","id":"` + obs.ID + `","status":"` + status + `","code":{"text":"x"}`
				if subject != "" {
					b += `,"subject":{"reference":"Patient/` + subject + `"}`
				}
				return b + "}"
			}
			steps := []struct {
				name, body, want string
			}{
				{"final without subject", body("final", ""), ward.EFORBIDDEN},
				{"final with subject", body("final", pat.ID), "ok"},
				{"cancel a final one", body("cancelled", pat.ID), ward.EFORBIDDEN},
			}
			for _, st := range steps {
				if _, _, err := update(s, ctx, "Observation", obs.ID, st.body, ""); code(err) != st.want {
					t.Errorf("criteria %q, %s = %s (%v), want %s", criteria, st.name, code(err), err, st.want)
				}
			}
			if got, _ := s.Read(sysCtx(), "Observation", obs.ID); got == nil || !strings.Contains(string(got.Content), `"final"`) {
				t.Errorf("criteria %q: stored %s, want the final version", criteria, got.Content)
			}
		}
	})
}

// TestMembershipReferencesWithSystemRights: ProjectMembership.user and
// invitedBy name server-scoped Users; they are checked with system rights,
// with and without checkReferencesOnWrite.
func TestMembershipReferencesWithSystemRights(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := sysCreate(t, s, uuid.NewString(), "Project", `{"name":"P"}`)
		user := sysCreate(t, s, ward.SystemProjectID, "User", `{"firstName":"S","lastName":"U","email":"s@example.com"}`)
		admin := policyOf(t, string(proj.Content), `{"admin":true}`, nil)
		body := `{"resourceType":"ProjectMembership","project":{"reference":"Project/` + proj.ID + `"},"user":{"reference":"User/` + user.ID +
			`"},"invitedBy":{"reference":"User/` + user.ID + `"},"profile":{"reference":"Practitioner/` + uuid.NewString() + `"}}`
		for _, check := range []bool{false, true} {
			ctx := ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: proj.ID, Policy: admin, CheckReferences: check})
			_, err := tryCreate(s, ctx, "ProjectMembership", body)
			want := map[bool]string{false: "ok", true: ward.ESTRUCTURE}[check] // the profile does not exist
			if code(err) != want {
				t.Errorf("check=%v: %s (%v), want %s", check, code(err), err, want)
			}
			if check && err != nil && !strings.Contains(strings.Join(err.(*ward.Error).Expression, ","), "profile") {
				t.Errorf("check=%v: rejected %v, want only the missing profile", check, err.(*ward.Error).Expression)
			}
		}
	})
}

// TestUpdateAsCreate: a PUT to a new id (and a transaction entry with a
// server-chosen id) is a create under the policy: create rights, the
// post-check, and an existing id needs update rights.
func TestUpdateAsCreate(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		pat := sysCreate(t, s, proj, "Patient", `{}`)
		createOnly := memberCtx(proj, onePolicy(t, `[{"resourceType":"Condition","interaction":["create","read"]},
			{"resourceType":"Patient","criteria":"Patient?active=true"}]`))
		id := uuid.NewString()
		body := `{"resourceType":"Condition","id":"` + id + `","subject":{"reference":"Patient/` + pat.ID + `"}}`
		if _, created, err := update(s, createOnly, "Condition", id, body, ""); err != nil || !created {
			t.Errorf("PUT new Condition with create rights: created=%v %v", created, err)
		}
		if _, _, err := update(s, createOnly, "Condition", id, strings.Replace(body, `"subject"`, `"language":"en","subject"`, 1), ""); code(err) != ward.EFORBIDDEN {
			t.Errorf("PUT existing Condition without update rights = %s, want forbidden", code(err))
		}
		pid := uuid.NewString()
		if _, _, err := update(s, createOnly, "Patient", pid, `{"resourceType":"Patient","id":"`+pid+`","active":false}`, ""); code(err) != ward.EFORBIDDEN {
			t.Errorf("PUT new inactive Patient = %s, want forbidden (post-check)", code(err))
		}
		if _, err := s.Read(sysCtx(), "Patient", pid); code(err) != ward.ENOTFOUND {
			t.Errorf("a create that failed the post-check was stored: %s", code(err))
		}
	})
}

// TestHiddenFieldsByMatchingRule: rows 22, 23, 24 and 37 — the hidden
// fields of the first rule a resource matches apply, nested paths walk
// arrays, and hiding meta hides all of it.
func TestHiddenFieldsByMatchingRule(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		final := sysCreate(t, s, proj, "Observation", `{"status":"final","code":{"text":"x"},"valueQuantity":{"value":5,"unit":"mg"}}`)
		prelim := sysCreate(t, s, proj, "Observation", `{"status":"preliminary","code":{"text":"x"},"valueQuantity":{"value":6,"unit":"mg"}}`)
		str := sysCreate(t, s, proj, "Observation", `{"status":"final","code":{"text":"x"},"valueString":"kept"}`)
		pat := sysCreate(t, s, proj, "Patient", `{"name":[{"family":"A","given":["B"]},{"family":"C","given":["D"]}]}`)
		ctx := memberCtx(proj, onePolicy(t, `[
			{"resourceType":"Observation","criteria":"Observation?status=final","hiddenFields":["valueQuantity.value"]},
			{"resourceType":"Observation","criteria":"Observation?status=preliminary"},
			{"resourceType":"Patient","hiddenFields":["name.family","meta"]}]`))
		res, err := trySearch(s, ctx, "Observation", "")
		if err != nil || len(res.Matches) != 3 {
			t.Fatalf("search: %v %v", err, res)
		}
		for _, m := range res.Matches {
			content := string(m.Content)
			switch m.ID {
			case final.ID:
				if strings.Contains(content, `"value":5`) || !strings.Contains(content, `"unit":"mg"`) {
					t.Errorf("final: %s, want value hidden and unit kept", content)
				}
			case prelim.ID:
				if !strings.Contains(content, `"value":6`) {
					t.Errorf("preliminary: %s, want value shown (its rule hides nothing)", content)
				}
			case str.ID:
				if !strings.Contains(content, `"valueString":"kept"`) {
					t.Errorf("valueString: %s, want untouched", content)
				}
			}
		}
		got, err := s.Read(ctx, "Patient", pat.ID)
		if err != nil || strings.Contains(string(got.Content), "family") || strings.Count(string(got.Content), "given") != 2 || has(got.Content, "meta") {
			t.Errorf("patient: %v %s, want both names without family and no meta", err, got.Content)
		}
	})
}

// TestSystemHistoryUnderPolicy: _history across types keeps to what the
// policy grants: "*" criteria (row 45's *?_compartment=), explicit types,
// never the admin types a "*" rule does not grant.
func TestSystemHistoryUnderPolicy(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		pat := sysCreate(t, s, proj, "Patient", `{}`)
		other := sysCreate(t, s, proj, "Patient", `{}`)
		sysCreate(t, s, proj, "Observation", `{"status":"final","code":{"text":"x"},"subject":{"reference":"Patient/`+pat.ID+`"}}`)
		sysCreate(t, s, proj, "Observation", `{"status":"final","code":{"text":"x"},"subject":{"reference":"Patient/`+other.ID+`"}}`)
		sysCreate(t, s, proj, "ProjectMembership", `{"project":{"reference":"Project/`+proj+`"},"user":{"reference":"User/u"},"profile":{"reference":"Practitioner/p"}}`)
		sysCreate(t, s, proj, "Task", `{"status":"draft","intent":"order"}`)
		ctx := memberCtx(proj, onePolicy(t, `[{"resourceType":"*","criteria":"*?_compartment=Patient/`+pat.ID+`"},{"resourceType":"Task"}]`))
		h, err := s.History(ctx, ward.HistoryQuery{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, v := range h.Versions {
			got = append(got, v.Type)
		}
		if h.Total != 3 || len(got) != 3 {
			t.Errorf("history: total %d, types %v, want the patient, its observation and the task", h.Total, got)
		}
		if res, err := s.Read(ctx, "Patient", other.ID); code(err) != ward.ENOTFOUND {
			t.Errorf("read other patient = %s (%v), want not-found (row 45)", code(err), res)
		}
	})
}
