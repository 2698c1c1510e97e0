package store_test

import (
	"context"
	"math/rand/v2"
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

// Differences the leak fuzzer (internal/leakfuzz) found, pinned here.

// TestVReadAndHistoryNeedRead: spec 2.4/2.7, vread and history are a read
// first (403 without the type-level read grant), then need an entry
// granting vread/history that matches the resource (403).
func TestVReadAndHistoryNeedRead(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		obs := sysCreate(t, s, proj, "Observation", `{"status":"final","code":{"text":"x"}}`)
		prelim := sysCreate(t, s, proj, "Observation", `{"status":"preliminary","code":{"text":"x"}}`)
		noRead := memberCtx(proj, onePolicy(t, `[{"resourceType":"Observation","interaction":["create","search","vread","history"]}]`))
		if _, err := s.VRead(noRead, "Observation", obs.ID, obs.VersionID); code(err) != ward.EFORBIDDEN {
			t.Errorf("vread without read = %s, want forbidden", code(err))
		}
		if _, err := s.History(noRead, ward.HistoryQuery{ResourceType: "Observation", ID: obs.ID}); code(err) != ward.EFORBIDDEN {
			t.Errorf("history without read = %s, want forbidden", code(err))
		}
		// Read of every Observation, vread/history of final ones only.
		split := memberCtx(proj, onePolicy(t, `[{"resourceType":"Observation","interaction":["read"]},
			{"resourceType":"Observation","criteria":"Observation?status=final","interaction":["vread","history"]}]`))
		if _, err := s.VRead(split, "Observation", obs.ID, obs.VersionID); err != nil {
			t.Errorf("vread of final = %v, want ok", err)
		}
		if _, err := s.VRead(split, "Observation", prelim.ID, prelim.VersionID); code(err) != ward.EFORBIDDEN {
			t.Errorf("vread of readable preliminary = %s, want forbidden", code(err))
		}
		if _, err := s.History(split, ward.HistoryQuery{ResourceType: "Observation", ID: prelim.ID}); code(err) != ward.EFORBIDDEN {
			t.Errorf("history of readable preliminary = %s, want forbidden", code(err))
		}
		// Read of final ones only: an unreadable resource is 404 first.
		readFinal := memberCtx(proj, onePolicy(t, `[{"resourceType":"Observation","criteria":"Observation?status=final","interaction":["read"]},
			{"resourceType":"Observation","interaction":["vread","history"]}]`))
		if _, err := s.VRead(readFinal, "Observation", prelim.ID, prelim.VersionID); code(err) != ward.ENOTFOUND {
			t.Errorf("vread of unreadable = %s, want not-found", code(err))
		}
		if h, err := s.History(readFinal, ward.HistoryQuery{ResourceType: "Observation", ID: obs.ID}); err != nil || len(h.Versions) != 1 {
			t.Errorf("history of readable = %v %v, want its version", err, h)
		}
	})
}

// TestWriteAnswerHidesReadFields: a create's or update's answer loses the
// hiddenFields of the first entry permitting READ on it (spec 2.8), not
// those of the entry granting the write.
func TestWriteAnswerHidesReadFields(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		ctx := memberCtx(proj, onePolicy(t, `[{"resourceType":"Patient","interaction":["create","history","vread"]},
			{"resourceType":"Patient","criteria":"Patient?gender=female","hiddenFields":["name.family"]},
			{"resourceType":"Patient","readonlyFields":["active"]}]`))
		res, err := tryCreate(s, ctx, "Patient", `{"resourceType":"Patient","gender":"female","name":[{"family":"Secret","given":["G"]}]}`)
		if err != nil || strings.Contains(string(res.Content), "Secret") || !strings.Contains(string(res.Content), `"G"`) {
			t.Fatalf("create = %v %s, want family hidden, given shown", err, res.Content)
		}
		stored, err := s.Read(sysCtx(), "Patient", res.ID)
		if err != nil || !strings.Contains(string(stored.Content), "Secret") {
			t.Errorf("stored = %v %s, want family written (the create entry hides nothing)", err, stored.Content)
		}
		up, _, err := update(s, ctx, "Patient", res.ID, `{"resourceType":"Patient","id":"`+res.ID+`","gender":"female","name":[{"family":"Secret2"}]}`, "")
		if err != nil || strings.Contains(string(up.Content), "Secret") {
			t.Errorf("update = %v %s, want family hidden", err, up.Content)
		}
	})
}

