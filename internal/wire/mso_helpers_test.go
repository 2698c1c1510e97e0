package wire_test

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wardhealth/ward/store"
)

// The MSO tests drive one project the way the Medplum MSO demo does
// (spec 5.12): an admin with a real token uploads a policy, creates clinics
// and patients, invites clinicians and enrols them and the patients; each
// clinician then signs in with its own token. What every caller sees is
// checked in tables of msoCase, step by step.

// msoPassword is every invited clinician's password.
const msoPassword = "clinician-password-1"

// msoWorld is one project run as an MSO: its callers (the admin and the
// clinicians signed in so far) and the local names of everything created
// ("org-north" → "Organization/<id>").
type msoWorld struct {
	srv     *httptest.Server
	project string
	callers map[string]fhirClient
	f       fixture
}

// newMSOWorld registers a project whose owner is the MSO's admin.
func newMSOWorld(t *testing.T, s *store.Store, name string) *msoWorld {
	srv := startAuthServer(t, s)
	p := registerProject(t, srv, "admin@"+strings.ToLower(strings.ReplaceAll(name, " ", ""))+".example.com", name)
	return &msoWorld{srv: srv, project: p.id, callers: map[string]fhirClient{"admin": p.owner}, f: fixture{}}
}

// as returns caller's client reporting to t.
func (w *msoWorld) as(t testing.TB, caller string) fhirClient {
	t.Helper()
	c, ok := w.callers[caller]
	if !ok {
		t.Fatalf("no caller %q signed in", caller)
	}
	c.t = t
	return c
}

// expand replaces {name} with the id of that local name; an unknown name
// fails the test (a test bug, not a server one).
func (w *msoWorld) expand(t testing.TB, s string) string {
	t.Helper()
	return placeholder.ReplaceAllStringFunc(s, func(m string) string {
		name := m[1 : len(m)-1]
		if _, ok := w.f[name]; !ok {
			t.Fatalf("test bug: %q names no created resource", name)
		}
		return w.f.id(name)
	})
}

// createAs has caller POST resource (with {name} placeholders) and records
// it as name. headers are passed on (e.g. X-Medplum: extended).
func (w *msoWorld) createAs(t *testing.T, caller, name, resource string, headers ...string) map[string]any {
	t.Helper()
	body := w.expand(t, resource)
	var typed struct{ ResourceType string }
	_ = json.Unmarshal([]byte(body), &typed)
	r := w.as(t, caller).do("POST", typed.ResourceType, body, headers...)
	if r.status != 201 {
		t.Fatalf("%s creates %s: %d %s", caller, name, r.status, r.raw)
	}
	w.f[name] = typed.ResourceType + "/" + r.body["id"].(string)
	return r.body
}

// create is createAs by the admin.
func (w *msoWorld) create(t *testing.T, name, resource string) {
	t.Helper()
	w.createAs(t, "admin", name, resource)
}

// uploadPolicy does what the demo's policy page does: search the policy by
// name, then create it or, when it exists, update it. It records it as name.
func (w *msoWorld) uploadPolicy(t *testing.T, name, policy string) {
	t.Helper()
	body := w.expand(t, policy)
	var p map[string]any
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("test bug: policy JSON: %v", err)
	}
	admin := w.as(t, "admin")
	found := list(admin.mustGet("AccessPolicy?name="+url.QueryEscape(p["name"].(string))).body, "entry")
	if len(found) == 0 {
		r := admin.do("POST", "AccessPolicy", body)
		if r.status != 201 {
			t.Fatalf("create AccessPolicy %q: %d %s", p["name"], r.status, r.raw)
		}
		w.f[name] = "AccessPolicy/" + r.body["id"].(string)
		return
	}
	id := field(found[0], "resource", "id").(string)
	p["id"] = id
	b, _ := json.Marshal(p)
	if r := admin.do("PUT", "AccessPolicy/"+id, string(b)); r.status != 200 {
		t.Fatalf("update AccessPolicy %q: %d %s", p["name"], r.status, r.raw)
	}
	w.f[name] = "AccessPolicy/" + id
}

