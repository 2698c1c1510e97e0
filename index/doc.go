// Package index turns a resource into the rows of Ward's search index tables
// (search_token, search_string, search_date, search_number, search_quantity,
// search_reference, search_uri) and into its compartments, on every write.
//
// It owns the conventions those rows follow (see Rows): how each FHIR type
// becomes a token, a string, a date range and so on, and the helpers the
// search compiler needs to turn query values into the same form
// (NormalizeString, DateRange, NumberRange). The search compiler relies on
// these conventions; change them only together with it.
//
// It must not know about SQL, HTTP or projects beyond the compartment
// references it is handed: the store writes the rows it returns and decides
// what to do with them. It keeps no package-level mutable state; an Indexer
// caches its compiled expressions itself and is safe for concurrent use.
package index
