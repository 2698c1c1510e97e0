package graphql

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"

	gql "github.com/graphql-go/graphql"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
)

// resolvers turn fields into store calls. Every call passes the request's
// context, so the store applies the caller's Principal; nothing here
// filters or widens what the store returns.
type resolvers struct {
	store  ward.ResourceStore
	parse  func(resourceType string, q url.Values) (*ward.SearchQuery, error)
	logger *slog.Logger
}

// request is the per-request state: the resolution budget and the batch
// loader of Reference.resource.
type request struct {
	mu        sync.Mutex
	budget    int                   // store look-ups left
	filters   int                   // search filters the request may still run
	resources int                   // resources the answer may still hold
	refs      map[string]*refResult // "Type/id" → result, filled by flush
	queue     map[string][]string   // resource type → ids not yet loaded
}

type refResult struct {
	done bool
	res  map[string]any
	err  error
}

type requestKey struct{}

func withRequest(ctx context.Context, maxResolutions, maxResources int) context.Context {
	return context.WithValue(ctx, requestKey{}, &request{
		budget:    maxResolutions,
		filters:   MaxFilters,
		resources: maxResources,
		refs:      map[string]*refResult{},
		queue:     map[string][]string{},
	})
}

func requestFrom(ctx context.Context) *request {
	if r, ok := ctx.Value(requestKey{}).(*request); ok {
		return r
	}
	return &request{budget: 0}
}

// take spends one store look-up of the request's budget.
func (rq *request) take() error {
	return rq.spend(&rq.budget, 1, "Too many nested resolutions in one query (at most "+strconv.Itoa(MaxResolutions)+")")
}

// spendFilters counts the filters of one search past its freeFilters: a
// search of many filters costs its planning time on PostgreSQL (100 filters: 1.4 s), and aliases
// multiply it (20 aliased lists of 100 _filter comparisons: 29 s, up to
// MaxResolutions of them per request).
func (rq *request) spendFilters(n int) error {
	return rq.spend(&rq.filters, n, "Too many search parameters in one query (at most "+strconv.Itoa(MaxFilters)+" across its lists)")
}

// hold counts n resources into the answer; a query whose answer would
// exceed MaxResources (many aliased lists of 1,000) fails that field
// instead of holding them all in memory.
func (rq *request) hold(n int) error {
	return rq.spend(&rq.resources, n, "Too many resources in one answer (at most "+strconv.Itoa(MaxResources)+")")
}

// spend takes n from one of the request's budgets, or empties it and fails
// with msg when n is more than is left: once exhausted, every later field
// fails too.
func (rq *request) spend(left *int, n int, msg string) error {
	rq.mu.Lock()
	defer rq.mu.Unlock()
	if n > *left {
		*left = 0
		return errors.New(msg)
	}
	*left -= n
	return nil
}

// read is <Type>(id).
func (r *resolvers) read(rt string) gql.FieldResolveFn {
	return func(p gql.ResolveParams) (any, error) {
		id, _ := p.Args["id"].(string)
		if err := requestFrom(p.Context).take(); err != nil {
			return nil, err
		}
		res, err := r.store.Read(p.Context, rt, id)
		if err != nil {
			return nil, r.fieldError(p.Context, err)
		}
		return decode(res)
	}
}

// list is <Type>List(args): the REST search with the same parameters.
func (r *resolvers) list(rt string) gql.FieldResolveFn {
	return func(p gql.ResolveParams) (any, error) {
		res, _, err := r.search(p.Context, rt, argValues(rt, p.Args))
		if err != nil {
			return nil, err
		}
		return decodeAll(res.Matches)
	}
}

// connection is <Type>Connection(args): the page plus count, offset and
// pageSize, as Medplum answers it.
func (r *resolvers) connection(rt string) gql.FieldResolveFn {
	return func(p gql.ResolveParams) (any, error) {
		v := argValues(rt, p.Args)
		if v.Get("_total") == "" {
			v.Set("_total", "accurate")
		}
		res, q, err := r.search(p.Context, rt, v)
		if err != nil {
			return nil, err
		}
		matches, err := decodeAll(res.Matches)
		if err != nil {
			return nil, err
		}
		edges := make([]any, len(matches))
		for i, m := range matches {
			edges[i] = map[string]any{"mode": "match", "resource": m}
		}
		pageSize := q.Count
		if pageSize == 0 && q.Summary != "count" {
			pageSize = defaultCount
		}
		out := map[string]any{"offset": q.Offset, "pageSize": pageSize, "edges": edges}
		if res.Total >= 0 {
			out["count"] = res.Total
		}
		return out, nil
	}
}

