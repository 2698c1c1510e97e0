package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/search"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// caller is a principal in a project, as the http layer hands it to the store.
type caller struct {
	policy   *ward.Policy
	admin    bool
	system   bool
	extended bool
	user     string
	defaults map[string][]string // Project.defaultProfile, as auth puts it on the principal
}

func (c caller) in(project string) context.Context {
	user := c.user
	if user == "" {
		user = "User/me"
	}
	return ward.NewContextWithPrincipal(context.Background(), &ward.Principal{
		ProjectID: project, Author: "Practitioner/me", User: user,
		Policy: c.policy, Admin: c.admin, System: c.system, Extended: c.extended,
		DefaultProfiles: c.defaults,
	})
}

// compartmentPolicy is the policy of a member whose one AccessPolicy has
// the given compartment and resource entries.
func compartmentPolicy(t *testing.T, compartment, resources string) *ward.Policy {
	t.Helper()
	return policyOf(t, `{"id":"x"}`, `{"profile":{"reference":"Practitioner/me"},"accessPolicy":{"reference":"AccessPolicy/a"}}`,
		map[string]string{"AccessPolicy/a": `{"compartment":{"reference":"` + compartment + `"},"resource":` + resources + `}`})
}

// stamped is what a client sees of a resource's accounts in extended mode.
type stamped struct {
	account     string
	accounts    []string
	compartment []string
}

func stampOf(t *testing.T, content []byte) stamped {
	t.Helper()
	var r struct {
		Meta struct {
			Account     *struct{ Reference string }
			Accounts    []struct{ Reference string }
			Compartment []struct{ Reference string }
		}
	}
	if err := json.Unmarshal(content, &r); err != nil {
		t.Fatal(err)
	}
	var s stamped
	if r.Meta.Account != nil {
		s.account = r.Meta.Account.Reference
	}
	for _, a := range r.Meta.Accounts {
		s.accounts = append(s.accounts, a.Reference)
	}
	for _, c := range r.Meta.Compartment {
		s.compartment = append(s.compartment, c.Reference)
	}
	return s
}

// wantAccounts fails unless the stored version res carries exactly
// accounts (account = the first) and each of them is in meta.compartment.
// It reads the version as the system: what the caller was shown of meta
// depends on extended mode (the output gate), what is stored does not.
func wantAccounts(t *testing.T, s *store.Store, what string, res *ward.Resource, accounts ...string) {
	t.Helper()
	wantStamp(t, what, stored(t, s, res).Content, accounts...)
}

// wantStamp is wantAccounts on content shown in extended mode.
func wantStamp(t *testing.T, what string, content []byte, accounts ...string) {
	t.Helper()
	got := stampOf(t, content)
	first := ""
	if len(accounts) > 0 {
		first = accounts[0]
	}
	if !slices.Equal(got.accounts, accounts) || got.account != first {
		t.Errorf("%s: account %q, accounts %q; want %q, %q", what, got.account, got.accounts, first, accounts)
	}
	for _, a := range accounts {
		if !slices.Contains(got.compartment, a) {
			t.Errorf("%s: compartment %q lacks account %s", what, got.compartment, a)
		}
	}
}

// stored is the version res as stored: read by the system principal.
func stored(t *testing.T, s *store.Store, res *ward.Resource) *ward.Resource {
	t.Helper()
	v, err := s.VRead(sysCtx(), res.Type, res.ID, res.VersionID)
	if err != nil {
		t.Fatalf("vread %s/%s/%s: %v", res.Type, res.ID, res.VersionID, err)
	}
	return v
}

func mustRead(t *testing.T, s *store.Store, ctx context.Context, typ, id string) *ward.Resource {
	t.Helper()
	res, err := s.Read(ctx, typ, id)
	if err != nil {
		t.Fatalf("read %s/%s: %v", typ, id, err)
	}
	return res
}

func mustUpdate(t *testing.T, s *store.Store, ctx context.Context, typ, id, body string) *ward.Resource {
	t.Helper()
	res, _, err := update(s, ctx, typ, id, body, "")
	if err != nil {
		t.Fatalf("update %s/%s: %v", typ, id, err)
	}
	return res
}

func orgRef() string { return "Organization/" + uuid.NewString() }

