package store

import "context"

// WithSetAccountsHook returns ctx carrying hook, called at each named step
// of a $set-accounts run ("target-written", "propagating"): a test fails
// a run midway or holds it there.
func WithSetAccountsHook(ctx context.Context, hook func(step string) error) context.Context {
	return context.WithValue(ctx, setAccountsHookKey{}, hook)
}

// RestampMeta re-stamps stored content with accounts the way $set-accounts
// does, returning the new content and the accounts it read.
func RestampMeta(typ, id string, content []byte, accounts []string) ([]byte, []string, error) {
	sp, err := splitStored(typ, id, content)
	if err != nil {
		return nil, nil, err
	}
	return sp.withMeta(serverMeta{versionID: "v2", lastUpdated: "2026-01-01T00:00:00.000Z", projectID: "p", accounts: accounts}), sp.accounts, nil
}

// SetOutbox turns the outbox on or off (the benchmark's baseline).
func SetOutbox(s *Store, on bool) { s.noOutbox = !on }