// reverse is <Type>List(_reference: param, …) inside a resource: the REST
// search src?param=Parent/id&… for the parent resource.
func (r *resolvers) reverse(src string) gql.FieldResolveFn {
	return func(p gql.ResolveParams) (any, error) {
		parent, _ := p.Source.(map[string]any)
		rt, _ := parent["resourceType"].(string)
		id, _ := parent["id"].(string)
		param, _ := p.Args["_reference"].(string)
		if rt == "" || id == "" || param == "" {
			return nil, nil
		}
		args := make(map[string]any, len(p.Args))
		for k, v := range p.Args {
			if k != "_reference" {
				args[k] = v
			}
		}
		v := argValues(src, args)
		v.Add(param, rt+"/"+id)
		res, _, err := r.search(p.Context, src, v)
		if err != nil {
			return nil, err
		}
		return decodeAll(res.Matches)
	}
}

// search parses v exactly as REST would and runs it for the caller.
func (r *resolvers) search(ctx context.Context, rt string, v url.Values) (*ward.SearchResult, *ward.SearchQuery, error) {
	q, err := r.parse(rt, v)
	if err != nil {
		return nil, nil, r.fieldError(ctx, err)
	}
	if err := requestFrom(ctx).take(); err != nil {
		return nil, nil, err
	}
	if err := requestFrom(ctx).spendFilters(max(q.ParamCount()-freeFilters, 0)); err != nil {
		return nil, nil, err
	}
	res, err := r.store.Search(ctx, q)
	if err != nil {
		return nil, nil, r.fieldError(ctx, err)
	}
	if err := requestFrom(ctx).hold(len(res.Matches)); err != nil {
		return nil, nil, err
	}
	return res, q, nil
}

// argValues turns GraphQL arguments into the URL query of the same REST
// search: argument names back to parameter codes ('_' → '-').
func argValues(rt string, args map[string]any) url.Values {
	v := url.Values{}
	for name, val := range args {
		code := name
		if _, ok := fhir.LookupSearchParam(rt, name); !ok && !strings.HasPrefix(name, "_") {
			code = strings.ReplaceAll(name, "_", "-")
		}
		switch x := val.(type) {
		case string:
			v.Add(code, x)
		case int:
			v.Add(code, strconv.Itoa(x))
		}
	}
	return v
}

// reference is Reference.resource: the target read as the caller, or
// null when the caller cannot see it. Look-ups are queued and the first
// thunk the executor calls loads the whole level's queue, one search per
// type, so a list's nested references cost one query per type.
func (r *resolvers) reference(p gql.ResolveParams) (any, error) {
	m, _ := p.Source.(map[string]any)
	ref, _ := m["reference"].(string)
	rt, id, ok := splitReference(ref)
	if !ok {
		return nil, nil
	}
	rq := requestFrom(p.Context)
	key := rt + "/" + id
	rq.mu.Lock()
	if _, queued := rq.refs[key]; !queued {
		rq.refs[key] = &refResult{}
		rq.queue[rt] = append(rq.queue[rt], id)
	}
	rq.mu.Unlock()
	ctx := p.Context
	return func() (any, error) {
		if err := r.flush(ctx, rq); err != nil {
			return nil, err
		}
		rq.mu.Lock()
		res := rq.refs[key]
		rq.mu.Unlock()
		if res.res == nil {
			return nil, res.err
		}
		return res.res, res.err
	}, nil
}

