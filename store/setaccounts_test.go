package store_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/search"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// saFixture is a project with a Patient, an Observation and a
// DiagnosticReport about it (spec §6 rows 53-64), acted on by an admin.
type saFixture struct {
	s                *store.Store
	project          string
	admin            context.Context
	o1, o2, o3       string // Organization references
	patient, obs, dr string // ids
}

func newSAFixture(t *testing.T, s *store.Store) *saFixture {
	f := &saFixture{s: s, project: uuid.NewString()}
	f.admin = ward.NewContextWithPrincipal(context.Background(),
		&ward.Principal{ProjectID: f.project, Admin: true, Author: "Practitioner/admin"})
	f.o1, f.o2, f.o3 = "Organization/"+uuid.NewString(), "Organization/"+uuid.NewString(), "Organization/"+uuid.NewString()
	f.patient = create(t, s, f.admin, "Patient", `{"resourceType":"Patient","name":[{"family":"Enrol"}]}`).ID
	f.obs = f.about(t, "Observation", `"status":"final","code":{"text":"bp"}`)
	f.dr = f.about(t, "DiagnosticReport", `"status":"final","code":{"text":"panel"}`)
	return f
}

// about creates a resource of typ whose subject is the fixture's patient.
func (f *saFixture) about(t *testing.T, typ, fields string) string {
	t.Helper()
	body := `{"resourceType":"` + typ + `","subject":{"reference":"Patient/` + f.patient + `"},` + fields + `}`
	return create(t, f.s, f.admin, typ, body).ID
}

func (f *saFixture) set(t *testing.T, typ, id string, propagate bool, accounts ...string) int {
	t.Helper()
	n, err := f.s.SetAccounts(f.admin, typ, id, accounts, propagate)
	if err != nil {
		t.Fatalf("SetAccounts %s/%s %v: %v", typ, id, accounts, err)
	}
	return n
}

// stored reads typ/id with system rights.
func (f *saFixture) stored(t *testing.T, typ, id string) *ward.Resource {
	t.Helper()
	res, err := f.s.Read(sysCtx(), typ, id)
	if err != nil {
		t.Fatalf("read %s/%s: %v", typ, id, err)
	}
	return res
}

// accountsOf returns meta.accounts of typ/id, checking meta.account is
// the first of them.
func (f *saFixture) accountsOf(t *testing.T, typ, id string) []string {
	t.Helper()
	m := meta(t, f.stored(t, typ, id).Content)
	var out []string
	list, _ := m["accounts"].([]any)
	for _, a := range list {
		out = append(out, a.(map[string]any)["reference"].(string))
	}
	account, _ := m["account"].(map[string]any)
	if len(out) > 0 && (account == nil || account["reference"] != out[0]) {
		t.Errorf("%s/%s: meta.account %v is not accounts[0] %v", typ, id, account, out)
	}
	if len(out) == 0 && account != nil {
		t.Errorf("%s/%s: meta.account %v without accounts", typ, id, account)
	}
	return out
}

func (f *saFixture) versionOf(t *testing.T, typ, id string) string {
	return f.stored(t, typ, id).VersionID
}

