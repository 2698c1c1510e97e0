package wardhttp

import (
	"context"
	"net/http"
	"strings"

	"github.com/wardhealth/ward"
)

// write runs fn in one store transaction and returns its result.
func (s *Server) write(ctx context.Context, fn func(ctx context.Context, tx ward.ResourceTx) (*result, error)) (*result, error) {
	var out *result
	err := s.store.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
		var err error
		out, err = fn(ctx, tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request) {
	typ := r.PathValue("type")
	content, _, err := readResource(r, typ)
	if err != nil {
		Error(w, r, err)
		return
	}
	ifNoneExist := strings.TrimPrefix(r.Header.Get("If-None-Exist"), typ+"?")
	res, err := s.write(r.Context(), func(ctx context.Context, tx ward.ResourceTx) (*result, error) {
		return s.create(ctx, tx, typ, content, ifNoneExist)
	})
	s.respond(w, r, res, err)
}

func (s *Server) handleRead(w http.ResponseWriter, r *http.Request) {
	res, err := s.store.Read(r.Context(), r.PathValue("type"), r.PathValue("id"))
	if err != nil {
		Error(w, r, err)
		return
	}
	if res.Type == "Binary" && s.binary != nil {
		s.readBinary(w, r, res)
		return
	}
	s.respond(w, r, &result{status: 200, resource: res}, nil)
}

func (s *Server) handleVRead(w http.ResponseWriter, r *http.Request) {
	res, err := s.store.VRead(r.Context(), r.PathValue("type"), r.PathValue("id"), r.PathValue("vid"))
	if err != nil {
		Error(w, r, err)
		return
	}
	if res.Type == "Binary" && s.binary != nil {
		s.respondBinary(w, r, &result{status: 200, resource: res})
		return
	}
	s.respond(w, r, &result{status: 200, resource: res}, nil)
}

func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request) {
	typ, id := r.PathValue("type"), r.PathValue("id")
	content, head, err := readResource(r, typ)
	if err != nil {
		Error(w, r, err)
		return
	}
	ifMatch := parseETag(r.Header.Get("If-Match"))
	res, err := s.write(r.Context(), func(ctx context.Context, tx ward.ResourceTx) (*result, error) {
		return s.update(ctx, tx, typ, id, content, head, ifMatch)
	})
	s.respond(w, r, res, err)
}

func (s *Server) handleConditionalUpdate(w http.ResponseWriter, r *http.Request) {
	typ := r.PathValue("type")
	content, head, err := readResource(r, typ)
	if err != nil {
		Error(w, r, err)
		return
	}
	ifMatch := parseETag(r.Header.Get("If-Match"))
	res, err := s.write(r.Context(), func(ctx context.Context, tx ward.ResourceTx) (*result, error) {
		return s.conditionalUpdate(ctx, tx, typ, r.URL.RawQuery, content, head, ifMatch)
	})
	s.respond(w, r, res, err)
}

func (s *Server) handlePatch(w http.ResponseWriter, r *http.Request) {
	typ, id := r.PathValue("type"), r.PathValue("id")
	if r.Header.Get("Content-Type") == "" {
		Error(w, r, ward.Errorf(ward.EUNSUPPORTED, "PATCH needs Content-Type %s", mediaJSONPatch))
		return
	}
	if err := checkMediaType(r, mediaJSONPatch); err != nil {
		Error(w, r, err)
		return
	}
	body, err := readBody(r)
	if err != nil {
		Error(w, r, err)
		return
	}
	if err := checkJSON(body); err != nil {
		Error(w, r, err)
		return
	}
	ifMatch := parseETag(r.Header.Get("If-Match"))
	res, err := s.write(r.Context(), func(ctx context.Context, tx ward.ResourceTx) (*result, error) {
		return s.patch(ctx, tx, typ, id, body, ifMatch)
	})
	s.respond(w, r, res, err)
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request) {
	typ, id := r.PathValue("type"), r.PathValue("id")
	res, err := s.write(r.Context(), func(ctx context.Context, tx ward.ResourceTx) (*result, error) {
		return s.deleteResource(ctx, tx, typ, id)
	})
	s.respond(w, r, res, err)
}

func (s *Server) handleConditionalDelete(w http.ResponseWriter, r *http.Request) {
	typ := r.PathValue("type")
	res, err := s.write(r.Context(), func(ctx context.Context, tx ward.ResourceTx) (*result, error) {
		return s.conditionalDelete(ctx, tx, typ, r.URL.RawQuery)
	})
	s.respond(w, r, res, err)
}

// respond writes an interaction's result (or err): status, ETag,
// Last-Modified, Location for creations, and the body the Prefer header
// asks for.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, res *result, err error) {
	if err != nil {
		Error(w, r, err)
		return
	}
	noteResource(r.Context(), res.resource)
	h := w.Header()
	if v := res.resource; v != nil {
		h.Set("ETag", etag(v.VersionID))
		h.Set("Last-Modified", v.LastUpdated.UTC().Format(http.TimeFormat))
		if res.status == http.StatusCreated {
			h.Set("Location", s.fhirBase(r)+"/"+versionPath(v))
		}
	}
	body := res.body
	if body == nil && res.resource != nil {
		body = s.presignerFor(r).content(res.resource, res.resource.Content)
	} else if body == nil {
		body = res.outcome
	}
	switch preferReturn(r) {
	case "minimal":
		w.WriteHeader(res.status)
		return
	case "OperationOutcome":
		if res.resource != nil {
			body = mustJSON(infoOutcome(outcomeIDFor(res.status), http.StatusText(res.status)))
		}
	}
	writeJSON(w, res.status, body)
}

func outcomeIDFor(status int) string {
	if status == http.StatusCreated {
		return "created"
	}
	return "ok"
}

// extended reports Medplum's "X-Medplum: extended" mode.
func extended(r *http.Request) bool {
	for _, v := range r.Header.Values("X-Medplum") {
		for _, part := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), "extended") {
				return true
			}
		}
	}
	return false
}

// preferReturn returns the value of "Prefer: return=…", or "".
func preferReturn(r *http.Request) string {
	for _, v := range r.Header.Values("Prefer") {
		for _, part := range strings.Split(v, ";") {
			if k, val, ok := strings.Cut(strings.TrimSpace(part), "="); ok && strings.TrimSpace(k) == "return" {
				return strings.Trim(strings.TrimSpace(val), `"`)
			}
		}
	}
	return ""
}

// etag is the weak ETag of a version.
func etag(versionID string) string { return `W/"` + versionID + `"` }

// parseETag returns the version id in an If-Match value: W/"v", "v" or v.
func parseETag(v string) string {
	v = strings.TrimSpace(v)
	v = strings.TrimPrefix(v, "W/")
	return strings.Trim(v, `"`)
}

// versionPath is "Type/id/_history/vid".
func versionPath(res *ward.Resource) string {
	return res.Type + "/" + res.ID + "/_history/" + res.VersionID
}
