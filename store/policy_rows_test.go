package store_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestSuperAdminKeepsItsRestrictions: row 36 — a member of the super
// admin project crosses projects, but what its own policy states still
// applies; the system principal stays unrestricted.
func TestSuperAdminKeepsItsRestrictions(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		super := sysCreate(t, s, uuid.NewString(), "Project", `{"name":"Super","superAdmin":true}`)
		x := sysCreate(t, s, uuid.NewString(), "Project", `{"name":"X"}`)
		sysCreate(t, s, x.ID, "User", `{"firstName":"A","lastName":"B","email":"a@example.com","project":{"reference":"Project/`+x.ID+`"}}`)
		sysCreate(t, s, x.ID, "User", `{"firstName":"A","lastName":"B","email":"b@example.com","project":{"reference":"Project/`+x.ID+`"}}`)
		sysCreate(t, s, super.ID, "User", `{"firstName":"A","lastName":"B","email":"c@example.com","project":{"reference":"Project/`+super.ID+`"}}`)
		own := sysCreate(t, s, super.ID, "ProjectMembership", `{"project":{"reference":"Project/`+super.ID+`"},"user":{"reference":"User/u"},"profile":{"reference":"Practitioner/p"}}`)
		other := sysCreate(t, s, super.ID, "ProjectMembership", `{"project":{"reference":"Project/`+super.ID+`"},"user":{"reference":"User/v"},"profile":{"reference":"Practitioner/q"}}`)
		pat := sysCreate(t, s, x.ID, "Patient", `{}`)
		task := sysCreate(t, s, x.ID, "Task", `{"status":"draft","intent":"order"}`)

		policy := policyOf(t, string(super.Content), `{"accessPolicy":{"reference":"AccessPolicy/a"}}`, map[string]string{"AccessPolicy/a": `{"resource":[
			{"resourceType":"Patient"},
			{"resourceType":"User","criteria":"User?_compartment=Project/` + x.ID + `"},
			{"resourceType":"ProjectMembership","criteria":"ProjectMembership?_id:not=` + other.ID + `"}]}`})
		ctx := ward.NewContextWithPrincipal(t.Context(), &ward.Principal{ProjectID: super.ID, System: true, Policy: policy, Author: "Practitioner/p"})

		steps := []struct {
			name string
			run  func() error
			want string
		}{
			{"read Patient of another project", func() error { _, err := s.Read(ctx, "Patient", pat.ID); return err }, "ok"},
			{"read Project", func() error { _, err := s.Read(ctx, "Project", x.ID); return err }, "ok"},
			{"read own membership", func() error { _, err := s.Read(ctx, "ProjectMembership", own.ID); return err }, "ok"},
			{"read the excluded membership", func() error { _, err := s.Read(ctx, "ProjectMembership", other.ID); return err }, ward.ENOTFOUND},
			{"read Task", func() error { _, err := s.Read(ctx, "Task", task.ID); return err }, ward.EFORBIDDEN},
			{"system principal reads Task", func() error { _, err := s.Read(sysCtx(), "Task", task.ID); return err }, "ok"},
		}
		for _, st := range steps {
			if got := code(st.run()); got != st.want {
				t.Errorf("%s = %s, want %s", st.name, got, st.want)
			}
		}
		users, err := trySearch(s, ctx, "User", "")
		if err != nil || len(users.Matches) != 2 {
			t.Errorf("search User = %v %v, want project X's 2 users", err, users)
		}
	})
}

// TestBinaryIgnoresCriteria: spec 2.10a — criteria never restrict Binary,
// and a Binary search is 400.
func TestBinaryIgnoresCriteria(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		bin := sysCreate(t, s, proj, "Binary", `{"contentType":"text/plain","data":"aGk="}`)
		ctx := memberCtx(proj, onePolicy(t, `[{"resourceType":"Binary","criteria":"Binary?_compartment=Organization/nowhere"}]`))
		if _, err := s.Read(ctx, "Binary", bin.ID); err != nil {
			t.Errorf("read Binary under criteria: %v, want ok", err)
		}
		_, err := trySearch(s, ctx, "Binary", "")
		if code(err) != ward.EINVALID || !strings.Contains(err.Error(), "Cannot search on Binary resource type") {
			t.Errorf("search Binary = %v, want 400 Cannot search on Binary resource type", err)
		}
		// A "*" rule's criteria do not hide Binary from system history.
		star := memberCtx(proj, onePolicy(t, `[{"resourceType":"*","criteria":"*?_compartment=Patient/nobody"}]`))
		if _, err := s.Read(star, "Binary", bin.ID); err != nil {
			t.Errorf("read Binary under * criteria: %v", err)
		}
		h, err := s.History(star, ward.HistoryQuery{})
		if err != nil || len(h.Versions) != 1 || h.Versions[0].Type != "Binary" {
			t.Errorf("system history under * criteria = %v %+v, want the Binary", err, h)
		}
	})
}

// TestAccessPolicyCriteriaValidated: rows 43-44 — invariant axp-3 on
// AccessPolicy writes.
func TestAccessPolicyCriteriaValidated(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		ctx := memberCtx(proj, onePolicy(t, `[{"resourceType":"AccessPolicy"}]`))
		cases := []struct {
			resource string
			want     string
		}{
			{`{"resourceType":"Patient","criteria":"identifier=123"}`, ward.EINVALID},
			{`{"resourceType":"Patient","criteria":"Patient"}`, ward.EINVALID},
			{`{"resourceType":"Practitioner","criteria":"Patient?name=x"}`, ward.EINVALID},
			{`{"resourceType":"Observation","criteria":"Observation?patient.name=x"}`, ward.EINVALID},
			{`{"resourceType":"Observation","criteria":"Observation?subject:Patient.name=x"}`, ward.EINVALID},
			{`{"resourceType":"Observation","criteria":"Observation?_has:Observation:subject:code=x"}`, ward.EINVALID},
			{`{"resourceType":"Observation","criteria":"Observation?nosuchparam=x"}`, ward.EINVALID},
			{`{"resourceType":"NotAType"}`, ward.EINVALID},
			{`{"resourceType":"Device","criteria":"Device?identifier=foo"}`, "ok"},
			{`{"resourceType":"*","criteria":"*?_compartment=Patient/x"}`, "ok"},
			{`{"resourceType":"Patient","criteria":"Patient?_id=%patient.id"}`, "ok"},
			{`{"resourceType":"Task","criteria":"Task?status=%status&_compartment=%organization"}`, "ok"},
		}
		for _, c := range cases {
			_, err := tryCreate(s, ctx, "AccessPolicy", `{"resourceType":"AccessPolicy","resource":[`+c.resource+`]}`)
			if code(err) != c.want {
				t.Errorf("AccessPolicy %s = %v, want %s", c.resource, err, c.want)
			}
			if c.want == ward.EINVALID && err != nil && !strings.Contains(err.Error(), "AccessPolicy.resource[0]") {
				t.Errorf("AccessPolicy %s: %v, want the entry's path", c.resource, err)
			}
		}
	})
}
