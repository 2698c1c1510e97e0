// Package terminology expands ValueSets (FHIR $expand) from the ValueSets
// and CodeSystems stored in Ward: the caller's own project first, then the
// FHIR R4 project's base definitions. It serves
// GET|POST /fhir/R4/ValueSet/$expand and GET /fhir/R4/ValueSet/{id}/$expand.
//
// It reads only through ward.ResourceReader with the caller's Principal
// from the request context, so a caller expands exactly the ValueSets and
// CodeSystems it may read. It must not write, reach the database directly,
// or call external terminology servers: a ValueSet whose CodeSystems are not
// stored (LOINC, SNOMED CT, …) expands to the concepts it lists explicitly.
//
// The expansion is hand-written (no Go FHIR terminology library covers
// compose.include/exclude over stored CodeSystems); it holds the whole
// expansion in memory before paging, which suits the base R4 value sets
// (the largest have a few thousand codes) but not LOINC-sized ones.
package terminology
