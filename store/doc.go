// Package store is Ward's FHIR repository on SQL: it implements
// ward.ResourceStore for SQLite and PostgreSQL with one schema and one body
// of SQL (the Dialect holds the few differences).
//
// It owns the write path (validation, ids, meta, versions, history, index
// rows, compartments) and every read path (read, vread, history, search with
// includes). Every query it issues is scoped to the caller's project, read
// from the ward.Principal in the context; there is no exported way to query
// without one. It must not know about HTTP; the leaves store/sqlite and
// store/postgres only open connections and pick the dialect.
package store
