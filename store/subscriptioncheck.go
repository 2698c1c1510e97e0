package store

import (
	"net/url"
	"strings"

	"github.com/wardhealth/ward/fhir"
	"github.com/wardhealth/ward/search"
)

// validateSubscription refuses, with 400, a Subscription whose criteria
// is not a search the store can compile, or whose rest-hook endpoint is
// not an http(s) URL: the dispatcher (package subscription) could never
// deliver it, and the author would otherwise only learn by silence.
func validateSubscription(tree map[string]any) error {
	criteria, _ := tree["criteria"].(string)
	typ, _, _ := strings.Cut(criteria, "?")
	if criteria == "" || !fhir.IsResourceType(typ) {
		return invalid("Invalid Subscription criteria: '%s' (Subscription.criteria)", criteria)
	}
	if _, err := search.ParseCriteria(criteria); err != nil {
		return invalid("Invalid Subscription criteria: '%s': %s (Subscription.criteria)", criteria, err.Error())
	}
	channel, _ := tree["channel"].(map[string]any)
	if kind, _ := channel["type"].(string); kind != "rest-hook" {
		return nil
	}
	endpoint, _ := channel["endpoint"].(string)
	if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalid("Subscription.channel.endpoint must be an http or https URL (Subscription.channel.endpoint)")
	}
	return nil
}