func TestSetAccountsPropagation(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		type want struct{ patient, obs, dr []string }
		cases := []struct {
			name  string
			setup func(t *testing.T, f *saFixture)
			set   func(f *saFixture) []string
			n     int
			want  func(f *saFixture) want
		}{{
			name: "row 53: enrol in two clinics moves the whole record",
			set:  func(f *saFixture) []string { return []string{f.o1, f.o2} },
			n:    3,
			want: func(f *saFixture) want {
				all := []string{f.o1, f.o2}
				return want{all, all, all}
			},
		}, {
			name:  "row 62: no accounts clears them everywhere",
			setup: func(t *testing.T, f *saFixture) { f.set(t, "Patient", f.patient, true, f.o1, f.o2) },
			set:   func(f *saFixture) []string { return nil },
			n:     3,
			want:  func(f *saFixture) want { return want{nil, nil, nil} },
		}, {
			name:  "row 57: an account the Observation already has stays first",
			setup: func(t *testing.T, f *saFixture) { f.set(t, "Observation", f.obs, false, f.o2) },
			set:   func(f *saFixture) []string { return []string{f.o1} },
			n:     3,
			want: func(f *saFixture) want {
				return want{[]string{f.o1}, []string{f.o2, f.o1}, []string{f.o1}}
			},
		}, {
			name:  "unenrol from one clinic keeps the other",
			setup: func(t *testing.T, f *saFixture) { f.set(t, "Patient", f.patient, true, f.o1, f.o2) },
			set:   func(f *saFixture) []string { return []string{f.o2} },
			n:     3,
			want: func(f *saFixture) want {
				return want{[]string{f.o2}, []string{f.o2}, []string{f.o2}}
			},
		}, {
			name:  "enrol in a third clinic appends it",
			setup: func(t *testing.T, f *saFixture) { f.set(t, "Patient", f.patient, true, f.o1) },
			set:   func(f *saFixture) []string { return []string{f.o3, f.o1} },
			n:     3,
			want: func(f *saFixture) want {
				return want{[]string{f.o3, f.o1}, []string{f.o1, f.o3}, []string{f.o1, f.o3}}
			},
		}}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				f := newSAFixture(t, s)
				if c.setup != nil {
					c.setup(t, f)
				}
				if n := f.set(t, "Patient", f.patient, true, c.set(f)...); n != c.n {
					t.Errorf("resourcesUpdated = %d, want %d", n, c.n)
				}
				w := c.want(f)
				for _, r := range []struct {
					typ, id string
					want    []string
				}{{"Patient", f.patient, w.patient}, {"Observation", f.obs, w.obs}, {"DiagnosticReport", f.dr, w.dr}} {
					if got := f.accountsOf(t, r.typ, r.id); !slices.Equal(got, r.want) {
						t.Errorf("%s accounts = %v, want %v", r.typ, got, r.want)
					}
				}
			})
		}
	})
}

// Row 56: other meta members survive; an account shared by two patients
// stays on a resource about both when only one is unenrolled.
func TestSetAccountsKeepsMetaAndSharedAccounts(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		f := newSAFixture(t, s)
		comm := f.about(t, "Communication", `"status":"completed","meta":{"security":[{"system":"http://s","code":"R"}]}`)
		f.set(t, "Patient", f.patient, true, f.o1)
		if got := f.accountsOf(t, "Communication", comm); !slices.Equal(got, []string{f.o1}) {
			t.Errorf("Communication accounts = %v, want [%s]", got, f.o1)
		}
		sec, _ := meta(t, f.stored(t, "Communication", comm).Content)["security"].([]any)
		if len(sec) != 1 {
			t.Errorf("Communication meta.security = %v, want it kept", sec)
		}

		other := create(t, s, f.admin, "Patient", `{"resourceType":"Patient"}`).ID
		f.set(t, "Patient", other, true, f.o1)
		shared := create(t, s, f.admin, "Observation", `{"resourceType":"Observation","status":"final","code":{"text":"x"},
			"subject":{"reference":"Patient/`+f.patient+`"},"performer":[{"reference":"Patient/`+other+`"}]}`).ID
		if got := f.accountsOf(t, "Observation", shared); !slices.Equal(got, []string{f.o1}) {
			t.Fatalf("shared Observation starts with %v, want [%s]", got, f.o1)
		}
		f.set(t, "Patient", f.patient, true)
		if got := f.accountsOf(t, "Observation", shared); !slices.Equal(got, []string{f.o1}) {
			t.Errorf("shared Observation accounts = %v, want [%s] (the other patient still carries it)", got, f.o1)
		}
		if got := f.accountsOf(t, "Observation", f.obs); len(got) != 0 {
			t.Errorf("Observation about the unenrolled patient only keeps %v", got)
		}
	})
}

