package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/search"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestClinicianPagesEqualAdmins: a clinician of 1 and of 50 clinics (the
// MSO policy) gets, page after page, exactly the admin's pages of the same
// search narrowed to the clinics with _compartment — same rows, same
// order, same cuts — for code=, a date range, both, a status, _sort and
// no filter; every row it gets is in one of its clinics. The 1-clinic
// clinician's code and date searches walk the compartment index.
func TestClinicianPagesEqualAdmins(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		w := loadMSO(t, s, 600)
		queries := []string{
			"code=http://loinc.org|8867-4",
			"code=8867-4",
			"date=ge2019-01-01&date=lt2020-01-01",
			"category=vital-signs&date=ge2020-01-01&date=lt2021-01-01",
			"status=final&date=lt2015-06-01",
			"_sort=-date&code=8867-4",
			"",
		}
		for _, who := range []struct {
			name    string
			ctx     context.Context
			clinics []string
		}{{"1 clinic", w.c1, w.clinics[:1]}, {"50 clinics", w.c50, w.clinics[:50]}} {
			for _, q := range queries {
				got := pages(t, s, who.ctx, q, 6)
				want := pages(t, s, w.admin, strings.TrimPrefix(q+"&_compartment="+strings.Join(who.clinics, ","), "&"), 6)
				if len(want) == 0 {
					t.Fatalf("%s %q: the admin finds nothing; the test data is off", who.name, q)
				}
				if !slices.Equal(ids(got), ids(want)) {
					t.Errorf("%s %q: %d rows %v…, want the admin's %d %v…", who.name, q, len(got), head(ids(got)), len(want), head(ids(want)))
				}
				for _, r := range got {
					if !slices.ContainsFunc(who.clinics, func(c string) bool { return bytes.Contains(r.Content, []byte(`"`+c+`"`)) }) {
						t.Fatalf("%s %q: Observation/%s is in none of its clinics: %s", who.name, q, r.ID, r.Content)
					}
				}
			}
		}
		for _, q := range []string{"code=http://loinc.org|8867-4&_count=20", "date=ge2020-01-01&date=lt2020-02-01&_count=20&_offset=20"} {
			if plan := planOf(t, s, w.c1, q); !strings.HasPrefix(plan, "compartment-index") {
				t.Errorf("1 clinic %q: plan %s, want the compartment index", q, plan)
			}
		}
	})
}

// TestCompartmentIndexFollowsWrites: the compartment index holds exactly
// what the migration's fill computes from the stored resources (the
// account compartments of each current resource × its token and date
// rows) after creates, an update, a delete, $set-accounts moving a Patient
// and its Observations to another clinic, an erasure, a reindex and a
// restore into another project. The clinicians see it: after the move the
// old clinic finds none of the patient's Observations by code or date,
// the new one finds them all.
func TestCompartmentIndexFollowsWrites(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		admin := adminOf(proj)
		orgA := "Organization/" + sysCreate(t, s, proj, "Organization", `{"name":"A"}`).ID
		orgB := "Organization/" + sysCreate(t, s, proj, "Organization", `{"name":"B"}`).ID
		policy := msoPolicy(t)
		clinicA, clinicB := clinicianCtx(t, proj, policy, []string{orgA}), clinicianCtx(t, proj, policy, []string{orgB})
		write := func(typ, body, account string) *ward.Resource {
			t.Helper()
			var m map[string]any
			if err := json.Unmarshal([]byte(body), &m); err != nil {
				t.Fatal(err)
			}
			m["resourceType"] = typ
			m["meta"] = map[string]any{"project": proj, "accounts": []any{map[string]any{"reference": account}}}
			data, _ := json.Marshal(m)
			return create(t, s, sysCtx(), typ, string(data))
		}
		obs := func(patient, code, date, account string) *ward.Resource {
			return write("Observation", fmt.Sprintf(`{"status":"final","code":{"coding":[{"system":"http://loinc.org","code":%q}]},
				"subject":{"reference":"Patient/%s"},"effectiveDateTime":%q}`, code, patient, date), account)
		}
		pa := write("Patient", `{"name":[{"family":"Moved"}]}`, orgA)
		pb := write("Patient", `{"name":[{"family":"Stays"}]}`, orgB)
		moved := []*ward.Resource{obs(pa.ID, "8867-4", "2020-01-10", orgA), obs(pa.ID, "8867-4", "2020-01-20", orgA)}
		changed := obs(pa.ID, "8867-4", "2020-01-15", orgA)
		gone := obs(pa.ID, "8867-4", "2020-01-16", orgA)
		stays := obs(pb.ID, "8867-4", "2020-01-12", orgB)
		checkExact(t, s, "after the creates")

		byCode, byDate := "code=http://loinc.org|8867-4", "date=ge2020-01-01&date=lt2020-02-01"
		sees := func(ctx context.Context, who string, want ...*ward.Resource) {
			t.Helper()
			for _, q := range []string{byCode, byDate} {
				if got := ids(allPages(t, s, ctx, q)); !sameSet(got, ids(want)) {
					t.Errorf("%s %s: %v, want %v", who, q, got, ids(want))
				}
			}
		}
		sees(clinicA, "clinic A", append(slices.Clone(moved), changed, gone)...)
		sees(clinicB, "clinic B", stays)

		// An update changes the code; a delete drops the rows.
		body := fmt.Sprintf(`{"resourceType":"Observation","id":%q,"status":"final","code":{"coding":[{"system":"http://loinc.org","code":"29463-7"}]},
			"subject":{"reference":"Patient/%s"},"effectiveDateTime":"2021-03-01","meta":{"project":%q,"accounts":[{"reference":%q}]}}`, changed.ID, pa.ID, proj, orgA)
		if err := s.Write(sysCtx(), func(ctx context.Context, tx ward.ResourceTx) error {
			if _, _, err := tx.Update(ctx, "Observation", changed.ID, []byte(body), ""); err != nil {
				return err
			}
			return tx.Delete(ctx, "Observation", gone.ID)
		}); err != nil {
			t.Fatal(err)
		}
		checkExact(t, s, "after an update and a delete")
		sees(clinicA, "clinic A after the update", moved...)
		if got := ids(allPages(t, s, clinicA, "code=http://loinc.org|29463-7&date=ge2021-01-01")); !sameSet(got, []string{changed.ID}) {
			t.Errorf("clinic A by the new code: %v, want %s", got, changed.ID)
		}

		// $set-accounts moves the Patient and its compartment to clinic B.
		if _, err := s.SetAccounts(admin, "Patient", pa.ID, []string{orgB}, true); err != nil {
			t.Fatal(err)
		}
		checkExact(t, s, "after $set-accounts")
		sees(clinicA, "clinic A after the move")
		sees(clinicB, "clinic B after the move", append(slices.Clone(moved), stays)...)

		if _, err := s.Expunge(admin, "Patient", pb.ID, true); err != nil {
			t.Fatal(err)
		}
		checkExact(t, s, "after an erasure")
		sees(clinicB, "clinic B after the erasure", moved...)

		if err := s.Reindex(sysCtx(), nil); err != nil {
			t.Fatal(err)
		}
		checkExact(t, s, "after a reindex")

		var archive bytes.Buffer
		if _, err := s.ExportProject(sysCtx(), proj, &archive); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ImportProject(sysCtx(), &archive, store.ImportOptions{AsProject: uuid.NewString()}); err != nil {
			t.Fatal(err)
		}
		checkExact(t, s, "after a restore as a copy")
	})
}

