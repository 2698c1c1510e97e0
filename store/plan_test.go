package store_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/search"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
)

// TestDriverChoiceKeepsPages: a clinician's search gives the same pages,
// in the same order, whichever index drives it (the compartment or the
// filter), and the same as the project admin's search narrowed to the
// clinician's clinics — for filters denser and sparser than the clinic.
func TestDriverChoiceKeepsPages(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		w := loadMSO(t, s, 300)
		queries := []string{
			"code=http://loinc.org|8867-4", "code=8310-5", "code=no-such-code",
			"date=ge2020-01-01&date=lt2021-01-01", "date=ge2015-01-01", "date=lt2015-02-01",
			"code=http://loinc.org|8867-4&date=ge2019-01-01", "_count=7",
		}
		for _, who := range []struct {
			name    string
			ctx     context.Context
			clinics []string
		}{{"clinic1", w.c1, w.clinics[:1]}, {"clinic50", w.c50, w.clinics[:50]}} {
			ctx := who.ctx
			for _, qs := range queries {
				for _, page := range []string{"&_count=5", "&_count=5&_offset=5", "&_count=20&_offset=11"} {
					want := pageIDs(t, s, w.admin, qs+page+"&_compartment="+strings.Join(who.clinics, ","))
					got := pageIDs(t, s, ctx, qs+page)
					if !slices.Equal(got, want) {
						t.Errorf("%s %s%s = %v, want the admin's %v", who.name, qs, page, got, want)
					}
					for _, forced := range []bool{false, true} {
						q := parseObservationQuery(t, qs+page)
						res, err := store.SearchForcingPlan(ctx, s, q, forced)
						if err != nil {
							t.Fatal(err)
						}
						got := []string{}
						for _, r := range res {
							got = append(got, r.ID)
						}
						if len(got) > q.Count-1 {
							got = got[:q.Count-1]
						}
						if !slices.Equal(got, want) {
							t.Errorf("%s %s%s driven from the compartment=%v: %v, want %v", who.name, qs, page, forced, got, want)
						}
					}
				}
			}
		}
	})
}

func parseObservationQuery(t *testing.T, qs string) *ward.SearchQuery {
	t.Helper()
	v, err := url.ParseQuery(qs)
	if err != nil {
		t.Fatal(err)
	}
	q, err := search.Parse("Observation", v)
	if err != nil {
		t.Fatal(err)
	}
	q.Count++ // SearchForcingPlan reads the row past the page as Search does
	return q
}

// pageIDs runs the search qs on Observation as ctx's caller.
func pageIDs(t *testing.T, s *store.Store, ctx context.Context, qs string) []string {
	t.Helper()
	res, err := trySearch(s, ctx, "Observation", qs)
	if err != nil {
		t.Fatalf("%s: %v", qs, err)
	}
	out := []string{}
	for _, r := range res.Matches {
		out = append(out, r.ID)
	}
	return out
}
