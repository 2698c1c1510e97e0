package wire_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// exportAndWait kicks off an export as c and polls until the manifest.
func exportAndWait(t *testing.T, c fhirClient, path string) (map[string]any, string) {
	t.Helper()
	return exportAndWaitFor(t, c, path, 30*time.Second)
}

// exportAndWaitFor is exportAndWait giving the job up to wait (a
// benchmark's export of a million resources takes minutes).
func exportAndWaitFor(t testing.TB, c fhirClient, path string, wait time.Duration) (map[string]any, string) {
	t.Helper()
	r := c.do("POST", path, "", "Prefer", "respond-async")
	status := r.header.Get("Content-Location")
	if r.status != 202 || status == "" {
		t.Fatalf("kick-off %s: %d %s (Content-Location %q)", path, r.status, r.raw, status)
	}
	deadline := time.Now().Add(wait)
	for {
		r := c.do("GET", status, "")
		if r.status == 200 {
			return r.body, status
		}
		if r.status != 202 || r.header.Get("X-Progress") == "" || time.Now().After(deadline) {
			t.Fatalf("status: %d %s (X-Progress %q)", r.status, r.raw, r.header.Get("X-Progress"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// exported downloads the manifest's file of typ as c: the ids it holds.
func exported(t *testing.T, c fhirClient, manifest map[string]any, typ string) []string {
	t.Helper()
	for _, o := range manifest["output"].([]any) {
		out := o.(map[string]any)
		if out["type"] != typ {
			continue
		}
		r := c.do("GET", out["url"].(string), "")
		if r.status != 200 {
			t.Fatalf("download %s: %d %s", typ, r.status, r.raw)
		}
		var ids []string
		sc := bufio.NewScanner(bytes.NewReader(r.raw))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var res struct{ ResourceType, ID string }
			if err := json.Unmarshal(sc.Bytes(), &res); err != nil || res.ResourceType != typ {
				t.Fatalf("%s line %q: %v", typ, sc.Text(), err)
			}
			ids = append(ids, res.ID)
		}
		slices.Sort(ids)
		return ids
	}
	return nil
}

// searched is the sorted ids a search by c returns (none when its policy
// refuses the type).
func searched(t *testing.T, c fhirClient, query string) []string {
	t.Helper()
	r := c.get(query)
	if r.status == 403 {
		return nil
	}
	var ids []string
	for _, e := range entries(r) {
		ids = append(ids, e["resource"].(map[string]any)["id"].(string))
	}
	slices.Sort(ids)
	return ids
}

// TestBulkExport: an export holds exactly what its caller's searches
// return — a clinician whose policy confines Patients to one family gets
// those only; its files are refused to another project, and a cancelled
// export's status is 404.
func TestBulkExport(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		trail := s.NewAuditLog(store.AuditOptions{})
		t.Cleanup(trail.Close)
		srv := startAuditedAuthServer(t, s)
		a := registerProject(t, srv, "export-a@example.com", "Export A")
		b := registerProject(t, srv, "export-b@example.com", "Export B")
		for i := range 5 {
			family := []string{"Kept", "Other"}[i%2]
			r := a.owner.do("POST", "Patient", fmt.Sprintf(`{"resourceType":"Patient","name":[{"family":%q}]}`, family))
			a.owner.do("POST", "Observation", fmt.Sprintf(`{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/%s"}}`, r.body["id"]))
		}
		b.owner.do("POST", "Patient", `{"resourceType":"Patient","name":[{"family":"Kept"}]}`)
		policy := a.owner.do("POST", "AccessPolicy", `{"resourceType":"AccessPolicy","name":"Kept only","resource":[{"resourceType":"Patient","criteria":"Patient?family=Kept"}]}`)
		invite := a.owner.do("POST", "/admin/projects/:projectId/invite", `{"resourceType":"Practitioner","firstName":"Cleo","lastName":"Clinician",
			"email":"cleo@example.com","password":"member-password-1","sendEmail":false,
			"membership":{"accessPolicy":{"reference":"AccessPolicy/`+policy.body["id"].(string)+`"}}}`)
		if invite.status != 200 {
			t.Fatalf("invite: %d %s", invite.status, invite.raw)
		}
		cleo := fhirClient{t: t, base: srv.URL, project: a.id, authz: "Bearer " + signIn(t, srv, "cleo@example.com", "member-password-1")["access_token"].(string)}

		// The clinician exports every type (naming Observation in _type
		// would be a 403): the Observations it may not search are left out.
		for name, c := range map[string]fhirClient{"the owner": a.owner, "the clinician": cleo} {
			path := map[string]string{"the owner": "$export?_type=Patient,Observation", "the clinician": "$export"}[name]
			manifest, _ := exportAndWait(t, c, path)
			if manifest["requiresAccessToken"] != true {
				t.Errorf("%s: manifest %v", name, manifest)
			}
			for _, typ := range []string{"Patient", "Observation"} {
				want := searched(t, c, typ+"?_count=1000")
				if len(want) == 0 {
					want = nil
				}
				if got := exported(t, c, manifest, typ); !slices.Equal(got, want) {
					t.Errorf("%s's %s export = %v, its search = %v", name, typ, got, want)
				}
			}
		}
		if n := len(searched(t, cleo, "Patient?_count=1000")); n != 3 {
			t.Fatalf("the clinician's search finds %d Patients, want the 3 Kept", n)
		}

		manifest, status := exportAndWait(t, a.owner, "Patient/$export")
		url := manifest["output"].([]any)[0].(map[string]any)["url"].(string)
		if r := b.owner.do("GET", url, ""); r.status != 404 {
			t.Errorf("another project downloads A's export: %d", r.status)
		}
		if r := b.owner.do("GET", status, ""); r.status != 404 {
			t.Errorf("another project reads A's export status: %d", r.status)
		}
		if r := a.owner.do("DELETE", status, ""); r.status != 202 {
			t.Errorf("cancel: %d %s", r.status, r.raw)
		}
		if r := a.owner.do("GET", status, ""); r.status != 404 {
			t.Errorf("a cancelled export's status: %d", r.status)
		}
		if r := a.owner.do("GET", url, ""); r.status != 404 || strings.Contains(string(r.raw), `"resourceType":"Patient"`) {
			t.Errorf("a cancelled export's file: %d", r.status)
		}
	})
}
