package wardhttp

import "bytes"

// userPrefix is how every stored User begins (the store writes
// resourceType first).
var userPrefix = []byte(`{"resourceType":"User"`)

// userSecrets are the User members no HTTP response ever carries, to
// anyone, super admins included: auth reads them from the store directly.
var userSecrets = map[string]bool{"passwordHash": true, "mfaSecret": true}

// stripUserSecrets removes passwordHash and mfaSecret from a stored User
// and returns any other content unchanged.
func stripUserSecrets(content []byte) []byte {
	if !bytes.HasPrefix(content, userPrefix) {
		return content
	}
	members, err := objectMembers(content)
	if err != nil {
		return content
	}
	kept := members[:0:0]
	for _, m := range members {
		if !userSecrets[m.key] {
			kept = append(kept, m)
		}
	}
	if len(kept) == len(members) {
		return content
	}
	return appendObject(make([]byte, 0, len(content)), content, kept)
}
