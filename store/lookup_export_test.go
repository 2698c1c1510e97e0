package store

import (
	"slices"

	"github.com/wardhealth/ward"
)

// LookupQuery is one statement as the store sends it to the engine.
type LookupQuery struct {
	SQL  string
	Args []any
}

// IDLookups returns the statements the store issues to find typ/id (and
// its version vid) as p, by what issues them: read (and update's current
// row), vread, the instance history's count and page, and the check that
// the id exists in any project (PUT-create, cross-project references).
func IDLookups(s *Store, p *ward.Principal, typ, id, vid string) (map[string]LookupQuery, error) {
	d := s.dialect
	out := map[string]LookupQuery{}
	q, args := currentQuery(p, typ, id, "")
	out["read"] = LookupQuery{d.Rebind(q), args}
	q, args = vreadQuery(p, typ, id, vid)
	out["vread"] = LookupQuery{d.Rebind(q), args}
	where, args, err := historyWhere(p, ward.HistoryQuery{ResourceType: typ, ID: id})
	if err != nil {
		return nil, err
	}
	out["history count"] = LookupQuery{d.Rebind(historyCountQuery(typ, where)), args}
	out["history page"] = LookupQuery{d.Rebind(historyPageQuery(typ, where)), append(slices.Clone(args), defaultCount, 0)}
	q, args = anywhereQuery([]refAt{{typ: typ, id: id}})
	out["id anywhere"] = LookupQuery{d.Rebind(q), args}
	return out, nil
}
