package leakfuzz

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strings"
)

// Difference kinds.
const (
	leak = "LEAK" // shown or allowed although the model forbids it
	miss = "MISS" // refused or absent although the model allows it
	diff = "DIFF" // another status, or stored state unlike the model's
)

// finding is one difference between Ward and the model.
type finding struct {
	kind, caller, request, detail string
	step                          int
}

// fuzzer sends random requests and compares each answer with the model.
type fuzzer struct {
	*world
	seed     uint64
	step     int
	findings []finding
	// strict turns off the known-difference exclusions (exclusions_test.go).
	strict bool
	// stats counts answers per request kind and status: the test logs it
	// so a run that checks nothing (everything 403) is visible.
	stats map[string]int
	// hooks are the run's rest-hook Subscriptions (subscription_test.go).
	hooks *hooks
}

func (f *fuzzer) count(request string, status int) {
	if f.stats == nil {
		f.stats = map[string]int{}
	}
	kind, _, _ := strings.Cut(request, " ")
	if strings.HasPrefix(request, "batch ") {
		kind = "batch-" + strings.Fields(request)[1]
	}
	f.stats[fmt.Sprintf("%s %d", kind, status)]++
}

func (f *fuzzer) report(kind string, c *caller, request, format string, args ...any) {
	name := "-"
	if c != nil {
		name = c.name
	}
	f.findings = append(f.findings, finding{kind: kind, caller: name, request: request, detail: fmt.Sprintf(format, args...), step: f.step})
}

// compareStatus reports a status difference: success where the model
// forbids is a leak, refusal where it allows is a miss.
func (f *fuzzer) compareStatus(c *caller, request string, want, got int, why ...string) bool {
	f.count(request, got)
	if want == got || (want == 200 && got == 204 && strings.HasPrefix(request, "DELETE")) {
		return true
	}
	reason := strings.Join(why, "; ")
	switch {
	case got < 300 && want >= 400:
		f.report(leak, c, request, "status %d, model says %d %s", got, want, reason)
	case want < 300 && got >= 400:
		f.report(miss, c, request, "status %d, model says %d %s", got, want, reason)
	default:
		f.report(diff, c, request, "status %d, model says %d %s", got, want, reason)
	}
	return false
}

// randomStep runs one random request.
func (f *fuzzer) randomStep() {
	f.step++
	c := pick(f.rng, f.callers)
	switch k := f.rng.IntN(100); {
	case k < 18:
		f.read(c)
	case k < 24:
		f.vread(c)
	case k < 30:
		f.history(c)
	case k < 55:
		f.search(c)
	case k < 68:
		f.create(c)
	case k < 82:
		f.update(c)
	case k < 85:
		f.delete(c)
	case k < 95:
		f.batch(c)
	default:
		f.enrollStep()
	}
}

// target picks any known resource (any project) or, now and then, an id
// that does not exist.
func (f *fuzzer) target() (string, *mres) {
	if f.rng.IntN(15) == 0 {
		return pick(f.rng, clinicalTypes) + "/" + randomUUID(f.rng), nil
	}
	ref := pick(f.rng, f.m.order)
	return ref, f.m.res[ref]
}

func randomUUID(rng interface{ Uint64() uint64 }) string {
	a, b := rng.Uint64(), rng.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", a>>32, a>>16&0xffff, a&0xfff, b>>48&0xfff, b&0xffffffffffff)
}

func typeOf(ref string) string { t, _, _ := strings.Cut(ref, "/"); return t }

// explain describes the model's view of r for c, for reports.
func explain(c *caller, r *mres) string {
	if r == nil {
		return "(unknown to the model)"
	}
	return fmt.Sprintf("model: %s project=%s (caller's: %v) deleted=%v accounts=%v compartments=%v body=%v; read=%v search=%v update=%v delete=%v",
		r.ref(), r.project, r.project == c.project, r.deleted, r.accounts, r.compartments(), r.body, c.can(iRead, r), c.can(iSearch, r), c.can(iUpdate, r), c.can(iDelete, r))
}

// entriesOf lists c's entries that apply to typ, for reports.
func entriesOf(c *caller, typ string) string {
	var out []string
	for _, e := range c.entries {
		if e.typ == typ || e.typ == "*" {
			out = append(out, fmt.Sprintf("{%s interactions=%v criteria=%v}", e.typ, e.interactions, e.criteria))
		}
	}
	return "entries: " + strings.Join(out, " ")
}

