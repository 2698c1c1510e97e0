package terminology_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
	"github.com/wardhealth/ward/store/storetest"
	"github.com/wardhealth/ward/terminology"
)

// countingReader counts the searches an expansion runs.
type countingReader struct {
	ward.ResourceReader
	searches *atomic.Int64
}

func (c countingReader) Search(ctx context.Context, q *ward.SearchQuery) (*ward.SearchResult, error) {
	c.searches.Add(1)
	return c.ResourceReader.Search(ctx, q)
}

// chain is value sets http://<name>/0…/depth, each of the first depth
// including the next k times; the last holds code "leaf" and, when
// cycle, includes the first again.
func chain(name string, depth, k int, cycle bool) []string {
	var out []string
	for d := 0; d < depth; d++ {
		inc := make([]string, k)
		for i := range inc {
			inc[i] = fmt.Sprintf(`{"valueSet":["http://%s/%d"]}`, name, d+1)
		}
		out = append(out, fmt.Sprintf(`{"resourceType":"ValueSet","url":"http://%s/%d","status":"active","compose":{"include":[%s]}}`, name, d, strings.Join(inc, ",")))
	}
	last := `{"system":"http://x","concept":[{"code":"leaf"}]}`
	if cycle {
		last += fmt.Sprintf(`,{"valueSet":["http://%s/0"]}`, name)
	}
	return append(out, fmt.Sprintf(`{"resourceType":"ValueSet","url":"http://%s/%d","status":"active","compose":{"include":[%s]}}`, name, depth, last))
}

// TestExpandNestedCost: a value set included many times from each level of
// a chain (any project admin can store one) is looked up once per request,
// and a chain whose expansions are cut short by a cycle is refused after
// a bounded number of look-ups: before, both cost k^depth searches (8^4:
// 4,681 searches, 1.4 s on PostgreSQL; 8^8 would hold a connection for
// hours).
func TestExpandNestedCost(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		put(t, s, projectA, chain("chain", 8, 8, false)...)
		put(t, s, projectA, chain("cycle", 8, 8, true)...)
		for _, c := range []struct {
			url         string
			want, code  string
			maxSearches int64
		}{
			{url: "http://chain/0", want: "leaf", maxSearches: 20},
			{url: "http://cycle/0", code: ward.EINVALID, maxSearches: 1100},
		} {
			var n atomic.Int64
			vs, err := terminology.Expand(as(projectA), countingReader{s, &n}, terminology.Request{URL: c.url})
			switch {
			case c.code != "" && ward.ErrorCode(err) != c.code:
				t.Errorf("%s: err %v, want code %s", c.url, err, c.code)
			case c.code == "" && err != nil:
				t.Errorf("%s: %v", c.url, err)
			case c.code == "" && codes(vs) != c.want:
				t.Errorf("%s: codes %q, want %q", c.url, codes(vs), c.want)
			}
			if got := n.Load(); got > c.maxSearches {
				t.Errorf("%s: %d searches, want at most %d", c.url, got, c.maxSearches)
			}
		}
	})
}

// TestExpandFilterRepeatedWords: a filter repeating one word 400,000 times
// (800 kB, within a request's limits) over a 3,000-concept code system
// took 10 s of CPU; each distinct word is now checked once.
func TestExpandFilterRepeatedWords(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, s *store.Store) {
		concepts := make([]string, 3000)
		for i := range concepts {
			concepts[i] = fmt.Sprintf(`{"code":"c%d","display":"Alpha beta gamma delta %d"}`, i, i)
		}
		put(t, s, projectA, `{"resourceType":"CodeSystem","url":"http://big","status":"active","content":"complete","concept":[`+strings.Join(concepts, ",")+`]}`,
			`{"resourceType":"ValueSet","url":"http://big/vs","status":"active","compose":{"include":[{"system":"http://big"}]}}`)
		start := time.Now()
		vs, err := terminology.Expand(as(projectA), s, terminology.Request{URL: "http://big/vs", Filter: strings.Repeat("al ", 400000) + "de"})
		if err != nil {
			t.Fatal(err)
		}
		if vs.Expansion.Total != 3000 {
			t.Errorf("total %d, want every concept (each display has words starting with al and de)", vs.Expansion.Total)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("took %v", d)
		}
	})
}
