package index

import "strings"

// Building rows without FHIRPath. The server writes some resources whose
// shape it knows field by field (the audit trail's AuditEvents, one per
// request); for those, evaluating every search parameter's expression
// costs more than storing the resource. These methods add the rows
// Extract would add for one value, by the same conventions; the caller
// calls Finish once and must prove, in a test, that its rows equal
// Extract's for the resources it builds.

// AddCoding adds the token row of a Coding (a CodeableConcept's coding
// without its own display takes the concept's text: pass it as display).
func (r *Rows) AddCoding(param, system, code, display string) {
	r.token(param, system, code, strings.ToLower(display))
}

// AddCode adds the token row of a code, id, string or uri value.
func (r *Rows) AddCode(param, code string) { r.token(param, "", code, "") }

// AddIdentifierOf adds the row a Reference parameter gets for the
// Reference's identifier (param "<code>:identifier").
func (r *Rows) AddIdentifierOf(param, system, value string) {
	r.token(param+":identifier", system, value, "")
}

// AddString adds the string row of a plain string value.
func (r *Rows) AddString(param, s string) { r.str(param, s) }

// AddReference adds the reference row of a Reference.reference value.
func (r *Rows) AddReference(param, ref string) { r.reference(param, ref) }

// AddDate adds the date row of a date, dateTime or instant value; a value
// that does not parse gets none, as in Extract.
func (r *Rows) AddDate(param, value string) {
	if low, high, ok := DateRange(value); ok {
		r.Dates = append(r.Dates, Date{Param: param, Low: low, High: high})
	}
}

// Finish sorts the rows and drops duplicates, as Extract leaves them.
func (r *Rows) Finish() { r.finish() }
