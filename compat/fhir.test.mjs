// FHIR REST through the client once signed in: create, read, search.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { adminEmail, adminPassword, newClient, newPatient, signIn, statusesOf } from './lib.mjs';

test('createResource, readResource and searchResources on a Patient', async () => {
  const medplum = newClient();
  await signIn(medplum, adminEmail, adminPassword);
  const family = `Fhir${randomUUID().slice(0, 8)}`;

  const created = await medplum.createResource(newPatient(family));
  assert.equal(created.resourceType, 'Patient');
  assert.ok(created.id);
  assert.ok(created.meta?.versionId);
  assert.deepEqual(statusesOf(medplum, '/fhir/R4/Patient'), ['POST /fhir/R4/Patient 201']);

  const read = await medplum.readResource('Patient', created.id);
  assert.equal(read.id, created.id);
  assert.equal(read.name[0].family, family);

  const found = await medplum.searchResources('Patient', { family });
  assert.deepEqual(found.map((p) => p.id), [created.id]);
  assert.equal(found.bundle.resourceType, 'Bundle');
  assert.equal(found.bundle.type, 'searchset');
});
