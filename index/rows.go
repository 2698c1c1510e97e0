package index

import (
	"cmp"
	"slices"
)

// Rows are the index rows of one resource, grouped by table. Every slice is
// sorted and free of duplicates, so equal resources give equal Rows.
//
// Conventions, which the search compiler relies on:
//
//   - Token: Coding → (system, code, lower(display)); CodeableConcept → one
//     row per coding with a code (text = lower(display), or lower(text) when
//     the coding has no display) plus, when CodeableConcept.text is set, a row
//     ("", "", lower(text)) for :text; Identifier → (system, value,
//     lower(type.text)); ContactPoint → (system, value, "") as Medplum
//     does, the system being phone, email…; code, string, uri,
//     id and other primitives → ("", value, ""); boolean → "true"/"false".
//     Rows without a code are dropped, except that CodeableConcept text row.
//     Reference parameters add Reference.identifier as token rows under the
//     param "<code>:identifier".
//   - String: Value is NormalizeString(Exact). HumanName gives one row per
//     family, given, prefix, suffix and text; Address per line, city,
//     district, state, postalCode, country and text; other complex values
//     one row per string leaf (extensions excluded).
//   - Date: [Low, High] in unix microseconds, the whole instant range the
//     value covers (see DateRange). A Period is [start.Low, end.High] with
//     an open side at math.MinInt64 / math.MaxInt64. Timing gives its events
//     and repeat.boundsPeriod.
//   - Number and Quantity: Value and the range [Low, High] its written
//     precision implies (see NumberRange). A Range is one row with Value =
//     low.value (high.value when low is absent), Low = the lower bound of
//     low, High = the upper bound of high, an open side at ∓math.MaxFloat64.
//     Money is a quantity with system "urn:iso:std:iso:4217" and code =
//     currency. Unit is stored as written.
//   - Reference: "Type/id" and "Type/id/_history/v" → (Type, id); anything
//     else (absolute URL, urn:uuid:, canonical, conditional) → ("", value);
//     local references ("#x") are skipped.
//   - URI: the value as is.
//
// Long values are cut to fit the database's index entries (maxIndexedLen).
type Rows struct {
	Tokens     []Token
	Strings    []String
	Dates      []Date
	Numbers    []Number
	Quantities []Quantity
	References []Reference
	URIs       []URI
}

// Token is one search_token row.
type Token struct{ Param, System, Code, Text string }

// String is one search_string row.
type String struct{ Param, Value, Exact string }

// Date is one search_date row.
type Date struct {
	Param     string
	Low, High int64
}

// Number is one search_number row.
type Number struct {
	Param            string
	Value, Low, High float64
}

// Quantity is one search_quantity row.
type Quantity struct {
	Param, System, Code, Unit string
	Value, Low, High          float64
}

// Reference is one search_reference row.
type Reference struct{ Param, TargetType, TargetID string }

// URI is one search_uri row.
type URI struct{ Param, Value string }

// Len is the number of rows in every table together.
func (r *Rows) Len() int {
	return len(r.Tokens) + len(r.Strings) + len(r.Dates) + len(r.Numbers) +
		len(r.Quantities) + len(r.References) + len(r.URIs)
}

// Params returns the codes of the parameters that have at least one row,
// sorted and without duplicates (":identifier" token params included).
func (r *Rows) Params() []string {
	var out []string
	for _, x := range r.Tokens {
		out = append(out, x.Param)
	}
	for _, x := range r.Strings {
		out = append(out, x.Param)
	}
	for _, x := range r.Dates {
		out = append(out, x.Param)
	}
	for _, x := range r.Numbers {
		out = append(out, x.Param)
	}
	for _, x := range r.Quantities {
		out = append(out, x.Param)
	}
	for _, x := range r.References {
		out = append(out, x.Param)
	}
	for _, x := range r.URIs {
		out = append(out, x.Param)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// finish sorts every table and drops duplicate rows.
func (r *Rows) finish() {
	r.Tokens = sortCompact(r.Tokens, func(a, b Token) int {
		return cmp.Or(cmp.Compare(a.Param, b.Param), cmp.Compare(a.System, b.System),
			cmp.Compare(a.Code, b.Code), cmp.Compare(a.Text, b.Text))
	})
	r.Strings = sortCompact(r.Strings, func(a, b String) int {
		return cmp.Or(cmp.Compare(a.Param, b.Param), cmp.Compare(a.Value, b.Value), cmp.Compare(a.Exact, b.Exact))
	})
	r.Dates = sortCompact(r.Dates, func(a, b Date) int {
		return cmp.Or(cmp.Compare(a.Param, b.Param), cmp.Compare(a.Low, b.Low), cmp.Compare(a.High, b.High))
	})
	r.Numbers = sortCompact(r.Numbers, func(a, b Number) int {
		return cmp.Or(cmp.Compare(a.Param, b.Param), cmp.Compare(a.Value, b.Value),
			cmp.Compare(a.Low, b.Low), cmp.Compare(a.High, b.High))
	})
	r.Quantities = sortCompact(r.Quantities, func(a, b Quantity) int {
		return cmp.Or(cmp.Compare(a.Param, b.Param), cmp.Compare(a.System, b.System),
			cmp.Compare(a.Code, b.Code), cmp.Compare(a.Unit, b.Unit), cmp.Compare(a.Value, b.Value),
			cmp.Compare(a.Low, b.Low), cmp.Compare(a.High, b.High))
	})
	r.References = sortCompact(r.References, func(a, b Reference) int {
		return cmp.Or(cmp.Compare(a.Param, b.Param), cmp.Compare(a.TargetType, b.TargetType),
			cmp.Compare(a.TargetID, b.TargetID))
	})
	r.URIs = sortCompact(r.URIs, func(a, b URI) int {
		return cmp.Or(cmp.Compare(a.Param, b.Param), cmp.Compare(a.Value, b.Value))
	})
}

func sortCompact[T comparable](s []T, compare func(a, b T) int) []T {
	slices.SortFunc(s, compare)
	return slices.Compact(s)
}