// wardView is how the resource's owner sees ref in extended mode: its
// stored accounts and compartments, for reports.
func (f *fuzzer) wardView(ref string) string {
	r := f.m.res[ref]
	owner := f.owner
	if r != nil && r.project == f.projectB {
		owner = f.ownerB
	}
	a := owner.do("GET", ref, "", "X-Medplum", "extended")
	meta, _ := a.body["meta"].(map[string]any)
	return fmt.Sprintf("ward (owner, extended): %d accounts=%v compartment=%v", a.status, refStrings(meta["accounts"]), refStrings(meta["compartment"]))
}

// readStatus is the model's answer to a read (spec 2.6, 2.10).
func readStatus(c *caller, typ string, r *mres) int {
	switch {
	case !c.shallow(iRead, typ):
		return 403
	case r == nil || !c.can(iRead, r):
		return 404
	case r.deleted:
		return 410
	}
	return 200
}

// checkShown compares one returned resource with the model: hidden fields
// absent (else a leak), every other field present with the model's value.
func (f *fuzzer) checkShown(c *caller, request string, r *mres, got map[string]any) {
	if r == nil || r.tainted {
		return
	}
	hidden := c.hiddenFor(r)
	for _, p := range hidden {
		if hasPath(got, p) {
			f.report(leak, c, request, "%s shows hidden field %q", r.ref(), p)
		}
	}
	// The output gate's meta rule (spec 2.8): author, project, account and
	// compartment only for a request in extended mode.
	if !strings.Contains(request, "extended=true") {
		meta, _ := got["meta"].(map[string]any)
		for _, k := range []string{"author", "project", "account", "compartment"} {
			if _, ok := meta[k]; ok {
				f.report(leak, c, request, "%s shows meta.%s outside extended mode", r.ref(), k)
			}
		}
	}
	for k, v := range r.body {
		if slices.Contains(hidden, k) {
			continue
		}
		gv, ok := got[k]
		switch {
		case !ok:
			f.report(miss, c, request, "%s lacks field %q", r.ref(), k)
		case k == "status" || k == "gender" || k == "active":
			if !reflect.DeepEqual(gv, v) {
				f.report(diff, c, request, "%s %s=%v, model %v", r.ref(), k, gv, v)
			}
		}
	}
}

func (f *fuzzer) read(c *caller) {
	ref, r := f.target()
	if r != nil && r.tainted {
		return
	}
	req := "GET " + ref
	a := c.do("GET", ref, "")
	if f.compareStatus(c, req, readStatus(c, typeOf(ref), r), a.status, explain(c, r), f.wardView(ref)) && a.status == 200 {
		f.checkShown(c, req, r, a.body)
	}
}

// liveTarget picks a known, non-deleted, untainted resource.
func (f *fuzzer) liveTarget() *mres {
	for range 20 {
		if r := f.m.res[pick(f.rng, f.m.order)]; !r.deleted && !r.tainted {
			return r
		}
	}
	return nil
}

// historyStatus: read with read rules, then the interaction itself (2.7).
func historyStatus(c *caller, interaction string, r *mres) int {
	if s := readStatus(c, r.typ, r); s != 200 {
		return s
	}
	if !c.can(interaction, r) {
		return 403
	}
	return 200
}

func (f *fuzzer) vread(c *caller) {
	r := f.liveTarget()
	if r == nil {
		return
	}
	var known []string
	for _, v := range r.versions {
		if v != "" {
			known = append(known, v)
		}
	}
	if len(known) == 0 {
		return
	}
	req := "GET " + r.ref() + "/_history/" + pick(f.rng, known)
	a := c.do("GET", strings.TrimPrefix(req, "GET "), "")
	if f.compareStatus(c, req, historyStatus(c, iVread, r), a.status, explain(c, r), entriesOf(c, r.typ)) && a.status == 200 {
		for _, p := range c.hiddenFor(r) {
			if hasPath(a.body, p) {
				f.report(leak, c, req, "version shows hidden field %q", p)
			}
		}
	}
}

