// Package feed publishes the store's committed changes to message brokers:
// the change feed of issue 14. It owns the publishing loop (Publisher),
// which reads the store's transactional outbox after a per-sink cursor,
// hands the changes to a sink and moves the cursor only once the sink's
// broker acknowledged them — at-least-once delivery, where a change sent
// twice carries the same versionId both times so consumers de-duplicate —
// and the sinks: Kafka (franz-go) and NATS JetStream. It also owns the
// outbox's pruning (Pruner): rows every live cursor passed are deleted,
// and past a row limit a lagging sink's oldest changes are dropped, loudly.
//
// It must not write resources, run inside a resource transaction or make
// a write wait for a broker: a stuck or failing sink only lets its cursor
// fall behind while the outbox grows (up to the Pruner's limit). It must not send content: a change
// names a resource version (project, type, id, versionId, operation,
// time, compartment), which a consumer reads through the API under its
// own access rules. It must not send a project's data where no
// configuration sends it: Routes decide per change (and per audit record)
// from the server-wide configuration (super admins', else ward serve's
// flags) and the project's own (its admins'), read for every batch, and a
// project's own feed goes only to that project's destinations (Kafka
// "<topic>.<project>", NATS ward.<project>.>). The audit trail is fed by
// AuditFeed, which follows each project's chain after a per-project
// cursor.
package feed
