package store_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// richProject fills proj with what a project holds: its Project, a
// policy, a project-scoped User with a password hash, patients with
// Observations updated and deleted, and an audit trail; it returns the
// searches whose answers must survive a restore.
func richProject(t *testing.T, s *store.Store, proj string) []string {
	t.Helper()
	create(t, s, sysCtx(), "Project", fmt.Sprintf(`{"resourceType":"Project","id":%q,"meta":{"project":%q},"name":"Rich"}`, proj, proj))
	if _, _, err := update(s, sysCtx(), "Project", proj, fmt.Sprintf(`{"resourceType":"Project","id":%q,"meta":{"project":%q},"name":"Rich"}`, proj, proj), ""); err != nil {
		t.Fatal(err)
	}
	sysCreate(t, s, proj, "AccessPolicy", `{"name":"Clinicians","resource":[{"resourceType":"Patient"}]}`)
	sysCreate(t, s, proj, "User", fmt.Sprintf(`{"firstName":"Pat","lastName":"Scoped","email":"pat@rich.example","passwordHash":"$2a$10$abcdefghijklmnopqrstuv","project":{"reference":"Project/%s"}}`, proj))
	l := newAuditLog(t, s, store.AuditOptions{})
	var searches []string
	for i := range 12 {
		p := sysCreate(t, s, proj, "Patient", fmt.Sprintf(`{"name":[{"family":"Fam%d","given":["G%d"]}],"gender":%q,"birthDate":"19%02d-01-01"}`, i%4, i, []string{"male", "female"}[i%2], 50+i))
		for j := range 3 {
			o := sysCreate(t, s, proj, "Observation", fmt.Sprintf(`{"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"%d"}]},"subject":{"reference":"Patient/%s"},"effectiveDateTime":"2026-0%d-01","valueQuantity":{"value":%d,"unit":"kg"}}`, 1000+j, p.ID, 1+j, 60+i))
			switch j {
			case 1:
				if _, _, err := update(s, sysCtx(), "Observation", o.ID, strings.Replace(string(o.Content), `"final"`, `"amended"`, 1), ""); err != nil {
					t.Fatal(err)
				}
			case 2:
				if err := tryDelete(s, sysCtx(), "Observation", o.ID); err != nil {
					t.Fatal(err)
				}
			}
			record(t, l, readRecord(proj, o.ID, p.ID))
		}
		searches = append(searches, "Observation?subject=Patient/"+p.ID, "AuditEvent?patient=Patient/"+p.ID)
	}
	for _, q := range []string{
		"Patient?family=Fam1", "Patient?gender=female&_sort=birthdate", "Patient?birthdate=ge1955-01-01",
		"Observation?code=1001", "Observation?status=amended", "Observation?date=ge2026-02-01&_sort=-date",
		"Observation?value-quantity=gt65", "AccessPolicy?name=Clinicians", "User?email=pat@rich.example",
		"AuditEvent?action=R&_count=100", "Patient?_count=5&_sort=family",
	} {
		searches = append(searches, q)
	}
	return searches
}

// answers is what a project admin gets for each search, as ids in order.
func answers(t *testing.T, s *store.Store, proj string, searches []string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, q := range searches {
		typ, query, _ := strings.Cut(q, "?")
		res, err := trySearch(s, adminOf(proj), typ, query)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		for _, m := range res.Matches {
			out[q] = append(out[q], m.ID+"@"+m.VersionID)
		}
	}
	return out
}

