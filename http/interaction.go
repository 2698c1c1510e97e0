package wardhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/fhir"
	"github.com/wardhealth/ward/internal/rawjson"
)

// This file holds the FHIR interactions themselves, apart from HTTP: each
// takes the reader or transaction to work in and returns a result, so the
// REST handlers and Bundle entries run the very same code.

// result is what an interaction produced.
type result struct {
	status   int
	resource *ward.Resource // read or written: gives location, etag, lastModified and, without body, the body
	body     []byte         // a resource other than resource.Content (a Bundle)
	outcome  []byte         // an OperationOutcome, the body when there is no resource
}

// create stores a new resource; with ifNoneExist (a search query) it first
// looks for a match: one match is returned as is (200), more are 412.
func (s *Server) create(ctx context.Context, tx ward.ResourceTx, typ string, content []byte, ifNoneExist string) (*result, error) {
	if ifNoneExist != "" {
		existing, err := s.matchCondition(ctx, tx, typ, ifNoneExist, "If-None-Exist")
		if err != nil {
			return nil, err
		} else if existing != nil {
			return &result{status: 200, resource: existing}, nil
		}
	}
	res, err := tx.Create(ctx, typ, s.canonicalAttachments(typ, content))
	if err != nil {
		return nil, err
	}
	return &result{status: 201, resource: res}, nil
}

// createWithID creates a resource under an id chosen by the server before
// the write (transaction entries whose urn:uuid others refer to).
func (s *Server) createWithID(ctx context.Context, tx ward.ResourceTx, typ, id string, content []byte) (*result, error) {
	content, err := setID(s.canonicalAttachments(typ, content), id)
	if err != nil {
		return nil, err
	}
	if c, ok := tx.(idCreator); ok {
		res, err := c.CreateWithID(ctx, typ, id, content)
		if err != nil {
			return nil, err
		}
		return &result{status: statusCreated(true), resource: res}, nil
	}
	res, created, err := tx.Update(ctx, typ, id, content, "")
	if err != nil {
		return nil, err
	}
	return &result{status: statusCreated(created), resource: res}, nil
}

// idCreator is a transaction that creates under an id just minted with
// ward.NewID without looking the id up in other projects (the store's).
type idCreator interface {
	CreateWithID(ctx context.Context, typ, id string, content []byte) (*ward.Resource, error)
}

func statusCreated(created bool) int {
	if created {
		return 201
	}
	return 200
}

// update writes a new version of typ/id; the body's id must be id.
func (s *Server) update(ctx context.Context, tx ward.ResourceTx, typ, id string, content []byte, head *resourceHead, ifMatch string) (*result, error) {
	if head.ID == "" {
		return nil, expr(invalidf("Missing id"), "id")
	} else if head.ID != id {
		return nil, expr(invalidf("Incorrect id: the body has id %q but the URL has %q", head.ID, id), "id")
	}
	res, created, err := tx.Update(ctx, typ, id, s.canonicalAttachments(typ, content), ifMatch)
	if err != nil {
		return nil, err
	}
	return &result{status: statusCreated(created), resource: res}, nil
}

// conditionalUpdate updates the one resource matching query, creates one
// when none matches and fails with 412 when several do.
func (s *Server) conditionalUpdate(ctx context.Context, tx ward.ResourceTx, typ, query string, content []byte, head *resourceHead, ifMatch string) (*result, error) {
	existing, err := s.matchCondition(ctx, tx, typ, query, "search")
	if err != nil {
		return nil, err
	}
	if existing == nil {
		return s.create(ctx, tx, typ, content, "")
	}
	if head.ID != "" && head.ID != existing.ID {
		return nil, expr(invalidf("Resource id %q does not match the id %q found by the search", head.ID, existing.ID), "id")
	}
	content, err = setID(content, existing.ID)
	if err != nil {
		return nil, err
	}
	res, created, err := tx.Update(ctx, typ, existing.ID, s.canonicalAttachments(typ, content), ifMatch)
	if err != nil {
		return nil, err
	}
	return &result{status: statusCreated(created), resource: res}, nil
}