func TestSetAccountsTargetOnly(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		cases := []struct {
			name      string
			typ       string
			propagate bool
		}{
			{"row 61: propagate false changes the patient only", "Patient", false},
			{"propagate on an Observation changes the Observation only", "Observation", true},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				f := newSAFixture(t, s)
				f.set(t, "Patient", f.patient, true, f.o1, f.o2)
				id := map[string]string{"Patient": f.patient, "Observation": f.obs}[c.typ]
				before := map[string]string{"Patient": f.versionOf(t, "Patient", f.patient),
					"Observation": f.versionOf(t, "Observation", f.obs), "DiagnosticReport": f.versionOf(t, "DiagnosticReport", f.dr)}
				if n := f.set(t, c.typ, id, c.propagate, f.o2); n != 1 {
					t.Errorf("resourcesUpdated = %d, want 1", n)
				}
				if got := f.accountsOf(t, c.typ, id); !slices.Equal(got, []string{f.o2}) {
					t.Errorf("%s accounts = %v, want exactly [%s]", c.typ, got, f.o2)
				}
				for typ, rid := range map[string]string{"Patient": f.patient, "Observation": f.obs, "DiagnosticReport": f.dr} {
					if typ == c.typ {
						continue
					}
					if v := f.versionOf(t, typ, rid); v != before[typ] {
						t.Errorf("%s was rewritten (version %s → %s)", typ, before[typ], v)
					}
				}
			})
		}
	})
}

// New versions only for resources whose accounts change, with history,
// lastUpdated and compartment rows that searches see at once.
func TestSetAccountsVersionsAndSearch(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		f := newSAFixture(t, s)
		old := f.stored(t, "Observation", f.obs)
		f.s.Now = func() time.Time { return old.LastUpdated.Add(time.Hour) }
		f.set(t, "Patient", f.patient, true, f.o1)
		cur := f.stored(t, "Observation", f.obs)
		if cur.VersionID == old.VersionID || !cur.LastUpdated.After(old.LastUpdated) {
			t.Errorf("Observation version %s/%v → %s/%v: want a new version and lastUpdated", old.VersionID, old.LastUpdated, cur.VersionID, cur.LastUpdated)
		}
		comp, _ := meta(t, cur.Content)["compartment"].([]any)
		refs := []string{}
		for _, c := range comp {
			refs = append(refs, c.(map[string]any)["reference"].(string))
		}
		if wantRefs := []string{"Project/" + f.project, f.o1, "Patient/" + f.patient}; !slices.Equal(refs, wantRefs) {
			t.Errorf("meta.compartment = %v, want %v", refs, wantRefs)
		}
		if _, err := s.VRead(f.admin, "Observation", f.obs, old.VersionID); err != nil {
			t.Errorf("old version gone from history: %v", err)
		}
		if h := historyTotal(t, f, "Observation", f.obs); h != 2 {
			t.Errorf("Observation history has %d versions, want 2", h)
		}
		if got := searchIDs(t, f, "Observation", "_compartment="+f.o1); !slices.Equal(got, []string{f.obs}) {
			t.Errorf("Observation?_compartment=%s = %v, want [%s]", f.o1, got, f.obs)
		}
		if got := searchIDs(t, f, "DiagnosticReport", "_compartment="+f.o1+"&code:text=panel"); !slices.Equal(got, []string{f.dr}) {
			t.Errorf("DiagnosticReport search by compartment and code = %v, want [%s]", got, f.dr)
		}

		versions := map[string]string{}
		for typ, id := range map[string]string{"Patient": f.patient, "Observation": f.obs, "DiagnosticReport": f.dr} {
			versions[typ] = f.versionOf(t, typ, id)
		}
		if n := f.set(t, "Patient", f.patient, true, f.o1); n != 3 {
			t.Errorf("a repeated run counts %d resources, want 3 (already-correct ones count)", n)
		}
		for typ, id := range map[string]string{"Patient": f.patient, "Observation": f.obs, "DiagnosticReport": f.dr} {
			if v := f.versionOf(t, typ, id); v != versions[typ] {
				t.Errorf("repeated run rewrote %s", typ)
			}
		}

		f.set(t, "Patient", f.patient, true)
		if got := searchIDs(t, f, "Observation", "_compartment="+f.o1); len(got) != 0 {
			t.Errorf("after unenrolment Observation?_compartment=%s = %v, want none", f.o1, got)
		}
		if got := searchIDs(t, f, "Observation", "_compartment=Patient/"+f.patient); !slices.Equal(got, []string{f.obs}) {
			t.Errorf("patient compartment lost the Observation: %v", got)
		}
	})
}