// clinicAccess is one membership access[] entry: policy with the parameter
// organization bound to a clinic.
func (w *msoWorld) clinicAccess(policy, clinic string) map[string]any {
	return map[string]any{
		"policy":    map[string]any{"reference": w.f.ref(policy)},
		"parameter": []any{map[string]any{"name": "organization", "valueReference": map[string]any{"reference": w.f.ref(clinic)}}},
	}
}

// invite invites a clinician as the demo does (the literal
// admin/projects/:projectId/invite, a Practitioner with a password,
// project-scoped, membership.accessPolicy plus one access entry per clinic)
// and signs them in. The profile is recorded as prac-<caller>, the
// membership as mem-<caller>.
func (w *msoWorld) invite(t *testing.T, caller, policy string, clinics ...string) {
	t.Helper()
	access := []any{}
	for _, c := range clinics {
		access = append(access, w.clinicAccess(policy, c))
	}
	membership := map[string]any{"accessPolicy": map[string]any{"reference": w.f.ref(policy)}}
	if len(clinics) > 0 {
		membership["access"] = access
	}
	email := caller + "@" + w.project + ".example.com" // the whole id: a fleet's database holds many projects
	body, _ := json.Marshal(map[string]any{
		"resourceType": "Practitioner", "firstName": strings.ToUpper(caller[:1]) + caller[1:], "lastName": "Clinician",
		"email": email, "password": msoPassword, "sendEmail": false, "scope": "project", "membership": membership,
	})
	r := w.as(t, "admin").do("POST", "/admin/projects/:projectId/invite", string(body))
	if r.status != 200 || r.body["resourceType"] != "ProjectMembership" {
		t.Fatalf("invite %s: %d %s", caller, r.status, r.raw)
	}
	w.f["mem-"+caller] = "ProjectMembership/" + r.body["id"].(string)
	profile, _ := field(r.body, "profile", "reference").(string)
	if !strings.HasPrefix(profile, "Practitioner/") {
		t.Fatalf("invite %s: profile %q", caller, profile)
	}
	w.f["prac-"+caller] = profile
	w.callers[caller] = fhirClient{t: t, base: w.srv.URL, project: w.project, authz: "Bearer " + w.signIn(t, email)}
}

// signIn logs a project-scoped user in (projectId given, as the demo's
// sign-in form does for its project) and returns the access token.
func (w *msoWorld) signIn(t *testing.T, email string) string {
	t.Helper()
	status, login := postJSON(t, w.srv, "/auth/login", "", map[string]any{
		"email": email, "password": msoPassword, "projectId": w.project, "scope": "openid offline",
		"codeChallenge": "xyz", "codeChallengeMethod": "plain",
	})
	if status != 200 {
		t.Fatalf("login %s: %d %v", email, status, login)
	}
	return exchangeCode(t, w.srv, login)
}

// membershipOf finds caller's membership the demo's way:
// GET ProjectMembership?profile=Practitioner/<id>.
func (w *msoWorld) membershipOf(t *testing.T, caller string) map[string]any {
	t.Helper()
	r := w.as(t, "admin").mustGet("ProjectMembership?profile=" + w.f.ref("prac-"+caller))
	entries := list(r.body, "entry")
	if len(entries) != 1 {
		t.Fatalf("ProjectMembership?profile=%s: %d entries, want 1: %s", w.f.ref("prac-"+caller), len(entries), r.raw)
	}
	return field(entries[0], "resource").(map[string]any)
}

// putMembership writes m back with PUT ProjectMembership/<id>.
func (w *msoWorld) putMembership(t *testing.T, m map[string]any) {
	t.Helper()
	b, _ := json.Marshal(m)
	if r := w.as(t, "admin").do("PUT", "ProjectMembership/"+m["id"].(string), string(b)); r.status != 200 {
		t.Fatalf("PUT membership: %d %s", r.status, r.raw)
	}
}

// enrollClinician appends an access entry for clinic to caller's membership.
func (w *msoWorld) enrollClinician(t *testing.T, caller, policy, clinic string) {
	t.Helper()
	m := w.membershipOf(t, caller)
	m["access"] = append(list(m, "access"), w.clinicAccess(policy, clinic))
	w.putMembership(t, m)
}

