package auth

import "strings"

// ipAllowed applies a computed policy's ipAccessRule list (spec 1.5) to a
// client address: rules are tried in order and the first whose value
// matches decides ("allow" or "block"); no match allows. A value matches
// when it is "*" or a prefix of the address ("8.8." matches 8.8.8.8), as
// Medplum documents.
func ipAllowed(policy map[string]any, addr string) bool {
	rules, _ := policy["ipAccessRule"].([]any)
	for _, r := range rules {
		rule, _ := r.(map[string]any)
		value, _ := rule["value"].(string)
		if value == "" || (value != "*" && !strings.HasPrefix(addr, value)) {
			continue
		}
		action, _ := rule["action"].(string)
		return action != "block"
	}
	return true
}
