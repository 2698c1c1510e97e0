package wardhttp_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/mock"
)

// memStore is a small in-memory ward.ResourceStore built from the mock's
// function fields. Write stages changes on a copy and keeps them only when
// fn succeeds, so tests can see a rolled-back transaction leave nothing.
type memStore struct {
	mu     sync.Mutex
	state  *memState
	seq    int
	now    time.Time
	writes int

	// failOn, when set, fails a write whose content contains it.
	failOn string
	// failErr is the error returned for failOn (default EINVALID).
	failErr error
}

type memState struct {
	versions map[string][]*ward.Resource // "Type/id" → versions, oldest first
	log      []*ward.Resource            // every version in write order
}

func newMemStore() *memStore {
	return &memStore{
		state: &memState{versions: make(map[string][]*ward.Resource)},
		now:   time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

func (st *memState) clone() *memState {
	c := &memState{versions: make(map[string][]*ward.Resource, len(st.versions)), log: slices.Clone(st.log)}
	for k, v := range st.versions {
		c.versions[k] = slices.Clone(v)
	}
	return c
}

func needPrincipal(ctx context.Context) error {
	if ward.PrincipalFromContext(ctx) == nil {
		return ward.Errorf(ward.EINTERNAL, "no principal in context")
	}
	return nil
}

// mock returns the ward.ResourceStore tests hand to the server.
func (m *memStore) mock() *mock.ResourceStore {
	return &mock.ResourceStore{
		ReadFn: func(ctx context.Context, typ, id string) (*ward.Resource, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			return m.read(ctx, m.state, typ, id)
		},
		VReadFn: func(ctx context.Context, typ, id, vid string) (*ward.Resource, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			return m.vread(ctx, m.state, typ, id, vid)
		},
		HistoryFn: func(ctx context.Context, q ward.HistoryQuery) (*ward.HistoryPage, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			return m.history(ctx, m.state, q)
		},
		SearchFn: func(ctx context.Context, q *ward.SearchQuery) (*ward.SearchResult, error) {
			m.mu.Lock()
			defer m.mu.Unlock()
			return m.search(ctx, m.state, q)
		},
		WriteFn: func(ctx context.Context, fn func(ctx context.Context, tx ward.ResourceTx) error) error {
			if err := needPrincipal(ctx); err != nil {
				return err
			}
			m.mu.Lock()
			defer m.mu.Unlock()
			m.writes++
			staged := m.state.clone()
			if err := fn(ctx, m.tx(staged)); err != nil {
				return err
			}
			m.state = staged
			return nil
		},
	}
}

func (m *memStore) tx(st *memState) *mock.ResourceTx {
	return &mock.ResourceTx{
		ReadFn: func(ctx context.Context, typ, id string) (*ward.Resource, error) {
			return m.read(ctx, st, typ, id)
		},
		VReadFn: func(ctx context.Context, typ, id, vid string) (*ward.Resource, error) {
			return m.vread(ctx, st, typ, id, vid)
		},
		HistoryFn: func(ctx context.Context, q ward.HistoryQuery) (*ward.HistoryPage, error) {
			return m.history(ctx, st, q)
		},
		SearchFn: func(ctx context.Context, q *ward.SearchQuery) (*ward.SearchResult, error) {
			return m.search(ctx, st, q)
		},
		CreateFn: func(ctx context.Context, typ string, content []byte) (*ward.Resource, error) {
			m.seq++
			res, _, err := m.put(ctx, st, typ, fmt.Sprintf("id%d", m.seq), content, "")
			return res, err
		},
		UpdateFn: func(ctx context.Context, typ, id string, content []byte, ifMatch string) (*ward.Resource, bool, error) {
			return m.put(ctx, st, typ, id, content, ifMatch)
		},
		DeleteFn: func(ctx context.Context, typ, id string) error {
			cur := latest(st, typ, id)
			if cur == nil || cur.Deleted {
				return nil
			}
			m.seq++
			m.now = m.now.Add(time.Second)
			m.append(st, &ward.Resource{Type: typ, ID: id, VersionID: "v" + strconv.Itoa(m.seq), ProjectID: "p1", LastUpdated: m.now, Deleted: true})
			return nil
		},
	}
}

func latest(st *memState, typ, id string) *ward.Resource {
	vs := st.versions[typ+"/"+id]
	if len(vs) == 0 {
		return nil
	}
	return vs[len(vs)-1]
}

func (m *memStore) append(st *memState, r *ward.Resource) {
	key := r.Type + "/" + r.ID
	st.versions[key] = append(st.versions[key], r)
	st.log = append(st.log, r)
}

func (m *memStore) put(ctx context.Context, st *memState, typ, id string, content []byte, ifMatch string) (*ward.Resource, bool, error) {
	if err := needPrincipal(ctx); err != nil {
		return nil, false, err
	}
	if m.failOn != "" && strings.Contains(string(content), m.failOn) {
		if m.failErr != nil {
			return nil, false, m.failErr
		}
		return nil, false, ward.Errorf(ward.EINVALID, "store refused %s", m.failOn)
	}
	cur := latest(st, typ, id)
	if ifMatch != "" && (cur == nil || cur.VersionID != ifMatch) {
		return nil, false, ward.Errorf(ward.EPRECONDITION, "Version mismatch")
	}
	var tree map[string]any
	if err := json.Unmarshal(content, &tree); err != nil {
		return nil, false, ward.Errorf(ward.EINVALID, "bad content")
	}
	m.seq++
	m.now = m.now.Add(time.Second)
	vid := "v" + strconv.Itoa(m.seq)
	tree["id"] = id
	tree["meta"] = map[string]any{
		"versionId":   vid,
		"lastUpdated": m.now.Format(time.RFC3339),
		"author":      map[string]any{"reference": "Practitioner/author"},
		"project":     "p1",
		"compartment": []any{map[string]any{"reference": "Project/p1"}},
	}
	data, _ := json.Marshal(tree)
	res := &ward.Resource{Type: typ, ID: id, VersionID: vid, ProjectID: "p1", LastUpdated: m.now, Content: data}
	m.append(st, res)
	return res, cur == nil || cur.Deleted, nil
}

func (m *memStore) read(ctx context.Context, st *memState, typ, id string) (*ward.Resource, error) {
	if err := needPrincipal(ctx); err != nil {
		return nil, err
	}
	cur := latest(st, typ, id)
	if cur == nil {
		return nil, ward.Errorf(ward.ENOTFOUND, "Not found")
	} else if cur.Deleted {
		return nil, ward.Errorf(ward.EGONE, "Gone")
	}
	return cur, nil
}

func (m *memStore) vread(ctx context.Context, st *memState, typ, id, vid string) (*ward.Resource, error) {
	if err := needPrincipal(ctx); err != nil {
		return nil, err
	}
	for _, v := range st.versions[typ+"/"+id] {
		if v.VersionID == vid {
			if v.Deleted {
				return nil, ward.Errorf(ward.EGONE, "Gone")
			}
			return v, nil
		}
	}
	return nil, ward.Errorf(ward.ENOTFOUND, "Not found")
}

func (m *memStore) history(ctx context.Context, st *memState, q ward.HistoryQuery) (*ward.HistoryPage, error) {
	if err := needPrincipal(ctx); err != nil {
		return nil, err
	}
	var all []*ward.Resource
	if q.ID != "" {
		all = slices.Clone(st.versions[q.ResourceType+"/"+q.ID])
		if len(all) == 0 {
			return nil, ward.Errorf(ward.ENOTFOUND, "Not found")
		}
	} else {
		for _, v := range st.log {
			if q.ResourceType == "" || v.Type == q.ResourceType {
				all = append(all, v)
			}
		}
	}
	all = slices.DeleteFunc(all, func(v *ward.Resource) bool { return v.LastUpdated.Before(q.Since) })
	slices.Reverse(all)
	return &ward.HistoryPage{Versions: page(all, q.Offset, q.Count), Total: len(all)}, nil
}

func page(all []*ward.Resource, offset, count int) []*ward.Resource {
	if count == 0 {
		count = 20
	}
	if offset > len(all) {
		offset = len(all)
	}
	return all[offset:min(len(all), offset+count)]
}

func (m *memStore) search(ctx context.Context, st *memState, q *ward.SearchQuery) (*ward.SearchResult, error) {
	if err := needPrincipal(ctx); err != nil {
		return nil, err
	}
	var matches []*ward.Resource
	keys := make([]string, 0, len(st.versions))
	for k := range st.versions {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vs := st.versions[k]
		cur := vs[len(vs)-1]
		if cur.Type == q.ResourceType && !cur.Deleted && matchesAll(cur, q.Filters) {
			matches = append(matches, cur)
		}
	}
	total := -1
	if q.Total == "accurate" {
		total = len(matches)
	}
	count := q.Count
	if count == 0 {
		count = 20
	}
	pageOf := page(matches, q.Offset, count)
	res := &ward.SearchResult{Matches: pageOf, Total: total, HasMore: q.Offset+len(pageOf) < len(matches)}
	for _, inc := range q.Includes {
		// Test shortcut: include every resource of the target type.
		for _, vs := range st.versions {
			if cur := vs[len(vs)-1]; cur.Type == inc.TargetType && !cur.Deleted {
				res.Included = append(res.Included, cur)
			}
		}
	}
	return res, nil
}

// matchesAll: _id compares ids; any other code matches when the top-level
// element of that name, printed, contains one of the values.
func matchesAll(r *ward.Resource, filters []ward.SearchFilter) bool {
	var tree map[string]any
	_ = json.Unmarshal(r.Content, &tree)
	for _, f := range filters {
		ok := false
		for _, v := range f.Values {
			if f.Code == "_id" {
				ok = ok || r.ID == v.Value
			} else if el, found := tree[f.Code]; found {
				data, _ := json.Marshal(el)
				ok = ok || strings.Contains(string(data), v.Value)
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// fakeParse stands in for search.Parse.
func fakeParse(typ string, q url.Values) (*ward.SearchQuery, error) {
	sq := &ward.SearchQuery{ResourceType: typ}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range q[k] {
			var err error
			switch k {
			case "_count":
				sq.Count, err = strconv.Atoi(v)
			case "_offset":
				sq.Offset, err = strconv.Atoi(v)
			case "_total":
				sq.Total = v
			case "_summary":
				sq.Summary = v
			case "_elements":
				sq.Elements = append(sq.Elements, strings.Split(v, ",")...)
			case "_include":
				parts := strings.Split(v, ":")
				sq.Includes = append(sq.Includes, ward.Include{SourceType: parts[0], Param: parts[1], TargetType: parts[len(parts)-1]})
			case "bogus":
				return nil, &ward.Error{Code: ward.EINVALID, Message: "Unknown search parameter: bogus", Expression: []string{"bogus"}}
			default:
				f := ward.SearchFilter{Code: k, Type: "string"}
				for _, part := range strings.Split(v, ",") {
					f.Values = append(f.Values, ward.SearchValue{Value: part})
				}
				sq.Filters = append(sq.Filters, f)
			}
			if err != nil {
				return nil, ward.Errorf(ward.EINVALID, "Invalid %s", k)
			}
		}
	}
	return sq, nil
}
