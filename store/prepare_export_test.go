package store

import "context"

// PreparationsUsed is how many of the creates prepared in ctx
// (PrepareCreate) a transaction took.
func PreparationsUsed(ctx context.Context) int {
	list, _ := ctx.Value(preparedKey{}).([]*preparedCreate)
	n := 0
	for _, pc := range list {
		if pc.used.Load() {
			n++
		}
	}
	return n
}
