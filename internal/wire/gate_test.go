package wire_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestOneOutputGate asks the same question through every surface — REST
// read, vread, history, search, _include, a batch GET, $everything,
// $graphql, a bulk $export file and /auth/me — as a super admin, a project admin and a
// clinician whose policy hides telecom, each with and without
// "X-Medplum: extended", and compares the answers: one gate decides what
// each caller sees. Secrets (a User's passwordHash and mfaSecret, a
// signing key's private members) leave through no surface, to anyone.
func TestOneOutputGate(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		w := newMSOWorld(t, s, "Gate World")
		policy := strings.Replace(msoPolicy("Gate Policy", ""),
			`{"resourceType":"Patient","criteria":"Patient?_compartment=%organization"}`,
			`{"resourceType":"Patient","criteria":"Patient?_compartment=%organization","hiddenFields":["telecom"]}`, 1)
		w.uploadPolicy(t, "ap", policy)
		w.create(t, "org-north", `{"resourceType":"Organization","name":"Clinic north"}`)
		w.invite(t, "alice", "ap", "org-north")
		w.addPatient(t, "n", "North")
		w.setAccounts(t, "pat-n", 2, "org-north")
		email, password := superAdmin()
		token := signIn(t, w.srv, email, password)["access_token"].(string)
		w.callers["super"] = fhirClient{t: t, base: w.srv.URL, authz: "Bearer " + token}

		for _, c := range []struct {
			caller      string
			seesTelecom bool
		}{{"super", true}, {"admin", true}, {"alice", false}} {
			for _, extended := range []bool{false, true} {
				name := fmt.Sprintf("%s extended=%v", c.caller, extended)
				t.Run(name, func(t *testing.T) {
					answers := patientSurfaces(t, w, c.caller, extended)
					want := answers["read"]
					for surface, got := range answers {
						if got != want {
							t.Errorf("%s shows\n%s\nread shows\n%s", surface, got, want)
						}
					}
					if got := strings.Contains(want, "555-0100"); got != c.seesTelecom {
						t.Errorf("telecom shown = %v, want %v: %s", got, c.seesTelecom, want)
					}
					if got := strings.Contains(want, `"project"`); got != extended {
						t.Errorf("meta.project shown = %v, want %v (extended): %s", got, extended, want)
					}
					gql := graphqlPatient(t, w, c.caller, extended)
					if got := gql["telecom"] != nil; got != c.seesTelecom {
						t.Errorf("$graphql telecom shown = %v, want %v: %v", got, c.seesTelecom, gql)
					}
					if got := field(gql, "meta", "project") != nil; got != extended {
						t.Errorf("$graphql meta.project shown = %v, want %v: %v", got, extended, gql)
					}
				})
			}
		}

		t.Run("secrets", func(t *testing.T) {
			super := w.as(t, "super")
			manifest, _ := exportAndWait(t, super, "$export?_type=User,JsonWebKey,Login")
			if len(exported(t, super, manifest, "User")) == 0 {
				t.Errorf("the super admin's export holds no User: %v", manifest)
			}
			var files []reply
			for _, o := range list(manifest, "output") {
				files = append(files, super.do("GET", field(o, "url").(string), ""))
			}
			me := super.mustGet("/auth/me")
			userID, _ := field(me.body, "user", "id").(string)
			if userID == "" {
				t.Fatalf("/auth/me: no user: %s", me.raw)
			}
			var surfaces []reply
			for _, extended := range [][]string{nil, {"X-Medplum", "extended"}} {
				surfaces = append(surfaces,
					me,
					super.mustGet("User/"+userID, extended...),
					super.mustGet("User?_id="+userID, extended...),
					super.mustGet("User/"+userID+"/_history", extended...),
					super.mustGet("JsonWebKey", extended...),
					super.mustGet("JsonWebKey/_history", extended...),
					super.mustGet("Login", extended...),
					super.do("POST", "", batchReads("User/"+userID, "JsonWebKey", "Login"), extended...),
					super.do("POST", "$graphql", `{"query":"{ User(id: \"`+userID+`\") { passwordHash mfaSecret email } JsonWebKeyList { d p q dp dq qi n } LoginList { refreshSecret code cookie } }"}`, extended...),
				)
			}
			keys := super.mustGet("JsonWebKey")
			if total := len(list(keys.body, "entry")); total == 0 {
				t.Fatalf("the super admin reads no JsonWebKey: %s", keys.raw)
			}
			for _, r := range append(surfaces, files...) {
				for _, secret := range []string{`"passwordHash":"`, `"mfaSecret":"`, `"d":"`, `"p":"`, `"q":"`, `"qi":"`, `"refreshSecret":"`, "$2a$"} {
					if strings.Contains(string(r.raw), secret) {
						t.Errorf("a super admin was shown %s: %.400s", secret, r.raw)
					}
				}
			}
			// A super admin's write of a signing key is refused: a stolen
			// token must not plant a key of its own.
			key := field(list(keys.body, "entry")[0], "resource").(map[string]any)
			body, _ := json.Marshal(key)
			if r := super.do("PUT", "JsonWebKey/"+key["id"].(string), string(body)); r.status != 403 {
				t.Errorf("super admin PUT JsonWebKey: %d %s", r.status, r.raw)
			}
		})
	})
}

