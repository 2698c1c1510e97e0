package wire_test

import (
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// exportWalls (a part of TestProjectWallsWithTokens): A's owner runs bulk
// exports — system, Patient and Group level. B's admin, B's member and an
// anonymous caller poll their status (the export route and the AsyncJob
// routes), fetch the manifests, download the files by their real URLs and
// by altered ones, export A's group and cancel A's jobs: every answer is
// 401 (anonymous) or 404, and none holds a byte of A (the fixture's ids are
// walled on top of A's and C's names). A's jobs and files are unchanged
// afterwards, and B's own exports hold nothing of A or C.
func exportWalls(t *testing.T, srv *httptest.Server, a fhirClient, fa fixture, attackers map[string]fhirClient) {
	group := a.do("POST", "Group", `{"resourceType":"Group","type":"person","actual":true,"member":[{"entity":{"reference":"`+fa.ref("pat-ann")+`"}}]}`)
	if group.status != 201 {
		t.Fatalf("create A's group: %d %s", group.status, group.raw)
	}
	groupID := group.body["id"].(string)
	type job struct {
		status   string
		manifest map[string]any
		files    map[string]string // url → content
	}
	var jobs []job
	for _, path := range []string{"$export", "Patient/$export?_type=Patient,Observation", "Group/" + groupID + "/$export"} {
		manifest, status := exportAndWait(t, a, path)
		j := job{status: status, manifest: manifest, files: map[string]string{}}
		for _, url := range manifestURLs(manifest) {
			j.files[url] = string(a.mustGet(url).raw)
		}
		if len(j.files) == 0 {
			t.Fatalf("A's %s exported nothing: %v", path, manifest)
		}
		jobs = append(jobs, j)
	}

	walled := slices.Clone(attackers["admin"].walled)
	for _, ref := range fa {
		_, id, _ := strings.Cut(ref, "/")
		walled = append(walled, id)
	}
	walled = append(walled, groupID)
	callers := map[string]fhirClient{"anonymous": {t: t, base: srv.URL, walled: walled}}
	for role, c := range attackers {
		c.walled = walled
		callers[role] = c
	}
	for role, c := range callers {
		want := 404
		if role == "anonymous" {
			want = 401
		}
		refused := func(method, path string) {
			t.Helper()
			if r := c.do(method, path, ""); r.status != want {
				t.Errorf("%s of B: %s %s = %d %s, want %d", role, method, path, r.status, r.raw, want)
			}
		}
		for _, j := range jobs {
			id := jobOf(j.status)
			base := strings.TrimSuffix(j.status, "/job/"+id+"/export")
			refused("GET", j.status)
			refused("GET", base+"/job/"+id+"/status")
			refused("GET", base+"/AsyncJob/"+id)
			refused("GET", base+"/AsyncJob/"+id+"/_history")
			for url := range j.files {
				refused("GET", url)
				typ := strings.TrimSuffix(url[strings.LastIndex(url, "/")+1:], ".ndjson")
				for _, altered := range []string{
					strings.ToLower(typ) + ".ndjson", typ + ".NDJSON", typ, typ + ".json",
					typ + ".ndjson?job=" + id, "%2e%2e%2f" + typ + ".ndjson",
				} {
					if r := c.do("GET", base+"/job/"+id+"/export/"+altered, ""); r.status < 400 || r.status == 500 {
						t.Errorf("%s of B: GET altered %s = %d %s", role, altered, r.status, r.raw)
					}
				}
				for _, otherJob := range []string{strings.ToUpper(id), id + "x", "00000000-0000-4000-8000-000000000000", "' OR '1'='1"} {
					if r := c.do("GET", base+"/job/"+otherJob+"/export/"+typ+".ndjson", ""); r.status != want && r.status != 400 {
						t.Errorf("%s of B: GET a guessed job %q = %d %s", role, otherJob, r.status, r.raw)
					}
				}
			}
			refused("DELETE", j.status)
			refused("DELETE", base+"/job/"+id+"/status")
			refused("POST", base+"/AsyncJob/"+id+"/$cancel")
		}
		refused("POST", "Group/"+groupID+"/$export")
		refused("GET", "Group/"+groupID+"/$export")
	}

	for _, j := range jobs {
		r := a.mustGet(j.status)
		if !slices.Equal(manifestURLs(r.body), manifestURLs(j.manifest)) {
			t.Errorf("A's manifest changed after B's attempts: %s", r.raw)
		}
		for url, content := range j.files {
			if got := a.mustGet(url); string(got.raw) != content {
				t.Errorf("A's file %s changed after B's attempts", url)
			}
		}
	}

	// B's own exports: the walled strings are checked on every file.
	for role, b := range attackers {
		b.walled = walled
		manifest, _ := exportAndWait(t, b, "$export")
		for _, url := range manifestURLs(manifest) {
			b.mustGet(url)
		}
		if len(manifestURLs(manifest)) == 0 {
			t.Errorf("B's %s exported nothing", role)
		}
	}
}

// manifestURLs are the file URLs a manifest names, in its order.
func manifestURLs(manifest map[string]any) []string {
	var urls []string
	for _, o := range list(manifest, "output") {
		if url, ok := field(o, "url").(string); ok {
			urls = append(urls, url)
		}
	}
	return urls
}

// jobOf is the job id in a status URL (…/job/{id}/export).
func jobOf(status string) string {
	rest, _ := strings.CutSuffix(status, "/export")
	return rest[strings.LastIndex(rest, "/")+1:]
}

// TestBulkExportWithinProject: one project's callers get from an export
// only what their own searches return. A plain member (no access policy)
// and a clinician (Patients of one family, AsyncJobs, no Observations)
// cannot download the owner's export files, though they may read the job;
// an export that finds nothing ends with an empty manifest;
// the clinician's own export of everything leaves the Observations out and
// holds the Patients its search finds; an export naming a type the caller
// may not search, an unknown type, a malformed _typeFilter or one with an
// unknown search parameter, and a bad _since are 4xx at kick-off.
func TestBulkExportWithinProject(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		srv := startAuditedAuthServer(t, s)
		p := registerProject(t, srv, "export-walls@example.com", "Export Walls")
		owner := p.owner
		for i := range 4 {
			family := []string{"Kept", "Other"}[i%2]
			r := owner.do("POST", "Patient", `{"resourceType":"Patient","name":[{"family":"`+family+`"}]}`)
			owner.do("POST", "Observation", `{"resourceType":"Observation","status":"final","code":{"text":"secret"},"subject":{"reference":"Patient/`+r.body["id"].(string)+`"}}`)
		}
		plain := inviteWithPolicy(t, srv, p, "plain@example.com", "")
		policy := owner.do("POST", "AccessPolicy", `{"resourceType":"AccessPolicy","name":"Kept and jobs","resource":[
			{"resourceType":"Patient","criteria":"Patient?family=Kept"},{"resourceType":"AsyncJob"}]}`)
		clinician := inviteWithPolicy(t, srv, p, "clin@example.com", policy.body["id"].(string))

		manifest, status := exportAndWait(t, owner, "$export")
		files := map[string]string{}
		for _, url := range manifestURLs(manifest) {
			files[url[strings.LastIndex(url, "/")+1:]] = url
		}
		for _, name := range []string{"Patient.ndjson", "Observation.ndjson", "ProjectMembership.ndjson", "AccessPolicy.ndjson"} {
			if files[name] == "" {
				t.Fatalf("the owner's export has no %s: %v", name, manifest)
			}
		}
		for who, c := range map[string]fhirClient{"a member without a policy": plain, "the clinician": clinician} {
			if r := c.get(status); r.status != 200 {
				t.Errorf("%s reads the owner's job: %d %s (the test wants a job it may read)", who, r.status, r.raw)
			}
			for name, url := range files {
				if r := c.get(url); r.status < 400 || r.status == 500 || strings.Contains(string(r.raw), `"resourceType"`) && !isOutcome(r.body) {
					t.Errorf("%s downloads the owner's %s: %d %.200s", who, name, r.status, r.raw)
				}
			}
		}

		mine, _ := exportAndWait(t, clinician, "$export")
		for _, url := range manifestURLs(mine) {
			if typ := strings.TrimSuffix(url[strings.LastIndex(url, "/")+1:], ".ndjson"); typ != "Patient" && typ != "AsyncJob" {
				t.Errorf("the clinician's export has a %s file", typ)
			}
		}
		if got, want := exported(t, clinician, mine, "Patient"), searched(t, clinician, "Patient?_count=1000"); !slices.Equal(got, want) || len(want) != 2 {
			t.Errorf("the clinician's Patient export = %v, its search = %v (want the 2 Kept)", got, want)
		}

		if empty, _ := exportAndWait(t, owner, "$export?_type=Patient&_typeFilter=Patient%3Ffamily%3DNobody"); len(manifestURLs(empty)) != 0 {
			t.Errorf("an export that finds nothing names files: %v", empty)
		}

		for _, bad := range []struct {
			who    fhirClient
			path   string
			status int
		}{
			{clinician, "$export?_type=Observation", 403},
			{clinician, "$export?_type=Patient,Observation", 403},
			{clinician, "Patient/$export?_type=Observation", 403},
			{plain, "$export?_type=ProjectMembership", 403},
			{owner, "$export?_type=NotAType", 400},
			{owner, "$export?_type=Patient,", 400},
			{owner, "$export?_typeFilter=Patient", 400},
			{owner, "$export?_typeFilter=NotAType?name=x", 400},
			{owner, "$export?_typeFilter=Patient?bogus-param=x", 400},
			{owner, "$export?_typeFilter=Patient?birthdate=notadate", 400},
			{owner, "$export?_typeFilter=Patient?name=%25zz", 400},
			{owner, "$export?_since=yesterday", 400},
		} {
			r := bad.who.do("POST", bad.path, "", "Prefer", "respond-async")
			if r.status != bad.status || !isOutcome(r.body) || r.header.Get("Content-Location") != "" {
				t.Errorf("POST %s: %d %s, want %d and no job", bad.path, r.status, r.raw, bad.status)
			}
		}
	})
}

// inviteWithPolicy invites a non-admin member into p, with the
// AccessPolicy of that id ("" for none), and signs it in.
func inviteWithPolicy(t *testing.T, srv *httptest.Server, p tokenProject, email, policy string) fhirClient {
	t.Helper()
	membership := ""
	if policy != "" {
		membership = `,"membership":{"accessPolicy":{"reference":"AccessPolicy/` + policy + `"}}`
	}
	r := p.owner.do("POST", "/admin/projects/:projectId/invite", `{"resourceType":"Practitioner","firstName":"Ivy","lastName":"Invited",
		"email":"`+email+`","password":"member-password-1","sendEmail":false`+membership+`}`)
	if r.status != 200 || field(r.body, "admin") == true {
		t.Fatalf("invite %s: %d %s", email, r.status, r.raw)
	}
	token := signIn(t, srv, email, "member-password-1")["access_token"].(string)
	return fhirClient{t: t, base: srv.URL, project: p.id, authz: "Bearer " + token}
}