func (f *fuzzer) history(c *caller) {
	r := f.liveTarget()
	if r == nil {
		return
	}
	req := "GET " + r.ref() + "/_history"
	a := c.do("GET", r.ref()+"/_history", "")
	if !f.compareStatus(c, req, historyStatus(c, iHistory, r), a.status, explain(c, r), entriesOf(c, r.typ)) || a.status != 200 {
		return
	}
	entries, _ := a.body["entry"].([]any)
	for page, next := 0, linkOf(a.body, "next"); next != "" && page < 100; page++ {
		p := c.do("GET", next, "")
		more, _ := p.body["entry"].([]any)
		entries = append(entries, more...)
		next = linkOf(p.body, "next")
	}
	if len(entries) != len(r.versions) {
		var got []string
		for _, e := range entries {
			res, _ := e.(map[string]any)["resource"].(map[string]any)
			got = append(got, versionOf(res))
		}
		f.report(diff, c, req, "%d versions %v, model has %d %v", len(entries), got, len(r.versions), r.versions)
	}
	for _, e := range entries {
		res, _ := e.(map[string]any)["resource"].(map[string]any)
		for _, p := range c.hiddenFor(r) {
			if hasPath(res, p) {
				f.report(leak, c, req, "history entry shows hidden field %q", p)
			}
		}
	}
}

// Search.

func (f *fuzzer) search(c *caller) {
	typ := pick(f.rng, clinicalTypes)
	q, filters := f.randomQuery(c, typ)
	var includeType string // the type _include / _revinclude brings in
	mode := f.rng.IntN(6)
	switch {
	case mode == 0:
		q.Set("_count", fmt.Sprint(1+f.rng.IntN(4)))
	case mode == 1:
		q.Set("_summary", "count")
	case mode == 2 && typ != "Patient":
		q.Set("_include", typ+":subject")
		includeType = "Patient"
	case mode == 2:
		includeType = pick(f.rng, clinicalTypes[1:])
		q.Set("_revinclude", includeType+":subject")
	}
	var expect []*mres
	for _, r := range f.m.searchable(&c.mcaller, typ) {
		if matchAll(filters, r) {
			expect = append(expect, r)
		}
	}
	switch n := q.Get("_count"); {
	case n == "":
		q.Set("_count", "1000")
	case len(expect) > 50: // keep paging under ~50 pages
		q.Set("_count", fmt.Sprint(len(expect)/50+1))
	}
	req := "GET " + typ + "?" + q.Encode()
	want := 200
	if !c.shallow(iSearch, typ) {
		want = 403
	}
	a := c.do("GET", typ+"?"+q.Encode(), "")
	if !f.compareStatus(c, req, want, a.status) || a.status != 200 {
		return
	}
	if q.Get("_summary") == "count" {
		f.stats["search count"]++
		total, _ := a.body["total"].(float64)
		if n := len(expect); int(total) != n && !anyTainted(f.m, typ) {
			kind := leak
			if int(total) < n {
				kind = miss
			}
			f.report(kind, c, req, "total %v, model counts %d", a.body["total"], n)
		}
		return
	}
	matches, includes := f.collect(c, req, a.body)
	f.stats["search matches"] += len(matches)
	if q.Has("_filter") {
		f.stats["search _filter"]++
		f.stats["search _filter matches"] += len(matches)
	}
	f.stats["search includes"] += len(includes)
	if q.Get("_count") != "1000" {
		f.stats["search paged"]++
	}
	f.compareSet(c, req, "match", refs(expect), matches)
	if includeType != "" {
		f.compareSet(c, req, "include", f.expectIncludes(c, typ, includeType, expect), includes)
	}
}

func anyTainted(m *model, typ string) bool {
	for _, r := range m.res {
		if r.typ == typ && r.tainted {
			return true
		}
	}
	return false
}

// randomQuery draws 0–2 filters the model can evaluate.
func (f *fuzzer) randomQuery(c *caller, typ string) (url.Values, []filter) {
	q := url.Values{}
	var filters []filter
	add := func(code string, values ...string) {
		q.Add(code, strings.Join(values, ","))
		filters = append(filters, filter{code: code, values: values})
	}
	for range f.rng.IntN(3) {
		switch f.rng.IntN(7) {
		case 6: // a _filter of comparisons joined by or / and, some negated
			e := f.randomFilterExpr(c, typ, 2)
			q.Add("_filter", e.text)
			filters = append(filters, filter{code: "_filter", eval: e.eval})
		case 5: // a chained or reverse-chained hop through the patient
			if typ == "Patient" {
				hasType := pick(f.rng, clinicalTypes[1:])
				code, v := "_has:"+hasType+":subject:status", pick(f.rng, statuses(hasType))
				q.Add(code, v)
				filters = append(filters, filter{code: code, values: []string{v}, hop: f.hasHop(c, hasType)})
			} else {
				code, v := "subject:Patient.gender", pick(f.rng, []string{"male", "female"})
				q.Add(code, v)
				filters = append(filters, filter{code: code, values: []string{v}, hop: f.chainHop(c)})
			}
		case 0:
			add("_id", idPart(pick(f.rng, f.m.order)), idPart(pick(f.rng, f.m.order)))
		case 1: // one or two values (OR); repeats AND; now and then :not
			pool := append(append(append([]string{}, f.clinics...), f.consents...), f.profiles...)
			pool = append(pool, f.refsOf("Patient", f.projectA)...)
			values := []string{pick(f.rng, pool)}
			if f.rng.IntN(3) == 0 {
				values = append(values, pick(f.rng, pool))
			}
			code := "_compartment"
			if f.rng.IntN(5) == 0 {
				code = "_compartment:not"
			}
			add(code, values...)
		case 2:
			if typ == "Patient" {
				add("gender", pick(f.rng, []string{"male", "female"}))
			} else {
				add("status", pick(f.rng, statuses(typ)))
			}
		default:
			if patients := f.refsOf("Patient", pick(f.rng, []string{f.projectA, f.projectB})); typ != "Patient" && len(patients) > 0 {
				add("subject", pick(f.rng, patients))
			}
		}
	}
	return q, filters
}

