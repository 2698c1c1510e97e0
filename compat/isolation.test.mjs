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
