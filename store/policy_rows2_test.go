package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/access"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestPolicyRows runs the spec 6 rows not covered by the tests above,
// one subtest per row, on both engines.
func TestPolicyRows(t *testing.T) {
	rows := []struct {
		name string
		run  func(t *testing.T, s *store.Store, proj string)
	}{
		{"row 16 readonlyFields [name]: a new name is dropped, active kept", row16},
		{"rows 17-19 readonlyFields [identifier]: dropped on create, not addable, kept when omitted", rows17to19},
		{"rows 20-21 hiddenFields [name] and [subject.display] on read and history", rows20to21},
		{"row 25 criteria with a system|value identifier: read and history", row25},
		{"row 27 overlapping readonly and rw entries", row27},
		{"row 28 one policy twice with %patient.id", row28},
		{"row 29 valueString parameter in criteria", row29},
		{"row 39 empty policy still reads definitions, never writes them", row39},
		{"row 48 two policies on Device: reads union, search by the search entry only", row48},
		{"row 50 patient/*.crud confines to the login's patient", row50},
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			storetest.ForEach(t, func(t *testing.T, s *store.Store) { r.run(t, s, uuid.NewString()) })
		})
	}
}

func policyRead(t *testing.T, s *store.Store, ctx context.Context, typ, id string) *ward.Resource {
	t.Helper()
	res, err := s.Read(ctx, typ, id)
	if err != nil {
		t.Fatalf("read %s/%s: %v", typ, id, err)
	}
	return res
}

func row16(t *testing.T, s *store.Store, proj string) {
	pat := sysCreate(t, s, proj, "Patient", `{"name":[{"family":"Old"}]}`)
	ctx := memberCtx(proj, onePolicy(t, `[{"resourceType":"Patient","readonlyFields":["name"]}]`))
	res, _, err := update(s, ctx, "Patient", pat.ID, `{"resourceType":"Patient","id":"`+pat.ID+`","name":[{"family":"New"}],"active":true}`, "")
	if err != nil || !strings.Contains(string(res.Content), "Old") || strings.Contains(string(res.Content), "New") || !has(res.Content, "active") {
		t.Errorf("update = %v %s, want name Old kept and active set", err, res.Content)
	}
}

func rows17to19(t *testing.T, s *store.Store, proj string) {
	ctx := memberCtx(proj, onePolicy(t, `[{"resourceType":"Patient","readonlyFields":["identifier"]}]`))
	created, err := tryCreate(s, ctx, "Patient", `{"resourceType":"Patient","identifier":[{"value":"i17"}]}`)
	if err != nil || has(created.Content, "identifier") {
		t.Errorf("row 17 create = %v %s, want 201 without identifier", err, created.Content)
	}
	bare := sysCreate(t, s, proj, "Patient", `{}`)
	res, _, err := update(s, ctx, "Patient", bare.ID, `{"resourceType":"Patient","id":"`+bare.ID+`","identifier":[{"value":"i18"}]}`, "")
	if err != nil || has(res.Content, "identifier") {
		t.Errorf("row 18 update = %v %s, want identifier absent", err, res.Content)
	}
	if found, err := trySearch(s, ctx, "Patient", "identifier=i18"); err != nil || len(found.Matches) != 0 {
		t.Errorf("row 18 search = %v %v, want none", err, found)
	}
	kept := sysCreate(t, s, proj, "Patient", `{"identifier":[{"value":"i19"}]}`)
	res, _, err = update(s, ctx, "Patient", kept.ID, `{"resourceType":"Patient","id":"`+kept.ID+`","active":true}`, "")
	if err != nil || !strings.Contains(string(res.Content), "i19") {
		t.Errorf("row 19 update = %v %s, want identifier preserved", err, res.Content)
	}
	if found, err := trySearch(s, ctx, "Patient", "identifier=i19"); err != nil || len(found.Matches) != 1 {
		t.Errorf("row 19 search = %v %v, want it found", err, found)
	}
}