// filterExpr is a random _filter expression and what it means.
type filterExpr struct {
	text string
	eval func(*mres) bool
}

// randomFilterExpr draws 2–3 terms — comparisons, negated comparisons and,
// depth allowing, parenthesised expressions — joined by and / or without
// parentheses, so they nest from the right, as Medplum reads them.
func (f *fuzzer) randomFilterExpr(c *caller, typ string, depth int) filterExpr {
	n := 2 + f.rng.IntN(2)
	terms := make([]filterExpr, n)
	for i := range terms {
		switch r := f.rng.IntN(6); {
		case r == 0:
			e := f.randomComparison(c, typ)
			terms[i] = filterExpr{"not (" + e.text + ")", func(r *mres) bool { return !e.eval(r) }}
		case r == 1 && depth > 0:
			e := f.randomFilterExpr(c, typ, depth-1)
			terms[i] = filterExpr{"(" + e.text + ")", e.eval}
		default:
			terms[i] = f.randomComparison(c, typ)
		}
	}
	e := terms[n-1]
	for i := n - 2; i >= 0; i-- {
		left, right := terms[i], e
		if f.rng.IntN(2) == 0 {
			e = filterExpr{left.text + " or " + right.text, func(r *mres) bool { return left.eval(r) || right.eval(r) }}
		} else {
			e = filterExpr{left.text + " and " + right.text, func(r *mres) bool { return left.eval(r) && right.eval(r) }}
		}
	}
	return e
}

// randomComparison is one _filter comparison the model can evaluate.
func (f *fuzzer) randomComparison(c *caller, typ string) filterExpr {
	is := func(code, v string) filterExpr {
		return filterExpr{code + " eq " + v, func(r *mres) bool { return valueMatches(code, v, r) }}
	}
	switch f.rng.IntN(5) {
	case 0:
		pool := append(append(append([]string{}, f.clinics...), f.consents...), f.profiles...)
		return is("_compartment", pick(f.rng, pool))
	case 1:
		if typ == "Patient" {
			return is("gender", pick(f.rng, []string{"male", "female"}))
		}
		return is("status", pick(f.rng, statuses(typ)))
	case 2:
		if patients := f.refsOf("Patient", pick(f.rng, []string{f.projectA, f.projectB})); typ != "Patient" && len(patients) > 0 {
			return is("subject", pick(f.rng, patients))
		}
	case 3:
		if typ != "Patient" {
			v, hop := pick(f.rng, []string{"male", "female"}), f.chainHop(c)
			return filterExpr{"subject:Patient.gender eq " + v, func(r *mres) bool { return hop(r, v) }}
		}
	}
	return is("_id", idPart(pick(f.rng, f.m.order)))
}

// chainHop is subject:Patient.gender=v: a subject the caller may search
// (spec 2.6: every link of a chain is filtered) with that gender.
func (f *fuzzer) chainHop(c *caller) func(*mres, string) bool {
	return func(r *mres, v string) bool {
		for _, p := range patientRefs(r.typ, r.body) {
			if pr := f.m.res[p]; pr != nil && !pr.deleted && pr.body["gender"] == v && c.can(iSearch, pr) {
				return true
			}
		}
		return false
	}
}

// hasHop is _has:<T>:subject:status=v on Patient: some resource of T the
// caller may search, about this patient, with that status.
func (f *fuzzer) hasHop(c *caller, typ string) func(*mres, string) bool {
	return func(r *mres, v string) bool {
		for _, o := range f.m.searchable(&c.mcaller, typ) {
			if o.body["status"] == v && slices.Contains(patientRefs(o.typ, o.body), r.ref()) {
				return true
			}
		}
		return false
	}
}

