package wardhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/wardhealth/ward"
)

// Patient/$everything (Medplum's patienteverything.ts): the patient and
// every resource of its Patient compartment the caller may search, as a
// searchset Bundle of search.mode "match" entries, paged with _count and
// _offset (next links), narrowed by _since and _type. The store computes
// the page under the caller's wall and policy
// (store.Store.PatientEverything); this file reads the parameters and
// writes the Bundle. Not done: Medplum's start/end care-date filter
// (400), the "include" entries it adds for referenced Organizations,
// Practitioners, Locations, Medications and Devices, and
// _inlineAttachments.

// everythingReader is implemented by stores that serve $everything.
type everythingReader interface {
	PatientEverything(ctx context.Context, id string, types []string, since string, count, offset int) (*ward.SearchResult, error)
}

// everythingDefaultCount is the page size without _count (Medplum's
// defaultMaxResults); it is also the largest page.
const everythingDefaultCount = ward.MaxPageSize

// everythingInput is the operation's parameters.
type everythingInput struct {
	since         string
	types         []string
	count, offset int
}

func (s *Server) handleEverything(w http.ResponseWriter, r *http.Request) {
	rd, ok := s.store.(everythingReader)
	if !ok {
		Error(w, r, ward.Errorf(ward.ENOTFOUND, "Operation $everything is not supported"))
		return
	}
	in, err := readEverything(r)
	if err != nil {
		Error(w, r, err)
		return
	}
	id := r.PathValue("id")
	res, err := rd.PatientEverything(r.Context(), id, in.types, in.since, in.count, in.offset)
	if err != nil {
		Error(w, r, err)
		return
	}
	noteSearch(r.Context(), r.URL.RawQuery, res.Matches, res.Included)
	v := s.viewOf(r)
	writeJSON(w, http.StatusOK, everythingBundle(v, v.fhirBase+"/Patient/"+id+"/$everything", in, res))
}

// everythingBundle writes the searchset; its links repeat the parameters
// so a next link is a GET of the following page.
func everythingBundle(v view, base string, in *everythingInput, res *ward.SearchResult) []byte {
	params := url.Values{}
	if in.since != "" {
		params.Set("_since", in.since)
	}
	if len(in.types) > 0 {
		params.Set("_type", strings.Join(in.types, ","))
	}
	count := in.count
	if count <= 0 {
		count = everythingDefaultCount
	}
	var b bytes.Buffer
	b.Grow(256 + 512*len(res.Matches))
	b.WriteString(`{"resourceType":"Bundle","type":"searchset","link":`)
	writeLinks(&b, pageLinks(base, params, in.offset, min(count, everythingDefaultCount), res.HasMore))
	b.WriteString(`,"entry":[`)
	n := 0
	for _, m := range res.Matches {
		writeSearchEntry(&b, &n, v, m, "match", m.Content)
	}
	b.WriteString("]}")
	return b.Bytes()
}

// readEverything reads the parameters from the query string and, for a
// POST with a body, from its Parameters resource.
func readEverything(r *http.Request) (*everythingInput, error) {
	q, err := queryValues(r)
	if err != nil {
		return nil, err
	}
	if r.Method == http.MethodPost {
		if err := everythingBody(r, q); err != nil {
			return nil, err
		}
	}
	in := &everythingInput{}
	for name, values := range q {
		if len(values) == 0 {
			continue
		}
		value := values[len(values)-1]
		switch name {
		case "_since":
			in.since = value
		case "_type":
			for _, v := range values {
				for _, t := range strings.Split(v, ",") {
					if t = strings.TrimSpace(t); t != "" {
						in.types = append(in.types, t)
					}
				}
			}
		case "_count", "_offset":
			n, err := strconv.Atoi(value)
			if err != nil || n < 0 {
				return nil, invalidf("Invalid value for parameter %s: %s", name, value)
			}
			if name == "_count" {
				in.count = n
			} else {
				in.offset = n
			}
		case "start", "end", "_inlineAttachments":
			return nil, invalidf("Parameter %s of $everything is not supported", name)
		}
	}
	return in, nil
}

// everythingBody adds a POST's Parameters (valueString, valueInstant,
// valueDateTime, valueCode, valueInteger, valueBoolean) to q. An empty
// body adds nothing.
func everythingBody(r *http.Request, q url.Values) error {
	data, err := readBody(r)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := checkMediaType(r, mediaFHIRJSON, mediaJSON); err != nil {
		return err
	}
	if _, err := checkResource(data, "Parameters"); err != nil {
		return err
	}
	var body struct {
		Parameter []map[string]json.RawMessage `json:"parameter"`
	}
	if err := json.Unmarshal(data, &body); err != nil {
		return invalidf("Invalid Parameters: %v", err)
	}
	for _, p := range body.Parameter {
		var name string
		if err := json.Unmarshal(p["name"], &name); err != nil || name == "" {
			return expr(invalidf("Expected a name for every parameter"), "Parameters.parameter")
		}
		value, ok := everythingValue(p)
		if !ok {
			return expr(invalidf("Expected a primitive value for parameter '%s'", name), "Parameters.parameter")
		}
		q.Add(name, value)
	}
	return nil
}

// everythingValue returns the one primitive value[x] of a parameter as
// text.
func everythingValue(p map[string]json.RawMessage) (string, bool) {
	for _, key := range []string{"valueString", "valueInstant", "valueDateTime", "valueDate", "valueCode", "valueUri"} {
		if raw, ok := p[key]; ok {
			var s string
			return s, json.Unmarshal(raw, &s) == nil
		}
	}
	for _, key := range []string{"valueInteger", "valuePositiveInt", "valueUnsignedInt", "valueBoolean"} {
		if raw, ok := p[key]; ok {
			var v any
			if json.Unmarshal(raw, &v) != nil {
				return "", false
			}
			return strings.TrimSpace(string(raw)), true
		}
	}
	return "", false
}
