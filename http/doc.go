// Package wardhttp (directory http) serves the FHIR R4 REST API over a
// ward.ResourceStore: routes, middleware (logging, panic recovery, body
// limit, Prometheus metrics, the Principal hook), the CapabilityStatement,
// batch and transaction Bundles, and the one mapping from ward error codes
// to HTTP statuses and OperationOutcomes (Error).
//
// Resources pass through as the bytes the store returned: responses and
// Bundles are built by splicing raw JSON, never by decoding and re-encoding
// resources. What a caller may see (hidden fields, secrets, non-extended
// meta) the store's output gate has already decided; the only rewrites
// here are _elements subsetting and reference rewriting inside Bundles.
//
// It must not know about SQL, access policy or how a search is compiled: the
// store enforces the project wall from the Principal that Authenticate put in
// the context, and no FHIR route runs without one. Search parsing and the
// FHIR definitions come in through Options (package search and fhir).
package wardhttp
