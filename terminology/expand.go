package terminology

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/search"
)

// Request is one $expand call.
type Request struct {
	// ID names the ValueSet for the instance-level operation; else URL
	// (with Version, or "url|version") does, else ValueSet is inline.
	ID       string
	URL      string
	Version  string
	ValueSet json.RawMessage
	// Filter keeps the concepts whose display or code has, for every word
	// of Filter, a word starting with it (case-insensitive).
	Filter string
	Count  int // page size; 0 = DefaultCount
	Offset int
}

const (
	// DefaultCount is Medplum's page size for $expand.
	DefaultCount = 10
	// MaxCount is the largest page.
	MaxCount = 1000
	// maxDepth bounds nested valueSet includes (and cycles among them).
	maxDepth = 8
	// maxLookups bounds the nested value sets and code systems one
	// expansion looks up. Each nested value set is expanded once per
	// request, but one whose expansion was cut short (a cycle, maxDepth)
	// is not kept, so a stored chain of value sets each including the
	// next many times, ending in a cycle, would still cost k^depth
	// searches without it.
	maxLookups = 1000
)

// Concept is one code of an expansion.
type Concept struct {
	System  string `json:"system,omitempty"`
	Version string `json:"version,omitempty"`
	Code    string `json:"code"`
	Display string `json:"display,omitempty"`
}

// Expansion is ValueSet.expansion.
type Expansion struct {
	Identifier string    `json:"identifier,omitempty"`
	Timestamp  string    `json:"timestamp"`
	Total      int       `json:"total"`
	Offset     int       `json:"offset"`
	Contains   []Concept `json:"contains"`
}

// ValueSet is the answer: the expanded ValueSet's identity and the page.
type ValueSet struct {
	ResourceType string    `json:"resourceType"`
	ID           string    `json:"id,omitempty"`
	URL          string    `json:"url,omitempty"`
	Version      string    `json:"version,omitempty"`
	Name         string    `json:"name,omitempty"`
	Title        string    `json:"title,omitempty"`
	Status       string    `json:"status,omitempty"`
	Expansion    Expansion `json:"expansion"`
}

// valueSet is what expansion reads of a stored ValueSet.
type valueSet struct {
	ID      string `json:"id"`
	URL     string `json:"url"`
	Version string `json:"version"`
	Name    string `json:"name"`
	Title   string `json:"title"`
	Status  string `json:"status"`
	Compose *struct {
		Include []include `json:"include"`
		Exclude []include `json:"exclude"`
	} `json:"compose"`
	Expansion *struct {
		Contains []containsItem `json:"contains"`
	} `json:"expansion"`
}

type include struct {
	System  string    `json:"system"`
	Version string    `json:"version"`
	Concept []Concept `json:"concept"`
	Filter  []struct {
		Property string `json:"property"`
		Op       string `json:"op"`
		Value    string `json:"value"`
	} `json:"filter"`
	ValueSet []string `json:"valueSet"`
}

type containsItem struct {
	Concept
	Abstract bool           `json:"abstract"`
	Contains []containsItem `json:"contains"`
}

// Expand answers req with the caller in ctx. ENOTFOUND for an unknown
// ValueSet, EINVALID for bad parameters.
func Expand(ctx context.Context, r ward.ResourceReader, req Request) (*ValueSet, error) {
	return (&Expander{r: r}).Expand(ctx, req)
}

// Expander expands against one store, keeping the CodeSystems it has
// parsed (up to cachedCodeSystems versions) between calls.
type Expander struct {
	r     ward.ResourceReader
	cache *parsedCache
}

const cachedCodeSystems = 64

// NewExpander returns an Expander over r.
func NewExpander(r ward.ResourceReader) *Expander {
	return &Expander{r: r, cache: newParsedCache(cachedCodeSystems)}
}

// Expand is the package-level Expand with x's cache.
func (x *Expander) Expand(ctx context.Context, req Request) (*ValueSet, error) {
	if err := req.check(); err != nil {
		return nil, err
	}
	e := &expander{r: x.r, ctx: ctx, codeSystems: map[string]*codeSystem{}, cache: x.cache, nested: map[string][]Concept{}}
	vs, err := e.resolve(req)
	if err != nil {
		return nil, err
	}
	all, err := e.expand(vs, 0, map[string]bool{})
	if err != nil {
		return nil, err
	}
	matched := filterConcepts(all, req.Filter)
	// start+count cannot overflow: start is at most len(matched). (An
	// offset near MaxInt made req.Offset+count wrap negative: a panic.)
	start := min(req.Offset, len(matched))
	page := matched[start:min(start+req.count(), len(matched))]
	return &ValueSet{
		ResourceType: "ValueSet", ID: vs.ID, URL: vs.URL, Version: vs.Version, Name: vs.Name, Title: vs.Title, Status: vs.Status,
		Expansion: Expansion{
			Identifier: "urn:uuid:" + ward.NewID(),
			Timestamp:  time.Now().UTC().Format(time.RFC3339),
			Total:      len(matched), Offset: req.Offset, Contains: append([]Concept{}, page...),
		},
	}, nil
}