// TestDeletedUnreadableIsNotFound: a deleted resource the caller could
// not read before its deletion is 404, not 410 (spec 2.6).
func TestDeletedUnreadableIsNotFound(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj := uuid.NewString()
		prelim := sysCreate(t, s, proj, "Observation", `{"status":"preliminary","code":{"text":"x"}}`)
		final := sysCreate(t, s, proj, "Observation", `{"status":"final","code":{"text":"x"}}`)
		for _, id := range []string{prelim.ID, final.ID} {
			if err := tryDelete(s, sysCtx(), "Observation", id); err != nil {
				t.Fatal(err)
			}
		}
		ctx := memberCtx(proj, onePolicy(t, `[{"resourceType":"Observation","criteria":"Observation?status=final"}]`))
		if _, err := s.Read(ctx, "Observation", prelim.ID); code(err) != ward.ENOTFOUND {
			t.Errorf("read of deleted unreadable = %s, want not-found", code(err))
		}
		if _, err := s.Read(ctx, "Observation", final.ID); code(err) != ward.EGONE {
			t.Errorf("read of deleted readable = %s, want gone", code(err))
		}
		if _, err := s.History(ctx, ward.HistoryQuery{ResourceType: "Observation", ID: prelim.ID}); code(err) != ward.ENOTFOUND {
			t.Errorf("history of deleted unreadable = %s, want not-found", code(err))
		}
		if h, err := s.History(ctx, ward.HistoryQuery{ResourceType: "Observation", ID: final.ID}); err != nil || len(h.Versions) != 2 {
			t.Errorf("history of deleted readable = %v %v, want both versions", err, h)
		}
		if _, err := s.VRead(ctx, "Observation", final.ID, final.VersionID); err != nil {
			t.Errorf("vread of deleted readable = %v, want ok", err)
		}
		if _, err := s.VRead(ctx, "Observation", prelim.ID, prelim.VersionID); code(err) != ward.ENOTFOUND {
			t.Errorf("vread of deleted unreadable = %s, want not-found", code(err))
		}
		// Inside a write transaction (a transaction bundle's GET, a DELETE's
		// read) the match runs under a savepoint and leaves nothing behind.
		err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
			if _, err := tx.Read(ctx, "Observation", prelim.ID); code(err) != ward.ENOTFOUND {
				t.Errorf("tx read of deleted unreadable = %s, want not-found", code(err))
			}
			if _, err := tx.Read(ctx, "Observation", final.ID); code(err) != ward.EGONE {
				t.Errorf("tx read of deleted readable = %s, want gone", code(err))
			}
			_, err := tx.Create(ctx, "Observation", []byte(`{"resourceType":"Observation","status":"final","code":{"text":"y"}}`))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if res, err := trySearch(s, sysCtx(), "Observation", "_id="+final.ID); err != nil || len(res.Matches) != 0 {
			t.Errorf("search for the deleted resource after the match = %v %v, want nothing", err, res)
		}
	})
}