// patch applies a JSON Patch to the current version of typ/id.
func (s *Server) patch(ctx context.Context, tx ward.ResourceTx, typ, id string, patchJSON []byte, ifMatch string) (*result, error) {
	// The patch's values are held to a resource's shape limits from its
	// bytes: decoding and applying a patch of 100,000 names took 1.3–2 s
	// only for its result to be refused.
	if !json.Valid(patchJSON) {
		return nil, invalidf("Invalid JSON Patch: not valid JSON")
	}
	if err := fhir.CheckShapeJSON(patchJSON, "Patch"); err != nil {
		return nil, prefixError(err, "Invalid JSON Patch")
	}
	patch, err := jsonpatch.DecodePatch(patchJSON)
	if err != nil {
		return nil, invalidf("Invalid JSON Patch: %v", err)
	}
	// The patch applies to the current version: locked first, so no
	// concurrent write slips between this read and the update (a PATCH
	// without If-Match must not fail for a version it never named).
	if err := lockRows(ctx, tx, typ+"/"+id); err != nil {
		return nil, err
	}
	current, err := tx.Read(ctx, typ, id)
	if err != nil {
		return nil, err
	}
	if ifMatch != "" && ifMatch != current.VersionID {
		return nil, ward.Errorf(ward.EPRECONDITION, "Version %s does not match the current version %s", ifMatch, current.VersionID)
	}
	patched, err := patch.Apply(current.Content)
	if err != nil {
		return nil, invalidf("Could not apply JSON Patch: %v", err)
	}
	head, err := checkResource(patched, "")
	if err != nil {
		return nil, prefixError(err, "Invalid result of JSON Patch")
	}
	if head.Type != typ {
		return nil, expr(invalidf("JSON Patch must not change resourceType"), "resourceType")
	} else if head.ID != id {
		return nil, expr(invalidf("JSON Patch must not change id"), "id")
	}
	res, created, err := tx.Update(ctx, typ, id, s.canonicalAttachments(typ, patched), current.VersionID)
	if err != nil {
		return nil, err
	}
	return &result{status: statusCreated(created), resource: res}, nil
}

// deleteResource deletes typ/id. A missing resource is 404; deleting a
// deleted one succeeds again, as in Medplum.
func (s *Server) deleteResource(ctx context.Context, tx ward.ResourceTx, typ, id string) (*result, error) {
	existing, err := tx.Read(ctx, typ, id)
	if err != nil && ward.ErrorCode(err) != ward.EGONE {
		return nil, err
	}
	noteResource(ctx, existing) // whose data the deletion concerned
	if err := tx.Delete(ctx, typ, id); err != nil {
		return nil, err
	}
	return &result{status: 200, outcome: mustJSON(allOK())}, nil
}

// conditionalDelete deletes the single resource matching query; none is
// success, several are 412 (conditionalDelete: single).
func (s *Server) conditionalDelete(ctx context.Context, tx ward.ResourceTx, typ, query string) (*result, error) {
	existing, err := s.matchCondition(ctx, tx, typ, query, "search")
	if err != nil {
		return nil, err
	}
	if existing != nil {
		noteResource(ctx, existing)
		if err := tx.Delete(ctx, typ, existing.ID); err != nil {
			return nil, err
		}
	}
	return &result{status: 200, outcome: mustJSON(allOK())}, nil
}

// matchCondition runs a conditional search and returns its single match, nil
// for none, EMULTIPLE for several.
func (s *Server) matchCondition(ctx context.Context, rd ward.ResourceReader, typ, query, what string) (*ward.Resource, error) {
	values, err := url.ParseQuery(query)
	if err != nil {
		return nil, invalidf("Invalid %s query %q: %v", what, query, err)
	}
	if len(values) == 0 {
		return nil, invalidf("Missing %s criteria", what)
	}
	q, err := s.parse(typ, values)
	if err != nil {
		return nil, err
	}
	q.Count, q.Offset, q.Total = 2, 0, "none"
	q.Includes, q.RevIncludes, q.Elements, q.Summary = nil, nil, nil, ""
	res, err := rd.Search(ctx, q)
	if err != nil {
		return nil, err
	}
	switch {
	case len(res.Matches) > 1 || (len(res.Matches) == 1 && res.HasMore):
		return nil, ward.Errorf(ward.EMULTIPLE, "Multiple resources found matching %s?%s", typ, query)
	case len(res.Matches) == 1:
		return res.Matches[0], nil
	}
	return nil, nil
}

// setID returns content with its top-level id set to id, leaving every other
// byte as it was.
func setID(content []byte, id string) ([]byte, error) {
	members, err := rawjson.Members(content)
	if err != nil {
		return nil, invalidf("Resource must be a JSON object")
	}
	quoted := jsonString(id)
	if m := rawjson.Find(members, "id"); m != nil {
		if bytes.Equal(bytes.TrimSpace(content[m.ValStart:m.End]), quoted) {
			return content, nil
		}
		out := make([]byte, 0, len(content)+len(quoted))
		out = append(out, content[:m.ValStart]...)
		out = append(out, quoted...)
		return append(out, content[m.End:]...), nil
	}
	// Insert "id" after resourceType (or first) to keep the usual order.
	at := rawjson.SkipSpace(content, 0) + 1
	sep := ","
	if rt := rawjson.Find(members, "resourceType"); rt != nil {
		at, sep = rt.End, ""
		quoted = append([]byte(`,"id":`), quoted...)
	} else {
		quoted = append([]byte(`"id":`), quoted...)
		if len(members) == 0 {
			sep = ""
		}
	}
	out := make([]byte, 0, len(content)+len(quoted)+1)
	out = append(out, content[:at]...)
	out = append(out, quoted...)
	out = append(out, sep...)
	return append(out, content[at:]...), nil
}