// TestAccountsOnCreate: spec 3.2 on create, rows 7, 8, 9, 15, 35 and the
// gap Ward closes (accounts a non-admin submits are never kept).
func TestAccountsOnCreate(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		x, y, a1, a2 := orgRef(), orgRef(), orgRef(), orgRef()
		clinicX := caller{policy: compartmentPolicy(t, x, `[{"resourceType":"Patient"},{"resourceType":"Observation"},{"resourceType":"Binary"}]`), extended: true}
		admin := caller{admin: true, extended: true}
		for _, tt := range []struct {
			name   string
			caller caller
			typ    string
			body   string
			want   []string
		}{
			{"row 7: policy compartment stamped", clinicX, "Patient", `{"resourceType":"Patient"}`, []string{x}},
			{"row 8: submitted account replaced by the compartment", clinicX, "Patient",
				`{"resourceType":"Patient","meta":{"account":{"reference":"` + y + `"}}}`, []string{x}},
			{"row 8: submitted accounts replaced by the compartment", clinicX, "Patient",
				`{"resourceType":"Patient","meta":{"accounts":[{"reference":"` + y + `"},{"reference":"` + x + `"}]}}`, []string{x}},
			{"row 9: Binary", caller{policy: compartmentPolicy(t, x, `[{"resourceType":"Binary","criteria":"Binary?_compartment=`+x+`"}]`)},
				"Binary", `{"resourceType":"Binary","contentType":"text/plain","data":"aGk="}`, []string{x}},
			{"row 15: client application stamps its compartment", caller{user: "ClientApplication/c", policy: compartmentPolicy(t, x,
				`[{"resourceType":"Patient","compartment":{"reference":"`+x+`"}},{"resourceType":"Observation","compartment":{"reference":"`+x+`"}}]`)},
				"Observation", `{"resourceType":"Observation","status":"final","code":{"text":"c"}}`, []string{x}},
			{"non-admin without compartment: submitted accounts dropped", caller{extended: true}, "Patient",
				`{"resourceType":"Patient","meta":{"account":{"reference":"` + y + `"},"accounts":[{"reference":"` + y + `"}]}}`, nil},
			{"non-admin with * policy: submitted accounts dropped", caller{policy: policyOf(t, `{}`, `{}`, nil), extended: true}, "Observation",
				`{"resourceType":"Observation","status":"final","code":{"text":"c"},"meta":{"accounts":[{"reference":"` + y + `"}]}}`, nil},
			{"non-extended admin: submitted accounts dropped", caller{admin: true}, "Patient",
				`{"resourceType":"Patient","meta":{"accounts":[{"reference":"` + y + `"}]}}`, nil},
			{"non-extended super admin: submitted accounts dropped", caller{system: true}, "Patient",
				`{"resourceType":"Patient","meta":{"project":"` + proj + `","accounts":[{"reference":"` + y + `"}]}}`, nil},
			{"extended admin writes accounts", admin, "Patient",
				`{"resourceType":"Patient","meta":{"accounts":[{"reference":"` + a1 + `"},{"reference":"` + a2 + `"},{"reference":"` + a1 + `"}]}}`, []string{a1, a2}},
			{"row 35: account first, then accounts", admin, "Patient",
				`{"resourceType":"Patient","meta":{"account":{"reference":"` + a2 + `"},"accounts":[{"reference":"` + a1 + `"}]}}`, []string{a2, a1}},
			{"extended super admin writes accounts", caller{system: true, extended: true}, "Patient",
				`{"resourceType":"Patient","meta":{"project":"` + proj + `","accounts":[{"reference":"` + a1 + `"}]}}`, []string{a1}},
			{"extended admin overrides its own policy compartment", caller{admin: true, extended: true, policy: compartmentPolicy(t, x, `[{"resourceType":"Patient"}]`)},
				"Patient", `{"resourceType":"Patient","meta":{"accounts":[{"reference":"` + a1 + `"}]}}`, []string{a1}},
			{"extended admin without meta: policy compartment", caller{admin: true, extended: true, policy: compartmentPolicy(t, x, `[{"resourceType":"Patient"}]`)},
				"Patient", `{"resourceType":"Patient"}`, []string{x}},
			{"unsubstituted %organization is not stamped", caller{policy: compartmentPolicy(t, "%organization", `[{"resourceType":"Patient"}]`)},
				"Patient", `{"resourceType":"Patient"}`, nil},
		} {
			t.Run(tt.name, func(t *testing.T) {
				ctx := tt.caller.in(proj)
				res := create(t, s, ctx, tt.typ, tt.body)
				wantAccounts(t, s, "created", res, tt.want...)
				wantAccounts(t, s, "read back", mustRead(t, s, caller{system: true}.in(proj), tt.typ, res.ID), tt.want...)
			})
		}
	})
}

