package store_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestForeignIDWrites: spec 2.10 — an update or delete of an id that
// exists in a project the caller cannot read is 404, exactly as for an id
// the caller cannot see, and creates no copy; the owner's resource is
// untouched. With or without a policy. A deleted foreign id is free.
func TestForeignIDWrites(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		owner, other := uuid.NewString(), uuid.NewString()
		pat := sysCreate(t, s, owner, "Patient", `{"name":[{"family":"Owner"}]}`)
		gone := sysCreate(t, s, owner, "Patient", `{}`)
		if err := tryDelete(s, sysCtx(), "Patient", gone.ID); err != nil {
			t.Fatal(err)
		}
		for name, c := range map[string]context.Context{
			"plain":  as(other),
			"policy": memberCtx(other, onePolicy(t, `[{"resourceType":"Patient"}]`)),
		} {
			body := `{"resourceType":"Patient","id":"` + pat.ID + `","name":[{"family":"Mallory"}]}`
			if _, _, err := update(s, c, "Patient", pat.ID, body, ""); code(err) != ward.ENOTFOUND {
				t.Errorf("%s: PUT of a foreign id = %s, want not-found", name, code(err))
			}
			if _, _, err := update(s, c, "Patient", pat.ID, body, pat.VersionID); code(err) != ward.ENOTFOUND {
				t.Errorf("%s: PUT If-Match of a foreign id = %s, want not-found", name, code(err))
			}
			if err := tryDelete(s, c, "Patient", pat.ID); code(err) != ward.ENOTFOUND {
				t.Errorf("%s: DELETE of a foreign id = %s, want not-found", name, code(err))
			}
			if _, err := s.Read(c, "Patient", pat.ID); code(err) != ward.ENOTFOUND {
				t.Errorf("%s: a copy of the foreign id was stored: %s", name, code(err))
			}
		}
		got, err := s.Read(sysCtx(), "Patient", pat.ID)
		if err != nil || got.VersionID != pat.VersionID || got.ProjectID != owner {
			t.Errorf("owner's patient after foreign writes: %v %v", got, err)
		}
		if _, created, err := update(s, as(other), "Patient", gone.ID, `{"resourceType":"Patient","id":"`+gone.ID+`"}`, ""); err != nil || !created {
			t.Errorf("PUT of an id deleted in another project: created=%v %v", created, err)
		}
		if err := tryDelete(s, as(other), "Patient", uuid.NewString()); err != nil {
			t.Errorf("DELETE of an id that exists nowhere: %v, want the no-op", err)
		}
	})
}

// TestCreateWithID: the store's transactions create under an id the
// caller minted (the http package's transaction entries) without the
// foreign-id lookup, with the same checks as a create.
func TestCreateWithID(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		id := ward.NewID()
		var created *ward.Resource
		err := s.Write(as(proj), func(ctx context.Context, tx ward.ResourceTx) error {
			c, ok := tx.(interface {
				CreateWithID(ctx context.Context, typ, id string, content []byte) (*ward.Resource, error)
			})
			if !ok {
				t.Fatal("the store's transaction has no CreateWithID: the http package would fall back to Update")
			}
			if _, err := c.CreateWithID(ctx, "Login", ward.NewID(), []byte(`{"resourceType":"Login"}`)); code(err) != ward.EFORBIDDEN {
				t.Errorf("CreateWithID of a protected type = %s, want forbidden", code(err))
			}
			var err error
			created, err = c.CreateWithID(ctx, "Patient", id, []byte(`{"resourceType":"Patient","id":"`+id+`"}`))
			return err
		})
		if err != nil || created.ID != id || created.ProjectID != proj {
			t.Fatalf("CreateWithID: %v %v", created, err)
		}
		if _, err := s.Read(as(proj), "Patient", id); err != nil {
			t.Errorf("read the created patient: %v", err)
		}
	})
}
