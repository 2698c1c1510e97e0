// Package ward holds the vocabulary of the Ward FHIR server: resources, the
// caller (Principal) carried in a context, the error codes every layer speaks,
// and the store interfaces that the SQL backends implement.
//
// It imports nothing from the rest of the module. It must not know about SQL,
// HTTP or FHIRPath; those live in their own packages and talk in these types.
package ward
