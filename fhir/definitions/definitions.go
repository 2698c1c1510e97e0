package definitions

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/wardhealth/ward"
	"github.com/wardhealth/ward/store"
)

//go:embed r4.ndjson.gz
var r4 []byte

// Resource is one definition: its type, stable id and JSON (meta.project
// already names the FHIR R4 project).
type Resource struct {
	Type    string
	ID      string
	Content []byte
}

// Data is a set of definitions to load and its version (a digest of the
// data), which Load records once every resource is written.
type Data struct {
	Version   string
	Resources []Resource
	// Batch is the number of resources written per transaction; 0 means
	// batchSize.
	Batch int
}

// R4 returns the embedded definitions.
func R4() (*Data, error) { return Parse(r4) }

// Parse reads gzipped NDJSON as written by internal/gen.
func Parse(gz []byte) (*Data, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	d := &Data{Version: version(gz)}
	for line := range bytes.SplitSeq(bytes.TrimSpace(raw), []byte{'\n'}) {
		var head struct {
			ResourceType string `json:"resourceType"`
			ID           string `json:"id"`
		}
		if err := json.Unmarshal(line, &head); err != nil {
			return nil, fmt.Errorf("definitions: line %d: %w", len(d.Resources)+1, err)
		}
		d.Resources = append(d.Resources, Resource{Type: head.ResourceType, ID: head.ID, Content: line})
	}
	return d, nil
}

// version names a data set by the digest of its file.
func version(gz []byte) string {
	sum := sha256.Sum256(gz)
	return hex.EncodeToString(sum[:16])
}

// StableID is the id of a definition: a UUIDv5 of its type and canonical
// URL, so every load of the same definition updates the same row.
func StableID(typ, canonical string) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte(typ+"|"+canonical)).String()
}

// Load writes the embedded definitions into the FHIR R4 project. See
// LoadData. A start with them already loaded reads one row and returns
// without unpacking them.
func Load(ctx context.Context, s *store.Store, logger *slog.Logger) error {
	m, err := readMarker(ward.NewContextWithPrincipal(ctx, loader()), s)
	if err != nil {
		return err
	}
	if m.complete(version(r4)) {
		logger.DebugContext(ctx, "definitions: up to date", "version", m.Version)
		return nil
	}
	d, err := R4()
	if err != nil {
		return err
	}
	return LoadData(ctx, s, d, logger)
}

// batchSize is the definitions written per transaction: large enough that
// commits do not dominate, small enough that SQLite's one writer is not
// held for long while a server is already answering.
const batchSize = 500

// LoadData writes d into the FHIR R4 project with the system principal.
//
// A marker (a Basic resource in the R4 project, readable by nobody else)
// records the version and how many resources of it are written, updated in
// the same transaction as each batch. So a start with the version already
// loaded reads one row and returns; a load that stopped midway resumes at
// the first unwritten batch; a new version rewrites every definition
// (unchanged ones are no-ops in the store) and then deletes the
// definitions it no longer has.
func LoadData(ctx context.Context, s *store.Store, d *Data, logger *slog.Logger) error {
	ctx = ward.NewContextWithPrincipal(ctx, loader())
	m, err := readMarker(ctx, s)
	if err != nil {
		return err
	}
	if m.complete(d.Version) {
		logger.DebugContext(ctx, "definitions: up to date", "version", d.Version)
		return nil
	}
	start := 0
	if m.Version == d.Version {
		start = m.Done
	}
	began := time.Now()
	size := cmp.Or(d.Batch, batchSize)
	// The first version ever loaded has deleted nothing, so an id not found
	// by search is not stored at all (not even deleted) and can be created.
	first := m.Version == "" || m.Version == d.Version && m.Previous == ""
	for i := start; i < len(d.Resources); i += size {
		batch := d.Resources[i:min(i+size, len(d.Resources))]
		done := i + len(batch)
		err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
			if err := writeBatch(ctx, tx, batch, first); err != nil {
				return err
			}
			return writeMarker(ctx, tx, marker{Version: d.Version, Done: done, Total: len(d.Resources), Previous: m.previous(d.Version)})
		})
		if err != nil {
			return err
		}
	}
	if m.Version != "" && m.Version != d.Version || m.Previous != "" {
		if err := deleteStale(ctx, s, d); err != nil {
			return err
		}
		if err := s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
			return writeMarker(ctx, tx, marker{Version: d.Version, Done: len(d.Resources), Total: len(d.Resources)})
		}); err != nil {
			return err
		}
	}
	if err := analyze(ctx, s); err != nil {
		return err
	}
	logger.InfoContext(ctx, "definitions: loaded into the FHIR R4 project",
		"version", d.Version, "resources", len(d.Resources)-start, "duration", time.Since(began).Round(time.Millisecond).String())
	return nil
}

