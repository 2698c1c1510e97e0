// Package fhirtest makes sample FHIR resources for the tests of other
// packages: deterministic for a seed, valid for fhir.ValidateResource, and
// filled deeply enough that every search parameter finds values in them.
//
// It is test support only: no production code may import it, and it does
// not try to satisfy terminology bindings or FHIR invariants.
package fhirtest