// TestAccountsInherited: a resource about a patient carries the patient's
// accounts (row 10, row 65's compartment part); they are re-derived when
// the reference changes.
func TestAccountsInherited(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		o, a, b := orgRef(), orgRef(), orgRef()
		admin := caller{admin: true, extended: true}.in(proj)
		clinic := caller{extended: true, policy: compartmentPolicy(t, o,
			`[{"resourceType":"Patient"},{"resourceType":"Observation","criteria":"Observation?_compartment=`+o+`"}]`)}.in(proj)
		pa := create(t, s, admin, "Patient", `{"resourceType":"Patient","meta":{"accounts":[{"reference":"`+a+`"}]}}`)
		pb := create(t, s, admin, "Patient", `{"resourceType":"Patient","meta":{"accounts":[{"reference":"`+b+`"}]}}`)
		bare := create(t, s, admin, "Patient", `{"resourceType":"Patient"}`)
		obs := func(patient string) string {
			return `{"resourceType":"Observation","status":"final","code":{"text":"c"},"subject":{"reference":"Patient/` + patient + `"}}`
		}

		// Row 10: {O, A}, compartment {O, Patient/p, A}.
		o1 := create(t, s, clinic, "Observation", obs(pa.ID))
		wantAccounts(t, s, "row 10", o1, o, a)
		if c := stampOf(t, o1.Content).compartment; !slices.Contains(c, "Patient/"+pa.ID) {
			t.Errorf("row 10: compartment %q lacks Patient/%s", c, pa.ID)
		}

		// A new subject re-derives: B's account, and the policy compartment
		// applies on create only (Medplum's rule, issue #8161).
		moved := mustUpdate(t, s, admin, "Observation", o1.ID, obs(pb.ID))
		wantAccounts(t, s, "subject moved to B", moved, b)
		if c := stampOf(t, moved.Content).compartment; slices.Contains(c, "Patient/"+pa.ID) || slices.Contains(c, a) {
			t.Errorf("subject moved: compartment %q still holds patient A", c)
		}

		// A subject without accounts derives nothing: the update keeps the
		// existing accounts rather than any submitted ones.
		kept := mustUpdate(t, s, caller{}.in(proj), "Observation", o1.ID,
			`{"resourceType":"Observation","status":"final","code":{"text":"c"},"subject":{"reference":"Patient/`+bare.ID+`"},"meta":{"accounts":[{"reference":"`+a+`"}]}}`)
		wantAccounts(t, s, "subject without accounts", kept, b)

		// Row 65 (compartment part): an admin's report about the patient.
		report := create(t, s, admin, "DiagnosticReport", `{"resourceType":"DiagnosticReport","status":"final","code":{"text":"r"},"subject":{"reference":"Patient/`+pa.ID+`"}}`)
		wantAccounts(t, s, "row 65 report", report, a)
		if c := stampOf(t, report.Content).compartment; !slices.Contains(c, "Patient/"+pa.ID) {
			t.Errorf("row 65: compartment %q lacks the patient", c)
		}

		// Two patients: both accounts, in reference order, once each.
		two := create(t, s, caller{}.in(proj), "Encounter", `{"resourceType":"Encounter","status":"finished","class":{"code":"AMB"},"subject":{"reference":"Patient/`+pb.ID+`"},"participant":[{"individual":{"reference":"Practitioner/x"}}]}`)
		wantAccounts(t, s, "encounter", two, b)
		both := create(t, s, caller{}.in(proj), "Observation", `{"resourceType":"Observation","status":"final","code":{"text":"c"},"subject":{"reference":"Patient/`+pb.ID+`"},"performer":[{"reference":"Patient/`+pa.ID+`"}]}`)
		if got := stampOf(t, stored(t, s, both).Content).accounts; len(got) != 2 || !slices.Contains(got, a) || !slices.Contains(got, b) {
			t.Errorf("two patients: accounts %q, want %s and %s", got, a, b)
		}

		// A patient written earlier in the same transaction counts.
		err := s.Write(admin, func(ctx context.Context, tx ward.ResourceTx) error {
			p, err := tx.Create(ctx, "Patient", []byte(`{"resourceType":"Patient","meta":{"accounts":[{"reference":"`+o+`"}]}}`))
			if err != nil {
				return err
			}
			ob, err := tx.Create(ctx, "Observation", []byte(obs(p.ID)))
			if err != nil {
				return err
			}
			wantStamp(t, "same transaction", ob.Content, o) // admin is extended
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}

	})
}

