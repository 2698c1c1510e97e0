package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/internal/rawjson"
)

// Restoring an archive as another project (`ward project import
// -as-new-project`): a copy next to the original on the same server, or a
// second tenant made from a template. Resource ids are unique across a
// server, so every resource of the copy gets a new id, and every reference
// to one of the archive's resources ("Patient/old", in a Reference, a
// meta.compartment, an AccessPolicy's criteria or an absolute URL) is
// rewritten to it, as is meta.project. References to what the archive does
// not hold (server-scoped Users, linked projects, the definitions) are kept.
//
// The audit trail is not copied: its records describe accesses to the
// original's resources and its chain hashes their exact bytes, so it stays
// with the original (a restore under the archive's own id carries it
// whole). The copy's trail starts with one record of the restore, naming
// the archive's project.

// ImportOptions says which project an archive is restored as.
type ImportOptions struct {
	// AsProject, when set and not the archive's own project, restores the
	// archive as a copy under this project id (see above).
	AsProject string
}

// ArchiveImport is what a restore did.
type ArchiveImport struct {
	Manifest *ArchiveManifest
	// Project is the restored project's id: the archive's own, or
	// ImportOptions.AsProject.
	Project string
	// Resources counts the resources restored (their current rows).
	Resources int64
}

// renamer maps the archive's resource ids to the copy's.
type renamer struct {
	from, to string            // the archive's project, the copy's
	ids      map[string]string // "Type/old id" → new id
}

func newRenamer(from, to string) *renamer {
	return &renamer{from: from, to: to, ids: map[string]string{}}
}

// learn gives the archive's resource typ/id its new id; the Project
// itself becomes the copy's project.
func (n *renamer) learn(typ, id string) {
	key := typ + "/" + id
	if _, ok := n.ids[key]; ok {
		return
	}
	if typ == "Project" && id == n.from {
		n.ids[key] = n.to
		return
	}
	n.ids[key] = uuid.NewString()
}

// rewrite turns an archived row into the copy's; AuditEvents are left out
// (the trail stays with the original).
func (n *renamer) rewrite(r *archiveRow) (bool, error) {
	if r.Type == "AuditEvent" {
		return false, nil
	}
	id, ok := n.ids[r.Type+"/"+r.ID]
	if !ok {
		return false, fmt.Errorf("%w: a version of %s/%s, which it does not hold", ErrArchive, r.Type, r.ID)
	}
	if r.Content == "" { // a deletion's version holds no resource
		r.ID = id
		return true, nil
	}
	content, err := n.rewriteContent([]byte(r.Content), id)
	if err != nil {
		return false, fmt.Errorf("%w: %s/%s: %v", ErrArchive, r.Type, r.ID, err)
	}
	r.ID, r.Content = id, string(content)
	return true, nil
}

// referencePattern finds "Type/id" in a string: a Reference, a URL, a
// search criteria.
var referencePattern = regexp.MustCompile(`[A-Z][A-Za-z]{1,63}/[A-Za-z0-9\-.]{1,64}`)

// rewriteContent renames the resource's own id and every string naming
// one of the archive's resources or its project, splicing bytes so that
// nothing else in the resource changes.
func (n *renamer) rewriteContent(data []byte, id string) ([]byte, error) {
	out := make([]byte, 0, len(data)+64)
	last := 0
	for i := 0; i < len(data); i++ {
		if data[i] != '"' {
			continue
		}
		end, err := rawjson.SkipString(data, i)
		if err != nil {
			return nil, err
		}
		lit := data[i:end]
		i = end - 1
		if !bytes.ContainsRune(lit, '/') && !bytes.Contains(lit, []byte(n.from)) {
			continue
		}
		s, err := rawjson.DecodeString(lit)
		if err != nil {
			return nil, err
		}
		renamed := n.renameString(s)
		if renamed == s {
			continue
		}
		enc, err := jsonString(renamed)
		if err != nil {
			return nil, err
		}
		out = append(append(out, data[last:i+1-len(lit)]...), enc...)
		last = end
	}
	out = append(out, data[last:]...)
	return setTopLevelID(out, id)
}