// collect gathers the matches and includes of a search, following next
// links, and checks each returned resource's fields.
func (f *fuzzer) collect(c *caller, req string, bundle map[string]any) (matches, includes []string) {
	for page := 0; bundle != nil && page < 100; page++ {
		entries, _ := bundle["entry"].([]any)
		for _, e := range entries {
			em, _ := e.(map[string]any)
			res, _ := em["resource"].(map[string]any)
			ref := fmt.Sprint(res["resourceType"], "/", res["id"])
			mode, _ := em["search"].(map[string]any)
			if mode != nil && mode["mode"] == "include" {
				includes = append(includes, ref)
			} else {
				matches = append(matches, ref)
			}
			if r := f.m.res[ref]; r != nil && c.can(iRead, r) {
				f.checkShown(c, req, r, res)
			}
		}
		next := linkOf(bundle, "next")
		if next == "" {
			break
		}
		a := c.do("GET", next, "")
		if a.status != 200 {
			f.report(diff, c, req, "next page %s: %d", next, a.status)
			break
		}
		bundle = a.body
	}
	return matches, includes
}

func linkOf(bundle map[string]any, relation string) string {
	links, _ := bundle["link"].([]any)
	for _, l := range links {
		lm, _ := l.(map[string]any)
		if lm["relation"] == relation {
			u, _ := lm["url"].(string)
			return u
		}
	}
	return ""
}

func refs(rs []*mres) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ref())
	}
	return out
}

// expectIncludes: _include brings the matches' subjects, _revinclude the
// resources of includeType whose subject is a match; either only where
// the caller's search rules allow (spec 2.6: includes are filtered too).
func (f *fuzzer) expectIncludes(c *caller, typ, includeType string, matches []*mres) []string {
	var out []string
	if typ != "Patient" {
		for _, r := range matches {
			for _, p := range patientRefs(r.typ, r.body) {
				if pr := f.m.res[p]; pr != nil && !pr.deleted && c.can(iSearch, pr) {
					out = append(out, p)
				}
			}
		}
		return dedup(out)
	}
	for _, r := range f.m.searchable(&c.mcaller, includeType) {
		for _, p := range patientRefs(r.typ, r.body) {
			if slices.Contains(refs(matches), p) {
				out = append(out, r.ref())
			}
		}
	}
	return dedup(out)
}

// compareSet reports what was shown but not expected (leaks), expected
// but not shown (misses) and duplicates; tainted resources are ignored.
func (f *fuzzer) compareSet(c *caller, req, what string, want, got []string) {
	seen := map[string]bool{}
	var leaks, misses []string
	for _, ref := range got {
		if seen[ref] && what == "match" {
			f.report(diff, c, req, "%s %s returned twice", what, ref)
		}
		seen[ref] = true
		if r := f.m.res[ref]; r != nil && r.tainted {
			continue
		}
		if !slices.Contains(want, ref) {
			leaks = append(leaks, ref)
		}
	}
	for _, ref := range want {
		if !seen[ref] && !f.m.res[ref].tainted {
			misses = append(misses, ref)
		}
	}
	if len(leaks) > 0 {
		var views []string
		for _, ref := range leaks {
			views = append(views, explain(c, f.m.res[ref])+"; "+f.wardView(ref))
		}
		f.report(leak, c, req, "%s shown, model forbids or does not match: %v\n      %s", what, leaks, strings.Join(views, "\n      "))
	}
	if len(misses) > 0 {
		f.report(miss, c, req, "%s missing, model allows: %v", what, misses)
	}
}

// Writes.

// deepClone copies a JSON tree.
func deepClone(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	json.Unmarshal(b, &out)
	return out
}

// accountWrite is how a write submits accounts: the X-Medplum: extended
// header and the meta.accounts sent (nil: no meta).
type accountWrite struct {
	extended  bool
	submitted []string
}

func (w accountWrite) headers() []string {
	if w.extended {
		return []string{"X-Medplum", "extended"}
	}
	return nil
}

// smuggle sometimes submits accounts, with or without extended mode: only
// an admin in extended mode may set them (spec 3.2); anyone else's are
// ignored.
func (f *fuzzer) smuggle(c *caller, body map[string]any) (map[string]any, accountWrite) {
	out := deepClone(body)
	var w accountWrite
	w.extended = f.rng.IntN(3) == 0
	if f.rng.IntN(4) == 0 {
		w.submitted = []string{pick(f.rng, f.clinics)}
		if f.rng.IntN(2) == 0 {
			w.submitted = append(w.submitted, pick(f.rng, f.consents))
		}
		out["meta"] = map[string]any{"accounts": refList(w.submitted)}
	}
	return out, w
}

