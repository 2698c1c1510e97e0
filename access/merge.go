package access

import (
	"slices"

	"github.com/wardhealth/ward"
)

// mergeRules folds rules that differ only in the values of one plain
// filter into one rule whose filter ORs those values: a clinician with one
// access entry per clinic gets one Patient rule "_compartment=c1,c2,…"
// instead of hundreds, so the SQL holds one IN list, not hundreds of ORs.
// The union is the same set ((G ∧ F=a) ∨ (G ∧ F=b) is G ∧ F=a,b), and the
// first-match order that picks hiddenFields, readonlyFields and
// writeConstraint is kept: two rules merge only when no rule that could
// match the same resources (same type, or "*") lies between them, and
// they carry the same fields. The JSON form (/auth/me) keeps every entry.
func mergeRules(rules []ward.PolicyRule) []ward.PolicyRule {
	out := make([]ward.PolicyRule, 0, len(rules))
	for _, r := range rules {
		if k := mergeTarget(out, &r); k >= 0 {
			out[k] = merged(out[k], r)
			continue
		}
		out = append(out, r)
	}
	return out
}

// mergeTarget is the index in out of the rule r can fold into, or -1: the
// last rule that could match r's resources, when it is mergeable with r.
func mergeTarget(out []ward.PolicyRule, r *ward.PolicyRule) int {
	for k := len(out) - 1; k >= 0; k-- {
		o := &out[k]
		if o.ResourceType == r.ResourceType {
			if mergeable(o, r) {
				return k
			}
			return -1
		}
		if o.ResourceType == "*" || r.ResourceType == "*" {
			return -1
		}
	}
	return -1
}

// mergeable: same interactions and fields, and criteria that differ in
// the values of exactly one plain filter.
func mergeable(a, b *ward.PolicyRule) bool {
	if a.Interactions != b.Interactions || len(a.Criteria) != len(b.Criteria) || len(a.Criteria) == 0 ||
		!slices.Equal(a.HiddenFields, b.HiddenFields) || !slices.Equal(a.ReadonlyFields, b.ReadonlyFields) ||
		!slices.Equal(a.WriteConstraints, b.WriteConstraints) {
		return false
	}
	return differingFilter(a.Criteria, b.Criteria) >= 0
}

// differingFilter is the one index where a and b differ in values only,
// -1 when they differ elsewhere, in more than one place, or not at all.
func differingFilter(a, b []ward.SearchFilter) int {
	at := -1
	for i := range a {
		x, y := &a[i], &b[i]
		if x.Code != y.Code || x.Type != y.Type || x.Modifier != y.Modifier || x.TargetType != y.TargetType ||
			x.Chain != nil || y.Chain != nil || x.Has != nil || y.Has != nil {
			return -1
		}
		if slices.Equal(x.Values, y.Values) {
			continue
		}
		if at >= 0 || x.Modifier != "" || hasPrefix(x.Values) || hasPrefix(y.Values) {
			return -1
		}
		at = i
	}
	return at
}

func hasPrefix(values []ward.SearchValue) bool {
	for _, v := range values {
		if v.Prefix != "" {
			return true
		}
	}
	return false
}

// merged is a with b's values added to the filter where they differ.
func merged(a, b ward.PolicyRule) ward.PolicyRule {
	k := differingFilter(a.Criteria, b.Criteria)
	criteria := slices.Clone(a.Criteria)
	values := slices.Clone(criteria[k].Values)
	for _, v := range b.Criteria[k].Values {
		if !slices.Contains(values, v) {
			values = append(values, v)
		}
	}
	criteria[k].Values = values
	a.Criteria = criteria
	return a
}
