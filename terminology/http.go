package terminology

import (
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/wardhealth/ward"
	wardhttp "github.com/wardhealth/ward/http"
)

// Routes are the $expand routes, for wardhttp.Options.Operations.
func Routes(r ward.ResourceReader) []wardhttp.Route {
	h := handler{x: NewExpander(r)}
	return []wardhttp.Route{
		{Pattern: "GET /fhir/R4/ValueSet/$expand", Handler: http.HandlerFunc(h.get)},
		{Pattern: "POST /fhir/R4/ValueSet/$expand", Handler: http.HandlerFunc(h.post)},
		{Pattern: "GET /fhir/R4/ValueSet/{id}/$expand", Handler: http.HandlerFunc(h.get)},
	}
}

type handler struct{ x *Expander }

func (h handler) get(w http.ResponseWriter, r *http.Request) {
	req, err := fromQuery(r.URL.Query())
	if err != nil {
		wardhttp.Error(w, r, err)
		return
	}
	req.ID = r.PathValue("id")
	h.answer(w, r, req)
}

func (h handler) post(w http.ResponseWriter, r *http.Request) {
	req, err := fromParameters(r)
	if err != nil {
		wardhttp.Error(w, r, err)
		return
	}
	h.answer(w, r, req)
}

func (h handler) answer(w http.ResponseWriter, r *http.Request, req Request) {
	vs, err := h.x.Expand(r.Context(), req)
	if err != nil {
		wardhttp.Error(w, r, err)
		return
	}
	body, err := json.Marshal(vs)
	if err != nil {
		wardhttp.Error(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/fhir+json; charset=utf-8")
	w.Write(body)
}

// fromQuery reads the GET parameters; one of each at most.
func fromQuery(q url.Values) (Request, error) {
	var req Request
	for name, vals := range q {
		if len(vals) > 1 {
			return req, ward.Errorf(ward.EINVALID, "Repeated parameter: %s", name)
		}
		if err := req.set(name, vals[0]); err != nil {
			return req, err
		}
	}
	return req, nil
}

// set applies one parameter. Parameters of $expand Ward does not act on
// are ignored, as FHIR allows; count and offset must be integers.
func (req *Request) set(name, v string) error {
	var err error
	switch name {
	case "url":
		req.URL = v
	case "valueSetVersion":
		req.Version = v
	case "filter":
		req.Filter = v
	case "count":
		if req.Count, err = parseInt("count", v); err == nil && req.Count < 1 {
			err = ward.Errorf(ward.EINVALID, "Invalid count: must be between 1 and %d", MaxCount)
		}
	case "offset":
		req.Offset, err = parseInt("offset", v)
	}
	return err
}

// fromParameters reads a POSTed Parameters resource (or, as some clients
// send, a form body with the GET parameters).
func fromParameters(r *http.Request) (Request, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt == "application/x-www-form-urlencoded" {
		if err := r.ParseForm(); err != nil {
			return Request{}, ward.Errorf(ward.EINVALID, "Invalid form body")
		}
		return fromQuery(r.PostForm)
	}
	if mt != "application/fhir+json" && mt != "application/json" {
		return Request{}, ward.Errorf(ward.EUNSUPPORTED, "Unsupported content type: %s", mt)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return Request{}, ward.Errorf(ward.EINVALID, "Cannot read body")
	}
	var raw struct {
		ResourceType string                       `json:"resourceType"`
		Parameter    []map[string]json.RawMessage `json:"parameter"`
	}
	if err := json.Unmarshal(body, &raw); err != nil || raw.ResourceType != "Parameters" {
		return Request{}, ward.Errorf(ward.EINVALID, "Expected a Parameters resource")
	}
	var req Request
	for _, param := range raw.Parameter {
		var name string
		json.Unmarshal(param["name"], &name)
		if name == "valueSet" {
			req.ValueSet = param["resource"]
			continue
		}
		v, ok := primitive(param)
		if !ok {
			continue
		}
		if err := req.set(name, v); err != nil {
			return req, err
		}
	}
	return req, nil
}

// primitive returns the value[x] of a parameter as text.
func primitive(param map[string]json.RawMessage) (string, bool) {
	for k, raw := range param {
		if !strings.HasPrefix(k, "value") {
			continue
		}
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s, true
		}
		return strings.TrimSpace(string(raw)), true
	}
	return "", false
}
