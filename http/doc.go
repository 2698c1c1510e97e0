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
// here are _elements subsetting, reference rewriting inside Bundles, the
// signed url of a Binary's JSON and attachment URLs naming a Binary
// (attachments.go: stored as Binary/{id}, shown signed afresh).
//
// Binary content (binary.go) streams between the request or response and
// a blob.Store: uploads are staged outside any body limit of their own
// size, published in the transaction that writes the Binary, and served
// raw or through signed /storage URLs.
//
// It is the recording point of the audit trail (audit.go): every route
// that needs a principal is audited by one wrapper, and each access,
// allowed or refused, is handed to Options.Audit and durable before the
// answer leaves. Handlers only annotate what they touched; how records are
// stored and chained is the audit log's business (package store).
//
// It must not know about SQL, access policy or how a search is compiled: the
// store enforces the project wall from the Principal that Authenticate put in
// the context, and no FHIR route runs without one. Search parsing and the
// FHIR definitions come in through Options (package search and fhir).
package wardhttp
