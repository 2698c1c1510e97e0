package store_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// as returns a context acting in project.
func as(project string) context.Context {
	return ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: project, Author: "Practitioner/" + project})
}

func create(t testing.TB, s *store.Store, ctx context.Context, typ, body string) *ward.Resource {
	t.Helper()
	var res *ward.Resource
	err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
		var err error
		res, err = tx.Create(ctx, typ, []byte(body))
		return err
	})
	if err != nil {
		t.Fatalf("create %s: %v", typ, err)
	}
	return res
}

func update(s *store.Store, ctx context.Context, typ, id, body, ifMatch string) (*ward.Resource, bool, error) {
	var res *ward.Resource
	var created bool
	err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
		var err error
		res, created, err = tx.Update(ctx, typ, id, []byte(body), ifMatch)
		return err
	})
	return res, created, err
}

func meta(t *testing.T, content []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(content, &m); err != nil {
		t.Fatal(err)
	}
	return m["meta"].(map[string]any)
}

func TestLifecycle(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		projA, projB := uuid.NewString(), uuid.NewString()
		a, b := as(projA), as(projB)

		p := create(t, s, a, "Patient", `{"resourceType":"Patient","name":[{"family":"Smith","given":["Ann"]}],"meta":{"project":"`+projB+`","tag":[{"code":"x"}],"versionId":"bogus"}}`)
		if !strings.HasPrefix(string(p.Content), `{"resourceType":"Patient","id":"`+p.ID+`","meta":{"versionId":"`+p.VersionID+`"`) {
			t.Errorf("stored JSON does not start with resourceType, id, meta: %s", p.Content)
		}
		m := meta(t, stored(t, s, p).Content)
		if m["project"] != projA {
			t.Errorf("meta.project = %v, want the caller's project %s (client value ignored)", m["project"], projA)
		}
		if m["tag"] == nil {
			t.Errorf("client meta.tag dropped: %s", p.Content)
		}
		if got := m["compartment"]; got == nil || !strings.Contains(fmt.Sprint(got), "Patient/"+p.ID) || !strings.Contains(fmt.Sprint(got), "Project/"+projA) {
			t.Errorf("meta.compartment = %v, want Project and the Patient itself", got)
		}

		got, err := s.Read(a, "Patient", p.ID)
		if err != nil || string(got.Content) != string(p.Content) {
			t.Fatalf("read = %v, %v; want the stored bytes", got, err)
		}
		if _, err := s.Read(b, "Patient", p.ID); ward.ErrorCode(err) != ward.ENOTFOUND {
			t.Errorf("read from another project: %v, want not-found", err)
		}
		if _, err := s.Read(a, "Patient", "not-a-uuid"); ward.ErrorCode(err) != ward.ENOTFOUND {
			t.Errorf("read of a non-UUID id: %v, want not-found", err)
		}

		// Update: If-Match, new version, no-op keeps the version.
		body := `{"resourceType":"Patient","id":"` + p.ID + `","name":[{"family":"Smith","given":["Anne"]}]}`
		if _, _, err := update(s, a, "Patient", p.ID, body, "wrong"); ward.ErrorCode(err) != ward.EPRECONDITION {
			t.Errorf("update with stale If-Match: %v, want precondition-failed", err)
		}
		v2, created, err := update(s, a, "Patient", p.ID, body, p.VersionID)
		if err != nil || created || v2.VersionID == p.VersionID {
			t.Fatalf("update = %v, created=%v, %v; want a new version", v2, created, err)
		}
		v3, _, err := update(s, a, "Patient", p.ID, body, "")
		if err != nil || v3.VersionID != v2.VersionID {
			t.Errorf("no-op update gave version %v (err %v), want %s kept", v3, err, v2.VersionID)
		}
		if _, _, err := update(s, a, "Patient", p.ID, `{"resourceType":"Patient","id":"`+uuid.NewString()+`"}`, ""); ward.ErrorCode(err) != ward.EINVALID {
			t.Errorf("update with mismatched body id: %v, want invalid", err)
		}
		if _, _, err := update(s, a, "Patient", p.ID, `{"resourceType":"Observation"}`, ""); ward.ErrorCode(err) != ward.EINVALID {
			t.Errorf("update with another resourceType: %v, want invalid", err)
		}

		// Another project cannot touch it: its update is 404 (spec 2.10).
		if other, _, err := update(s, b, "Patient", p.ID, `{"resourceType":"Patient"}`, ""); ward.ErrorCode(err) != ward.ENOTFOUND {
			t.Errorf("update from another project = %v, %v; want not-found", other, err)
		}
		create(t, s, b, "Patient", `{"resourceType":"Patient"}`)
		if got, _ := s.Read(a, "Patient", p.ID); got == nil || got.VersionID != v2.VersionID {
			t.Errorf("another project's write changed this project's resource: %v", got)
		}

		// Delete: 410 on read, history kept.
		if err := s.Write(a, func(ctx context.Context, tx ward.ResourceTx) error { return tx.Delete(ctx, "Patient", p.ID) }); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Read(a, "Patient", p.ID); ward.ErrorCode(err) != ward.EGONE {
			t.Errorf("read after delete: %v, want gone", err)
		}
		h, err := s.History(a, ward.HistoryQuery{ResourceType: "Patient", ID: p.ID})
		if err != nil || h.Total != 3 || len(h.Versions) != 3 || !h.Versions[0].Deleted {
			t.Fatalf("history = %+v, %v; want 3 versions, newest the deletion", h, err)
		}
		old, err := s.VRead(a, "Patient", p.ID, p.VersionID)
		if err != nil || string(old.Content) != string(p.Content) {
			t.Errorf("vread of the first version = %v, %v", old, err)
		}
		if _, err := s.VRead(b, "Patient", p.ID, p.VersionID); ward.ErrorCode(err) != ward.ENOTFOUND {
			t.Errorf("vread from another project: %v, want not-found", err)
		}
		if _, err := s.History(b, ward.HistoryQuery{ResourceType: "Patient", ID: uuid.NewString()}); ward.ErrorCode(err) != ward.ENOTFOUND {
			t.Errorf("history of an unknown id: %v, want not-found", err)
		}
		th, err := s.History(b, ward.HistoryQuery{ResourceType: "Patient"})
		if err != nil || th.Total != 1 {
			t.Errorf("type history of project B = %+v, %v; want only its own version", th, err)
		}
	})
}