// unenrollClinician removes the access entry naming clinic.
func (w *msoWorld) unenrollClinician(t *testing.T, caller, clinic string) {
	t.Helper()
	m := w.membershipOf(t, caller)
	kept := []any{}
	for _, a := range list(m, "access") {
		if field(list(a, "parameter")[0], "valueReference", "reference") != w.f.ref(clinic) {
			kept = append(kept, a)
		}
	}
	if len(kept) == len(list(m, "access")) {
		t.Fatalf("test bug: %s's membership has no access entry for %s", caller, clinic)
	}
	m["access"] = kept
	if len(kept) == 0 {
		// An empty array is invalid FHIR ("Invalid empty value"): the
		// last clinic's removal drops the element.
		delete(m, "access")
	}
	w.putMembership(t, m)
}

// setAccounts enrols a resource in exactly accounts (local names) with
// POST <ref>/$set-accounts, propagate true, as the demo does, and checks the
// Parameters answer counts wantUpdated resources (the target and each
// resource of its compartment).
func (w *msoWorld) setAccounts(t *testing.T, target string, wantUpdated int, accounts ...string) {
	t.Helper()
	params := []any{}
	for _, a := range accounts {
		params = append(params, map[string]any{"name": "accounts", "valueReference": map[string]any{"reference": w.f.ref(a)}})
	}
	params = append(params, map[string]any{"name": "propagate", "valueBoolean": true})
	body, _ := json.Marshal(map[string]any{"resourceType": "Parameters", "parameter": params})
	r := w.as(t, "admin").do("POST", w.f.ref(target)+"/$set-accounts", string(body))
	if r.status != 200 || r.body["resourceType"] != "Parameters" {
		t.Fatalf("%s/$set-accounts %v: %d %s", target, accounts, r.status, r.raw)
	}
	var updated any
	for _, p := range list(r.body, "parameter") {
		if field(p, "name") == "resourcesUpdated" {
			updated = field(p, "valueInteger")
		}
	}
	if updated != float64(wantUpdated) {
		t.Errorf("%s/$set-accounts %v: resourcesUpdated %v, want %d (%s)", target, accounts, updated, wantUpdated, r.raw)
	}
	w.wantAccounts(t, target, accounts...)
}

// wantAccounts checks name's meta.accounts, as the admin reads it in
// extended mode, are exactly accounts (local names), in any order.
func (w *msoWorld) wantAccounts(t *testing.T, name string, accounts ...string) {
	t.Helper()
	r := w.as(t, "admin").mustGet(w.f.ref(name), "X-Medplum", "extended")
	var got []string
	for _, a := range list(r.body, "meta", "accounts") {
		ref, _ := field(a, "reference").(string)
		got = append(got, ref)
	}
	if !sameSet(w.f.names(got), accounts) {
		t.Errorf("%s meta.accounts = %v, want %v", name, w.f.names(got), accounts)
	}
}

// msoCase is one request and what its caller must get. request is
// "METHOD path" or "METHOD path body", with {name} placeholders.
type msoCase struct {
	rule    string // what the case proves; a failure names it
	caller  string
	request string
	status  int
	// ids are the local names the answer must hold: a Bundle's entries
	// (matches and includes) exactly, or the one resource returned. For a
	// _summary=count search, Bundle.total must be len(ids); for a history,
	// each resource once; for a batch, each entry in order (the resource's
	// name, or the entry's status when it returned none). nil: unchecked.
	ids []string
	// subset: the Bundle must hold ids and may hold more (lists that include
	// resources the test did not name, such as the owner's membership).
	subset bool
	// elements, when set, are the only elements (besides resourceType, id
	// and meta) each entry may carry (_fields).
	elements []string
	// absent are local names no entry of the answer may be (a leak check
	// where the full answer is not worth spelling out).
	absent []string
	// paged: follow the next links; ids are the matches of all pages, and
	// Bundle.total (when given) must count them.
	paged bool
	// headers are request headers, name value pairs ({name} expanded).
	headers []string
}

// msoStep is something the MSO does (act), then what everyone sees.
type msoStep struct {
	name  string
	act   func(t *testing.T, w *msoWorld)
	cases []msoCase
}