// patientSurfaces is pat-n as caller is shown it by each REST surface,
// re-encoded canonically (member order and spacing aside, the same JSON).
func patientSurfaces(t *testing.T, w *msoWorld, caller string, extended bool) map[string]string {
	t.Helper()
	c := w.as(t, caller)
	var h []string
	if extended {
		h = []string{"X-Medplum", "extended"}
	}
	ref := w.f.ref("pat-n")
	id := w.f.id("pat-n")
	read := c.mustGet(ref, h...)
	vid, _ := field(read.body, "meta", "versionId").(string)
	byEntry := func(r reply, mode string) any {
		for _, e := range list(r.body, "entry") {
			if field(e, "resource", "id") == id && (mode == "" || field(e, "search", "mode") == mode) {
				return field(e, "resource")
			}
		}
		t.Errorf("%s: no entry for %s: %.300s", caller, ref, r.raw)
		return nil
	}
	batch := c.do("POST", "", batchReads(ref), h...)
	// _search POST by _id: a super admin's unfiltered first page on a
	// shared database (a fleet's) is of other projects' patients.
	out := map[string]any{
		"read":         read.body,
		"vread":        c.mustGet(ref+"/_history/"+vid, h...).body,
		"history":      byEntry(c.mustGet(ref+"/_history", h...), ""),
		"search":       byEntry(c.mustGet("Patient?_id="+id, h...), "match"),
		"_include":     byEntry(c.mustGet("Observation?subject="+url.QueryEscape(ref)+"&_include=Observation:subject", h...), "include"),
		"batch GET":    field(list(batch.body, "entry")[0], "resource"),
		"$everything":  byEntry(c.mustGet(ref+"/$everything", h...), ""),
		"_search POST": byEntry(c.do("POST", "Patient/_search", "_id="+id, append([]string{"Content-Type", "application/x-www-form-urlencoded"}, h...)...), "match"),
	}
	// An export file holds what a search shows outside extended mode (a
	// super admin's export is of its own project, which pat-n is not in).
	if !extended && caller != "super" {
		manifest, _ := exportAndWait(t, c, "Patient/$export?_type=Patient")
		out["$export"] = exportedResource(t, c, manifest, "Patient", id)
	}
	canon := map[string]string{}
	for k, v := range out {
		b, _ := json.Marshal(v)
		canon[k] = string(b)
	}
	return canon
}

// graphqlPatient is pat-n as $graphql shows it to caller.
func graphqlPatient(t *testing.T, w *msoWorld, caller string, extended bool) map[string]any {
	t.Helper()
	var h []string
	if extended {
		h = []string{"X-Medplum", "extended"}
	}
	q := `{ Patient(id: "` + w.f.id("pat-n") + `") { id telecom { value } meta { project author { reference } } name { family } } }`
	body, _ := json.Marshal(map[string]string{"query": q})
	r := w.as(t, caller).do("POST", "$graphql", string(body), h...)
	p, _ := field(r.body, "data", "Patient").(map[string]any)
	if r.status != 200 || p == nil {
		t.Fatalf("%s $graphql: %d %s", caller, r.status, r.raw)
	}
	return p
}

// exportedResource is the resource typ/id in the manifest's file of typ,
// downloaded as c.
func exportedResource(t *testing.T, c fhirClient, manifest map[string]any, typ, id string) any {
	t.Helper()
	for _, o := range list(manifest, "output") {
		if field(o, "type") != typ {
			continue
		}
		r := c.do("GET", field(o, "url").(string), "")
		for _, line := range strings.Split(strings.TrimSpace(string(r.raw)), "\n") {
			var res map[string]any
			if err := json.Unmarshal([]byte(line), &res); err == nil && res["id"] == id {
				return res
			}
		}
		t.Fatalf("%s/%s is not in the export file: %d %.300s", typ, id, r.status, r.raw)
	}
	t.Fatalf("no %s file in the export: %v", typ, manifest)
	return nil
}