// splitReference accepts "Type/id" and "Type/id/_history/vid" of a known
// type; other forms (contained "#x", absolute URLs, logical references)
// resolve to null.
func splitReference(ref string) (string, string, bool) {
	parts := strings.Split(ref, "/")
	if len(parts) != 2 && !(len(parts) == 4 && parts[2] == "_history") {
		return "", "", false
	}
	if !fhir.IsResourceType(parts[0]) || !validID(parts[1]) {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// flush loads every queued reference: per type, _id searches of at most
// maxIDs ids, through the same Search a REST ?_id= would run.
func (r *resolvers) flush(ctx context.Context, rq *request) error {
	rq.mu.Lock()
	queue := rq.queue
	rq.queue = map[string][]string{}
	rq.mu.Unlock()
	types := make([]string, 0, len(queue))
	for rt := range queue {
		types = append(types, rt)
	}
	sort.Strings(types)
	for _, rt := range types {
		ids := queue[rt]
		for len(ids) > 0 {
			n := min(len(ids), maxIDs)
			if err := r.loadBatch(ctx, rq, rt, ids[:n]); err != nil {
				return err
			}
			ids = ids[n:]
		}
	}
	return nil
}

func (r *resolvers) loadBatch(ctx context.Context, rq *request, rt string, ids []string) error {
	if err := rq.take(); err != nil {
		r.settle(rq, rt, ids, nil, err)
		return nil
	}
	v := url.Values{"_id": {strings.Join(ids, ",")}, "_count": {strconv.Itoa(len(ids))}}
	q, err := r.parse(rt, v)
	var res *ward.SearchResult
	if err == nil {
		res, err = r.store.Search(ctx, q)
	}
	if err == nil {
		if err := rq.hold(len(res.Matches)); err != nil {
			r.settle(rq, rt, ids, nil, err)
			return nil
		}
	}
	switch ward.ErrorCode(err) {
	case "":
	case ward.EFORBIDDEN:
		// A policy may grant read without search: read one by one, as a
		// REST client following the reference would.
		return r.readEach(ctx, rq, rt, ids)
	default:
		r.settle(rq, rt, ids, nil, r.fieldError(ctx, err))
		return nil
	}
	found := map[string]map[string]any{}
	for _, m := range res.Matches {
		d, err := decode(m)
		if err != nil {
			return err
		}
		found[m.ID] = d
	}
	r.settle(rq, rt, ids, found, nil)
	return nil
}

func (r *resolvers) readEach(ctx context.Context, rq *request, rt string, ids []string) error {
	found := map[string]map[string]any{}
	for _, id := range ids {
		res, err := r.store.Read(ctx, rt, id)
		if err == nil {
			if err := rq.hold(1); err != nil {
				r.settle(rq, rt, ids, found, err)
				return nil
			}
		}
		switch ward.ErrorCode(err) {
		case "":
			if found[id], err = decode(res); err != nil {
				return err
			}
		case ward.ENOTFOUND, ward.EGONE, ward.EFORBIDDEN:
		default:
			return r.fieldError(ctx, err)
		}
	}
	r.settle(rq, rt, ids, found, nil)
	return nil
}

// settle records the results of ids; an id not found is null (the caller
// cannot see it, or it does not exist: the same answer either way).
func (r *resolvers) settle(rq *request, rt string, ids []string, found map[string]map[string]any, err error) {
	rq.mu.Lock()
	defer rq.mu.Unlock()
	for _, id := range ids {
		res := rq.refs[rt+"/"+id]
		res.done, res.res, res.err = true, found[id], err
	}
}

// validID reports whether id is a FHIR id ([A-Za-z0-9-.]{1,64}); anything
// else cannot exist, and would be search syntax inside an _id value.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// fieldError is what a GraphQL client sees of err: a ward.Error's message,
// or "Internal server error" (logged with the real text).
func (r *resolvers) fieldError(ctx context.Context, err error) error {
	if ward.ErrorCode(err) == ward.EINTERNAL {
		r.logger.ErrorContext(ctx, "graphql: internal error", "error", err)
	}
	return errors.New(ward.ErrorMessage(err))
}

// decode is a resource as the store returned it: the store's output gate
// has already removed what the caller may not see (hidden fields, secrets,
// non-extended meta), exactly as for REST.
func decode(res *ward.Resource) (map[string]any, error) {
	var m map[string]any
	if err := json.Unmarshal(res.Content, &m); err != nil {
		return nil, err
	}
	return m, nil
}

func decodeAll(rs []*ward.Resource) ([]map[string]any, error) {
	out := make([]map[string]any, len(rs))
	for i, res := range rs {
		m, err := decode(res)
		if err != nil {
			return nil, err
		}
		out[i] = m
	}
	return out, nil
}