// accountsFor is the accounts of a write: an admin in extended mode that
// sent meta gets exactly what it sent, anyone else the derived ones.
func (f *fuzzer) accountsFor(c *caller, typ string, body map[string]any, existing *mres, w accountWrite) []string {
	if c.admin && w.extended && w.submitted != nil {
		return w.submitted
	}
	return f.m.derivedAccounts(&c.mcaller, typ, body, existing)
}

// expectCreate is spec 2.7 for a create: the stored resource, or the
// refusal status.
func (f *fuzzer) expectCreate(c *caller, typ string, body map[string]any, w accountWrite) (*mres, int) {
	if !c.shallow(iCreate, typ) {
		return nil, 403
	}
	nr := &mres{typ: typ, project: c.project, body: deepClone(body), author: c.name}
	nr.accounts = f.accountsFor(c, typ, body, nil, w)
	e := c.entryFor(iCreate, nr)
	if e == nil {
		return nil, 403
	}
	stripFields(nr.body, append(slices.Clone(e.readonly), e.hidden...))
	if c.entryFor(iCreate, nr) == nil {
		return nil, 403
	}
	return nr, 201
}

func (f *fuzzer) create(c *caller) {
	typ := pick(f.rng, clinicalTypes)
	body := f.body(typ, c.project)
	sent, w := f.smuggle(c, body)
	raw, _ := json.Marshal(sent)
	req := fmt.Sprintf("POST %s %s (extended=%v)", typ, raw, w.extended)
	nr, want := f.expectCreate(c, typ, body, w)
	a := c.do("POST", typ, string(raw), w.headers()...)
	f.recordCreate(c, req, nr, want, a.status, a.body)
}

// recordCreate compares a create's outcome and records what Ward stored.
func (f *fuzzer) recordCreate(c *caller, req string, nr *mres, want, got int, body map[string]any) {
	why := "(model refuses)"
	if nr != nil {
		why = explain(c, nr)
	}
	ok := f.compareStatus(c, req, want, got, why, fmt.Sprint("ward: ", body))
	if got != 201 {
		return
	}
	id, _ := body["id"].(string)
	if nr == nil { // a leak: keep the resource, but the model cannot vouch for it
		typ, _ := body["resourceType"].(string)
		f.m.add(&mres{typ: typ, id: id, project: c.project, body: map[string]any{}, tainted: true})
		return
	}
	nr.id, nr.versions = id, []string{versionOf(body)}
	f.m.add(nr)
	if ok {
		f.checkShown(c, req, nr, body)
	}
	for _, p := range c.hiddenFor(nr) {
		if hasPath(body, p) {
			f.report(leak, c, req, "created %s shows hidden field %q", nr.ref(), p)
		}
	}
}

// mutate changes one or two fields of a copy of body.
func (f *fuzzer) mutate(r *mres) map[string]any {
	b := deepClone(r.body)
	for range 1 + f.rng.IntN(2) {
		switch f.rng.IntN(5) {
		case 0:
			if r.typ == "Patient" {
				b["gender"] = pick(f.rng, []string{"male", "female"})
			} else {
				b["status"] = pick(f.rng, statuses(r.typ))
			}
		case 1:
			switch r.typ {
			case "Patient":
				b["active"] = f.rng.IntN(2) == 0
			case "Observation":
				b["issued"] = fmt.Sprintf("2025-02-0%dT00:00:00Z", 1+f.rng.IntN(9))
			case "Task":
				b["description"] = fmt.Sprintf("changed %d", f.rng.IntN(1000))
			}
		case 2:
			if r.typ == "Patient" {
				b["birthDate"] = fmt.Sprintf("1970-01-1%d", f.rng.IntN(10))
			} else if r.typ != "Encounter" && r.typ != "DiagnosticReport" {
				b["note"] = []any{map[string]any{"text": fmt.Sprintf("edited %d", f.rng.IntN(1000))}}
			}
		default:
			if patients := f.refsOf("Patient", r.project); r.typ != "Patient" && len(patients) > 0 {
				b[patientFields(r.typ)[0]] = map[string]any{"reference": pick(f.rng, patients)}
			}
		}
	}
	return b
}