// checkExact compares the compartment index with what migration 00022
// fills it with from the stored resources.
func checkExact(t *testing.T, s *store.Store, when string) {
	t.Helper()
	mig, err := os.ReadFile("migrations/00022_compartment_index." + s.Dialect().Name() + ".sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, table := range []struct{ name, cols string }{
		{"search_token_compartment", "project_id, compartment, resource_type, param, code, resource_id, system"},
		{"search_date_compartment", "project_id, compartment, resource_type, param, low, high, resource_id"},
	} {
		_, fill, ok := strings.Cut(string(mig), "INSERT INTO "+table.name+" ("+table.cols+")\n")
		if !ok {
			t.Fatalf("migration 00022 fills no %s", table.name)
		}
		fill, _, _ = strings.Cut(fill, ";")
		want := rowStrings(t, s, fill)
		got := rowStrings(t, s, "SELECT "+table.cols+" FROM "+table.name)
		if !slices.Equal(got, want) {
			t.Errorf("%s: %s holds\n%v\nwant\n%v", when, table.name, got, want)
		}
		if len(want) == 0 {
			t.Errorf("%s: %s is empty", when, table.name)
		}
	}
}

// rowStrings runs query and returns its rows as sorted strings.
func rowStrings(t *testing.T, s *store.Store, query string) []string {
	t.Helper()
	rows, err := s.WriterDB().Query(query)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, vals := range scanAll(t, rows) {
		out = append(out, fmt.Sprintf("%v", vals))
	}
	slices.Sort(out)
	return out
}

// allPages reads every page of Observation?query, 7 rows a page.
func allPages(t *testing.T, s *store.Store, ctx context.Context, query string) []*ward.Resource {
	t.Helper()
	return pages(t, s, ctx, query, -1)
}

// pages reads the first n pages of Observation?query (every page when n
// is negative), 7 rows a page.
func pages(t *testing.T, s *store.Store, ctx context.Context, query string, n int) []*ward.Resource {
	t.Helper()
	var out []*ward.Resource
	for offset := 0; n < 0 || offset < 7*n; offset += 7 {
		q := strings.TrimPrefix(query+"&_count=7&_offset="+strconv.Itoa(offset), "&")
		res, err := trySearch(s, ctx, "Observation", q)
		if err != nil {
			t.Fatalf("Observation?%s: %v", q, err)
		}
		out = append(out, res.Matches...)
		if !res.HasMore {
			return out
		}
	}
	return out
}

func planOf(t *testing.T, s *store.Store, ctx context.Context, query string) string {
	t.Helper()
	v, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	q, err := search.Parse("Observation", v)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := store.PlanOf(ctx, s, q)
	if err != nil {
		t.Fatal(err)
	}
	return plan
}

func head(s []string) []string { return s[:min(len(s), 3)] }