func rows20to21(t *testing.T, s *store.Store, proj string) {
	pat := sysCreate(t, s, proj, "Patient", `{"name":[{"family":"Hidden"}],"active":true}`)
	obs := sysCreate(t, s, proj, "Observation", `{"status":"final","code":{"text":"x"},"subject":{"reference":"Patient/`+pat.ID+`","display":"Secret"}}`)
	bare := sysCreate(t, s, proj, "Observation", `{"status":"final","code":{"text":"y"},"subject":{"reference":"Patient/`+pat.ID+`"}}`)
	ctx := memberCtx(proj, onePolicy(t, `[{"resourceType":"Patient","hiddenFields":["name"]},{"resourceType":"Observation","hiddenFields":["subject.display"]}]`))
	if res := policyRead(t, s, ctx, "Patient", pat.ID); has(res.Content, "name") || !has(res.Content, "active") {
		t.Errorf("row 20 read = %s, want no name", res.Content)
	}
	h, err := s.History(ctx, ward.HistoryQuery{ResourceType: "Patient", ID: pat.ID})
	if err != nil || len(h.Versions) == 0 || has(h.Versions[0].Content, "name") {
		t.Errorf("row 20 history = %v %v, want no name", err, h)
	}
	res := policyRead(t, s, ctx, "Observation", obs.ID)
	if strings.Contains(string(res.Content), "Secret") || !strings.Contains(string(res.Content), "Patient/"+pat.ID) {
		t.Errorf("row 21 read = %s, want reference kept and display gone", res.Content)
	}
	policyRead(t, s, ctx, "Observation", bare.ID)
	if h, err := s.History(ctx, ward.HistoryQuery{ResourceType: "Observation", ID: obs.ID}); err != nil || strings.Contains(string(h.Versions[0].Content), "Secret") {
		t.Errorf("row 21 history = %v, want display gone", err)
	}
}

func row25(t *testing.T, s *store.Store, proj string) {
	q := sysCreate(t, s, proj, "Questionnaire", `{"status":"active","identifier":[{"system":"https://example.com","value":"v25"}]}`)
	ctx := memberCtx(proj, onePolicy(t, `[{"resourceType":"Questionnaire","criteria":"Questionnaire?identifier=https://example.com|v25"}]`))
	policyRead(t, s, ctx, "Questionnaire", q.ID)
	if h, err := s.History(ctx, ward.HistoryQuery{ResourceType: "Questionnaire", ID: q.ID}); err != nil || len(h.Versions) != 1 {
		t.Errorf("history = %v %v, want allowed", err, h)
	}
}

func row27(t *testing.T, s *store.Store, proj string) {
	ctx := memberCtx(proj, onePolicy(t, `[{"resourceType":"ServiceRequest","readonly":true},{"resourceType":"ServiceRequest","criteria":"ServiceRequest?status=active"}]`))
	sr := func(id, status string) string {
		idField := ""
		if id != "" {
			idField = `"id":"` + id + `",`
		}
		return `{"resourceType":"ServiceRequest",` + idField + `"status":"` + status + `","intent":"order","subject":{"reference":"Patient/x"},"note":[{"text":"` + uuid.NewString() + `"}]}`
	}
	created, err := tryCreate(s, ctx, "ServiceRequest", sr("", "active"))
	if err != nil {
		t.Fatalf("create active: %v", err)
	}
	id := created.ID
	if _, _, err := update(s, ctx, "ServiceRequest", id, sr(id, "active"), ""); err != nil {
		t.Errorf("update active: %v", err)
	}
	if _, _, err := update(s, ctx, "ServiceRequest", id, sr(id, "completed"), ""); code(err) != ward.EFORBIDDEN {
		t.Errorf("move to completed = %s, want forbidden", code(err))
	}
	if _, _, err := update(s, as(proj), "ServiceRequest", id, sr(id, "completed"), ""); err != nil {
		t.Fatalf("admin completes: %v", err)
	}
	policyRead(t, s, ctx, "ServiceRequest", id)
	if _, _, err := update(s, ctx, "ServiceRequest", id, sr(id, "completed"), ""); code(err) != ward.EFORBIDDEN {
		t.Errorf("update completed = %s, want forbidden", code(err))
	}
}

func row28(t *testing.T, s *store.Store, proj string) {
	p1 := sysCreate(t, s, proj, "Patient", `{}`)
	p2 := sysCreate(t, s, proj, "Patient", `{}`)
	p3 := sysCreate(t, s, proj, "Patient", `{}`)
	entry := func(id string) string {
		return `{"policy":{"reference":"AccessPolicy/a"},"parameter":[{"name":"patient","valueReference":{"reference":"Patient/` + id + `"}}]}`
	}
	pol := policyOf(t, `{"id":"`+proj+`"}`, `{"access":[`+entry(p1.ID)+`,`+entry(p2.ID)+`]}`,
		map[string]string{"AccessPolicy/a": `{"resource":[{"resourceType":"Patient","criteria":"Patient?_id=%patient.id"}]}`})
	ctx := memberCtx(proj, pol)
	for id, want := range map[string]string{p1.ID: "ok", p2.ID: "ok", p3.ID: ward.ENOTFOUND} {
		if _, err := s.Read(ctx, "Patient", id); code(err) != want {
			t.Errorf("read = %s, want %s", code(err), want)
		}
	}
}

