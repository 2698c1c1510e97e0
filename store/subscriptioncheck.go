package store

import (
	"net/url"
	"strings"

	"github.com/wardhealth/ward/fhir"
	"github.com/wardhealth/ward/internal/egress"
	"github.com/wardhealth/ward/search"
)

// SetHookEndpoints sets the limits on rest-hook endpoints checked at
// Subscription write (before the store serves; the default refuses
// private addresses). The dispatcher enforces the same policy when it
// connects (package egress); at write only a literal address is judged.
func (s *Store) SetHookEndpoints(p egress.Policy) { s.hooks = p }

// validateSubscription refuses, with 400, a Subscription whose criteria
// is not a search the store can compile, or whose rest-hook endpoint is
// not an http(s) URL or is a literal address hooks refuses: the
// dispatcher (package subscription) could never deliver it, and the
// author would otherwise only learn by silence.
func validateSubscription(tree map[string]any, hooks egress.Policy) error {
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
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalid("Subscription.channel.endpoint must be an http or https URL (Subscription.channel.endpoint)")
	}
	if err := hooks.CheckHost(u.Hostname()); err != nil {
		return invalid("Subscription.channel.endpoint may not be called: %s (Subscription.channel.endpoint)", err.Error())
	}
	return nil
}
