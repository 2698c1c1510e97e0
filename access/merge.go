package access

import (
	"slices"
	"strconv"
	"strings"

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
	m := newMerger()
	for _, r := range rules {
		m.add(r)
	}
	return m.out
}

func newMerger() *merger {
	return &merger{lastOfType: map[string]int{}, lastStar: -1, plain: map[string]bool{}, seen: map[int]map[ward.SearchValue]bool{}}
}

type merger struct {
	out        []ward.PolicyRule
	lastOfType map[string]int // index in out of each type's last rule
	lastStar   int            // index of the last "*" rule, -1 for none
	// plain holds the rules without criteria: a repeat of one is dropped,
	// the earlier copy matches first and grants the same.
	plain map[string]bool
	// seen holds, per folded rule, the values its OR filter has: rules
	// come from shared templates, so a rule's criteria are copied once,
	// on its first fold, and appended to in place afterwards.
	seen map[int]map[ward.SearchValue]bool
}

func (m *merger) add(r ward.PolicyRule) {
	if len(r.Criteria) == 0 {
		key := plainKey(&r)
		if m.plain[key] {
			return
		}
		m.plain[key] = true
	}
	k := m.target(&r)
	if k < 0 {
		m.out = append(m.out, r)
		m.lastOfType[r.ResourceType] = len(m.out) - 1
		if r.ResourceType == "*" {
			m.lastStar = len(m.out) - 1
		}
		return
	}
	f := differingFilter(m.out[k].Criteria, r.Criteria)
	if m.seen[k] == nil {
		m.seen[k] = map[ward.SearchValue]bool{}
		m.out[k].Criteria = slices.Clone(m.out[k].Criteria)
		m.out[k].Criteria[f].Values = slices.Clone(m.out[k].Criteria[f].Values)
		for _, v := range m.out[k].Criteria[f].Values {
			m.seen[k][v] = true
		}
	}
	for _, v := range r.Criteria[f].Values {
		if !m.seen[k][v] {
			m.seen[k][v] = true
			m.out[k].Criteria[f].Values = append(m.out[k].Criteria[f].Values, v)
		}
	}
}

// target is the index of the rule r can fold into, or -1: the last rule
// of r's type, when no rule that could match the same resources ("*", or
// any rule at all for a "*" rule) came after it, and it is mergeable.
func (m *merger) target(r *ward.PolicyRule) int {
	k, ok := m.lastOfType[r.ResourceType]
	switch {
	case !ok:
		return -1
	case r.ResourceType == "*" && k != len(m.out)-1:
		return -1
	case r.ResourceType != "*" && m.lastStar > k:
		return -1
	case !mergeable(&m.out[k], r):
		return -1
	}
	return k
}

// plainKey identifies a rule without criteria by everything it grants.
func plainKey(r *ward.PolicyRule) string {
	return r.ResourceType + "\x00" + strconv.Itoa(int(r.Interactions)) + "\x00" + strings.Join(r.HiddenFields, ",") + "\x00" +
		strings.Join(r.ReadonlyFields, ",") + "\x00" + strings.Join(r.WriteConstraints, "\x01")
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
