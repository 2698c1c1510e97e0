package wardhttp

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/wardhealth/ward"
)

// The page size when a search or history names none, and the cap of _count.
const (
	defaultCount = ward.DefaultPageSize
	maxCount     = ward.MaxPageSize
)

// view says how resources are shown in a response.
type view struct {
	fhirBase string // e.g. "https://host/fhir/R4"
	// attachments signs the attachment URLs of what is shown (nil:
	// Binary content is off).
	attachments *presigner
}

func (s *Server) viewOf(r *http.Request) view {
	return view{fhirBase: s.fhirBase(r), attachments: s.presignerFor(r)}
}

func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request) {
	params, err := searchValues(r)
	if err != nil {
		Error(w, r, err)
		return
	}
	body, err := s.searchBundle(r.Context(), s.store, s.viewOf(r), r.PathValue("type"), params)
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// searchValues returns the search parameters of r: the URL query, plus a
// form body for POST …/_search.
func searchValues(r *http.Request) (url.Values, error) {
	params, err := queryValues(r)
	if err != nil {
		return nil, err
	}
	if r.Method != http.MethodPost {
		return params, nil
	}
	body, err := readBody(r)
	if err != nil {
		return nil, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return params, nil
	}
	if err := checkMediaType(r, mediaForm); err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, invalidf("Invalid form body: %v", err)
	}
	for k, vs := range form {
		params[k] = append(params[k], vs...)
	}
	return params, nil
}