// TestAccountsOnUpdate: rows 12 and 34; a non-admin or a non-extended
// admin never changes accounts by submitting them.
func TestAccountsOnUpdate(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		org1, org2, a, b := orgRef(), orgRef(), orgRef(), orgRef()
		admin := caller{admin: true, extended: true}.in(proj)
		patient := func(meta string) string { return `{"resourceType":"Patient","active":true` + meta + `}` }
		withAccounts := func(refs ...string) string {
			list := ""
			for i, r := range refs {
				if i > 0 {
					list += ","
				}
				list += `{"reference":"` + r + `"}`
			}
			return `,"meta":{"accounts":[` + list + `]}`
		}

		// Row 12: the policy compartment applies on create only.
		repo1 := caller{policy: compartmentPolicy(t, org1, `[{"resourceType":"Patient"},{"resourceType":"Observation"}]`)}.in(proj)
		repo2 := caller{policy: compartmentPolicy(t, org2, `[{"resourceType":"Patient"}]`)}.in(proj)
		p := create(t, s, repo1, "Patient", patient(""))
		wantAccounts(t, s, "row 12 create", p, org1)
		wantAccounts(t, s, "row 12 update by org2", mustUpdate(t, s, repo2, "Patient", p.ID, `{"resourceType":"Patient","active":false}`), org1)

		// Row 34: admin changes stick, a non-admin's are ignored (same
		// version), an admin meta without accounts clears them.
		q := create(t, s, admin, "Patient", patient(withAccounts(a)))
		wantAccounts(t, s, "row 34 admin create", q, a)
		q = mustUpdate(t, s, admin, "Patient", q.ID, patient(`,"meta":{"tag":[{"code":"n"}],"accounts":[{"reference":"`+b+`"}]}`))
		wantAccounts(t, s, "row 34 admin update", q, b)
		for name, ctx := range map[string]context.Context{
			"non-admin":             caller{extended: true}.in(proj),
			"non-extended admin":    caller{admin: true}.in(proj),
			"non-admin in a clinic": caller{extended: true, policy: compartmentPolicy(t, org1, `[{"resourceType":"Patient"}]`)}.in(proj),
		} {
			for _, meta := range []string{`,"meta":{"tag":[{"code":"n"}],"accounts":[{"reference":"` + a + `"}]}`, `,"meta":{"tag":[{"code":"n"}]}`} {
				got := mustUpdate(t, s, ctx, "Patient", q.ID, patient(meta))
				wantAccounts(t, s, "row 34 "+name+meta, got, b)
				if got.VersionID != q.VersionID {
					t.Errorf("row 34 %s%s: new version; an ignored account change is a no-op", name, meta)
				}
			}
		}
		q = mustUpdate(t, s, admin, "Patient", q.ID, patient(`,"meta":{"tag":[{"code":"t"}]}`))
		wantAccounts(t, s, "row 34 admin meta without accounts", q)
		if c := stampOf(t, q.Content).compartment; slices.Contains(c, b) {
			t.Errorf("row 34: cleared accounts still in compartment %q", c)
		}

		// An admin body without meta keeps a Patient's accounts.
		r := create(t, s, admin, "Patient", patient(withAccounts(a)))
		wantAccounts(t, s, "admin update without meta", mustUpdate(t, s, admin, "Patient", r.ID, `{"resourceType":"Patient","active":false}`), a)

		// A non-admin's accounts on a resource about no patient: dropped on
		// update as on create; the stored ones stay.
		obs := create(t, s, repo1, "Observation", `{"resourceType":"Observation","status":"final","code":{"text":"c"}}`)
		wantAccounts(t, s, "observation by org1", obs, org1)
		changed := mustUpdate(t, s, caller{extended: true}.in(proj), "Observation", obs.ID,
			`{"resourceType":"Observation","status":"amended","code":{"text":"c"},"meta":{"accounts":[{"reference":"`+org2+`"}]}}`)
		wantAccounts(t, s, "observation update with submitted accounts", changed, org1)
	})
}