// expectUpdate is spec 2.7 for an update of r by c with body: the new
// state (when the pre-check passed), whether it is a no-op, and the status.
func (f *fuzzer) expectUpdate(c *caller, r *mres, body map[string]any, w accountWrite) (*mres, bool, int) {
	if r.project != c.project {
		// Intended, not Medplum's status: another project's resource is
		// always 404 (issue 3, internal/wire/isolation_tokens_test.go),
		// even for a caller lacking the type-level update or read grant,
		// where spec 2.7 steps 2-3 / 2.10 answer 403. 404 says less.
		return nil, false, 404
	}
	if !c.shallow(iUpdate, r.typ) {
		return nil, false, 403
	}
	if s := readStatus(c, r.typ, r); s != 200 {
		return nil, false, s
	}
	e := c.entryFor(iUpdate, r)
	if e == nil {
		return nil, false, 403
	}
	nb := deepClone(body)
	for _, p := range append(slices.Clone(e.readonly), e.hidden...) {
		if strings.Contains(p, ".") {
			stripPath(nb, strings.Split(p, "."))
			continue
		}
		if old, ok := r.body[p]; ok {
			nb[p] = old
		} else {
			delete(nb, p)
		}
	}
	nr := &mres{typ: r.typ, id: r.id, project: r.project, body: nb, author: c.name}
	nr.accounts = f.accountsFor(c, r.typ, nb, r, w)
	// A no-op keeps the version: same content, accounts (in order) and author (the
	// author is part of meta, so another writer makes a new version).
	if reflect.DeepEqual(deepClone(r.body), nb) && slices.Equal(nr.accounts, r.accounts) && r.author == c.name {
		return nr, true, 200
	}
	if !c.can(iUpdate, nr) {
		return nr, false, 403
	}
	return nr, false, 200
}

func (f *fuzzer) update(c *caller) {
	r := f.liveTarget()
	if r == nil {
		return
	}
	body := f.mutate(r)
	sent, w := f.smuggle(c, body)
	sent["id"] = r.id
	raw, _ := json.Marshal(sent)
	req := fmt.Sprintf("PUT %s %s (extended=%v)", r.ref(), raw, w.extended)
	nr, noop, want := f.expectUpdate(c, r, body, w)
	a := c.do("PUT", r.ref(), string(raw), w.headers()...)
	f.recordUpdate(c, req, r, nr, noop, want, a.status, a.body, a.raw)
}

// recordUpdate compares an update's outcome and records the new state.
func (f *fuzzer) recordUpdate(c *caller, req string, r, nr *mres, noop bool, want, status int, body map[string]any, raw string) {
	why := explain(c, r) + "; " + entriesOf(c, r.typ)
	if nr != nil {
		why += "; new state " + explain(c, nr)
	}
	ok := f.compareStatus(c, req, want, status, why, "ward: "+raw)
	if !ok {
		if status == 200 || want == 200 {
			r.tainted = true // the model no longer knows this resource's state
		}
		return
	}
	if status != 200 {
		return
	}
	v := versionOf(body)
	if noop {
		if v != r.versions[len(r.versions)-1] && r.versions[len(r.versions)-1] != "" {
			f.report(diff, c, req, "no-op update wrote version %s", v)
			r.versions = append(r.versions, v)
		}
		return
	}
	r.body, r.accounts, r.author = nr.body, nr.accounts, c.name
	if v == r.versions[len(r.versions)-1] {
		f.report(diff, c, req, "update kept version %s, model expects a change: %s", v, explain(c, r))
		return
	}
	r.versions = append(r.versions, v)
	f.checkShown(c, req, r, body)
}

func (f *fuzzer) delete(c *caller) {
	r := f.liveTarget()
	if r == nil || (r.typ == "Patient" && f.rng.IntN(3) != 0) {
		return
	}
	want := readStatus(c, r.typ, r)
	if want == 200 && !c.can(iDelete, r) {
		want = 403
	}
	req := "DELETE " + r.ref()
	a := c.do("DELETE", r.ref(), "")
	ok := f.compareStatus(c, req, want, a.status, explain(c, r))
	if a.status < 300 {
		r.deleted = true
		r.tainted = r.tainted || !ok
	}
}

