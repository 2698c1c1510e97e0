package ips

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
	wardhttp "github.com/wardhealth/ward/http"
)

// Store is what the summary reads through: the caller's reads and the
// patient's $everything (store.Store), both under the caller's walls and
// policy.
type Store interface {
	ward.ResourceReader
	PatientEverything(ctx context.Context, id string, types []string, since string, count, offset int) (*ward.SearchResult, error)
}

// Routes are GET and POST /fhir/R4/Patient/{id}/$summary over s.
func Routes(s Store) []wardhttp.Route {
	h := http.HandlerFunc(handler{s}.serve)
	return []wardhttp.Route{
		{Pattern: "GET /fhir/R4/Patient/{id}/$summary", Handler: h},
		{Pattern: "POST /fhir/R4/Patient/{id}/$summary", Handler: h},
	}
}

// maxGathered bounds the patient's records a summary holds: $everything's
// one page, as Medplum (a larger chart is cut there).
const maxGathered = ward.MaxPageSize

// maxReferenced bounds the reads of referenced practitioners,
// organizations, … per summary.
const maxReferenced = 200

type handler struct{ s Store }

// params are $summary's inputs.
type params struct {
	author     string // "Practitioner/…"; "" for the caller's profile
	authoredOn string
	since      string
	care       careRange
}