// TestProjectArchiveAcrossEngines: a rich project archived on SQLite and
// restored on PostgreSQL reads, versions, searches and verifies the same;
// its User keeps its password hash. A damaged, truncated or repeated
// restore writes nothing.
func TestProjectArchiveAcrossEngines(t *testing.T) {
	from := storetest.OpenSQLite(t)
	to := storetest.OpenPostgres(t) // skips without WARD_TEST_POSTGRES_URL
	proj := uuid.NewString()
	searches := richProject(t, from, proj)
	var archive bytes.Buffer
	m, err := from.ExportProject(sysCtx(), proj, &archive)
	if err != nil {
		t.Fatal(err)
	}
	if m.Files["resources.ndjson"].Rows < 40 || m.Files["audit_chain.ndjson"].Rows != 36 {
		t.Fatalf("manifest: %+v", m.Files)
	}

	// Damage first: nothing may be written.
	data := archive.Bytes()
	flipped := bytes.Clone(data)
	flipped[len(flipped)/2] ^= 0x20
	for name, bad := range map[string][]byte{
		"truncated":      data[:len(data)*2/3],
		"a flipped bit":  flipped,
		"not an archive": []byte("hello"),
	} {
		if _, err := to.ImportProject(sysCtx(), bytes.NewReader(bad), store.ImportOptions{}); err == nil {
			t.Errorf("%s archive imported", name)
		}
		if rows := projectRows(t, to, proj); len(rows) > 0 {
			t.Fatalf("%s archive left rows: %v", name, rows)
		}
	}
	if _, err := to.ImportProject(adminOf(proj), bytes.NewReader(data), store.ImportOptions{}); code(err) != ward.EFORBIDDEN {
		t.Errorf("a project admin importing: %s, want forbidden", code(err))
	}

	if _, err := to.ImportProject(sysCtx(), bytes.NewReader(data), store.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	want, got := answers(t, from, proj, searches), answers(t, to, proj, searches)
	for _, q := range searches {
		if !slices.Equal(want[q], got[q]) {
			t.Errorf("%s: %v on SQLite, %v restored on PostgreSQL", q, want[q], got[q])
		}
	}
	all, err := trySearch(from, adminOf(proj), "Observation", "_count=1000")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range all.Matches {
		a, _ := from.History(adminOf(proj), ward.HistoryQuery{ResourceType: "Observation", ID: o.ID})
		b, err := to.History(adminOf(proj), ward.HistoryQuery{ResourceType: "Observation", ID: o.ID})
		if err != nil || len(a.Versions) != len(b.Versions) {
			t.Errorf("history of %s: %d versions, restored %v %v", o.ID, len(a.Versions), b, err)
			continue
		}
		for i := range a.Versions {
			if !bytes.Equal(a.Versions[i].Content, b.Versions[i].Content) {
				t.Errorf("version %s of %s differs after the restore", a.Versions[i].VersionID, o.ID)
			}
		}
	}
	users, _ := trySearch(to, sysCtx(), "User", "email=pat@rich.example")
	if users == nil || len(users.Matches) != 1 || !strings.Contains(string(users.Matches[0].Content), "$2a$10$abcdefghijklmnopqrstuv") {
		t.Errorf("the project-scoped User and its password hash after the restore: %v", users)
	}
	if v, err := to.VerifyAudit(sysCtx(), proj); err != nil || !v.OK || v.Checked != 36 {
		t.Errorf("the restored trail: %+v %v", v, err)
	}
	if _, err := to.ImportProject(sysCtx(), bytes.NewReader(data), store.ImportOptions{}); code(err) != ward.ECONFLICT {
		t.Errorf("a second restore: %v, want conflict", err)
	}
	if _, err := from.ImportProject(sysCtx(), bytes.NewReader(data), store.ImportOptions{}); !errors.Is(err, nil) && code(err) != ward.ECONFLICT {
		t.Errorf("a restore next to the original: %v, want conflict", err)
	}
}

// TestProjectArchiveAsCopy: an archive restored as another project on the
// server that holds the original gives a second, independent project —
// every resource under a new id, every reference to the archive's own
// resources following it, the same search answers, the same histories —
// and leaves the original as it was. The copy's trail starts with the
// record of the restore.
func TestProjectArchiveAsCopy(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		searches := richProject(t, s, proj)
		before := answers(t, s, proj, searches)
		var archive bytes.Buffer
		if _, err := s.ExportProject(sysCtx(), proj, &archive); err != nil {
			t.Fatal(err)
		}
		copyID := uuid.NewString()
		res, err := s.ImportProject(sysCtx(), bytes.NewReader(archive.Bytes()), store.ImportOptions{AsProject: copyID})
		if err != nil {
			t.Fatal(err)
		}
		if res.Project != copyID || res.Manifest.ProjectID != proj {
			t.Fatalf("restored as %s from %s", res.Project, res.Manifest.ProjectID)
		}
		if after := answers(t, s, proj, searches); !mapsEqual(before, after) {
			t.Errorf("the original changed: %v, was %v", after, before)
		}

		origIDs := map[string]bool{}
		for id := range projectIDs(t, s, proj) {
			origIDs[id] = true
		}
		copied := projectIDs(t, s, copyID)
		for id, content := range copied {
			if origIDs[id] && id != proj {
				t.Errorf("the copy kept the original's id %s", id)
			}
			if strings.Contains(content, proj) && !strings.Contains(content, `"resourceType":"AuditEvent"`) {
				t.Errorf("%s of the copy still names the original project: %s", id, content)
			}
		}

		// Searches naming a patient follow the patient's new id.
		for _, q := range searches {
			typ, query, _ := strings.Cut(q, "?")
			if strings.HasPrefix(q, "AuditEvent") {
				continue
			}
			if old, ok := strings.CutPrefix(query, "subject=Patient/"); ok {
				query = "subject=Patient/" + copiedPatient(t, s, proj, copyID, old)
			}
			want, _ := trySearch(s, adminOf(proj), typ, q[len(typ)+1:])
			got, err := trySearch(s, adminOf(copyID), typ, query)
			if err != nil || len(got.Matches) != len(want.Matches) || len(want.Matches) == 0 && typ != "Observation" {
				t.Errorf("%s in the copy: %v %v, want %d matches", q, got, err, len(want.Matches))
				continue
			}
			// New ids sort differently: compare the versions found, which
			// a copy keeps, and check that no id was kept.
			var wantV, gotV []string
			for i := range want.Matches {
				if want.Matches[i].ID == got.Matches[i].ID {
					t.Errorf("%s: the copy answers the original's %s", q, got.Matches[i].ID)
				}
				wantV, gotV = append(wantV, want.Matches[i].VersionID), append(gotV, got.Matches[i].VersionID)
			}
			if slices.Sort(wantV); true {
				slices.Sort(gotV)
			}
			// (A page of a sort with ties is cut where the ids fall: only
			// its size can be compared.)
			if !slices.Equal(wantV, gotV) && !strings.Contains(q, "_count=5") {
				t.Errorf("%s: versions %v in the copy, %v in the original", q, gotV, wantV)
			}
		}
		obs, _ := trySearch(s, adminOf(copyID), "Observation", "status=amended")
		for _, o := range obs.Matches {
			h, err := s.History(adminOf(copyID), ward.HistoryQuery{ResourceType: "Observation", ID: o.ID})
			if err != nil || len(h.Versions) != 2 {
				t.Errorf("history of the copied %s: %v %v, want 2 versions", o.ID, h, err)
			}
		}
		users, _ := trySearch(s, sysCtx(), "User", "email=pat@rich.example")
		var inCopy int
		for _, u := range users.Matches {
			if strings.Contains(string(u.Content), "Project/"+copyID) && strings.Contains(string(u.Content), "$2a$10$") {
				inCopy++
			}
		}
		if inCopy != 1 {
			t.Errorf("the copy's project-scoped User with its password hash: %d", inCopy)
		}

		trail, err := trySearch(s, adminOf(copyID), "AuditEvent", "_count=100")
		if err != nil || len(trail.Matches) != 1 {
			t.Errorf("the copy's trail: %v %v, want the one record of the restore", trail, err)
		}
		if v, err := s.VerifyAudit(sysCtx(), copyID); err != nil || !v.OK || v.Checked != 1 {
			t.Errorf("the copy's chain: %+v %v", v, err)
		}
		if _, err := s.ImportProject(sysCtx(), bytes.NewReader(archive.Bytes()), store.ImportOptions{AsProject: copyID}); code(err) != ward.ECONFLICT {
			t.Errorf("a restore over the copy: %v, want conflict", err)
		}
		if _, err := s.ImportProject(sysCtx(), bytes.NewReader(archive.Bytes()), store.ImportOptions{AsProject: "bad id!"}); code(err) != ward.EINVALID {
			t.Errorf("a restore as an invalid id: %v, want invalid", err)
		}
	})
}

// projectIDs returns the content of every resource row of project by id.
func projectIDs(t *testing.T, s *store.Store, project string) map[string]string {
	t.Helper()
	rows, err := s.DB().Query(s.Dialect().Rebind(`SELECT id, content FROM resources WHERE project_id = ?`), project)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, content string
		if err := rows.Scan(&id, &content); err != nil {
			t.Fatal(err)
		}
		out[id] = content
	}
	return out
}

// copiedPatient is the id in project copy of the original's Patient old
// (found by its unique given name).
func copiedPatient(t *testing.T, s *store.Store, orig, copy, old string) string {
	t.Helper()
	p, err := s.Read(adminOf(orig), "Patient", old)
	if err != nil {
		t.Fatal(err)
	}
	var pat struct {
		Name []struct{ Given []string } `json:"name"`
	}
	if err := json.Unmarshal(p.Content, &pat); err != nil || len(pat.Name) == 0 {
		t.Fatal(err)
	}
	res, err := trySearch(s, adminOf(copy), "Patient", "given:exact="+pat.Name[0].Given[0])
	if err != nil || len(res.Matches) != 1 {
		t.Fatalf("the copy of Patient/%s: %v %v", old, res, err)
	}
	return res.Matches[0].ID
}

func mapsEqual(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}