func historyTotal(t *testing.T, f *saFixture, typ, id string) int {
	t.Helper()
	page, err := f.s.History(f.admin, ward.HistoryQuery{ResourceType: typ, ID: id})
	if err != nil {
		t.Fatal(err)
	}
	return page.Total
}

func searchIDs(t *testing.T, f *saFixture, typ, query string) []string {
	t.Helper()
	vals, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	q, err := search.Parse(typ, vals)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.s.Search(f.admin, q)
	if err != nil {
		t.Fatalf("search %s?%s: %v", typ, query, err)
	}
	var ids []string
	for _, m := range res.Matches {
		ids = append(ids, m.ID)
	}
	return ids
}

func TestSetAccountsOtherProjectsUntouched(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		f := newSAFixture(t, s)
		other := uuid.NewString()
		foreign := sysCreate(t, s, other, "Observation", `{"status":"final","code":{"text":"x"},"subject":{"reference":"Patient/`+f.patient+`"}}`)
		if n := f.set(t, "Patient", f.patient, true, f.o1); n != 3 {
			t.Errorf("resourcesUpdated = %d, want 3 (the other project's Observation is not counted)", n)
		}
		after := f.stored(t, "Observation", foreign.ID)
		if after.VersionID != foreign.VersionID {
			t.Errorf("another project's Observation was rewritten")
		}
	})
}

func TestSetAccountsRefused(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		f := newSAFixture(t, s)
		clinician := ward.NewContextWithPrincipal(context.Background(),
			&ward.Principal{ProjectID: f.project, Author: "Practitioner/c", Policy: onePolicy(t, `[{"resourceType":"Patient"}]`)})
		readOnlyAdmin := ward.NewContextWithPrincipal(context.Background(),
			&ward.Principal{ProjectID: f.project, Admin: true, Author: "Practitioner/a", Policy: onePolicy(t, `[{"resourceType":"Patient","readonly":true}]`)})
		narrowAdmin := ward.NewContextWithPrincipal(context.Background(),
			&ward.Principal{ProjectID: f.project, Admin: true, Author: "Practitioner/a", Policy: onePolicy(t, `[{"resourceType":"Patient","criteria":"Patient?name=nobody"}]`)})
		otherAdmin := ward.NewContextWithPrincipal(context.Background(),
			&ward.Principal{ProjectID: uuid.NewString(), Admin: true, Author: "Practitioner/x"})
		cases := []struct {
			name string
			ctx  context.Context
			typ  string
			id   string
			code string
		}{
			{"row 58: a clinician is not an admin", clinician, "Patient", f.patient, ward.EFORBIDDEN},
			{"row 55: a non-UUID id", f.admin, "Patient", "not-found", ward.ENOTFOUND},
			{"an unknown id", f.admin, "Patient", uuid.NewString(), ward.ENOTFOUND},
			{"another project's admin", otherAdmin, "Patient", f.patient, ward.ENOTFOUND},
			{"an admin whose policy cannot read it", narrowAdmin, "Patient", f.patient, ward.ENOTFOUND},
			{"an admin whose policy cannot update it", readOnlyAdmin, "Patient", f.patient, ward.EFORBIDDEN},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				_, err := s.SetAccounts(c.ctx, c.typ, c.id, []string{f.o1}, true)
				if ward.ErrorCode(err) != c.code {
					t.Fatalf("error %v, want %s", err, c.code)
				}
				if got := f.accountsOf(t, "Patient", f.patient); len(got) != 0 {
					t.Errorf("refused run left accounts %v", got)
				}
			})
		}
	})
}

