package leakfuzz

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// clinicalTypes are the compartment types the fuzzer writes, with Patient.
var clinicalTypes = []string{"Patient", "Observation", "Encounter", "DiagnosticReport", "Communication", "Task"}

// statuses are the status values the generator uses per type (exact
// lowercase codes, where SQL and in-memory token matching agree).
func statuses(typ string) []string {
	switch typ {
	case "Observation", "DiagnosticReport":
		return []string{"final", "preliminary"}
	case "Encounter":
		return []string{"finished", "planned"}
	case "Communication":
		return []string{"completed", "in-progress"}
	case "Task":
		return []string{"requested", "completed"}
	}
	return nil
}

// hiddenChoices and readonlyChoices are the field paths policies hide or
// protect, per type ("*" entries draw from all of them).
func hiddenChoices(typ string) []string {
	switch typ {
	case "Patient":
		return []string{"birthDate", "name.family"}
	case "Observation":
		return []string{"note"}
	case "Task":
		return []string{"description"}
	case "*":
		return []string{"note", "birthDate"}
	}
	return nil
}

func readonlyChoices(typ string) []string {
	switch typ {
	case "Patient":
		return []string{"active"}
	case "Observation":
		return []string{"issued"}
	case "Task":
		return []string{"description"}
	case "*":
		return []string{"note"}
	}
	return nil
}

// world is the generated fixture: callers with tokens and their model view.
type world struct {
	t        *testing.T
	rng      *rand.Rand
	m        *model
	projectA string
	projectB string
	owner    *caller // admin of A, no policy
	ownerB   *caller // admin of B: the hard wall control
	callers  []*caller
	clinics  []string // Organization references in A
	consents []string // Consent references in A
	profiles []string // Practitioner profiles of A's members
	// setAccounts: POST $set-accounts exists (else enrollment falls back
	// to an admin's extended-mode write of the patient's accounts).
	setAccounts bool
}

// caller is a client with its model view.
type caller struct {
	client
	mcaller
	desc string // policy summary for reports
}

