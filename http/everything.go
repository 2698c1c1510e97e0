package wardhttp

import (
	"bytes"
	"context"
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
// POST, from its body: a Parameters resource or a plain JSON object
// ({} included), as Medplum reads them.
func readEverything(r *http.Request) (*everythingInput, error) {
	op, err := ReadOperationInput(r)
	if err != nil {
		return nil, err
	}
	return everythingParams("$everything", op)
}

// everythingParams reads $everything's parameters (also those $summary
// passes on) from op.
func everythingParams(opName string, op *OperationInput) (*everythingInput, error) {
	for _, name := range []string{"_since", "_type", "_count", "_offset", "start", "end"} {
		if len(op.Complex[name]) > 0 {
			return nil, errComplexParameter(opName, name)
		}
	}
	in := &everythingInput{}
	for name, values := range op.Values {
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
			return nil, invalidf("Parameter %s of %s is not supported", name, opName)
		}
	}
	return in, nil
}