func (h handler) serve(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	in, err := wardhttp.ReadOperationInput(r)
	if err != nil {
		wardhttp.Error(w, r, err)
		return
	}
	p, err := readParams(r.Method, in)
	if err != nil {
		wardhttp.Error(w, r, err)
		return
	}
	body, err := h.summary(ctx, r.PathValue("id"), p)
	if err != nil {
		wardhttp.Error(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/fhir+json; charset=utf-8")
	_, _ = w.Write(body)
}

// summary gathers the patient's records as the caller may see them and
// builds the document.
func (h handler) summary(ctx context.Context, id string, p params) ([]byte, error) {
	res, err := h.s.PatientEverything(ctx, id, Types, p.since, maxGathered, 0)
	if err != nil {
		return nil, err
	}
	res.Matches = p.care.inCare(res.Matches)
	wardhttp.NotePatients(ctx, res.Matches...)
	var patient *ward.Resource
	for _, m := range res.Matches {
		if m.Type == "Patient" && m.ID == id {
			patient = m
		}
	}
	if patient == nil { // $everything answers 404 first; kept as a guard
		return nil, ward.Errorf(ward.ENOTFOUND, "Not found")
	}
	in := Input{Patient: patient, AuthoredOn: p.authoredOn, Now: time.Now(), AuthorRef: p.author}
	if in.AuthorRef == "" {
		if caller := ward.PrincipalFromContext(ctx); caller != nil {
			in.AuthorRef = caller.Author
		}
	}
	if in.Author, err = h.readAuthor(ctx, in.AuthorRef, p.author != ""); err != nil {
		return nil, err
	}
	referenced, err := h.readReferenced(ctx, res.Matches)
	if err != nil {
		return nil, err
	}
	in.Resources = append(res.Matches, referenced...)
	return Build(in)
}

// readAuthor reads the author as the caller. An author the request named
// must be readable (Medplum's answer, 404 or 403, otherwise); the caller's
// own profile, when its policy does not let it read it, is only named.
func (h handler) readAuthor(ctx context.Context, ref string, named bool) (*ward.Resource, error) {
	typ, id, ok := strings.Cut(ref, "/")
	if !ok {
		return nil, nil
	}
	author, err := h.s.Read(ctx, typ, id)
	if err != nil && !named && unreadable(err) {
		return nil, nil
	}
	return author, err
}

// referencedType are the types whose references a summary follows (as
// Medplum's $everything does): who and where, not more patient data, which
// the compartment already holds.
var referencedType = regexp.MustCompile(`^(Organization|Location|Practitioner|PractitionerRole|Medication|Device)/[A-Za-z0-9\-.]{1,64}$`)

// readReferenced reads, as the caller, the practitioners, organizations,
// locations, medications and devices the records reference, then what
// those reference, at most maxReferenced in all; one the caller may not
// read is left out.
func (h handler) readReferenced(ctx context.Context, records []*ward.Resource) ([]*ward.Resource, error) {
	seen := map[string]bool{}
	for _, r := range records {
		seen[r.Reference()] = true
	}
	var out []*ward.Resource
	reads := 0
	for page := records; len(page) > 0 && reads < maxReferenced; {
		var next []*ward.Resource
		for _, ref := range references(page) {
			if seen[ref] || reads == maxReferenced {
				continue
			}
			seen[ref], reads = true, reads+1
			typ, id, _ := strings.Cut(ref, "/")
			res, err := h.s.Read(ctx, typ, id)
			if err != nil {
				if unreadable(err) {
					continue
				}
				return nil, err
			}
			next = append(next, res)
		}
		out, page = append(out, next...), next
	}
	return out, nil
}

// unreadable reports the errors of a reference the caller cannot follow.
func unreadable(err error) bool {
	switch ward.ErrorCode(err) {
	case ward.ENOTFOUND, ward.EGONE, ward.EFORBIDDEN:
		return true
	}
	return false
}

// references lists the relative references of the followed types in
// resources, in order, each once.
func references(resources []*ward.Resource) []string {
	var out []string
	seen := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["reference"].(string); ok && referencedType.MatchString(ref) && !seen[ref] {
				seen[ref] = true
				out = append(out, ref)
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	for _, r := range resources {
		var m any
		if json.Unmarshal(r.Content, &m) == nil {
			walk(m)
		}
	}
	return out
}

// readParams reads author (a Reference: in a POST body only, as Medplum),
// authoredOn, _since, and start and end (care dates: the records whose
// care date falls in [start, end), and those without one). identifier and
// profile are ignored, as Medplum does.
func readParams(method string, in *wardhttp.OperationInput) (params, error) {
	var p params
	for _, name := range []string{"authoredOn", "_since", "start", "end"} {
		if len(in.Complex[name]) > 0 {
			return p, ward.Errorf(ward.EINVALID, "Parameter %s of $summary must be a primitive value", name)
		}
	}
	for _, b := range []struct {
		name  string
		bound *time.Time
	}{{"start", &p.care.start}, {"end", &p.care.end}} {
		if v := in.First(b.name); v != "" {
			t, ok := parseDate(v)
			if !ok {
				return p, ward.Errorf(ward.EINVALID, "Invalid value for parameter %s: %s", b.name, v)
			}
			*b.bound = t
		}
	}
	if in.Values.Has("author") {
		if method == http.MethodGet {
			return p, ward.Errorf(ward.EINVALID, "Complex parameter author (Reference) cannot be passed via query string")
		}
		return p, ward.Errorf(ward.EINVALID, "Parameter author of $summary must be a Reference")
	}
	if refs := in.Complex["author"]; len(refs) > 0 {
		var ref struct {
			Reference string `json:"reference"`
		}
		if len(refs) > 1 || json.Unmarshal(refs[0], &ref) != nil || !validReference(ref.Reference) {
			return p, ward.Errorf(ward.EINVALID, "Parameter author of $summary must be one Reference to a Practitioner, PractitionerRole or Organization")
		}
		p.author = ref.Reference
	}
	p.authoredOn, p.since = in.First("authoredOn"), in.First("_since")
	if p.authoredOn != "" && !isDateTime(p.authoredOn) {
		return p, ward.Errorf(ward.EINVALID, "Invalid value for parameter authoredOn: %s", p.authoredOn)
	}
	return p, nil
}

// validReference is "Type/id" of an author type.
func validReference(ref string) bool {
	typ, id, ok := strings.Cut(ref, "/")
	switch typ {
	case "Practitioner", "PractitionerRole", "Organization":
		return ok && id != "" && !strings.Contains(id, "/") && fhir.IsResourceType(typ)
	}
	return false
}

func isDateTime(s string) bool {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if _, err := time.Parse(layout, s); err == nil {
			return true
		}
	}
	return false
}
