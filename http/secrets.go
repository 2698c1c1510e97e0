package wardhttp

import "bytes"

// userPrefix is how every stored User begins (the store writes
// resourceType first).
var userPrefix = []byte(`{"resourceType":"User"`)

// userSecrets are the User members no HTTP response ever carries, to
// anyone, super admins included: auth reads them from the store directly.
var userSecrets = map[string]bool{"passwordHash": true, "mfaSecret": true}

// stripUserSecrets removes passwordHash and mfaSecret from a stored User
// and returns any other content unchanged. A User it cannot parse is not
// served at all (stored JSON always parses; this only fails closed).
func stripUserSecrets(content []byte) []byte {
	if !bytes.HasPrefix(content, userPrefix) {
		return content
	}
	out, _, err := dropMembers(content, userSecrets)
	if err != nil {
		return []byte(`{"resourceType":"User"}`)
	}
	return out
}