// run plays steps in order. A step whose act fails stops the run: later
// steps would only report its consequences.
func (w *msoWorld) run(t *testing.T, steps []msoStep) {
	for _, step := range steps {
		acted := false
		t.Run(step.name, func(t *testing.T) {
			if step.act != nil {
				step.act(t, w)
			}
			acted = !t.Failed()
			for _, c := range step.cases {
				t.Run(c.caller+" "+c.rule, func(t *testing.T) { w.check(t, c) })
			}
		})
		if !acted {
			t.Errorf("step %q could not be carried out; later steps skipped", step.name)
			return
		}
	}
}

// staleGrantWindow is how long a fleet's other processes may still serve
// a grant just changed (a membership PUT, a policy update): the change
// travels by NOTIFY (docs/benchmarks.md, "Revocation across processes",
// goal 1 s; twice that on a loaded machine).
const staleGrantWindow = 2 * time.Second

// check sends c's request as c's caller and compares the answer. Against
// an external target a failing case is tried again for staleGrantWindow
// before it counts (the request may have reached a process the last
// step's grant change had not yet), and the wait is logged.
func (w *msoWorld) check(t *testing.T, c msoCase) {
	if externalTarget() == "" {
		w.checkOnce(t, c)
		return
	}
	start := time.Now()
	for tries := 1; time.Since(start) < staleGrantWindow; tries++ {
		if passes(t, func(tb testing.TB) { w.checkOnce(tb, c) }) {
			if tries > 1 {
				t.Logf("passed on try %d, %v after the first: a process served the step's old grant meanwhile", tries, time.Since(start).Round(time.Millisecond))
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	w.checkOnce(t, c)
}

// passes runs fn against a recorder standing in for t and reports whether
// nothing failed; fn's failures are not t's. fn runs on a goroutine of its
// own, as a test does, so that a Fatal ends it alone.
func passes(t *testing.T, fn func(tb testing.TB)) bool {
	r := &quietTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(r)
	}()
	<-done
	return !r.failed
}

// quietTB records failures instead of reporting them; Fatal and FailNow
// end the calling goroutine (passes's).
type quietTB struct {
	testing.TB
	failed bool
}

func (q *quietTB) Error(...any)          { q.failed = true }
func (q *quietTB) Errorf(string, ...any) { q.failed = true }
func (q *quietTB) Fail()                 { q.failed = true }
func (q *quietTB) Failed() bool          { return q.failed }
func (q *quietTB) Fatal(...any)          { q.FailNow() }
func (q *quietTB) Fatalf(string, ...any) { q.FailNow() }
func (q *quietTB) FailNow() {
	q.failed = true
	runtime.Goexit()
}

// checkOnce is one try of check.
func (w *msoWorld) checkOnce(t testing.TB, c msoCase) {
	method, rest, _ := strings.Cut(c.request, " ")
	path, body, _ := strings.Cut(rest, " ")
	path, body = w.expand(t, path), w.expand(t, body)
	if c.paged {
		w.checkPages(t, c, path)
		return
	}
	headers := make([]string, len(c.headers))
	for i, h := range c.headers {
		headers[i] = w.expand(t, h)
	}
	r := w.as(t, c.caller).do(method, path, body, headers...)
	if r.status != c.status {
		t.Fatalf("%s as %s: %d, want %d: %s", c.request, c.caller, r.status, c.status, r.raw)
	}
	if c.status >= 400 {
		if !isOutcome(r.body) {
			t.Errorf("%s as %s: %d without an OperationOutcome: %s", c.request, c.caller, r.status, r.raw)
		}
		return
	}
	if c.absent != nil {
		got := w.f.names(entryRefs(r.body, ""))
		for _, name := range c.absent {
			if slices.Contains(got, name) {
				t.Errorf("%s as %s lists %s", c.request, c.caller, name)
			}
		}
	}
	if c.ids == nil {
		return
	}
	if r.body["resourceType"] != "Bundle" {
		got := w.f.names([]string{fmt.Sprintf("%v/%v", r.body["resourceType"], r.body["id"])})
		if !slices.Equal(got, c.ids) {
			t.Errorf("%s as %s returned %v, want %v", c.request, c.caller, got, c.ids)
		}
		return
	}
	if typ := r.body["type"]; typ == "batch-response" || typ == "transaction-response" {
		w.checkBatch(t, c, r.body)
		return
	}
	if strings.Contains(path, "_summary=count") {
		if total(r.body) != len(c.ids) || len(list(r.body, "entry")) != 0 {
			t.Errorf("%s as %s: total %d with %d entries, want total %d (%v) and no entries",
				c.request, c.caller, total(r.body), len(list(r.body, "entry")), len(c.ids), c.ids)
		}
		return
	}
	got := w.f.names(entryRefs(r.body, ""))
	slices.Sort(got)
	if strings.Contains(path, "_history") {
		got = slices.Compact(got) // a resource appears once per version
	}
	if c.subset {
		for _, id := range c.ids {
			if !slices.Contains(got, id) {
				t.Errorf("%s as %s: %v lacks %s", c.request, c.caller, got, id)
			}
		}
	} else if !sameSet(got, c.ids) {
		t.Errorf("%s as %s returned %v, want %v", c.request, c.caller, got, sorted(c.ids))
	}
	checkElements(t, c, r.body)
}

// checkPages follows a search's next links as c's caller.
func (w *msoWorld) checkPages(t testing.TB, c msoCase, path string) {
	client := w.as(t, c.caller)
	var got []string
	for next, pages := path, 0; next != ""; pages++ {
		if pages > 20 {
			t.Fatalf("%s as %s: more than 20 pages", c.request, c.caller)
		}
		r := client.mustGet(next)
		if n := total(r.body); n != -1 && n != len(c.ids) {
			t.Errorf("%s as %s: page %d says total %d, want %d", c.request, c.caller, pages, n, len(c.ids))
		}
		got = append(got, w.f.names(entryRefs(r.body, "match"))...)
		next = link(r.body, "next")
	}
	if !sameSet(got, c.ids) {
		t.Errorf("%s as %s: pages hold %v, want %v", c.request, c.caller, sorted(got), sorted(c.ids))
	}
}

// recordVersion records name's current versionId as the local name
// "vid-<name>-<label>", so that {vid-<name>-<label>} expands to it in a
// vread path.
func (w *msoWorld) recordVersion(t *testing.T, name, label string) {
	t.Helper()
	vid, _ := field(w.as(t, "admin").mustGet(w.f.ref(name)).body, "meta", "versionId").(string)
	if vid == "" {
		t.Fatalf("%s has no versionId", name)
	}
	w.f["vid-"+name+"-"+label] = "Version/" + vid
}

// checkBatch compares a batch's entries in order: the local name of the
// resource an entry returned, or its response status ("404") when it
// returned none; a search entry is "[names...]".
func (w *msoWorld) checkBatch(t testing.TB, c msoCase, bundle map[string]any) {
	var got []string
	for _, e := range list(bundle, "entry") {
		if field(e, "resource", "resourceType") == "Bundle" {
			inner := w.f.names(entryRefs(field(e, "resource").(map[string]any), ""))
			slices.Sort(inner)
			got = append(got, "["+strings.Join(inner, " ")+"]")
			continue
		}
		if typ, ok := field(e, "resource", "resourceType").(string); ok && typ != "OperationOutcome" {
			got = append(got, w.f.names([]string{fmt.Sprintf("%s/%v", typ, field(e, "resource", "id"))})...)
			continue
		}
		status, _ := field(e, "response", "status").(string)
		code, _, _ := strings.Cut(status, " ")
		got = append(got, code)
	}
	if !slices.Equal(got, c.ids) {
		t.Errorf("%s as %s: entries %v, want %v", c.request, c.caller, got, c.ids)
	}
}

// checkElements: with _fields, entries carry only the elements asked for.
func checkElements(t testing.TB, c msoCase, bundle map[string]any) {
	if c.elements == nil {
		return
	}
	allowed := append([]string{"resourceType", "id", "meta"}, c.elements...)
	for _, e := range list(bundle, "entry") {
		res, _ := field(e, "resource").(map[string]any)
		for k := range res {
			if !slices.Contains(allowed, k) {
				t.Errorf("%s as %s: entry %v/%v carries %q", c.request, c.caller, res["resourceType"], res["id"], k)
			}
		}
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// names lists local names with a prefix appended to each of suffixes:
// names("obs-", "n", "ns") = [obs-n obs-ns].
func names(prefix string, suffixes ...string) []string {
	out := make([]string, len(suffixes))
	for i, s := range suffixes {
		out[i] = prefix + s
	}
	return out
}
