package store

import (
	"context"
	"slices"
	"strings"

	"github.com/wardhealth/ward/index"
)

// The compartment index (migration 00022): copies of a resource's token
// and date index rows keyed by compartment first, so a clinician of one
// clinic searching by code or by a date range walks the intersection of
// the clinic and the filter instead of ≈ 20 rows of either per match
// (driveCompartmentIndex in plan.go).
//
// Only the compartments meta.accounts puts a resource in are indexed
// (Organization, CareTeam, Practitioner…: the ones MSO policies confine
// to with _compartment=%organization). Not Project: the project wall is
// already the first key of every index. Not Patient: a resource is in
// the compartment of every Patient it references, and a search within one
// patient filters by subject, whose reference index is dense enough; a
// copy per patient would double the rows written for no search that needs
// them. A policy confining to a Patient compartment keeps the other
// drivers. Rows are written beside resource_compartments (flushIndex),
// dropped with the index rows (deleteIndex, eraseRows, project erasure),
// moved by $set-accounts (moveCompartmentIndex) and rebuilt by reindex
// and restore (both go through flushIndex).

// compartmentIndexTables are the compartment index's tables, deleted with
// the index rows of a resource.
var compartmentIndexTables = []string{"search_token_compartment", "search_date_compartment"}

// compartmentIndexTable is the compartment index's copy of an index table.
var compartmentIndexTable = map[string]string{"search_token": "search_token_compartment", "search_date": "search_date_compartment"}

// indexedCompartments are the ids of the compartment references (meta.
// compartment) that the compartment index holds: every type but Project
// and Patient.
func indexedCompartments(refs []string) []string {
	var out []string
	for _, ref := range refs {
		typ, id, ok := index.ParseReference(ref)
		if !ok || !indexedCompartmentType(typ) || !index.IsUUID(id) || slices.Contains(out, id) {
			continue
		}
		out = append(out, id)
	}
	return out
}

// indexedCompartmentType reports whether compartments of type typ are in
// the compartment index.
func indexedCompartmentType(typ string) bool {
	return typ != "" && typ != "Project" && typ != "Patient"
}

// indexedToken reports whether a token row is copied into the compartment
// index: one a search can be driven by (an equality with a code), not the
// "<code>:identifier" rows of references.
func indexedToken(x index.Token) bool {
	return x.Code != "" && !strings.Contains(x.Param, ":")
}

// addCompartmentRows queues the compartment index rows of pending.
func addCompartmentRows(b *batchInsert, pending []*version) {
	b.table("search_token_compartment", "compartment, param, system, code")
	for _, v := range pending {
		key := v.key()
		for _, c := range indexedCompartments(v.compartment) {
			for _, x := range v.rows.Tokens {
				if indexedToken(x) {
					b.row(key, c, x.Param, x.System, x.Code)
				}
			}
		}
	}
	b.table("search_date_compartment", "compartment, param, low, high")
	for _, v := range pending {
		key := v.key()
		for _, c := range indexedCompartments(v.compartment) {
			for _, x := range v.rows.Dates {
				b.row(key, c, x.Param, x.Low, x.High)
			}
		}
	}
	b.flush()
}

// moveCompartmentIndex moves the compartment index rows of resources of
// one type whose indexed compartments changed under $set-accounts: the
// rows of a lost compartment are deleted, those of a gained one copied
// from the resource's own token and date rows (which $set-accounts leaves
// as they are).
func (t *tx) moveCompartmentIndex(ctx context.Context, project, typ, compartment string, ids []any, gained bool) error {
	cond, args := t.in("resource_id", ids)
	for _, table := range compartmentIndexTables {
		var query string
		var head []any
		switch {
		case !gained:
			query = "DELETE FROM " + table + " WHERE project_id = ? AND resource_type = ? AND compartment = ? AND " + cond
			head = []any{project, typ, compartment}
		case table == "search_token_compartment":
			query = `INSERT INTO search_token_compartment (project_id, compartment, resource_type, param, code, resource_id, system)
				SELECT project_id, ?, resource_type, param, code, resource_id, system FROM search_token
				WHERE project_id = ? AND resource_type = ? AND code <> '' AND param NOT LIKE '%:%' AND ` + cond + " ON CONFLICT DO NOTHING"
			head = []any{compartment, project, typ}
		default:
			query = `INSERT INTO search_date_compartment (project_id, compartment, resource_type, param, low, high, resource_id)
				SELECT project_id, ?, resource_type, param, low, high, resource_id FROM search_date
				WHERE project_id = ? AND resource_type = ? AND ` + cond + " ON CONFLICT DO NOTHING"
			head = []any{compartment, project, typ}
		}
		if _, err := t.sql.ExecContext(ctx, t.d.Rebind(query), append(head, args...)...); err != nil {
			return err
		}
	}
	return nil
}
