package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// everythingIDs returns "Type/id" of every match of every page of size
// count, checking HasMore on the way.
func everythingIDs(t *testing.T, f *saFixture, ctx func() (string, []string, string), count int) []string {
	t.Helper()
	id, types, since := ctx()
	var out []string
	for offset := 0; ; offset += count {
		res, err := f.s.PatientEverything(f.admin, id, types, since, count, offset)
		if err != nil {
			t.Fatalf("$everything offset %d: %v", offset, err)
		}
		for _, m := range res.Matches {
			out = append(out, m.Reference())
		}
		if !res.HasMore {
			return out
		}
		if len(res.Matches) != count {
			t.Fatalf("offset %d: %d matches with a next page, want %d", offset, len(res.Matches), count)
		}
	}
}

func refsOf(res *ward.SearchResult) []string {
	if res == nil {
		return nil
	}
	var out []string
	for _, m := range res.Matches {
		out = append(out, m.Reference())
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestEverythingIsTheCompartment: row 54 (the match entries are what
// $set-accounts counted), paging, _type, _since, deleted members, other
// patients and other projects.
func TestEverythingIsTheCompartment(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		f := newSAFixture(t, s)
		n := f.set(t, "Patient", f.patient, true, f.o1, f.o2)
		cond := f.about(t, "Condition", `"code":{"text":"flu"}`)
		gone := f.about(t, "Observation", `"status":"final","code":{"text":"deleted"}`)
		if err := tryDelete(s, f.admin, "Observation", gone); err != nil {
			t.Fatal(err)
		}
		// Not members: another patient's record, a resource of another
		// project about this patient's id.
		other := create(t, s, f.admin, "Patient", `{"resourceType":"Patient"}`).ID
		create(t, s, f.admin, "Observation", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/`+other+`"}}`)
		foreign := ward.NewContextWithPrincipal(f.admin, &ward.Principal{ProjectID: uuid.NewString(), Admin: true})
		create(t, s, foreign, "Observation", `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/`+f.patient+`"}}`)

		all := []string{"Patient/" + f.patient, "Observation/" + f.obs, "DiagnosticReport/" + f.dr, "Condition/" + cond}
		q := func(types []string, since string) func() (string, []string, string) {
			return func() (string, []string, string) { return f.patient, types, since }
		}
		if got := everythingIDs(t, f, q(nil, ""), 0); len(got) != n+1 {
			// n counted the patient and its two children before the Condition.
			t.Errorf("row 54: %d matches %v, want resourcesUpdated %d + the Condition", len(got), got, n)
		}
		for _, tt := range []struct {
			name  string
			q     func() (string, []string, string)
			count int
			want  []string
		}{
			{"everything", q(nil, ""), 0, all},
			{"pages of one", q(nil, ""), 1, all},
			{"pages of three", q(nil, ""), 3, all},
			{"_type keeps the patient", q([]string{"Observation"}, ""), 0, all[:2]},
			{"_type outside the compartment", q([]string{"Organization"}, ""), 0, all[:1]},
			{"_since in the past", q(nil, "2000-01-01T00:00:00Z"), 0, all},
			{"_since in the future", q(nil, time.Now().Add(time.Hour).UTC().Format(time.RFC3339)), 0, nil},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got := everythingIDs(t, f, tt.q, tt.count)
				if !slices.Equal(sorted(got), sorted(tt.want)) {
					t.Errorf("got %v, want %v", got, tt.want)
				}
			})
		}
		// The system principal (a super admin) reads the patient's own project.
		if res, err := s.PatientEverything(sysCtx(), f.patient, nil, "", 0, 0); err != nil || !slices.Equal(sorted(refsOf(res)), sorted(all)) {
			t.Errorf("system: %v %v, want %v", err, refsOf(res), all)
		}
		page, err := s.PatientEverything(f.admin, f.patient, nil, "", 0, 0)
		if err != nil || page.HasMore || page.Total != -1 {
			t.Errorf("one page: %v %+v", err, page)
		}
		for _, tt := range []struct {
			name, id string
			types    []string
			since    string
			want     string
		}{
			{"unknown patient", uuid.NewString(), nil, "", ward.ENOTFOUND},
			{"not a uuid", "nope", nil, "", ward.ENOTFOUND},
			{"not a patient", f.obs, nil, "", ward.ENOTFOUND},
			{"another project's patient", create(t, s, foreign, "Patient", `{"resourceType":"Patient"}`).ID, nil, "", ward.ENOTFOUND},
			{"bad _type", f.patient, []string{"Nope"}, "", ward.EINVALID},
			{"bad _since", f.patient, nil, "yesterday", ward.EINVALID},
		} {
			if _, err := s.PatientEverything(f.admin, tt.id, tt.types, tt.since, 0, 0); code(err) != tt.want {
				t.Errorf("%s: %s (%v), want %s", tt.name, code(err), err, tt.want)
			}
		}
	})
}

