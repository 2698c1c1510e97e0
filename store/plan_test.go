package store_test

import (
	"context"
	"net/url"
	"slices"
	"strconv"
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

func parseObservationQuery(t testing.TB, qs string) *ward.SearchQuery {
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

// TestDatePagesInDateOrder: a search a date range drives comes in date
// order — each resource once, at its earliest index row inside the range,
// ties by the end of that row, then by id — and its pages (by _offset)
// add up to that order with nothing twice and nothing lost, for the admin
// and narrowed to a compartment. Rows outside the range, deleted
// resources and other projects do not count.
func TestDatePagesInDateOrder(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		f := &fixture{t: t, db: s.WriterDB(), d: s.Dialect()}
		a := projA
		enc := func(id string, ranges ...[2]string) {
			f.resource(a, "Encounter", id, "2020-01-01")
			for _, r := range ranges {
				f.dateRange(a, "Encounter", id, "date", mustLow(t, r[0]), mustHigh(t, r[1]))
			}
		}
		enc("enc-a", [2]string{"2020-05-01", "2020-05-02"}, [2]string{"2020-02-01", "2020-02-03"}) // two rows in range
		enc("enc-b", [2]string{"2020-03-01", "2020-03-01"})
		enc("enc-c", [2]string{"2019-12-01", "2020-01-10"}) // starts before the range, ends in it
		enc("enc-d", [2]string{"2020-02-01", "2020-02-03"}) // the same row as enc-a's first: by id
		enc("enc-e", [2]string{"2020-02-01", "2020-02-02"}) // the same start, ends sooner
		enc("enc-f", [2]string{"2018-01-01", "2018-02-01"}) // outside
		enc("enc-g", [2]string{"2018-01-01", "2018-02-01"}, [2]string{"2020-04-01", "2020-04-01"})
		f.deleted(a, "Encounter", "enc-del")
		f.dateRange(a, "Encounter", "enc-del", "date", mustLow(t, "2020-01-05"), mustHigh(t, "2020-01-05"))
		f.resource(projB, "Encounter", "enc-b1", "2020-01-01")
		f.dateRange(projB, "Encounter", "enc-b1", "date", mustLow(t, "2020-01-05"), mustHigh(t, "2020-01-05"))
		for _, id := range []string{"enc-a", "enc-c", "enc-g"} {
			f.compartment(a, "Encounter", id, orgID)
		}
		for _, c := range []struct {
			query string
			want  []string
		}{
			{"date=ge2020-01-01&date=lt2021-01-01", []string{"enc-c", "enc-e", "enc-a", "enc-d", "enc-b", "enc-g"}},
			{"date=ge2020-02-01", []string{"enc-e", "enc-a", "enc-d", "enc-b", "enc-g"}},
			{"date=ge2020-01-01&date=lt2021-01-01&_compartment=" + orgID, []string{"enc-c", "enc-a", "enc-g"}},
		} {
			var got []string
			for offset := 0; offset < 10; offset += 2 {
				got = append(got, ids(run(t, s, inA, "Encounter", c.query+"&_count=2&_offset="+strconv.Itoa(offset)).Matches)...)
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("Encounter?%s in pages of 2 = %v, want %v", c.query, got, c.want)
			}
		}
	})
}
