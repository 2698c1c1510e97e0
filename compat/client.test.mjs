// Client credentials: a project admin creates a ClientApplication through
// the admin API, and a server-side client logs in with its id and secret.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { newClient, newPatient, registerProjectAdmin, statusesOf } from './lib.mjs';

test('startClientLogin with a ClientApplication created by the admin API', async () => {
  const { client: admin } = await registerProjectAdmin('client-admin');
  const projectId = admin.getProject().id;
  const app = await admin.post(`admin/projects/${projectId}/client`, {
    name: 'Compat backend',
    description: 'created by the compat suite',
  });
  assert.deepEqual(statusesOf(admin, `/admin/projects/${projectId}/client`), [`POST /admin/projects/${projectId}/client 201`]);
  assert.equal(app.resourceType, 'ClientApplication');
  assert.ok(app.id);
  assert.ok(app.secret, 'the created ClientApplication carries its secret');

  const backend = newClient();
  const profile = await backend.startClientLogin(app.id, app.secret);
  const tokenBody = new URLSearchParams(backend.wire.find((e) => e.url.endsWith('/oauth2/token')).body);
  assert.equal(tokenBody.get('grant_type'), 'client_credentials');
  assert.equal(profile.resourceType, 'ClientApplication');
  assert.equal(profile.id, app.id);
  assert.equal(backend.getProject().id, projectId);

  // The client acts in the admin's project: both see the same Patient.
  const family = `Client${randomUUID().slice(0, 8)}`;
  const patient = await backend.createResource(newPatient(family));
  assert.equal((await admin.readResource('Patient', patient.id)).name[0].family, family);
  const found = await backend.searchResources('Patient', { family });
  assert.deepEqual(found.map((p) => p.id), [patient.id]);
});

test('startClientLogin with a wrong secret is refused', async () => {
  const { client: admin } = await registerProjectAdmin('client-bad');
  const app = await admin.post(`admin/projects/${admin.getProject().id}/client`, { name: 'Compat wrong secret' });
  const backend = newClient();
  await assert.rejects(backend.startClientLogin(app.id, 'not-the-secret'), /Invalid secret|invalid/i);
  assert.deepEqual(statusesOf(backend, '/oauth2/token'), ['POST /oauth2/token 400']);
});