// TestAccountWalls: what the accounts are for — rows 11, 13 and 15's
// isolation between clinics of one project.
func TestAccountWalls(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		org1, org2 := orgRef(), orgRef()
		entryCompartment := func(org string) *ward.Policy { // the deprecated per-entry compartment
			return compartmentPolicy(t, org, `[{"resourceType":"Patient","compartment":{"reference":"`+org+`"}},{"resourceType":"Observation","compartment":{"reference":"`+org+`"}}]`)
		}
		bareCriteria := func(org string) *ward.Policy { // criteria with a bare uuid
			id := org[len("Organization/"):]
			return compartmentPolicy(t, org, `[{"resourceType":"Patient","criteria":"Patient?_compartment=`+id+`"}]`)
		}
		outside := create(t, s, caller{admin: true, extended: true}.in(proj), "Patient", `{"resourceType":"Patient"}`)
		for _, tt := range []struct {
			name       string
			user       string
			one, other *ward.Policy
		}{
			{"row 11: per-entry compartment", "User/u", entryCompartment(org1), entryCompartment(org2)},
			{"row 13: bare uuid criteria", "User/u", bareCriteria(org1), bareCriteria(org2)},
			{"row 15: client applications", "ClientApplication/c", entryCompartment(org1), entryCompartment(org2)},
		} {
			t.Run(tt.name, func(t *testing.T) {
				one := caller{policy: tt.one, user: tt.user}.in(proj)
				other := caller{policy: tt.other, user: tt.user}.in(proj)
				mine := create(t, s, one, "Patient", `{"resourceType":"Patient"}`)
				theirs := create(t, s, other, "Patient", `{"resourceType":"Patient"}`)
				wantAccounts(t, s, "one's patient", mine, org1)
				wantAccounts(t, s, "other's patient", theirs, org2)
				for _, c := range []struct {
					ctx  context.Context
					id   string
					want string
				}{
					{one, mine.ID, "ok"}, {one, theirs.ID, ward.ENOTFOUND}, {one, outside.ID, ward.ENOTFOUND},
					{other, theirs.ID, "ok"}, {other, mine.ID, ward.ENOTFOUND},
				} {
					if _, err := s.Read(c.ctx, "Patient", c.id); code(err) != c.want {
						t.Errorf("read Patient/%s = %s, want %s", c.id, code(err), c.want)
					}
				}
			})
		}
	})
}

// TestCompartmentSearch: _compartment ORs the values of one parameter,
// ANDs repeats, negates with :not, never matches a non-UUID id, and takes
// a bare uuid or Type/uuid (spec 3.3).
func TestCompartmentSearch(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		a, b := uuid.NewString(), uuid.NewString()
		admin := caller{admin: true, extended: true}.in(proj)
		mk := func(refs ...string) string {
			if len(refs) == 0 {
				return create(t, s, admin, "Patient", `{"resourceType":"Patient"}`).ID
			}
			meta := `{"resourceType":"Patient","meta":{"accounts":[`
			for i, r := range refs {
				if i > 0 {
					meta += ","
				}
				meta += `{"reference":"` + r + `"}`
			}
			return create(t, s, admin, "Patient", meta+`]}}`).ID
		}
		pA := mk("Organization/" + a)
		pB := mk("Consent/" + b)
		pAB := mk("Organization/"+a, "Consent/"+b)
		pNone := mk()
		pBad := mk("Organization/not-a-uuid")
		// Another project's patient in A never shows.
		create(t, s, caller{admin: true, extended: true}.in(uuid.NewString()), "Patient", `{"resourceType":"Patient","meta":{"accounts":[{"reference":"Organization/`+a+`"}]}}`)
		for _, tt := range []struct {
			query string
			want  []string
		}{
			{"_compartment=" + a, []string{pA, pAB}},
			{"_compartment=Organization/" + a, []string{pA, pAB}},
			{"_compartment=Consent/" + a, []string{pA, pAB}}, // only the id counts
			{"_compartment=Organization/" + a + ",Consent/" + b, []string{pA, pB, pAB}},
			{"_compartment=Organization/" + a + "&_compartment=Consent/" + b, []string{pAB}},
			{"_compartment:not=" + a, []string{pB, pNone, pBad}},
			{"_compartment:not=" + a + "," + b, []string{pNone, pBad}},
			{"_compartment:not=" + a + "&_compartment=" + b, []string{pB}},
			{"_compartment=not-a-uuid", nil},
			{"_compartment=Organization/not-a-uuid", nil},
			{"_compartment=not-a-uuid," + b, []string{pB, pAB}},
			{"_compartment=Patient/" + pA, []string{pA}},
			{"_compartment=" + proj, []string{pA, pB, pAB, pNone, pBad}},
		} {
			t.Run(tt.query, func(t *testing.T) {
				res, err := trySearch(s, admin, "Patient", tt.query+"&_count=100")
				if err != nil {
					t.Fatal(err)
				}
				got := ids(res.Matches)
				slices.Sort(got)
				want := slices.Clone(tt.want)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("got %q, want %q", got, want)
				}
			})
		}
	})
}

