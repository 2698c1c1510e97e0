package store_test

import (
	"bytes"
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
	l.Close()
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
		if _, err := to.ImportProject(sysCtx(), bytes.NewReader(bad)); err == nil {
			t.Errorf("%s archive imported", name)
		}
		if rows := projectRows(t, to, proj); len(rows) > 0 {
			t.Fatalf("%s archive left rows: %v", name, rows)
		}
	}
	if _, err := to.ImportProject(adminOf(proj), bytes.NewReader(data)); code(err) != ward.EFORBIDDEN {
		t.Errorf("a project admin importing: %s, want forbidden", code(err))
	}

	if _, err := to.ImportProject(sysCtx(), bytes.NewReader(data)); err != nil {
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
	if _, err := to.ImportProject(sysCtx(), bytes.NewReader(data)); code(err) != ward.ECONFLICT {
		t.Errorf("a second restore: %v, want conflict", err)
	}
	if _, err := from.ImportProject(sysCtx(), bytes.NewReader(data)); !errors.Is(err, nil) && code(err) != ward.ECONFLICT {
		t.Errorf("a restore next to the original: %v, want conflict", err)
	}
}
