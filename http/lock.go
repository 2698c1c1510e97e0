package wardhttp

import (
	"context"

	"github.com/wardhealth/ward"
)

// rowLocker is a transaction that can lock the resources it is about to
// update until it ends, in an order of its own (the store's, on PostgreSQL).
type rowLocker interface {
	Lock(ctx context.Context, refs ...string) error
}

// lockRows locks refs ("Type/id") when tx can: a PATCH then applies to the
// version it read, and transactions updating the same resources in
// different orders wait for each other instead of deadlocking.
func lockRows(ctx context.Context, tx ward.ResourceTx, refs ...string) error {
	if l, ok := tx.(rowLocker); ok && len(refs) > 0 {
		return l.Lock(ctx, refs...)
	}
	return nil
}

// writeTargets returns the resources a transaction's entries update or
// delete, known by id or by a condition resolveID has matched.
func writeTargets(ops []*entryOp) []string {
	var refs []string
	for _, op := range ops {
		switch {
		case op.method != "PUT" && op.method != "PATCH" && op.method != "DELETE":
		case op.existing != nil:
			refs = append(refs, op.existing.Reference())
		case op.id != "":
			refs = append(refs, op.typ+"/"+op.id)
		}
	}
	return refs
}

// freshOps copies checked entries before a transaction attempt resolves
// and rewrites them: when the store runs the transaction again (after a
// deadlock), ids, conditions and urn:uuid references are decided anew.
func freshOps(checked []*entryOp) []*entryOp {
	out := make([]*entryOp, len(checked))
	for i, op := range checked {
		c := *op
		if op.head != nil {
			head := *op.head
			c.head = &head
		}
		out[i] = &c
	}
	return out
}