// TestEverythingUnderPolicy: a clinician of one clinic sees its patient's
// record as each type's rules allow — ungranted types skipped, criteria
// applied per row, hidden fields hidden — and another clinic's patient is
// 404.
func TestEverythingUnderPolicy(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		f := newSAFixture(t, s)
		f.set(t, "Patient", f.patient, true, f.o1)
		// An Observation of the patient recorded at another clinic only.
		elsewhere := f.about(t, "Observation", `"status":"final","code":{"text":"elsewhere"}`)
		f.set(t, "Observation", elsewhere, false, f.o2)
		theirs := create(t, s, f.admin, "Patient", `{"resourceType":"Patient","meta":{"accounts":[{"reference":"`+f.o2+`"}]}}`).ID
		s.SetAccounts(f.admin, "Patient", theirs, []string{f.o2}, true)

		clinic := func(org, extra string) *ward.Policy {
			return onePolicy(t, `[
				{"resourceType":"Patient","criteria":"Patient?_compartment=`+org+`"},
				{"resourceType":"Observation","criteria":"Observation?_compartment=`+org+`","hiddenFields":["code"]}`+extra+`]`)
		}
		clinician := memberCtx(f.project, clinic(f.o1, ""))
		res, err := s.PatientEverything(clinician, f.patient, nil, "", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		got := ids(res.Matches)
		if want := []string{f.obs, f.patient}; !slices.Equal(sorted(got), sorted(want)) {
			t.Errorf("clinician sees %v, want the patient and its clinic's Observation %v (no DiagnosticReport, not %s)", got, want, elsewhere)
		}
		for _, m := range res.Matches {
			if m.Type == "Observation" && strings.Contains(string(m.Content), `"code"`) {
				t.Errorf("hidden field code shown: %s", m.Content)
			}
		}
		for _, tt := range []struct {
			name string
			pol  *ward.Policy
			id   string
			want string
		}{
			{"another clinic's patient", clinic(f.o1, ""), theirs, ward.ENOTFOUND},
			{"the other clinic's own patient", clinic(f.o2, ""), theirs, "ok"},
			{"the other clinic on this patient", clinic(f.o2, ""), f.patient, ward.ENOTFOUND},
			{"no Patient grant", onePolicy(t, `[{"resourceType":"Observation"}]`), f.patient, ward.EFORBIDDEN},
		} {
			if _, err := s.PatientEverything(memberCtx(f.project, tt.pol), tt.id, nil, "", 0, 0); code(err) != tt.want {
				t.Errorf("%s: %s (%v), want %s", tt.name, code(err), err, tt.want)
			}
		}
		// A grant of DiagnosticReport brings it in; paging stays exact.
		wide := memberCtx(f.project, clinic(f.o1, `,{"resourceType":"DiagnosticReport"}`))
		for _, count := range []int{1, 2, 10} {
			var seen []string
			for offset := 0; ; offset += count {
				page, err := s.PatientEverything(wide, f.patient, nil, "", count, offset)
				if err != nil {
					t.Fatal(err)
				}
				seen = append(seen, ids(page.Matches)...)
				if !page.HasMore {
					break
				}
			}
			if want := []string{f.obs, f.dr, f.patient}; !slices.Equal(sorted(seen), sorted(want)) {
				t.Errorf("pages of %d: %v, want %v", count, seen, want)
			}
		}
	})
}

// TestEverythingDrivenByTheKey: on SQLite the page walks the compartment
// key of the patient in order (no sort, so a first page stops early) and
// looks each row up by primary key, for an admin and under a policy.
func TestEverythingDrivenByTheKey(t *testing.T) {
	s := storetest.OpenSQLite(t)
	f := newSAFixture(t, s)
	f.set(t, "Patient", f.patient, true, f.o1)
	clinician := memberCtx(f.project, onePolicy(t, `[{"resourceType":"Patient","criteria":"Patient?_compartment=`+f.o1+`"},
		{"resourceType":"Observation","criteria":"Observation?_compartment=`+f.o1+`"},{"resourceType":"DiagnosticReport"}]`))
	for name, ctx := range map[string]context.Context{"admin": f.admin, "clinician": clinician} {
		q, args, err := s.EverythingSQL(ctx, f.patient, 20)
		if err != nil {
			t.Fatal(err)
		}
		plan := queryPlan(t, s, q, args)
		lines := strings.Split(strings.TrimSpace(plan), "\n")
		if len(lines) < 2 || !strings.Contains(lines[0], "SEARCH ek USING COVERING INDEX sqlite_autoindex_resource_compartments_1") ||
			!strings.Contains(lines[1], "SEARCH r USING INDEX sqlite_autoindex_resources_1 (project_id=? AND resource_type=? AND id=?)") ||
			strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("%s: plan\n%s\nwant the compartment key in order, then resources by primary key", name, plan)
		}
	}
}

// TestEverythingLeavesTheTrailOut: a patient's AuditEvents are in its
// compartment, but $everything is the chart: the access trail (which grows
// with every $everything, itself recorded) comes only when _type asks.
func TestEverythingLeavesTheTrailOut(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		f := newSAFixture(t, s)
		l := s.NewAuditLog(store.AuditOptions{})
		defer l.Close()
		record(t, l, readRecord(f.project, f.obs, f.patient))
		trail, err := s.Search(f.admin, &ward.SearchQuery{ResourceType: "AuditEvent", Count: 10, Total: "none",
			Filters: []ward.SearchFilter{{Code: "patient", Type: "reference", Values: []ward.SearchValue{{Value: "Patient/" + f.patient}}}}})
		if err != nil || len(trail.Matches) != 1 {
			t.Fatalf("AuditEvent?patient=: %v %v, want the one record", refsOf(trail), err)
		}
		event := trail.Matches[0].Reference()
		for _, tt := range []struct {
			types []string
			want  bool
		}{{nil, false}, {[]string{"Observation"}, false}, {[]string{"AuditEvent"}, true}} {
			res, err := s.PatientEverything(f.admin, f.patient, tt.types, "", 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := slices.Contains(refsOf(res), event); got != tt.want {
				t.Errorf("_type=%v: the AuditEvent listed = %v, want %v", tt.types, got, tt.want)
			}
		}
	})
}