func (req *Request) check() error {
	if req.ID == "" && req.URL == "" && len(req.ValueSet) == 0 {
		return ward.Errorf(ward.EINVALID, "Missing url")
	}
	if u, v, ok := strings.Cut(req.URL, "|"); ok && req.Version == "" {
		req.URL, req.Version = u, v
	}
	if req.Count < 0 || req.Count > MaxCount {
		return ward.Errorf(ward.EINVALID, "Invalid count: must be between 1 and %d", MaxCount)
	}
	if req.Offset < 0 {
		return ward.Errorf(ward.EINVALID, "Invalid offset: must not be negative")
	}
	return nil
}

func (req *Request) count() int {
	if req.Count == 0 {
		return DefaultCount
	}
	return req.Count
}

// expander holds one expansion's lookups: each CodeSystem is read once.
type expander struct {
	r           ward.ResourceReader
	ctx         context.Context
	codeSystems map[string]*codeSystem // by url; nil when not stored
	cache       *parsedCache
	// nested are the expansions of nested value sets by canonical
	// ("url|version" as written), so a value set included k times from
	// each of d levels costs d searches, not k^d.
	nested  map[string][]Concept
	cuts    int // expansions cut short by a cycle or maxDepth so far
	lookups int // nested value sets and code systems looked up so far
}

func (e *expander) resolve(req Request) (*valueSet, error) {
	var raw []byte
	switch {
	case req.ID != "":
		res, err := e.r.Read(e.ctx, "ValueSet", req.ID)
		if err != nil {
			return nil, err
		}
		raw = res.Content
	case req.URL != "":
		res, err := e.byURL("ValueSet", req.URL, req.Version)
		if err != nil {
			return nil, err
		}
		if res == nil {
			return nil, ward.Errorf(ward.ENOTFOUND, "ValueSet not found: %s", req.URL)
		}
		raw = res.Content
	default:
		raw = req.ValueSet
	}
	var vs valueSet
	if err := json.Unmarshal(raw, &vs); err != nil {
		return nil, ward.Errorf(ward.EINVALID, "Invalid ValueSet: %v", err)
	}
	return &vs, nil
}

// byURL finds the typ resource with canonical url the caller reads,
// preferring its own project's over the FHIR R4 project's. With a version,
// a resource of that version, else one without a version (Medplum's own
// definitions bind "…|4.0.1" to versionless ValueSets). nil when there is
// none.
func (e *expander) byURL(typ, canonical, version string) (*ward.Resource, error) {
	q, err := search.Parse(typ, url.Values{"url": {canonical}, "_count": {"50"}})
	if err != nil {
		return nil, ward.Errorf(ward.EINVALID, "Invalid url: %s", canonical)
	}
	found, err := e.r.Search(e.ctx, q)
	if err != nil {
		return nil, err
	}
	own := ""
	if p := ward.PrincipalFromContext(e.ctx); p != nil {
		own = p.ProjectID
	}
	var best *ward.Resource
	bestRank := 0
	for _, res := range found.Matches {
		rank := versionRank(res.Content, version)
		if rank == 0 {
			continue
		}
		if res.ProjectID == own {
			rank += 2
		}
		if rank > bestRank {
			best, bestRank = res, rank
		}
	}
	return best, nil
}

// versionRank scores how well content's version answers the version
// asked for: 2 exact (or none asked), 1 versionless, 0 another version.
func versionRank(content []byte, version string) int {
	if version == "" {
		return 2
	}
	var v struct {
		Version string `json:"version"`
	}
	json.Unmarshal(content, &v)
	switch v.Version {
	case version:
		return 2
	case "":
		return 1
	}
	return 0
}

