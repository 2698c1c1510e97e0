package store

import (
	"context"
	"fmt"

	"github.com/wardhealth/ward"
)

// Reindex re-extracts the search index rows and compartments of every
// current resource, for when the search parameter definitions change. It
// works in batches, each its own transaction, so it can run on a live
// server; progress is called after each batch with the rows done and total.
func (s *Store) Reindex(ctx context.Context, progress func(done, total int)) error {
	p := ward.PrincipalFromContext(ctx)
	if p == nil || !p.System {
		return ward.Errorf(ward.EFORBIDDEN, "Reindex needs the system principal")
	}
	var total int
	if err := s.reader.QueryRowContext(ctx, "SELECT COUNT(*) FROM resources WHERE deleted = 0").Scan(&total); err != nil {
		return err
	}
	const batch = 500
	var lastProject, lastType, lastID string
	done := 0
	for {
		keys, err := s.nextKeys(ctx, lastProject, lastType, lastID, batch)
		if err != nil {
			return err
		}
		if len(keys) == 0 {
			return nil
		}
		if err := s.reindexBatch(ctx, keys); err != nil {
			return err
		}
		last := keys[len(keys)-1]
		lastProject, lastType, lastID = last.ProjectID, last.Type, last.ID
		done += len(keys)
		if progress != nil {
			progress(done, total)
		}
	}
}

// nextKeys pages through resources in primary-key order.
func (s *Store) nextKeys(ctx context.Context, project, typ, id string, n int) ([]ward.Resource, error) {
	rows, err := s.reader.QueryContext(ctx, s.dialect.Rebind(`SELECT project_id, resource_type, id FROM resources
		WHERE deleted = 0 AND (project_id > ? OR (project_id = ? AND (resource_type > ? OR (resource_type = ? AND id > ?))))
		ORDER BY project_id, resource_type, id LIMIT ?`), project, project, typ, typ, id, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var keys []ward.Resource
	for rows.Next() {
		var k ward.Resource
		if err := rows.Scan(&k.ProjectID, &k.Type, &k.ID); err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, rows.Err()
}

func (s *Store) reindexBatch(ctx context.Context, keys []ward.Resource) error {
	return s.Write(ctx, func(ctx context.Context, wt ward.ResourceTx) error {
		t := wt.(*tx)
		for _, k := range keys {
			if err := t.reindexOne(ctx, k.ProjectID, k.Type, k.ID); err != nil {
				return fmt.Errorf("reindex %s/%s: %w", k.Type, k.ID, err)
			}
		}
		return nil
	})
}

// reindexOne rebuilds one resource's index rows and meta.compartment
// without creating a new version.
func (t *tx) reindexOne(ctx context.Context, project, typ, id string) error {
	res, err := t.current(ctx, ward.SystemPrincipalIn(project), typ, id, t.d.ForUpdate())
	if err != nil || res.Deleted || res.ProjectID != project {
		return err
	}
	d, err := decodeResource(res.Content)
	if err != nil {
		return err
	}
	m := serverMeta{versionID: res.VersionID, projectID: project}
	m.lastUpdated, _ = d.metaIn["lastUpdated"].(string)
	if a, ok := d.metaIn["author"].(map[string]any); ok {
		m.author, _ = a["reference"].(string)
	}
	m.accounts = clientAccounts(d.metaIn)
	v, err := t.s.index(ctx, typ, id, m, d)
	if err != nil {
		return err
	}
	if _, err := t.exec(ctx, `UPDATE resources SET content = ? WHERE project_id = ? AND resource_type = ? AND id = ?`,
		string(v.res.Content), project, typ, id); err != nil {
		return err
	}
	if _, err := t.exec(ctx, `UPDATE resource_history SET content = ? WHERE project_id = ? AND resource_type = ? AND id = ? AND version_id = ?`,
		string(v.res.Content), project, typ, id, res.VersionID); err != nil {
		return err
	}
	if err := t.deleteIndex(ctx, project, typ, id, true); err != nil {
		return err
	}
	return t.insertIndex(ctx, v)
}