// TestFilterExprUnderPolicy: a member confined to two patients' compartments
// searches with random _filter expressions of or, and, not and parentheses
// naming other patients, other projects' rows and ids, chains and
// compartments. No expression returns a row outside what the member may
// search (the rows a system search of those compartments finds in the
// member's project), and each returns exactly what the plain searches of
// its comparisons, joined as sets, return.
func TestFilterExprUnderPolicy(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		proj, other := uuid.NewString(), uuid.NewString()
		var patients, obs []string
		for i, p := range []string{proj, proj, proj, proj, other} {
			gender := []string{"male", "female"}[i%2]
			pat := sysCreate(t, s, p, "Patient", `{"gender":"`+gender+`"}`)
			patients = append(patients, "Patient/"+pat.ID)
			for _, status := range []string{"final", "preliminary"} {
				o := sysCreate(t, s, p, "Observation", `{"status":"`+status+`","code":{"text":"x"},"subject":{"reference":"Patient/`+pat.ID+`"}}`)
				obs = append(obs, o.ID)
			}
		}
		mine := patients[0] + "," + patients[1]
		ctx := memberCtx(proj, onePolicy(t, `[{"resourceType":"Observation","criteria":"Observation?_compartment=`+mine+`"},
			{"resourceType":"Patient","criteria":"Patient?_compartment=`+mine+`"}]`))
		system := ward.NewContextWithPrincipal(context.Background(), &ward.Principal{ProjectID: proj, Admin: true})
		rng := rand.New(rand.NewPCG(13, 2))
		for i := range 150 {
			typ := []string{"Observation", "Patient"}[i%2]
			filter := randomFilter(rng, typ, patients, obs, 2)
			allowed, err := trySearch(s, system, typ, "_count=1000&_compartment="+mine)
			if err != nil {
				t.Fatal(err)
			}
			e, err := search.ParseFilter(typ, filter)
			if err != nil {
				t.Fatalf("%s: %v", filter, err)
			}
			plain := func(f ward.SearchFilter) []string {
				res, err := s.Search(ctx, &ward.SearchQuery{ResourceType: typ, Filters: []ward.SearchFilter{f}, Count: 1000})
				if err != nil {
					t.Fatalf("%+v: %v", f, err)
				}
				return ids(res.Matches)
			}
			want := evalFilter(e, ids(allowed.Matches), plain)
			res, err := trySearch(s, ctx, typ, "_count=1000&_filter="+url.QueryEscape(filter))
			if err != nil {
				t.Fatalf("%s?_filter=%s: %v", typ, filter, err)
			}
			got := ids(res.Matches)
			for _, id := range got {
				if !slices.Contains(ids(allowed.Matches), id) {
					t.Errorf("LEAK %s?_filter=%s returned %s/%s", typ, filter, typ, id)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s?_filter=%s: %v, want %v", typ, filter, got, want)
			}
		}
	})
}

// randomFilter is a random _filter on typ: 2–3 terms (comparisons, negated
// ones, parenthesised expressions while depth lasts) joined by and / or.
func randomFilter(rng *rand.Rand, typ string, patients, obs []string, depth int) string {
	terms := make([]string, 2+rng.IntN(2))
	for i := range terms {
		switch rng.IntN(6) {
		case 0:
			terms[i] = "not (" + randomComparison(rng, typ, patients, obs) + ")"
		case 1:
			if depth > 0 {
				terms[i] = "(" + randomFilter(rng, typ, patients, obs, depth-1) + ")"
				continue
			}
			fallthrough
		default:
			terms[i] = randomComparison(rng, typ, patients, obs)
		}
	}
	out := terms[0]
	for _, term := range terms[1:] {
		out += []string{" or ", " and "}[rng.IntN(2)] + term
	}
	return out
}

func randomComparison(rng *rand.Rand, typ string, patients, obs []string) string {
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	switch rng.IntN(5) {
	case 0:
		return "_compartment eq " + pick(patients)
	case 1:
		if typ == "Patient" {
			return "gender eq " + pick([]string{"male", "female"})
		}
		return "status eq " + pick([]string{"final", "preliminary"})
	case 2:
		if typ == "Patient" {
			return "_id eq " + strings.TrimPrefix(pick(patients), "Patient/")
		}
		return "subject eq " + pick(patients)
	case 3:
		if typ == "Patient" {
			return "_has:Observation:subject:status eq " + pick([]string{"final", "preliminary"})
		}
		return "subject:Patient.gender ne " + pick([]string{"male", "female"})
	}
	if typ == "Patient" {
		return "gender pr true"
	}
	return "_id eq " + pick(obs)
}