// batch sends reads and creates in one batch Bundle and compares each
// entry's status.
func (f *fuzzer) batch(c *caller) {
	type planned struct {
		req  string
		want int
		r    *mres // read or update target
		nr   *mres // expected created or updated resource
		noop bool
	}
	var plan []planned
	var entries []any
	touched := map[string]bool{} // one entry per resource: entry order never matters
	for range 2 + f.rng.IntN(4) {
		if f.rng.IntN(4) == 0 {
			r := f.liveTarget()
			if r == nil || touched[r.ref()] {
				continue
			}
			touched[r.ref()] = true
			body := f.mutate(r)
			nr, noop, want := f.expectUpdate(c, r, body, accountWrite{})
			sent := deepClone(body)
			sent["id"] = r.id
			entries = append(entries, map[string]any{"resource": sent, "request": map[string]any{"method": "PUT", "url": r.ref()}})
			b, _ := json.Marshal(sent)
			plan = append(plan, planned{req: "batch PUT " + r.ref() + " " + string(b), want: want, r: r, nr: nr, noop: noop})
			continue
		}
		if f.rng.IntN(3) == 0 {
			typ := pick(f.rng, clinicalTypes)
			body := f.body(typ, c.project)
			nr, want := f.expectCreate(c, typ, body, accountWrite{})
			entries = append(entries, map[string]any{"resource": body, "request": map[string]any{"method": "POST", "url": typ}})
			b, _ := json.Marshal(body)
			plan = append(plan, planned{req: "batch POST " + typ + " " + string(b), want: want, nr: nr})
			continue
		}
		ref, r := f.target()
		if touched[ref] {
			ref, r = typeOf(ref)+"/"+randomUUID(f.rng), nil
		}
		touched[ref] = true
		entries = append(entries, map[string]any{"request": map[string]any{"method": "GET", "url": ref}})
		plan = append(plan, planned{req: "batch GET " + ref, want: readStatus(c, typeOf(ref), r), r: r})
	}
	bundle, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "batch", "entry": entries})
	a := c.do("POST", "", string(bundle))
	if a.status != 200 {
		f.report(diff, c, "POST batch "+string(bundle), "status %d %s", a.status, a.raw)
		return
	}
	got, _ := a.body["entry"].([]any)
	if len(got) != len(plan) {
		f.report(diff, c, "POST batch", "%d entries answered, %d sent", len(got), len(plan))
		return
	}
	for i, p := range plan {
		em, _ := got[i].(map[string]any)
		resp, _ := em["response"].(map[string]any)
		status := 0
		fmt.Sscan(fmt.Sprint(resp["status"]), &status)
		res, _ := em["resource"].(map[string]any)
		if p.r != nil && p.r.tainted {
			continue
		}
		if strings.HasPrefix(p.req, "batch POST") {
			f.recordCreate(c, p.req, p.nr, p.want, status, res)
			continue
		}
		if strings.HasPrefix(p.req, "batch PUT") {
			raw, _ := json.Marshal(em)
			f.recordUpdate(c, p.req, p.r, p.nr, p.noop, p.want, status, res, string(raw))
			continue
		}
		if f.compareStatus(c, p.req, p.want, status, explain(c, p.r), f.wardView(strings.TrimPrefix(p.req, "batch GET "))) && status == 200 {
			f.checkShown(c, p.req, p.r, res)
		}
	}
}

// enrollStep is an MSO enrollment change by the owner.
func (f *fuzzer) enrollStep() {
	patients := f.refsOf("Patient", f.projectA)
	if len(patients) == 0 {
		return
	}
	ref := pick(f.rng, patients)
	if f.m.res[ref].tainted {
		return
	}
	if failure := f.enroll(ref); failure != "" {
		f.report(diff, f.owner, "enroll", "%s", failure)
	}
}

// checkState compares every stored resource's accounts and compartments,
// as its project's owner reads them in extended mode, with the model.
func (f *fuzzer) checkState() {
	for _, ref := range f.m.order {
		r := f.m.res[ref]
		if r.deleted || r.tainted {
			continue
		}
		owner := f.owner
		if r.project == f.projectB {
			owner = f.ownerB
		}
		a := owner.do("GET", ref, "", "X-Medplum", "extended")
		if a.status != 200 {
			f.report(diff, owner, "GET "+ref+" (state)", "status %d", a.status)
			continue
		}
		meta, _ := a.body["meta"].(map[string]any)
		accounts := refStrings(meta["accounts"])
		if !sameSet(accounts, r.accounts) {
			f.report(diff, owner, "GET "+ref+" (state)", "meta.accounts %v, model %v", accounts, r.accounts)
		}
		compartments := refStrings(meta["compartment"])
		if want := r.compartments(); !sameSet(compartments, want) {
			f.report(diff, owner, "GET "+ref+" (state)", "meta.compartment %v, model %v", compartments, want)
		}
	}
}

func refStrings(v any) []string {
	list, _ := v.([]any)
	var out []string
	for _, x := range list {
		out = append(out, refOf(x))
	}
	sort.Strings(out)
	return out
}
