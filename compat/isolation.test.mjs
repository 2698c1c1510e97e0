// Project walls as a client sees them: another project's Patient does not exist.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { lastStatus, newPatient, registerProjectAdmin } from './lib.mjs';

test("a second project's admin cannot read the first project's Patient (404)", async () => {
  const [{ client: first }, { client: second }] = await Promise.all([
    registerProjectAdmin('wall-first'),
    registerProjectAdmin('wall-second'),
  ]);
  assert.notEqual(first.getProject().id, second.getProject().id);
  const family = `Wall${randomUUID().slice(0, 8)}`;
  const patient = await first.createResource(newPatient(family));

  await assert.rejects(second.readResource('Patient', patient.id), (err) => {
    assert.equal(err.outcome?.issue?.[0]?.code, 'not-found');
    return true;
  });
  assert.equal(lastStatus(second), 404);

  const ids = (resources) => resources.map((r) => r.id);
  assert.deepEqual(ids(await second.searchResources('Patient', { _id: patient.id })), []);
  assert.deepEqual(ids(await second.searchResources('Patient', { family })), []);
  assert.deepEqual(ids(await first.searchResources('Patient', { family })), [patient.id]);
});

// notFoundFor returns an assertion that a client call failed with 404
// not-found on client's last exchange.
function notFoundFor(client) {
  return async (what, promise) => {
    await assert.rejects(promise, (err) => {
      assert.equal(err.outcome?.issue?.[0]?.code, 'not-found', `${what}: ${JSON.stringify(err.outcome)}`);
      return true;
    });
    assert.equal(lastStatus(client), 404, what);
  };
}

test('reads of a foreign id are 404 on every route, and writes stay in the caller project', async () => {
  const [{ client: first }, { client: second }] = await Promise.all([
    registerProjectAdmin('wall-owner'),
    registerProjectAdmin('wall-intruder'),
  ]);
  const patient = await first.createResource(newPatient('WallOwned'));
  const notFound = notFoundFor(second);
  await notFound('vread', second.readVersion('Patient', patient.id, patient.meta.versionId));
  await notFound('history', second.readHistory('Patient', patient.id));
  await notFound('delete', second.deleteResource('Patient', patient.id));
  assert.equal((await first.readResource('Patient', patient.id)).name[0].family, 'WallOwned');

  const batch = await second.executeBatch({
    resourceType: 'Bundle',
    type: 'batch',
    entry: [{ request: { method: 'GET', url: `Patient/${patient.id}` } }],
  });
  assert.equal(batch.entry[0].response.status, '404'); // Medplum's bare code

  // meta.project naming the other project is ignored: the write lands in the caller's.
  const planted = await second.createResource({
    ...newPatient('Planted'),
    meta: { project: first.getProject().id },
  });
  assert.equal(lastStatus(second), 201);
  await assert.rejects(first.readResource('Patient', planted.id));
  assert.equal(lastStatus(first), 404);
  assert.equal((await second.readResource('Patient', planted.id)).id, planted.id);
});

// Ward's store looks a missing id up in other projects before an update
// creates it (store/doc.go, foreign ids).
test('an update of a foreign id is 404 (spec 2.10), not a create', async () => {
  const [{ client: first }, { client: second }] = await Promise.all([
    registerProjectAdmin('wall-put-owner'),
    registerProjectAdmin('wall-put-intruder'),
  ]);
  const patient = await first.createResource(newPatient('WallOwned'));
  await notFoundFor(second)('update', second.updateResource({ ...patient, name: [{ family: 'Overwritten' }] }));
  await notFoundFor(second)('read after update', second.readResource('Patient', patient.id));

  // Same through a transaction entry: the transaction fails as a whole.
  await assert.rejects(
    second.executeBatch({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { resource: newPatient('Sibling'), request: { method: 'POST', url: 'Patient' } },
        { resource: { ...patient, name: [{ family: 'Overwritten' }] }, request: { method: 'PUT', url: `Patient/${patient.id}` } },
      ],
    }),
  );
  assert.ok(lastStatus(second) >= 400, `transaction answered ${lastStatus(second)}`);
  await notFoundFor(second)('read after transaction', second.readResource('Patient', patient.id));
  const ids = (resources) => resources.map((r) => r.id);
  assert.deepEqual(ids(await second.searchResources('Patient', { family: 'Sibling' })), [], 'the transaction left nothing behind');
  assert.equal((await first.readResource('Patient', patient.id)).name[0].family, 'WallOwned');
});

test('a reference into another project is refused on write (Ward is stricter than Medplum here)', async () => {
  const [{ client: first }, { client: second }] = await Promise.all([
    registerProjectAdmin('wall-ref-owner'),
    registerProjectAdmin('wall-ref-intruder'),
  ]);
  const patient = await first.createResource(newPatient('WallReferenced'));
  const observation = {
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'compat' },
    subject: { reference: `Patient/${patient.id}` },
  };
  await assert.rejects(second.createResource(observation), (err) => {
    assert.equal(err.outcome?.resourceType, 'OperationOutcome');
    return true;
  });
  assert.equal(lastStatus(second), 400);
  // The owner may reference its own Patient.
  assert.ok((await first.createResource(observation)).id);
});
