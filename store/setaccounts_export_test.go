package store

import "context"

// WithSetAccountsHook returns ctx carrying hook, called at each named step
// of a $set-accounts run ("target-written", "propagating"): a test fails
// a run midway or holds it there.
func WithSetAccountsHook(ctx context.Context, hook func(step string) error) context.Context {
	return context.WithValue(ctx, setAccountsHookKey{}, hook)
}