// expand returns vs's concepts in order, without duplicates.
func (e *expander) expand(vs *valueSet, depth int, visiting map[string]bool) ([]Concept, error) {
	if depth > maxDepth || vs.URL != "" && visiting[vs.URL] {
		e.cuts++
		return nil, nil
	}
	visiting[vs.URL] = true
	defer delete(visiting, vs.URL)
	if vs.Compose == nil {
		if vs.Expansion != nil {
			return flattenContains(vs.Expansion.Contains, nil), nil
		}
		return nil, nil
	}
	var out []Concept
	seen := map[string]bool{}
	for _, inc := range vs.Compose.Include {
		cs, err := e.include(inc, depth, visiting)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			if k := c.System + "|" + c.Code; !seen[k] {
				seen[k] = true
				out = append(out, c)
			}
		}
	}
	excluded := map[string]bool{}
	for _, exc := range vs.Compose.Exclude {
		cs, err := e.include(exc, depth, visiting)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			excluded[c.System+"|"+c.Code] = true
		}
	}
	if len(excluded) == 0 {
		return out, nil
	}
	kept := out[:0]
	for _, c := range out {
		if !excluded[c.System+"|"+c.Code] {
			kept = append(kept, c)
		}
	}
	return kept, nil
}

func flattenContains(items []containsItem, out []Concept) []Concept {
	for _, it := range items {
		if !it.Abstract && it.Code != "" {
			out = append(out, it.Concept)
		}
		out = flattenContains(it.Contains, out)
	}
	return out
}

// include returns the concepts of one compose.include (or exclude): the
// system's part (explicit concepts, filters, or the whole CodeSystem)
// intersected with each valueSet it names.
func (e *expander) include(inc include, depth int, visiting map[string]bool) ([]Concept, error) {
	var out []Concept
	if inc.System != "" {
		cs, err := e.codeSystem(inc.System)
		if err != nil {
			return nil, err
		}
		out = systemConcepts(inc, cs)
	}
	for i, ref := range inc.ValueSet {
		nested, err := e.nestedValueSet(ref, depth, visiting)
		if err != nil {
			return nil, err
		}
		if inc.System == "" && i == 0 {
			out = nested
		} else {
			out = intersect(out, nested)
		}
	}
	return out, nil
}

// nestedValueSet is the expansion of the value set ref names (nil when the
// caller reads none), looked up and expanded once per request unless a
// cycle or maxDepth cut it short.
func (e *expander) nestedValueSet(ref string, depth int, visiting map[string]bool) ([]Concept, error) {
	if out, ok := e.nested[ref]; ok {
		return out, nil
	}
	if err := e.lookup(); err != nil {
		return nil, err
	}
	canonical, version, _ := strings.Cut(ref, "|")
	res, err := e.byURL("ValueSet", canonical, version)
	if err != nil || res == nil {
		return nil, err
	}
	var vs valueSet
	if err := json.Unmarshal(res.Content, &vs); err != nil {
		return nil, err
	}
	cuts := e.cuts
	out, err := e.expand(&vs, depth+1, visiting)
	if err != nil {
		return nil, err
	}
	if e.cuts == cuts {
		e.nested[ref] = out
	}
	return out, nil
}

// lookup spends one of the expansion's maxLookups.
func (e *expander) lookup() error {
	if e.lookups++; e.lookups > maxLookups {
		return ward.Errorf(ward.EINVALID, "ValueSet expansion too complex: more than %d nested value sets and code systems", maxLookups)
	}
	return nil
}

func intersect(a, b []Concept) []Concept {
	in := make(map[string]bool, len(b))
	for _, c := range b {
		in[c.System+"|"+c.Code] = true
	}
	var out []Concept
	for _, c := range a {
		if in[c.System+"|"+c.Code] {
			out = append(out, c)
		}
	}
	return out
}

// codeSystem returns the stored CodeSystem with url, or nil.
func (e *expander) codeSystem(canonical string) (*codeSystem, error) {
	if cs, ok := e.codeSystems[canonical]; ok {
		return cs, nil
	}
	if err := e.lookup(); err != nil {
		return nil, err
	}
	res, err := e.byURL("CodeSystem", canonical, "")
	if err != nil {
		return nil, err
	}
	var cs *codeSystem
	if res != nil {
		if cs, err = e.cache.parse(res); err != nil {
			return nil, err
		}
	}
	e.codeSystems[canonical] = cs
	return cs, nil
}

// parseInt reads a count or offset parameter.
func parseInt(name, v string) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, ward.Errorf(ward.EINVALID, "Invalid %s: %s", name, v)
	}
	return n, nil
}