// pick returns a random element.
func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// newWorld builds everything through the HTTP API.
func newWorld(t *testing.T, c client, rng *rand.Rand, ownerA client, projectA string, ownerB client, projectB string) *world {
	w := &world{t: t, rng: rng, m: newModel(), projectA: projectA, projectB: projectB}
	all := []mentry{{typ: "*"}}
	w.owner = &caller{client: ownerA, mcaller: mcaller{name: "ownerA", project: projectA, admin: true, entries: all}, desc: "admin, no policy"}
	w.ownerB = &caller{client: ownerB, mcaller: mcaller{name: "ownerB", project: projectB, admin: true, entries: all}, desc: "admin of B, no policy"}
	w.callers = []*caller{w.owner, w.ownerB}
	for i := range 2 + rng.IntN(3) {
		body := w.owner.must(201, "POST", "Organization", map[string]any{"resourceType": "Organization", "name": fmt.Sprintf("Clinic %d", i)})
		w.clinics = append(w.clinics, "Organization/"+body["id"].(string))
	}
	for range 2 {
		body := w.owner.must(201, "POST", "Consent", map[string]any{"resourceType": "Consent", "status": "active",
			"scope":    map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"}}},
			"category": []any{map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": "59284-0"}}}}})
		w.consents = append(w.consents, "Consent/"+body["id"].(string))
	}
	for range 5 + rng.IntN(4) {
		w.create(w.owner, "Patient", w.patientBody())
	}
	w.invite(c)
	w.setAccounts = w.probeSetAccounts()
	for _, ref := range w.refsOf("Patient", projectA) {
		if failure := w.enroll(ref); failure != "" {
			t.Fatal(failure)
		}
	}
	for range 20 + rng.IntN(15) {
		typ := pick(rng, clinicalTypes[1:])
		w.create(w.owner, typ, w.body(typ, projectA))
	}
	for range 2 {
		w.create(w.ownerB, "Patient", w.patientBody())
	}
	for range 4 {
		typ := pick(rng, clinicalTypes[1:])
		w.create(w.ownerB, typ, w.body(typ, projectB))
	}
	return w
}

// probeSetAccounts reports whether the server has $set-accounts: it sets a
// fresh patient's (empty) accounts to empty, which changes nothing.
func (w *world) probeSetAccounts() bool {
	ref := w.refsOf("Patient", w.projectA)[0]
	a := w.owner.do("POST", ref+"/$set-accounts", `{"resourceType":"Parameters","parameter":[{"name":"propagate","valueBoolean":true}]}`)
	switch a.status {
	case 200:
		return true
	case 404, 405, 400, 501:
		w.t.Logf("no $set-accounts (%d): enrollment falls back to extended-mode patient writes", a.status)
		return false
	}
	w.t.Fatalf("probe $set-accounts: %d %s", a.status, a.raw)
	return false
}

// create writes body as c, expecting success, and records it in the model.
func (w *world) create(c *caller, typ string, body map[string]any) *mres {
	w.t.Helper()
	got := c.must(201, "POST", typ, body)
	r := &mres{typ: typ, id: got["id"].(string), project: c.project, body: body, versions: []string{versionOf(got)}, author: c.name}
	r.accounts = w.m.derivedAccounts(&c.mcaller, typ, body, nil)
	w.m.add(r)
	return r
}

func versionOf(body map[string]any) string {
	meta, _ := body["meta"].(map[string]any)
	v, _ := meta["versionId"].(string)
	return v
}

// refsOf lists the live references of typ in project, in creation order.
func (w *world) refsOf(typ, project string) []string {
	var out []string
	for _, ref := range w.m.order {
		if r := w.m.res[ref]; r.typ == typ && r.project == project && !r.deleted {
			out = append(out, ref)
		}
	}
	return out
}

func (w *world) patientBody() map[string]any {
	b := map[string]any{"resourceType": "Patient",
		"gender":    pick(w.rng, []string{"male", "female"}),
		"birthDate": fmt.Sprintf("19%02d-0%d-1%d", 40+w.rng.IntN(60), 1+w.rng.IntN(9), w.rng.IntN(10)),
		"name":      []any{map[string]any{"family": pick(w.rng, []string{"Ames", "Baker", "Cruz", "Diaz"}), "given": []any{"Pat"}}},
	}
	if w.rng.IntN(2) == 0 {
		b["active"] = w.rng.IntN(2) == 0
	}
	return b
}

// body is a random resource of typ about a patient of project (or none).
func (w *world) body(typ, project string) map[string]any {
	if typ == "Patient" {
		return w.patientBody()
	}
	b := map[string]any{"resourceType": typ, "status": pick(w.rng, statuses(typ))}
	switch typ {
	case "Observation", "DiagnosticReport":
		b["code"] = map[string]any{"text": "glucose"}
	case "Encounter":
		b["class"] = map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}
	case "Task":
		b["intent"] = "order"
		b["description"] = fmt.Sprintf("task %d", w.rng.IntN(100))
	}
	if typ == "Observation" && w.rng.IntN(2) == 0 {
		b["issued"] = "2024-01-0" + fmt.Sprint(1+w.rng.IntN(9)) + "T00:00:00Z"
	}
	if (typ == "Observation" || typ == "Task" || typ == "Communication") && w.rng.IntN(2) == 0 {
		b["note"] = []any{map[string]any{"text": fmt.Sprintf("note %d", w.rng.IntN(1000))}}
	}
	if patients := w.refsOf("Patient", project); len(patients) > 0 && w.rng.IntN(8) != 0 {
		b[patientFields(typ)[0]] = map[string]any{"reference": pick(w.rng, patients)}
	}
	return b
}

// randomAccounts is a random enrollment: clinics, maybe a consent, maybe a
// practitioner assignment.
func (w *world) randomAccounts() []string {
	var out []string
	for _, c := range w.clinics {
		if w.rng.IntN(3) == 0 {
			out = append(out, c)
		}
	}
	for _, c := range w.consents {
		if w.rng.IntN(3) == 0 {
			out = append(out, c)
		}
	}
	for _, p := range w.profiles {
		if w.rng.IntN(4) == 0 {
			out = append(out, p)
		}
	}
	return out
}

// enroll sets a patient's accounts as the owner: $set-accounts with
// propagate when the server has it, else an extended-mode PUT of the
// patient alone (admins may write accounts, spec 3.2). It returns the
// failure, if any.
func (w *world) enroll(ref string) string {
	r := w.m.res[ref]
	accounts := w.randomAccounts()
	if w.setAccounts {
		return w.setAccountsCall(r, accounts)
	}
	body := clone(r.body)
	body["id"] = r.id
	// A meta without accounts clears them (spec 3.2); an empty meta is
	// invalid FHIR, so an unenrollment sends a tag.
	meta := map[string]any{"tag": []any{map[string]any{"system": "http://example.org/leakfuzz", "code": "enrollment"}}}
	if len(accounts) > 0 {
		meta["accounts"] = refList(accounts)
	}
	body["meta"] = meta
	raw, _ := json.Marshal(body)
	a := w.owner.do("PUT", ref, string(raw), "X-Medplum", "extended")
	if a.status != 200 {
		return fmt.Sprintf("PUT %s %s (extended): %d %s", ref, raw, a.status, a.raw)
	}
	if v := versionOf(a.body); v != r.versions[len(r.versions)-1] {
		r.versions = append(r.versions, v)
	}
	r.accounts, r.author = accounts, w.owner.name
	return ""
}

// setAccountsCall is POST $set-accounts with propagate, checked against the
// model: resourcesUpdated, and which resources got a new version (read by
// the owner before and after; version ids are bookkeeping, not oracle).
func (w *world) setAccountsCall(r *mres, accounts []string) string {
	var params []any
	for _, a := range accounts {
		params = append(params, map[string]any{"name": "accounts", "valueReference": map[string]any{"reference": a}})
	}
	params = append(params, map[string]any{"name": "propagate", "valueBoolean": true})
	raw, _ := json.Marshal(map[string]any{"resourceType": "Parameters", "parameter": params})
	members := w.m.compartmentOf(r)
	before := map[string]string{}
	for _, x := range members {
		before[x.ref()] = versionOf(w.owner.do("GET", x.ref(), "").body)
	}
	oldVersions := map[string]int{}
	for _, x := range members {
		oldVersions[x.ref()] = len(x.versions)
	}
	a := w.owner.do("POST", r.ref()+"/$set-accounts", string(raw))
	if a.status != 200 {
		return fmt.Sprintf("POST %s/$set-accounts %s: %d %s", r.ref(), raw, a.status, a.raw)
	}
	oldAccounts := map[string][]string{}
	for _, x := range members {
		oldAccounts[x.ref()] = x.accounts
	}
	w.m.setAccounts(r, accounts)
	var problems []string
	if got, want := updatedCount(a.body), len(members); got != want {
		problems = append(problems, fmt.Sprintf("resourcesUpdated %d, model %d", got, want))
	}
	for _, x := range members {
		after := w.owner.do("GET", x.ref(), "", "X-Medplum", "extended")
		wardChanged := versionOf(after.body) != before[x.ref()]
		modelChanged := len(x.versions) != oldVersions[x.ref()]
		if wardChanged != modelChanged {
			meta, _ := after.body["meta"].(map[string]any)
			problems = append(problems, fmt.Sprintf("%s new version: ward %v, model %v (model accounts %v -> %v; ward now %v)",
				x.ref(), wardChanged, modelChanged, oldAccounts[x.ref()], x.accounts, refStrings(meta["accounts"])))
			if wardChanged {
				x.versions = append(x.versions, "")
			} else {
				x.versions = x.versions[:len(x.versions)-1]
			}
		}
		if wardChanged { // the id of the version the model expected; the caller wrote it
			x.versions[len(x.versions)-1] = versionOf(after.body)
			x.author = w.owner.name
		}
	}
	if len(problems) > 0 {
		return fmt.Sprintf("POST %s/$set-accounts %s: %s", r.ref(), raw, strings.Join(problems, "; "))
	}
	return ""
}

func updatedCount(params map[string]any) int {
	list, _ := params["parameter"].([]any)
	for _, p := range list {
		pm, _ := p.(map[string]any)
		if pm["name"] == "resourcesUpdated" {
			n, _ := pm["valueInteger"].(float64)
			return int(n)
		}
	}
	return -1
}

// compartmentOf is the target and the live non-Patient resources that
// reference it through a Patient compartment field.
func (m *model) compartmentOf(target *mres) []*mres {
	out := []*mres{target}
	for _, ref := range m.order {
		r := m.res[ref]
		if !r.deleted && r.typ != "Patient" && slices.Contains(patientRefs(r.typ, r.body), target.ref()) {
			out = append(out, r)
		}
	}
	return out
}

func refList(refs []string) []any {
	out := []any{}
	for _, r := range refs {
		out = append(out, map[string]any{"reference": r})
	}
	return out
}

// setAccounts is spec 3.4 with propagate: the target gets exactly the new
// accounts; each resource of its compartment gets the additions and loses
// the removals, except accounts another referenced patient still carries.
// Changed resources get a new (unknown) version.
func (m *model) setAccounts(target *mres, accounts []string) {
	old := target.accounts
	if !slices.Equal(old, accounts) {
		target.versions = append(target.versions, "")
	}
	target.accounts = accounts
	for _, ref := range m.order {
		r := m.res[ref]
		if r.deleted || r.typ == "Patient" || !slices.Contains(patientRefs(r.typ, r.body), target.ref()) {
			continue
		}
		keep := map[string]bool{}
		for _, p := range patientRefs(r.typ, r.body) {
			if other := m.res[p]; p != target.ref() && other != nil {
				for _, a := range other.accounts {
					keep[a] = true
				}
			}
		}
		var next []string
		for _, a := range r.accounts {
			if slices.Contains(accounts, a) || !slices.Contains(old, a) || keep[a] {
				next = append(next, a)
			}
		}
		next = dedup(append(next, accounts...))
		if !sameSet(next, r.accounts) {
			r.versions = append(r.versions, "")
		}
		r.accounts = next
	}
}

func sameSet(a, b []string) bool {
	return len(dedup(a)) == len(dedup(b)) && !slices.ContainsFunc(a, func(s string) bool { return !slices.Contains(b, s) })
}

func clone(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Policies.

// genPolicy is one stored AccessPolicy as generated: its JSON and whether
// it uses %organization (then it is only attached through access[] with
// an organization parameter).
type genPolicy struct {
	ref     string
	json    map[string]any
	usesOrg bool
}

// randomEntry draws one resource rule of a random kind.
func (w *world) randomEntry(orgOK bool) (map[string]any, bool) {
	typ := pick(w.rng, clinicalTypes)
	e := map[string]any{"resourceType": typ}
	usesOrg := false
	switch k := w.rng.IntN(12); {
	case k == 0: // plain type grant
	case k == 1:
		e["readonly"] = true
	case k == 2:
		var list []any
		for _, i := range []string{iCreate, iRead, iUpdate, iDelete, iSearch, iHistory, iVread} {
			if w.rng.IntN(2) == 0 {
				list = append(list, i)
			}
		}
		e["interaction"] = list
	case k <= 5 && orgOK:
		e["criteria"] = typ + "?_compartment=%organization"
		usesOrg = true
	case k == 6 && orgOK:
		e["criteria"] = typ + "?_compartment=%organization&_compartment=" + pick(w.rng, w.consents)
		usesOrg = true
	case k == 7:
		e["criteria"] = typ + "?_compartment=%profile"
	case k == 8 && typ != "Patient":
		e["criteria"] = typ + "?status=" + pick(w.rng, statuses(typ))
	case k == 8:
		e["criteria"] = "Patient?gender=" + pick(w.rng, []string{"male", "female"})
	case k == 9:
		e["resourceType"] = "Patient"
		e["criteria"] = "Patient?_id=%patient.id"
	case k == 10 && orgOK:
		e["resourceType"] = "*"
		e["criteria"] = "*?_compartment=%organization"
		usesOrg = true
	case k == 11 && w.rng.IntN(3) == 0:
		e["resourceType"] = "*"
	default:
		e["criteria"] = typ + "?_compartment=%profile"
	}
	rt := e["resourceType"].(string)
	if w.rng.IntN(5) == 0 && len(hiddenChoices(rt)) > 0 {
		e["hiddenFields"] = []any{pick(w.rng, hiddenChoices(rt))}
	}
	if w.rng.IntN(5) == 0 && len(readonlyChoices(rt)) > 0 {
		e["readonlyFields"] = []any{pick(w.rng, readonlyChoices(rt))}
	}
	return e, usesOrg
}

func (w *world) randomPolicy(i int, orgOK bool) genPolicy {
	p := genPolicy{json: map[string]any{"resourceType": "AccessPolicy", "name": fmt.Sprintf("policy %d", i)}}
	var entries []any
	for range 1 + w.rng.IntN(4) {
		e, usesOrg := w.randomEntry(orgOK)
		entries = append(entries, e)
		p.usesOrg = p.usesOrg || usesOrg
	}
	p.json["resource"] = entries
	if orgOK && w.rng.IntN(2) == 0 {
		p.json["compartment"] = map[string]any{"reference": "%organization"}
		p.usesOrg = true
	}
	got := w.owner.must(201, "POST", "AccessPolicy", p.json)
	p.ref = "AccessPolicy/" + got["id"].(string)
	return p
}

// invite creates policies and members: each member has an accessPolicy
// (a policy without %organization) and/or access[] entries naming a
// clinic (and sometimes a patient) as parameters.
func (w *world) invite(c client) {
	var plain, org []genPolicy
	for i := range 3 + w.rng.IntN(3) {
		plain = append(plain, w.randomPolicy(i, false))
	}
	for i := range 3 + w.rng.IntN(3) {
		org = append(org, w.randomPolicy(10+i, true))
	}
	patients := w.refsOf("Patient", w.projectA)
	policies := map[string]genPolicy{}
	for _, p := range append(plain, org...) {
		policies[p.ref] = p
	}
	for i := range 4 + w.rng.IntN(4) {
		membership := map[string]any{}
		if w.rng.IntN(2) == 0 {
			membership["accessPolicy"] = map[string]any{"reference": pick(w.rng, plain).ref}
		}
		var access []any
		for range w.rng.IntN(3) + boolInt(membership["accessPolicy"] == nil) {
			params := []any{map[string]any{"name": "organization", "valueReference": map[string]any{"reference": pick(w.rng, w.clinics)}}}
			if w.rng.IntN(3) == 0 {
				params = append(params, map[string]any{"name": "patient", "valueReference": map[string]any{"reference": pick(w.rng, patients)}})
			}
			access = append(access, map[string]any{"policy": map[string]any{"reference": pick(w.rng, append(org, plain...)).ref}, "parameter": params})
		}
		if len(access) > 0 {
			membership["access"] = access
		}
		admin := i == 0 // one admin with a policy: the policy still binds clinical types
		if admin {
			membership["admin"] = true
		}
		email := fmt.Sprintf("member%d@example.com", i)
		got := w.owner.must(200, "POST", "/admin/projects/"+w.projectA+"/invite", map[string]any{
			"resourceType": "Practitioner", "firstName": "Mem", "lastName": fmt.Sprint("Ber", i),
			"email": email, "password": "member-password-1", "sendEmail": false, "membership": membership,
		})
		profile := refOf(got["profile"])
		if profile == "" {
			w.t.Fatalf("invite answered no profile: %v", got)
		}
		w.profiles = append(w.profiles, profile)
		cl := signIn(w.t, c.srv, email, "member-password-1")
		mc := mcaller{name: fmt.Sprintf("member%d", i), project: w.projectA, profile: profile, admin: admin}
		w.effective(&mc, membership, policies)
		w.callers = append(w.callers, &caller{client: cl, mcaller: mc, desc: describe(membership, policies)})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// effective is spec 2.1–2.2 in the model: sources in order, parameters
// substituted per value (structurally), readonly rewritten, the last
// compartment wins.
func (w *world) effective(mc *mcaller, membership map[string]any, policies map[string]genPolicy) {
	type source struct {
		ref  string
		vars map[string]string
	}
	var sources []source
	if ap := refOf(membership["accessPolicy"]); ap != "" {
		sources = append(sources, source{ref: ap})
	}
	access, _ := membership["access"].([]any)
	for _, a := range access {
		am := a.(map[string]any)
		vars := map[string]string{}
		params, _ := am["parameter"].([]any)
		for _, p := range params {
			pm := p.(map[string]any)
			vars[pm["name"].(string)] = refOf(pm["valueReference"])
		}
		sources = append(sources, source{ref: refOf(am["policy"]), vars: vars})
	}
	for _, s := range sources {
		vars := map[string]string{"profile": mc.profile, "patient": mc.profile}
		for k, v := range s.vars {
			vars[k] = v
		}
		subst := func(v string) string {
			if strings.HasPrefix(v, "%") {
				name, id := strings.CutSuffix(v[1:], ".id")
				if val, ok := vars[name]; ok {
					if id {
						return idPart(val)
					}
					return val
				}
			}
			return v
		}
		p := policies[s.ref].json
		if c := refOf(p["compartment"]); c != "" {
			mc.compartment = subst(c)
		}
		for _, e := range p["resource"].([]any) {
			em := e.(map[string]any)
			me := mentry{typ: em["resourceType"].(string), hidden: strList(em["hiddenFields"]), readonly: strList(em["readonlyFields"])}
			if list, ok := em["interaction"].([]any); ok {
				me.interactions = strList(list)
				if me.interactions == nil {
					me.interactions = []string{}
				}
			} else if em["readonly"] == true {
				me.interactions = readInteractions
			}
			if crit, ok := em["criteria"].(string); ok {
				me.criteria = parseCriteria(crit)
				for i, f := range me.criteria {
					for j, v := range f.values {
						me.criteria[i].values[j] = subst(v)
					}
				}
			}
			mc.entries = append(mc.entries, me)
		}
	}
}

func strList(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		out = append(out, x.(string))
	}
	return out
}

// describe summarizes a membership for reports.
func describe(membership map[string]any, policies map[string]genPolicy) string {
	var b strings.Builder
	fmt.Fprintf(&b, "admin=%v", membership["admin"] == true)
	if ap := refOf(membership["accessPolicy"]); ap != "" {
		fmt.Fprintf(&b, " accessPolicy=%v", policies[ap].json["resource"])
	}
	access, _ := membership["access"].([]any)
	for _, a := range access {
		am := a.(map[string]any)
		p := policies[refOf(am["policy"])].json
		fmt.Fprintf(&b, " access{params=%v compartment=%v resource=%v}", am["parameter"], p["compartment"], p["resource"])
	}
	return b.String()
}