// Row 64: a failure during propagation leaves nothing written; a re-run
// completes.
func TestSetAccountsFailureRollsBack(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		f := newSAFixture(t, s)
		f.set(t, "Patient", f.patient, true, f.o1)
		before := f.versionOf(t, "Patient", f.patient)
		boom := errors.New("injected failure")
		ctx := store.WithSetAccountsHook(f.admin, func(step string) error {
			if step == "propagating" {
				return boom
			}
			return nil
		})
		if _, err := s.SetAccounts(ctx, "Patient", f.patient, []string{f.o2}, true); !errors.Is(err, boom) {
			t.Fatalf("error %v, want the injected failure", err)
		}
		if v := f.versionOf(t, "Patient", f.patient); v != before {
			t.Errorf("the patient kept a version of the failed run")
		}
		for typ, id := range map[string]string{"Patient": f.patient, "Observation": f.obs, "DiagnosticReport": f.dr} {
			if got := f.accountsOf(t, typ, id); !slices.Equal(got, []string{f.o1}) {
				t.Errorf("after the failed run %s accounts = %v, want [%s]", typ, got, f.o1)
			}
		}
		if got := searchIDs(t, f, "Observation", "_compartment="+f.o2); len(got) != 0 {
			t.Errorf("compartment rows of the failed run remain: %v", got)
		}
		f.set(t, "Patient", f.patient, true, f.o2)
		for typ, id := range map[string]string{"Patient": f.patient, "Observation": f.obs, "DiagnosticReport": f.dr} {
			if got := f.accountsOf(t, typ, id); !slices.Equal(got, []string{f.o2}) {
				t.Errorf("after the re-run %s accounts = %v, want [%s]", typ, got, f.o2)
			}
		}
	})
}

// Row 63: a second run on the same target while one runs is a conflict;
// another target is not blocked; after the first ends a new run succeeds.
func TestSetAccountsConcurrentRun(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		f := newSAFixture(t, s)
		held, release := make(chan struct{}), make(chan struct{})
		ctx := store.WithSetAccountsHook(f.admin, func(step string) error {
			if step == "propagating" {
				close(held)
				<-release
			}
			return nil
		})
		done := make(chan error, 1)
		go func() {
			_, err := s.SetAccounts(ctx, "Patient", f.patient, []string{f.o1}, true)
			done <- err
		}()
		<-held
		_, err := s.SetAccounts(f.admin, "Patient", f.patient, []string{f.o2}, true)
		close(release)
		if ward.ErrorCode(err) != ward.ECONFLICT || ward.ErrorMessage(err) != "$set-accounts is already running for Patient/"+f.patient {
			t.Errorf("second run: %v, want 409 $set-accounts is already running for Patient/%s", err, f.patient)
		}
		if err := <-done; err != nil {
			t.Fatalf("first run: %v", err)
		}
		if n := f.set(t, "Patient", f.patient, true, f.o2); n != 3 {
			t.Errorf("run after the first ended: resourcesUpdated %d, want 3", n)
		}
	})
}

// The meta of stored content is replaced byte-exactly around it, strings
// with braces and escapes included; content of another layout is parsed
// whole.
func TestSetAccountsRestamp(t *testing.T) {
	const tail = `,"note":[{"text":"a } \"quoted\" { [x"}],"status":"final"}`
	cases := []struct {
		name, content, want string
	}{{
		name:    "stored layout",
		content: `{"resourceType":"Observation","id":"i","meta":{"versionId":"v1","lastUpdated":"x","security":[{"code":"}\\\"{","userSelected":false}],"account":{"reference":"Organization/a"},"accounts":[{"reference":"Organization/a"}]}` + tail,
		want:    `{"resourceType":"Observation","id":"i","meta":{"versionId":"v2","lastUpdated":"2026-01-01T00:00:00.000Z","security":[{"code":"}\\\"{","userSelected":false}],"project":"p","account":{"reference":"Organization/b"},"accounts":[{"reference":"Organization/b"}]}` + tail,
	}, {
		name:    "another layout",
		content: `{"status":"final","meta":{"accounts":[{"reference":"Organization/a"}]},"id":"i","resourceType":"Observation"}`,
		want:    `{"resourceType":"Observation","id":"i","meta":{"versionId":"v2","lastUpdated":"2026-01-01T00:00:00.000Z","project":"p","account":{"reference":"Organization/b"},"accounts":[{"reference":"Organization/b"}]},"status":"final"}`,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, old, err := store.RestampMeta("Observation", "i", []byte(c.content), []string{"Organization/b"})
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
			if !slices.Equal(old, []string{"Organization/a"}) {
				t.Errorf("accounts read %v, want [Organization/a]", old)
			}
		})
	}
}