func TestBadInputWritesNothing(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		ctx := as(proj)
		cases := []struct {
			name, typ, body, code string
		}{
			{"malformed JSON", "Patient", `{"resourceType":"Patient",`, ward.EINVALID},
			{"not an object", "Patient", `[1,2]`, ward.EINVALID},
			{"trailing data", "Patient", `{"resourceType":"Patient"} x`, ward.EINVALID},
			{"missing resourceType", "Patient", `{"name":[]}`, ward.EINVALID},
			{"unknown type", "Foo", `{"resourceType":"Foo"}`, ward.ENOTFOUND},
			{"wrong element type", "Patient", `{"resourceType":"Patient","active":"yes"}`, ward.EINVALID},
			{"unknown element", "Patient", `{"resourceType":"Patient","colour":"blue"}`, ward.EINVALID},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
					if _, err := tx.Create(ctx, "Patient", []byte(`{"resourceType":"Patient"}`)); err != nil {
						return err
					}
					_, err := tx.Create(ctx, c.typ, []byte(c.body))
					return err
				})
				if ward.ErrorCode(err) != c.code {
					t.Errorf("error %v, want %s", err, c.code)
				}
			})
		}
		h, err := s.History(ctx, ward.HistoryQuery{})
		if err != nil || h.Total != 0 {
			t.Errorf("a failed transaction left %d versions behind (%v)", h.Total, err)
		}
	})
}

func TestNoPrincipalNoQuery(t *testing.T) {
	s := storetest.OpenSQLite(t)
	ctx := context.Background()
	if _, err := s.Read(ctx, "Patient", uuid.NewString()); err == nil || ward.ErrorCode(err) != ward.EINTERNAL {
		t.Errorf("read without principal: %v, want an internal error", err)
	}
	if _, err := s.Search(ctx, &ward.SearchQuery{ResourceType: "Patient"}); err == nil {
		t.Error("search without principal succeeded")
	}
	if err := s.Write(ctx, func(context.Context, ward.ResourceTx) error { return nil }); err == nil {
		t.Error("write without principal succeeded")
	}
}
