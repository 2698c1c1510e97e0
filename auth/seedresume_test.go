package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// crashingStore fails the transaction that writes a resource of type
// crashOn after `after` such writes, as if the server stopped there.
type crashingStore struct {
	ward.ResourceStore
	crashOn string
	after   int
}

var errCrash = errors.New("crash")

func (c *crashingStore) Write(ctx context.Context, fn func(ctx context.Context, tx ward.ResourceTx) error) error {
	return c.ResourceStore.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
		return fn(ctx, crashingTx{tx, c})
	})
}

type crashingTx struct {
	ward.ResourceTx
	store *crashingStore
}

// crash counts a write of typ and reports whether it is the one to fail.
func (t crashingTx) crash(typ string) bool {
	if typ != t.store.crashOn {
		return false
	}
	t.store.after--
	return t.store.after < 0
}

func (t crashingTx) Create(ctx context.Context, typ string, content []byte) (*ward.Resource, error) {
	if t.crash(typ) {
		return nil, errCrash
	}
	return t.ResourceTx.Create(ctx, typ, content)
}

func (t crashingTx) Update(ctx context.Context, typ, id string, content []byte, ifMatch string) (*ward.Resource, bool, error) {
	if t.crash(typ) {
		return nil, false, errCrash
	}
	return t.ResourceTx.Update(ctx, typ, id, content, ifMatch)
}

// TestSeedResumes: a seed that stopped after any of its steps (the user,
// the project with its client and the client's membership, the profile)
// is finished by the next start:
// the admin signs in with the password of that start as super admin, and
// nothing is duplicated.
func TestSeedResumes(t *testing.T) {
	for _, crash := range []struct {
		typ   string
		after int
	}{{"Project", 0}, {"ClientApplication", 0}, {"ProjectMembership", 0}, {"Practitioner", 0}, {"ProjectMembership", 1}} {
		t.Run(fmt.Sprintf("%s_%d", crash.typ, crash.after+1), func(t *testing.T) {
			storetest.ForEach(t, func(t *testing.T, st *store.Store) {
				ctx := context.Background()
				cfg := Config{BaseURL: tokBase, BcryptCost: bcrypt.MinCost, AdminPassword: "first-start-password", Logger: slog.New(slog.DiscardHandler)}
				if err := New(&crashingStore{st, crash.typ, crash.after}, cfg).Seed(ctx); !errors.Is(err, errCrash) {
					t.Fatalf("seed crashing on %+v: %v", crash, err)
				}
				cfg.AdminPassword = "second-start-password"
				s := New(st, cfg)
				if err := s.Seed(ctx); err != nil {
					t.Fatal(err)
				}
				if status, reply := seedLogin(t, s, "second-start-password"); status != 200 {
					t.Fatalf("admin login after the resumed seed: %d %v", status, reply)
				} else if p, _ := reply["project"].(map[string]any); p["display"] != "Super Admin" {
					t.Errorf("project = %v", reply["project"])
				}
				if err := New(st, cfg).Seed(ctx); err != nil {
					t.Fatal(err)
				}
				for typ, q := range map[string]url.Values{
					"User":              {},
					"Project":           {"name:exact": {"Super Admin"}},
					"Practitioner":      {"email": {seedAdminEmail}},
					"ProjectMembership": {"admin": {"true"}},
				} {
					if found, err := s.searchSystem(ctx, typ, q); err != nil || len(found) != 1 {
						t.Errorf("%s %v: %d found (%v), want 1", typ, q, len(found), err)
					}
				}
			})
		})
	}
}