func row29(t *testing.T, s *store.Store, proj string) {
	accepted := sysCreate(t, s, proj, "Task", `{"status":"accepted","intent":"order"}`)
	completed := sysCreate(t, s, proj, "Task", `{"status":"completed","intent":"order"}`)
	pol := policyOf(t, `{"id":"`+proj+`"}`, `{"access":[{"policy":{"reference":"AccessPolicy/a"},"parameter":[{"name":"status","valueString":"accepted"}]}]}`,
		map[string]string{"AccessPolicy/a": `{"resource":[{"resourceType":"Task","criteria":"Task?status=%status"}]}`})
	ctx := memberCtx(proj, pol)
	if _, err := s.Read(ctx, "Task", accepted.ID); err != nil {
		t.Errorf("read accepted: %v", err)
	}
	if _, err := s.Read(ctx, "Task", completed.ID); code(err) != ward.ENOTFOUND {
		t.Errorf("read completed = %s, want not-found", code(err))
	}
}

func row39(t *testing.T, s *store.Store, proj string) {
	sd := sysCreate(t, s, ward.R4ProjectID, "StructureDefinition", `{"url":"http://example.com/sd/`+proj+`","name":"X","status":"active","kind":"resource","abstract":false,"type":"Patient"}`)
	ctx := memberCtx(proj, onePolicy(t, `[]`))
	found, err := trySearch(s, ctx, "StructureDefinition", "url=http://example.com/sd/"+proj)
	if err != nil || len(found.Matches) != 1 {
		t.Errorf("search StructureDefinition = %v %v, want the R4 definition", err, found)
	}
	cur := policyRead(t, s, ctx, "StructureDefinition", sd.ID)
	if _, _, err := update(s, ctx, "StructureDefinition", sd.ID, string(cur.Content), ""); code(err) != ward.EFORBIDDEN {
		t.Errorf("update = %s, want forbidden", code(err))
	}
	if err := tryDelete(s, ctx, "StructureDefinition", sd.ID); code(err) != ward.EFORBIDDEN {
		t.Errorf("delete = %s, want forbidden", code(err))
	}
}

func row48(t *testing.T, s *store.Store, proj string) {
	match := sysCreate(t, s, proj, "Device", `{"identifier":[{"value":"d48"}]}`)
	other := sysCreate(t, s, proj, "Device", `{"identifier":[{"value":"zz"}]}`)
	pol := policyOf(t, `{"id":"`+proj+`"}`, `{"access":[{"policy":{"reference":"AccessPolicy/a"}},{"policy":{"reference":"AccessPolicy/b"},"parameter":[{"name":"identifier","valueString":"d48"}]}]}`,
		map[string]string{
			"AccessPolicy/a": `{"resource":[{"resourceType":"Device","interaction":["read"]}]}`,
			"AccessPolicy/b": `{"resource":[{"resourceType":"Device","criteria":"Device?identifier=%identifier","interaction":["search","read"]}]}`,
		})
	ctx := memberCtx(proj, pol)
	policyRead(t, s, ctx, "Device", match.ID)
	policyRead(t, s, ctx, "Device", other.ID)
	found, err := trySearch(s, ctx, "Device", "")
	if err != nil || len(found.Matches) != 1 || found.Matches[0].ID != match.ID {
		t.Errorf("search = %v %v, want only the matching device", err, found)
	}
}

func row50(t *testing.T, s *store.Store, proj string) {
	mine := sysCreate(t, s, proj, "Patient", `{}`)
	theirs := sysCreate(t, s, proj, "Patient", `{}`)
	c1 := sysCreate(t, s, proj, "Condition", `{"subject":{"reference":"Patient/`+mine.ID+`"}}`)
	c2 := sysCreate(t, s, proj, "Condition", `{"subject":{"reference":"Patient/`+theirs.ID+`"}}`)
	pol, _, err := access.Build(access.Input{
		Project:    jsonTree(t, `{"id":"`+proj+`"}`),
		Membership: jsonTree(t, `{"profile":{"reference":"Patient/`+mine.ID+`"},"accessPolicy":{"reference":"AccessPolicy/a"}}`),
		Policies:   map[string]map[string]any{"AccessPolicy/a": jsonTree(t, `{"resource":[{"resourceType":"Condition","interaction":["create","read"]}]}`)},
		Scope:      "openid launch/patient patient/*.crud",
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := memberCtx(proj, pol)
	if _, err := s.Read(ctx, "Condition", c1.ID); err != nil {
		t.Errorf("read own Condition: %v", err)
	}
	if _, err := s.Read(ctx, "Condition", c2.ID); code(err) != ward.ENOTFOUND {
		t.Errorf("read another patient's Condition = %s, want not-found", code(err))
	}
}
