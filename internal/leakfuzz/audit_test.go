package leakfuzz

import (
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// The audit trail under the walls (issue 11). Every request of the run is
// recorded in its caller's project; afterwards each caller searches the
// trail and reads records by id. The model does not predict the records
// themselves, so this checks one direction, the one that matters: nothing
// a caller is shown is outside its project or outside its policy (the
// AuditEvent evaluated by the model's own rules), and a caller whose policy
// grants no AuditEvent is refused.

// auditRes is the model's view of a shown AuditEvent.
func auditRes(ev map[string]any) *mres {
	meta, _ := ev["meta"].(map[string]any)
	project, _ := meta["project"].(string)
	id, _ := ev["id"].(string)
	body := map[string]any{}
	for k, v := range ev {
		if k != "meta" {
			body[k] = v
		}
	}
	r := &mres{typ: "AuditEvent", id: id, project: project, body: body}
	for _, a := range listOf(meta["accounts"]) {
		if ref := refOf(a); ref != "" {
			r.accounts = append(r.accounts, ref)
		}
	}
	return r
}

func listOf(v any) []any {
	l, _ := v.([]any)
	return l
}

// auditPatientRefs are the patients an AuditEvent concerns: its agents and
// entities that are Patients (the R4 AuditEvent "patient" parameter).
func auditPatientRefs(body map[string]any) []string {
	var out []string
	for _, a := range listOf(body["agent"]) {
		if m, ok := a.(map[string]any); ok && strings.HasPrefix(refOf(m["who"]), "Patient/") {
			out = append(out, refOf(m["who"]))
		}
	}
	for _, e := range listOf(body["entity"]) {
		if m, ok := e.(map[string]any); ok && strings.HasPrefix(refOf(m["what"]), "Patient/") {
			out = append(out, refOf(m["what"]))
		}
	}
	return out
}

// checkAuditTrail has every caller search and read the trail.
func (f *fuzzer) checkAuditTrail() {
	seen := map[string]*mres{} // every record shown to anyone, by id
	for _, c := range f.callers {
		queries := []string{"_count=1000", "outcome=4&_count=1000"}
		if patients := f.refsOf("Patient", f.projectA); len(patients) > 0 {
			queries = append(queries, "patient="+url.QueryEscape(pick(f.rng, patients))+"&_count=1000")
		}
		if c.profile != "" {
			queries = append(queries, "agent="+url.QueryEscape(c.profile)+"&_count=1000")
		}
		for _, q := range queries {
			req := "GET AuditEvent?" + q
			want := 200
			if !c.shallow(iSearch, "AuditEvent") {
				want = 403
			}
			a := c.do("GET", "AuditEvent?"+q, "", "X-Medplum", "extended") // meta.project shows
			if !f.compareStatus(c, req, want, a.status) || a.status != 200 {
				continue
			}
			for _, e := range listOf(a.body["entry"]) {
				ev, _ := e.(map[string]any)["resource"].(map[string]any)
				r := auditRes(ev)
				seen[r.id] = r
				f.stats["audit records shown"]++
				switch {
				case r.project != c.project:
					f.report(leak, c, req, "AuditEvent/%s of project %s shown to a caller of %s", r.id, r.project, c.project)
				case !c.can(iSearch, r):
					f.report(leak, c, req, "AuditEvent/%s shown, but no rule of the caller's policy matches it", r.id)
				}
			}
		}
	}
	// Reads by id of a sample of the records shown to someone: 404 outside
	// the reader's project or policy.
	var sample []*mres
	for _, id := range slices.Sorted(maps.Keys(seen)) {
		if len(sample) < 40 && f.rng.IntN(max(1, len(seen)/40)) == 0 {
			sample = append(sample, seen[id])
		}
	}
	for _, c := range f.callers {
		for _, r := range sample {
			want := 200
			switch {
			case !c.shallow(iRead, "AuditEvent"):
				want = 403
			case !c.can(iRead, r):
				want = 404
			}
			a := c.do("GET", "AuditEvent/"+r.id, "")
			f.stats[fmt.Sprintf("audit read %d", a.status)]++
			f.compareStatus(c, fmt.Sprintf("GET AuditEvent/%s (of %s)", r.id, r.project), want, a.status)
		}
	}
}