// searchBundle runs a search and returns the searchset Bundle.
func (s *Server) searchBundle(ctx context.Context, rd ward.ResourceReader, v view, typ string, params url.Values) ([]byte, error) {
	params = normalizeSearchParams(params)
	q, err := s.parse(typ, params)
	if err != nil {
		return nil, err
	}
	if q.Summary == "count" && q.Total == "" {
		q.Total = "accurate"
	}
	elements := elementSet(q.Elements, params)
	res, err := rd.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	noteSearch(ctx, params.Encode(), res.Matches, res.Included)

	var b bytes.Buffer
	b.Grow(256 + 512*(len(res.Matches)+len(res.Included)))
	b.WriteString(`{"resourceType":"Bundle","type":"searchset"`)
	if res.Total >= 0 {
		b.WriteString(`,"total":`)
		b.WriteString(strconv.Itoa(res.Total))
	}
	b.WriteString(`,"link":`)
	writeLinks(&b, pageLinks(v.fhirBase+"/"+typ, params, q.Offset, effectiveCount(q.Count), res.HasMore))
	if q.Summary != "count" {
		b.WriteString(`,"entry":[`)
		n := 0
		for _, m := range res.Matches {
			content := m.Content
			if elements != nil {
				content = trimElements(content, elements)
			}
			writeSearchEntry(&b, &n, v, m, "match", content)
		}
		for _, inc := range res.Included {
			writeSearchEntry(&b, &n, v, inc, "include", inc.Content)
		}
		b.WriteByte(']')
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func writeSearchEntry(b *bytes.Buffer, n *int, v view, res *ward.Resource, mode string, content []byte) {
	content = v.attachments.content(res, content)
	if *n > 0 {
		b.WriteByte(',')
	}
	*n++
	b.WriteString(`{"fullUrl":`)
	b.Write(jsonString(v.fhirBase + "/" + res.Reference()))
	b.WriteString(`,"search":{"mode":"` + mode + `"},"resource":`)
	b.Write(content)
	b.WriteByte('}')
}

// normalizeSearchParams maps Medplum's _fields alias to _elements and drops
// the format parameters, which only this package acts on (JSON is the only
// format).
func normalizeSearchParams(params url.Values) url.Values {
	_, fields := params["_fields"]
	_, format := params["_format"]
	_, pretty := params["_pretty"]
	if !fields && !format && !pretty {
		return params
	}
	out := make(url.Values, len(params))
	for k, vs := range params {
		out[k] = vs
	}
	delete(out, "_format")
	delete(out, "_pretty")
	if fields {
		delete(out, "_fields")
		out["_elements"] = append(out["_elements"], params["_fields"]...)
	}
	return out
}

// elementSet is the top-level elements _elements keeps, or nil when the
// search does not subset.
func elementSet(parsed []string, params url.Values) map[string]bool {
	list := parsed
	if len(list) == 0 {
		for _, v := range params["_elements"] {
			list = append(list, strings.Split(v, ",")...)
		}
	}
	set := make(map[string]bool, len(list))
	for _, e := range list {
		e = strings.TrimSpace(e)
		if i := strings.IndexByte(e, '.'); i >= 0 {
			e = e[:i] // a nested path keeps its whole top-level element
		}
		if e != "" {
			set[e] = true
		}
	}
	if len(set) == 0 {
		return nil
	}
	return set
}

func effectiveCount(count int) int {
	if count <= 0 {
		return defaultCount
	}
	return min(count, maxCount)
}

type link struct{ relation, url string }

// pageLinks builds self, next and previous links; pages are addressed by
// _offset and _count.
func pageLinks(base string, params url.Values, offset, count int, hasMore bool) []link {
	page := func(off int) string {
		p := make(url.Values, len(params)+2)
		for k, vs := range params {
			p[k] = vs
		}
		p.Set("_count", strconv.Itoa(count))
		p.Set("_offset", strconv.Itoa(off))
		return base + "?" + p.Encode()
	}
	self := base
	if len(params) > 0 {
		self += "?" + params.Encode()
	}
	links := []link{{"self", self}, {"first", page(0)}}
	if hasMore {
		links = append(links, link{"next", page(offset + count)})
	}
	if offset > 0 {
		links = append(links, link{"previous", page(max(0, offset-count))})
	}
	return links
}

func writeLinks(b *bytes.Buffer, links []link) {
	b.WriteByte('[')
	for i, l := range links {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"relation":"` + l.relation + `","url":`)
		b.Write(jsonString(l.url))
		b.WriteByte('}')
	}
	b.WriteByte(']')
}

func (s *Server) handleHistoryInstance(w http.ResponseWriter, r *http.Request) {
	s.serveHistory(w, r, r.PathValue("type"), r.PathValue("id"))
}

func (s *Server) handleHistoryType(w http.ResponseWriter, r *http.Request) {
	s.serveHistory(w, r, r.PathValue("type"), "")
}

func (s *Server) handleHistorySystem(w http.ResponseWriter, r *http.Request) {
	s.serveHistory(w, r, "", "")
}

func (s *Server) serveHistory(w http.ResponseWriter, r *http.Request, typ, id string) {
	params, err := queryValues(r)
	if err != nil {
		Error(w, r, err)
		return
	}
	body, err := s.historyBundle(r.Context(), s.store, s.viewOf(r), typ, id, params)
	if err != nil {
		Error(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

// historyQuery reads _count, _offset and _since.
func historyQuery(typ, id string, params url.Values) (ward.HistoryQuery, error) {
	hq := ward.HistoryQuery{ResourceType: typ, ID: id}
	var err error
	if hq.Count, err = intParam(params, "_count", 0, maxCount); err != nil {
		return hq, err
	}
	if hq.Offset, err = intParam(params, "_offset", 0, -1); err != nil {
		return hq, err
	}
	if v := params.Get("_since"); v != "" {
		if hq.Since, err = parseInstant(v); err != nil {
			return hq, expr(invalidf("Invalid _since %q: expected an instant such as 2024-01-31T12:00:00Z", v), "_since")
		}
	}
	return hq, nil
}

// intParam parses a non-negative integer parameter, capped at limit (when
// limit >= 0).
func intParam(params url.Values, name string, def, limit int) (int, error) {
	v := params.Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, expr(invalidf("Invalid %s %q: expected a non-negative integer", name, v), name)
	}
	if limit >= 0 && n > limit {
		n = limit
	}
	return n, nil
}

func parseInstant(v string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02", "2006-01", "2006"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, invalidf("invalid instant")
}

// historyBundle returns a history Bundle of one instance, a type or all.
func (s *Server) historyBundle(ctx context.Context, rd ward.ResourceReader, v view, typ, id string, params url.Values) ([]byte, error) {
	hq, err := historyQuery(typ, id, params)
	if err != nil {
		return nil, err
	}
	page, err := rd.History(ctx, hq)
	if err != nil {
		return nil, err
	}
	noteSearch(ctx, params.Encode(), page.Versions, nil)
	base := v.fhirBase
	if typ != "" {
		base += "/" + typ
		if id != "" {
			base += "/" + id
		}
	}
	base += "/_history"
	count := effectiveCount(hq.Count)
	hasMore := hq.Offset+len(page.Versions) < page.Total

	var b bytes.Buffer
	b.Grow(256 + 512*len(page.Versions))
	b.WriteString(`{"resourceType":"Bundle","type":"history","total":`)
	b.WriteString(strconv.Itoa(page.Total))
	b.WriteString(`,"link":`)
	writeLinks(&b, pageLinks(base, params, hq.Offset, count, hasMore))
	b.WriteString(`,"entry":[`)
	for i, ver := range page.Versions {
		if i > 0 {
			b.WriteByte(',')
		}
		writeHistoryEntry(&b, v, ver)
	}
	b.WriteString(`]}`)
	return b.Bytes(), nil
}

// writeHistoryEntry writes one version as Medplum's history entries are:
// the read that returns it (GET Type/id/_history/vid), answered "200" with
// the version, or "410" with a "gone" outcome for a deletion; Ward adds the
// version's etag and lastModified.
func writeHistoryEntry(b *bytes.Buffer, v view, ver *ward.Resource) {
	b.WriteString(`{"fullUrl":`)
	b.Write(jsonString(v.fhirBase + "/" + ver.Type + "/" + ver.ID))
	b.WriteString(`,"request":{"method":"GET","url":`)
	b.Write(jsonString(ver.Reference() + "/_history/" + ver.VersionID))
	gone := ver.Deleted || ver.Content == nil
	if gone {
		b.WriteString(`},"response":{"status":"410","outcome":`)
		b.Write(mustJSON(goneOutcome(ver.LastUpdated)))
	} else {
		b.WriteString(`},"response":{"status":"200","outcome":`)
		b.Write(mustJSON(allOK()))
	}
	b.WriteString(`,"etag":`)
	b.Write(jsonString(etag(ver.VersionID)))
	b.WriteString(`,"lastModified":`)
	b.Write(jsonString(fhirInstant(ver.LastUpdated)))
	b.WriteString(`}`)
	if !gone {
		b.WriteString(`,"resource":`)
		b.Write(v.attachments.content(ver, ver.Content))
	}
	b.WriteString(`}`)
}

// goneOutcome is Medplum's outcome of a deleted version in a history.
func goneOutcome(deleted time.Time) *OperationOutcome {
	return &OperationOutcome{ResourceType: "OperationOutcome", ID: "gone",
		Issue: []Issue{{Severity: "error", Code: "deleted", Details: &Details{Text: "Deleted on " + fhirInstant(deleted)}}}}
}

// fhirInstant formats t as a FHIR instant in UTC with milliseconds, as Medplum does.
func fhirInstant(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// queryValues parses the URL query, refusing (rather than dropping, as
// r.URL.Query does) pairs that are not valid percent-encoding.
func queryValues(r *http.Request) (url.Values, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, invalidf("Invalid query string: %v", err)
	}
	return v, nil
}