// renameString is s with the archive's project and resources renamed.
func (n *renamer) renameString(s string) string {
	if s == n.from {
		return n.to // meta.project
	}
	return replaceMatches(s, referencePattern, func(ref string) (string, bool) {
		typ, old, _ := cutSlash(ref)
		id, ok := n.ids[typ+"/"+old]
		return typ + "/" + id, ok
	})
}

// replaceMatches replaces each match of re in s that stands alone (not
// inside a longer word) and that repl accepts.
func replaceMatches(s string, re *regexp.Regexp, repl func(string) (string, bool)) string {
	var b []byte
	last := 0
	for _, m := range re.FindAllStringIndex(s, -1) {
		if m[0] > 0 && isWordByte(s[m[0]-1]) {
			continue
		}
		r, ok := repl(s[m[0]:m[1]])
		if !ok {
			continue
		}
		b = append(append(b, s[last:m[0]]...), r...)
		last = m[1]
	}
	if b == nil {
		return s
	}
	return string(append(b, s[last:]...))
}

func isWordByte(c byte) bool {
	return c == '_' || c == '-' || c == '.' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func cutSlash(ref string) (string, string, bool) {
	i := bytes.IndexByte([]byte(ref), '/')
	if i < 0 {
		return ref, "", false
	}
	return ref[:i], ref[i+1:], true
}

// jsonString encodes s as a JSON string without HTML escaping (stored
// resources keep their characters).
func jsonString(s string) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// setTopLevelID replaces the value of the resource's own "id" member.
func setTopLevelID(data []byte, id string) ([]byte, error) {
	members, err := rawjson.ScanMembers(data, "id")
	if err != nil {
		return nil, err
	}
	m := rawjson.Find(members, "id")
	if m == nil {
		return nil, fmt.Errorf("no id")
	}
	enc, err := jsonString(id)
	if err != nil {
		return nil, err
	}
	return append(append(append([]byte{}, data[:m.ValStart]...), enc...), data[m.End:]...), nil
}

// spoolResources copies the archive's resources file to a temporary file,
// teaching n every resource id on the way: a resource may refer to one
// stored after it, so no row is rewritten before all ids are known.
func (n *renamer) spoolResources(r io.Reader) (*os.File, error) {
	f, err := os.CreateTemp("", "ward-import-*.ndjson")
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*os.File, error) {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	dec := json.NewDecoder(io.TeeReader(r, f))
	for row := 1; ; row++ {
		var head struct {
			Type string `json:"type"`
			ID   string `json:"id"`
		}
		err := dec.Decode(&head)
		if err == io.EOF {
			break
		}
		if err != nil || !validID(head.ID) || head.Type == "" {
			return fail(fmt.Errorf("%w: resources.ndjson row %d: %v", ErrArchive, row, err))
		}
		n.learn(head.Type, head.ID)
	}
	// The decoder may stop before the last bytes (trailing space): copy
	// them too, so the spooled file hashes as the archive's.
	if _, err := io.Copy(f, r); err != nil {
		return fail(err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	return f, nil
}

// copyRecord is the first record of a copy's trail: it was restored from
// the archive of project from, with n resources.
func (t *tx) copyRecord(ctx context.Context, project, from string, n int64) error {
	p, err := principal(ctx)
	if err != nil {
		return err
	}
	rec := ward.AuditRecord{Kind: "rest", Time: t.s.now()}
	rec.SetCaller(p)
	rec.ProjectID = project
	rec.Action, rec.Interaction = "C", "$import"
	rec.ResourceType, rec.ResourceID = "Project", project
	rec.Query = "archive of project " + from
	rec.Outcome, rec.Status, rec.Results = "0", 201, int(n)
	v, err := auditVersion(&rec, t.s.now())
	if err != nil {
		return err
	}
	pa := &pendingAudit{v: v}
	if err := t.appendChain(ctx, project, []*pendingAudit{pa}); err != nil {
		return err
	}
	t.audits = append(t.audits, pa)
	return nil
}
