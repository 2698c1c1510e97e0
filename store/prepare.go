package store

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"sync/atomic"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/index"
)

// Work before the writer. On SQLite every write runs on the one writer
// connection, one after another (groupcommit.go), so whatever CPU a write
// spends there is spent while every other write waits. A create's
// decoding, validation and index extraction need no database:
// PrepareCreate does them on the caller's goroutine, before the write
// joins the queue, and tx.Create then takes the result instead of doing
// them again. The rules stay here, in one place: tx.Create runs the same
// functions in the same order, answers the same errors at the same
// points (a caller without the create grant still gets 403 before a
// 400 for its content), and uses a preparation only when it was made for
// the same principal, type, id and bytes, and only once. A create that
// was not prepared, whose preparation is used up (a transaction run
// again), or whose content a write rule changed after it was prepared
// (dropFields) does the work itself in the writer, as before.

// preparedKey is the context key of a request's prepared creates.
type preparedKey struct{}

// preparedCreate is a create's work done before its transaction.
type preparedCreate struct {
	p       *ward.Principal
	typ, id string // id: minted by PrepareCreate, or the caller's
	given   bool   // id was the caller's (CreateWithID)
	content []byte
	used    atomic.Bool

	// The outcome: the content's first error (decoding, validation,
	// secrets, the project it goes to), or the decoded resource ready for
	// the writer.
	err     error
	d       *decodedResource
	project string
}

// extraction is a decoded resource's index rows extracted before its
// transaction, as build would with the default profile applied. build
// uses them instead of extracting again while the resource is unchanged:
// no indexed search parameter reads meta.versionId or meta.lastUpdated
// (columns, not rows: TestPreparedRowsIgnoreVersionMeta), and the rest of
// the meta it indexes is known before.
type extraction struct {
	id, project string
	rows        *index.Rows
}

// PrepareCreate returns ctx carrying the work of a later tx.Create of typ
// with content (id ""), or tx.CreateWithID with id, by the principal of
// ctx, done now: call it before Write, outside the transaction. It never
// fails: whatever it finds wrong, the create answers when it runs.
func (s *Store) PrepareCreate(ctx context.Context, typ, id string, content []byte) context.Context {
	p, err := principal(ctx)
	if err != nil {
		return ctx
	}
	pc := &preparedCreate{p: p, typ: typ, id: id, given: id != "", content: content}
	if !pc.given {
		pc.id = ward.NewID()
	}
	pc.d, pc.project, pc.err = s.prepareContent(ctx, p, typ, id, pc.id, content)
	list, _ := ctx.Value(preparedKey{}).([]*preparedCreate)
	return context.WithValue(ctx, preparedKey{}, append(list[:len(list):len(list)], pc))
}

// prepareContent does what tx.Create and tx.CreateWithID do to content
// before they need the database, in their order. bodyID is the id the
// body may carry ("" for Create).
func (s *Store) prepareContent(ctx context.Context, p *ward.Principal, typ, bodyID, id string, content []byte) (*decodedResource, string, error) {
	d, err := decodeFor(typ, bodyID, content)
	if err != nil {
		return nil, "", err
	}
	if err := keepSecrets(p, typ, d, nil); err != nil {
		return nil, "", err
	}
	project, err := writeProject(p, typ, id, d, s.hooks)
	if err != nil {
		return nil, "", err
	}
	// build applies the default profile to d itself (it decides the
	// account rule by the meta the client sent): the rows are extracted
	// from a copy with it applied.
	withProfile := *d
	withProfile.meta = slices.Clone(d.meta)
	withProfile.metaIn = maps.Clone(d.metaIn)
	if applyDefaultProfile(p, typ, &withProfile) != nil {
		return d, project, nil // left to the writer, which answers it in its place
	}
	m := serverMeta{projectID: project, author: p.Author, onBehalfOf: p.OnBehalfOf}
	defer restoreKeys(d.tree, "id", "meta")() // extract sets them in the tree the copy shares
	rows, err := s.extract(ctx, typ, id, m, &withProfile)
	if err != nil {
		return d, project, nil // likewise
	}
	d.extracted = &extraction{id: id, project: project, rows: rows}
	return d, project, nil
}

// takePrepared returns the unused preparation in ctx of a create of typ
// (under id when given) with content by p, and marks it used; nil when
// there is none.
func takePrepared(ctx context.Context, p *ward.Principal, typ, id string, content []byte) *preparedCreate {
	list, _ := ctx.Value(preparedKey{}).([]*preparedCreate)
	for _, pc := range list {
		if pc.p != p || pc.typ != typ || pc.given != (id != "") || pc.given && pc.id != id {
			continue
		}
		if bytes.Equal(pc.content, content) && pc.used.CompareAndSwap(false, true) {
			return pc
		}
	}
	return nil
}

// preparedRows returns the rows extracted for d before the transaction
// when they still hold for id in project, and forgets them: a later build
// of d (after a rule dropped fields) extracts again.
func (d *decodedResource) preparedRows(id, project string) *extraction {
	x := d.extracted
	d.extracted = nil
	if x == nil || x.id != id || x.project != project {
		return nil
	}
	return x
}

// restoreKeys returns a function that puts back tree's members keys as
// they are now.
func restoreKeys(tree map[string]any, keys ...string) func() {
	saved := make(map[string]any, len(keys))
	for _, k := range keys {
		if v, ok := tree[k]; ok {
			saved[k] = v
		}
	}
	return func() {
		for _, k := range keys {
			if v, ok := saved[k]; ok {
				tree[k] = v
			} else {
				delete(tree, k)
			}
		}
	}
}