// idCreator is the store's create-under-a-chosen-id (store.tx.CreateWithID).
type idCreator interface {
	CreateWithID(ctx context.Context, typ, id string, content []byte) (*ward.Resource, error)
}

// writeBatch writes batch. During the first load (first) the definitions
// not stored yet are created under their ids directly, skipping the
// lookups an update-as-create makes per resource; the others are updated,
// which the store makes a no-op when nothing changed.
func writeBatch(ctx context.Context, tx ward.ResourceTx, batch []Resource, first bool) error {
	creator, canCreate := tx.(idCreator)
	exists := map[string]bool{}
	if canCreate = canCreate && first; canCreate {
		var err error
		if exists, err = existing(ctx, tx, batch); err != nil {
			return err
		}
	}
	var err error
	for _, r := range batch {
		if canCreate && !exists[r.ID] {
			_, err = creator.CreateWithID(ctx, r.Type, r.ID, r.Content)
		} else {
			_, _, err = tx.Update(ctx, r.Type, r.ID, r.Content, "")
		}
		if err != nil {
			return fmt.Errorf("definitions: %s/%s: %w", r.Type, r.ID, err)
		}
	}
	return nil
}

// existing returns which of batch's ids are stored, one search per type.
func existing(ctx context.Context, tx ward.ResourceTx, batch []Resource) (map[string]bool, error) {
	byType := map[string][]ward.SearchValue{}
	for _, r := range batch {
		byType[r.Type] = append(byType[r.Type], ward.SearchValue{Value: r.ID})
	}
	out := map[string]bool{}
	for typ, ids := range byType {
		res, err := tx.Search(ctx, &ward.SearchQuery{
			ResourceType: typ, Count: len(ids), Total: "none", Elements: []string{"id"},
			Filters: []ward.SearchFilter{{Code: "_id", Type: "token", Values: ids}},
		})
		if err != nil {
			return nil, err
		}
		for _, m := range res.Matches {
			out[m.ID] = true
		}
	}
	return out, nil
}

// loader is the principal Load writes with: the server itself, acting in
// the FHIR R4 project. Unlike ward.SystemPrincipal it names the project,
// so each lookup by id is a primary-key probe within that project rather
// than a scan across every project.
func loader() *ward.Principal {
	p := ward.SystemPrincipal()
	p.System = false
	p.ProjectID = ward.R4ProjectID
	p.Admin = true
	return p
}

// deleteStale deletes the definitions of the R4 project that d does not
// hold (dropped by a newer version).
func deleteStale(ctx context.Context, s *store.Store, d *Data) error {
	keep := make(map[string]bool, len(d.Resources))
	for _, r := range d.Resources {
		keep[r.Type+"/"+r.ID] = true
	}
	var stale []*ward.Resource
	for _, typ := range ward.DefinitionTypes() { // the types Load writes and may delete
		for offset := 0; ; offset += 1000 {
			res, err := s.Search(ctx, &ward.SearchQuery{
				ResourceType: typ, Count: 1000, Offset: offset, Total: "none", Elements: []string{"id"},
				Filters: []ward.SearchFilter{{Code: "_project", Type: "reference", Values: []ward.SearchValue{{Value: ward.R4ProjectID}}}},
			})
			if err != nil {
				return err
			}
			for _, r := range res.Matches {
				if !keep[r.Type+"/"+r.ID] {
					stale = append(stale, r)
				}
			}
			if !res.HasMore {
				break
			}
		}
	}
	return s.Write(ctx, func(ctx context.Context, tx ward.ResourceTx) error {
		for _, r := range stale {
			if err := tx.Delete(ctx, r.Type, r.ID); err != nil {
				return err
			}
		}
		return nil
	})
}

// analyze refreshes PostgreSQL's planner statistics after a load: until
// autovacuum gets to it, the planner takes the thousands of new rows for
// none and definition searches take 100-200 ms instead of a few. SQLite
// plans without statistics unless ANALYZE was run once, so it is left as
// it is.
func analyze(ctx context.Context, s *store.Store) error {
	if s.Dialect().Name() != "postgres" {
		return nil
	}
	_, err := s.WriterDB().ExecContext(ctx, "ANALYZE")
	return err
}
