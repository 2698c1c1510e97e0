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
//
// The walls it enforces for a non-system caller:
//   - the project wall by type (scope.go): own project, linked projects'
//     exported types, the FHIR R4 project's definitions;
//   - protected types (Login, JsonWebKey, DomainConfiguration): 403;
//   - server-written types (ward.IsServerWrittenType: JsonWebKey, Login,
//     AuditEvent): 403 on create, update and delete, a super admin's
//     included; only Internal principals write them. AuditEvents come
//     from the audit log (audit.go) and from audited writes, in the
//     write's own transaction (auditwrite.go), each linked into its
//     project's hash chain (auditchain.go) and indexed just behind
//     (auditproject.go); $set-accounts leaves them alone;
//   - the access policy when the principal carries one (policy.go for
//     reads, writecheck.go for writes): 403 for a type or interaction no
//     rule grants, 404 for a row the criteria filter out, criteria compiled
//     into the SQL of every read, hiddenFields removed from every output,
//     readonlyFields kept, pre- and post-checks and writeConstraint on
//     writes; vread and history are reads first (the read grant, the
//     resource under the read rules, then a matching vread/history rule);
//     a deleted resource is matched as its last live version (deleted.go),
//     so 410 only answers what the caller could read before the deletion;
//   - references into projects the caller cannot read (references.go);
//   - ids are unique across the server: an update or delete of an id that
//     exists only in projects the caller cannot read is 404, never a copy
//     (write.go, foreignID);
//   - the output gate (present.go), for every caller: what a resource
//     shows — hidden fields, secrets (only Internal principals see them),
//     meta outside extended mode — is decided there for every read path
//     and every write's answer; callers serve what it returns. OnCommit
//     callbacks get the stored versions, ungated: they are server
//     internals and must not hand them to clients.
//
// A principal without a policy (server internals, tests) has the project
// wall and the protected types only. A system principal's Home narrows
// its reads to the projects its rows live in (identity lookups), a miss by
// id looking in every project. Where a request names no project (a
// client's id and secret, a sign-in without a project), the identity
// homes (homes.go) say where a client or a User has its rows.
//
// Every statement names the projects it reads, so the schema can be
// sharded by project (docs/scale.md): on PostgreSQL the migrations lay
// the project tables out plain, hash-partitioned by project_id, or — when
// the citus extension is present — distributed by project_id (layout.go).
package store
