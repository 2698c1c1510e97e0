// Package subscription delivers FHIR R4 Subscriptions as Medplum serves
// them (issue 14): a Dispatcher reads the store's transactional outbox
// after its own cursor and, for each committed change (create, update,
// PATCH, delete), finds the active Subscriptions of the change's project
// whose criteria match the changed resource and whose
// supported-interaction extension, if any, names the interaction. Each
// rest-hook match is queued in the store's delivery queue in the same
// transaction as the cursor's move; workers claim due deliveries with a
// lease and POST the resource (for a deletion, {} and
// X-Medplum-Deleted-Resource) to the endpoint with the channel's
// headers (and X-Signature with the Subscription's secret), retried
// with backoff up to Medplum's subscription-max-attempts until a status
// its subscription-success-codes accept, one AuditEvent per attempt. A delivery
// waiting for its retry survives a restart; two processes on one
// database never both make one attempt.
//
// WebSockets serves websocket Subscriptions as Medplum does:
// Subscription/$get-ws-binding-token hands the Subscription's author a
// signed binding token (the identity service's keys), and
// /ws/subscriptions-r4 binds sockets with it and sends the handshake,
// heartbeat and event-notification Bundles; a binding whose login is
// revoked (checked again before each message) ends its socket. A
// websocket Subscription is deleted when its last binding here ends, or
// by the reaper once unwritten and unbound for a day, as Medplum's cache
// forgets one. Sockets live in one process;
// while any is bound, a follower of the outbox with an in-memory cursor
// (from the outbox's end) matches the changes of the projects with bound
// sockets, with the same matcher as rest-hooks; with none bound it reads
// nothing.
//
// It owns the in-memory index of subscriptions (by project and resource
// type, reloaded for a project when one of its Subscriptions changes),
// the matching, the delivery workers and their audit records. Where a
// hook may connect is package egress's decision, made on the address
// dialled.
//
// It must not decide by itself what a subscriber may see: a change
// matches only when the store's own search compiler, run under the
// subscription author's principal and access policy (resolved when the
// change is dispatched), returns the resource for the criteria plus
// _id; the resource sent is the one that search returned, through the
// store's output gate; a deletion matches only when the same search
// returns the deleted resource's last live version. A retried delivery is
// read again under the author's principal as it is when it is sent: an
// author who lost access gets nothing. A socket hears a Subscription only
// when bound by its author. It must not make a write wait for a hook or a socket, nor
// let one failing or slow hook or socket hold up the others: deliveries
// run beside the dispatch loop, a delivery holds a worker slot for one
// attempt only (one Subscription at most a quarter of the slots), and a
// socket that falls 256 messages behind is closed. It must not deliver one project's changes to another
// project's subscriptions.
package subscription
