package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestPreparedCreates: a create whose decoding, validation and index rows
// were done before its transaction (PrepareCreate, what the http package
// does before a POST joins the writer) is stored, indexed and refused
// exactly as one that was not: the same errors in the same order (403
// for a type the policy does not grant before 400 for the content), a
// preparation made for one principal never used for another, used once,
// and rows extracted before a write rule removed a field never indexed.
func TestPreparedCreates(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj, other := uuid.NewString(), uuid.NewString()
		obs := func(extra string) []byte {
			return []byte(`{"resourceType":"Observation","status":"final","code":{"text":"prep"},"meta":{"tag":[{"code":"t-` + proj + `"}]}` + extra + `}`)
		}
		// createIn writes one create of body in ctx (prepCtx's principal
		// when nil), prepared in prepCtx (nil: not prepared), and returns
		// what it answered and whether the preparation was used.
		createIn := func(prepCtx, ctx context.Context, body []byte) (*ward.Resource, bool, error) {
			switch {
			case prepCtx == nil:
			case ctx == nil:
				ctx = s.PrepareCreate(prepCtx, "Observation", "", body)
			default:
				ctx = ward.NewContextWithPrincipal(s.PrepareCreate(prepCtx, "Observation", "", body), ward.PrincipalFromContext(ctx))
			}
			var res *ward.Resource
			err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
				var err error
				res, err = tx.Create(ctx, "Observation", body)
				return err
			})
			return res, store.PreparationsUsed(ctx) == 1, err
		}
		found := func(ctx context.Context, query string) []string {
			t.Helper()
			res, err := trySearch(s, ctx, "Observation", query)
			if err != nil {
				t.Fatalf("search %s: %v", query, err)
			}
			var ids []string
			for _, m := range res.Matches {
				ids = append(ids, m.ID)
			}
			return ids
		}

		plain, _, err := createIn(nil, as(proj), obs(`,"valueString":"same"`))
		if err != nil {
			t.Fatal(err)
		}
		prepared, used, err := createIn(as(proj), nil, obs(`,"valueString":"same"`))
		if err != nil || !used {
			t.Fatalf("prepared create: %v, preparation used %v", err, used)
		}
		strip := func(r *ward.Resource) string {
			c := strings.ReplaceAll(string(r.Content), r.ID, "ID")
			c = strings.ReplaceAll(c, r.VersionID, "VID")
			return strings.ReplaceAll(c, r.LastUpdated.Format("2006-01-02T15:04:05.000Z07:00"), "TIME")
		}
		if strip(plain) != strip(prepared) {
			t.Errorf("prepared create stored\n%s\nwant as unprepared\n%s", strip(prepared), strip(plain))
		}
		for _, q := range []string{"_tag=t-" + proj, "value-string=same", "_id=" + prepared.ID} {
			if ids := found(as(proj), q); !slices.Contains(ids, prepared.ID) {
				t.Errorf("search %s: %v, want the prepared create %s", q, ids, prepared.ID)
			}
		}

		for _, tc := range []struct {
			name      string
			prep, ctx context.Context // ctx nil: prep's
			body      []byte
			used      bool   // the preparation is used
			code      string // the error code, "" for a create
			inProject string // where a create must land
			notFound  string // a search by the system principal that must not find it
		}{
			{name: "bad JSON", prep: as(proj), body: []byte(`{"resourceType":"Observation",`), code: ward.EINVALID, used: true},
			{name: "invalid element", prep: as(proj), body: []byte(`{"resourceType":"Observation","status":12,"code":{"text":"x"}}`), code: ward.EINVALID, used: true},
			{name: "wrong type", prep: as(proj), body: []byte(`{"resourceType":"Patient"}`), code: ward.EINVALID, used: true},
			{
				name: "no create grant before bad content",
				prep: memberCtx(proj, onePolicy(t, `[{"resourceType":"Patient"}]`)), ctx: nil,
				body: []byte(`{"resourceType":"Observation",`), code: ward.EFORBIDDEN,
			},
			{
				name: "prepared for another principal",
				prep: as(proj), ctx: as(other), body: obs(`,"valueString":"other"`), inProject: other,
			},
			{
				name: "readonly field dropped after preparing",
				prep: memberCtx(proj, onePolicy(t, `[{"resourceType":"Observation","readonlyFields":["valueString"]}]`)), ctx: nil,
				body: obs(`,"valueString":"dropped-` + proj + `"`), inProject: proj, notFound: "value-string=dropped-" + proj, used: true,
			},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res, used, err := createIn(tc.prep, tc.ctx, tc.body)
				if used != tc.used {
					t.Errorf("preparation used: %v, want %v", used, tc.used)
				}
				if tc.code != "" {
					if ward.ErrorCode(err) != tc.code {
						t.Fatalf("got %v (%v), want %s", res, err, tc.code)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if res.ProjectID != tc.inProject {
					t.Errorf("stored in project %s, want %s", res.ProjectID, tc.inProject)
				}
				if _, err := s.Read(as(tc.inProject), "Observation", res.ID); err != nil {
					t.Errorf("read in its project: %v", err)
				}
				for _, p := range []string{proj, other} {
					if p == tc.inProject {
						continue
					}
					if _, err := s.Read(as(p), "Observation", res.ID); ward.ErrorCode(err) != ward.ENOTFOUND {
						t.Errorf("read from project %s: %v, want not found", p, err)
					}
				}
				if tc.notFound != "" {
					if has(res.Content, "valueString") {
						t.Errorf("stored %s, want valueString dropped", res.Content)
					}
					sys := ward.NewContextWithPrincipal(context.Background(), ward.SystemPrincipal())
					if ids := found(sys, tc.notFound); slices.Contains(ids, res.ID) {
						t.Errorf("search %s found %s: rows of the dropped field were indexed", tc.notFound, res.ID)
					}
				}
			})
		}

		t.Run("used once", func(t *testing.T) {
			body := obs(`,"valueString":"twice"`)
			ctx := s.PrepareCreate(as(proj), "Observation", "", body)
			defer func() {
				if n := store.PreparationsUsed(ctx); n != 1 {
					t.Errorf("preparations used: %d, want 1", n)
				}
			}()
			var ids []string
			err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
				for range 2 {
					res, err := tx.Create(ctx, "Observation", body)
					if err != nil {
						return err
					}
					ids = append(ids, res.ID)
				}
				return nil
			})
			if err != nil || len(ids) != 2 || ids[0] == ids[1] {
				t.Fatalf("two creates of one preparation: %v %v, want two resources", ids, err)
			}
			for _, id := range ids {
				if _, err := s.Read(as(proj), "Observation", id); err != nil {
					t.Errorf("read %s: %v", id, err)
				}
			}
		})
	})
}