// TestCompartmentSearchUsesIndex: _compartment (plain, repeated, :not) is
// an index lookup in resource_compartments on both engines, never a scan
// of the table.
func TestCompartmentSearchUsesIndex(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		p := &ward.Principal{ProjectID: uuid.NewString()}
		a, b := uuid.NewString(), uuid.NewString()
		for _, query := range []string{
			"_compartment=Organization/" + a,
			"_compartment=" + a + "," + b + "&_compartment=" + b,
			"_compartment:not=" + a,
		} {
			t.Run(query, func(t *testing.T) {
				v, _ := url.ParseQuery(query)
				q, err := search.Parse("Patient", v)
				if err != nil {
					t.Fatal(err)
				}
				sqlText, args, err := store.CompileSearch(p, q, s.Dialect())
				if err != nil {
					t.Fatal(err)
				}
				plan := queryPlan(t, s, sqlText, args)
				// An index of resource_compartments: on a populated table the
				// primary key (project_id, compartment, …); an empty one may
				// make PostgreSQL probe (project_id, resource_type, id).
				if !strings.Contains(plan, "INDEX sqlite_autoindex_resource_compartments_1") && !strings.Contains(plan, "on resource_compartments") {
					t.Fatalf("plan does not read resource_compartments by index:\n%s", plan)
				}
				for _, scan := range []string{"SCAN k", "Seq Scan on resource_compartments"} {
					if strings.Contains(plan, scan) {
						t.Errorf("plan scans resource_compartments:\n%s", plan)
					}
				}
			})
		}
	})
}

// queryPlan returns the engine's plan of query as text. PostgreSQL is told
// to avoid sequential scans: on an empty table it would otherwise pick one
// whatever the indexes, and the question is whether an index applies.
func queryPlan(t *testing.T, s *store.Store, query string, args []any) string {
	t.Helper()
	ctx := context.Background()
	conn, err := s.DB().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	explain := "EXPLAIN QUERY PLAN "
	if s.Dialect().Name() == "postgres" {
		explain = "EXPLAIN "
		if _, err := conn.ExecContext(ctx, "SET enable_seqscan = off"); err != nil {
			t.Fatal(err)
		}
		defer conn.ExecContext(ctx, "RESET enable_seqscan")
	}
	rows, err := conn.QueryContext(ctx, s.Dialect().Rebind(explain+query), args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&b, vals...)
	}
	return b.String()
}

// TestCompartmentOfProjects: Project/<meta.project> leads meta.compartment;
// a server-scoped User has no meta.project and so no Project compartment,
// a project-scoped one has its project (spec 3.1).
func TestCompartmentOfProjects(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		sys := caller{system: true, extended: true}.in(proj)
		scoped := create(t, s, sys, "User", `{"resourceType":"User","firstName":"A","lastName":"B","email":"a@example.com","project":{"reference":"Project/`+proj+`"},"meta":{"project":"`+proj+`"}}`)
		server := create(t, s, sys, "User", `{"resourceType":"User","firstName":"B","lastName":"C","email":"b@example.com","meta":{"project":"`+ward.SystemProjectID+`"}}`)
		if got := stampOf(t, scoped.Content).compartment; !slices.Equal(got, []string{"Project/" + proj}) {
			t.Errorf("project User: compartment %q, want only Project/%s", got, proj)
		}
		if got := stampOf(t, server.Content).compartment; len(got) != 0 {
			t.Errorf("server-scoped User: compartment %q, want none", got)
		}
		p := create(t, s, caller{admin: true, extended: true}.in(proj), "Patient", `{"resourceType":"Patient","meta":{"accounts":[{"reference":"Organization/`+proj+`"},{"reference":"Project/`+uuid.NewString()+`"}]}}`)
		// Accounts come after the project and a Project account never
		// enters; references are compared whole, so an Organization that
		// shares the project's uuid is listed too.
		if got, want := stampOf(t, p.Content).compartment, []string{"Project/" + proj, "Organization/" + proj, "Patient/" + p.ID}; !slices.Equal(got, want) {
			t.Errorf("patient: compartment %q, want %q", got, want)
		}
	})
}
