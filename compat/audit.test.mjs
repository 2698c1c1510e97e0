// The audit trail as an auditor's Medplum app reads it: searchResources
// ('AuditEvent', …) by patient, entity, agent, outcome, date and paging,
// under the project wall. The main compat server runs with the trail on,
// as `ward serve` does by default.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { lastStatus, newPatient, registerProjectAdmin } from './lib.mjs';

test("an admin finds who saw a patient's chart; another project finds none of it", async () => {
  const [{ client: admin }, { client: other }] = await Promise.all([
    registerProjectAdmin('audit-admin'),
    registerProjectAdmin('audit-other'),
  ]);
  const since = new Date(Date.now() - 1000).toISOString();
  const patient = await admin.createResource(newPatient(`Audit${randomUUID().slice(0, 8)}`));
  const ref = `Patient/${patient.id}`;
  await admin.readResource('Patient', patient.id);
  const obs = await admin.createResource({
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'audited' },
    subject: { reference: ref },
  });
  await assert.rejects(other.readResource('Patient', patient.id));
  assert.equal(lastStatus(other), 404);

  const profile = admin.getProfile();
  const trail = await admin.searchResources('AuditEvent', { patient: ref, _sort: '-date', _count: '50' });
  const byInteraction = new Map(trail.map((e) => [`${e.action} ${e.subtype?.[0]?.code}`, e]));
  assert.ok(byInteraction.has('C create'), `no record of the create: ${[...byInteraction.keys()]}`);
  assert.ok(byInteraction.has('R read'), `no record of the read: ${[...byInteraction.keys()]}`);
  const read = byInteraction.get('R read');
  assert.equal(read.outcome, '0');
  assert.equal(read.agent.find((a) => a.requestor).who.reference, `${profile.resourceType}/${profile.id}`);
  assert.ok(read.entity.some((e) => e.what?.reference === ref));
  assert.equal(read.meta.project, admin.getProject().id);

  const sorted = trail.map((e) => e.recorded);
  assert.deepEqual(sorted, [...sorted].sort().reverse(), '_sort=-date orders newest first');

  // The other filters an auditor combines.
  const obsTrail = await admin.searchResources('AuditEvent', { entity: `Observation/${obs.id}` });
  assert.deepEqual(obsTrail.map((e) => e.action), ['C']);
  const mine = await admin.searchResources('AuditEvent', {
    agent: `${profile.resourceType}/${profile.id}`,
    date: `ge${since}`,
    outcome: '0',
    _count: '1000',
  });
  assert.ok(mine.length >= 3, `agent + date + outcome found ${mine.length}`);
  const page = await admin.search('AuditEvent', { patient: ref, _count: '1' });
  assert.equal(page.entry.length, 1);
  assert.ok(page.link.some((l) => l.relation === 'next'), 'a page of one links to the next');

  // The refused read is in the caller's trail, not the patient's project's.
  const refusals = await other.searchResources('AuditEvent', { outcome: '4', entity: ref });
  assert.equal(refusals.length, 1, 'the 404 is in the reader\'s own trail');
  assert.equal(refusals[0].meta.project, other.getProject().id);
  assert.ok(!trail.some((e) => e.id === refusals[0].id), "a refusal never joins the project it tried to reach");

  // Nothing of project A's trail shows to B, by search or by id: what B
  // finds about the patient is its own trail (its refusal, its searches).
  const seen = await other.searchResources('AuditEvent', { patient: ref, _count: '100' });
  assert.ok(seen.length >= 1);
  assert.ok(seen.every((e) => e.meta.project === other.getProject().id), 'B sees only its own records');
  assert.ok(!seen.some((e) => trail.some((a) => a.id === e.id)));
  await assert.rejects(other.readResource('AuditEvent', read.id));
  assert.equal(lastStatus(other), 404);

  // The trail is append-only, even for the project's admin.
  await assert.rejects(admin.updateResource({ ...read, outcome: '4' }));
  assert.equal(lastStatus(admin), 403);
  await assert.rejects(admin.deleteResource('AuditEvent', read.id));
  assert.equal(lastStatus(admin), 403);
});
