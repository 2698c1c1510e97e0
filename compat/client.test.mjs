// Client credentials: a project admin creates a ClientApplication through
// the admin API, and a server-side client logs in with its id and secret.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { newClient, newPatient, registerProjectAdmin, shortLivedBaseUrl, sleep, statusesOf } from './lib.mjs';

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

test('setBasicAuth: every request carries the client id and secret', async () => {
  const { client: admin } = await registerProjectAdmin('client-basic');
  const app = await admin.post(`admin/projects/${admin.getProject().id}/client`, { name: 'Compat basic' });
  const patient = await admin.createResource(newPatient('Basic'));

  const backend = newClient();
  backend.setBasicAuth(app.id, app.secret);
  assert.equal((await backend.readResource('Patient', patient.id)).id, patient.id);
  const created = await backend.createResource(newPatient('BasicCreated'));
  assert.equal((await admin.readResource('Patient', created.id)).id, created.id);
  assert.ok(!backend.wire.some((e) => e.url.endsWith('/oauth2/token')), 'no token was fetched');

  const wrong = newClient();
  wrong.setBasicAuth(app.id, 'not-the-secret');
  await assert.rejects(wrong.readResource('Patient', patient.id));
  assert.equal(wrong.wire[0].status, 401);
});

test('startClientLogin with a wrong secret is refused', async () => {
  const { client: admin } = await registerProjectAdmin('client-bad');
  const app = await admin.post(`admin/projects/${admin.getProject().id}/client`, { name: 'Compat wrong secret' });
  const backend = newClient();
  await assert.rejects(backend.startClientLogin(app.id, 'not-the-secret'), /Invalid secret|invalid/i);
  assert.deepEqual(statusesOf(backend, '/oauth2/token'), ['POST /oauth2/token 400']);
});

test('a client-credentials session logs in again when its token expires (no refresh token)', {
  skip: shortLivedBaseUrl ? false : 'WARD_SHORT_TOKEN_BASE_URL is not set',
}, async () => {
  const { client: admin } = await registerProjectAdmin('client-expiry', { baseUrl: shortLivedBaseUrl, refreshGracePeriod: 0 });
  const app = await admin.post(`admin/projects/${admin.getProject().id}/client`, { name: 'Compat expiring' });
  // The negative grace period makes the client trust its token until the
  // server answers 401; the client then repeats client_credentials.
  const backend = newClient({ baseUrl: shortLivedBaseUrl, refreshGracePeriod: -3_600_000 });
  await backend.startClientLogin(app.id, app.secret);
  assert.equal(backend.getActiveLogin().refreshToken, undefined, 'client credentials never yield a refresh token');
  const patient = await backend.createResource(newPatient('ClientExpiry'));

  const deadline = Date.now() + 30_000;
  while (!backend.wire.some((e) => e.status === 401)) {
    assert.ok(Date.now() < deadline, 'the server never rejected the expired access token');
    await sleep(500);
    assert.equal((await backend.readResource('Patient', patient.id)).id, patient.id);
  }
  const grants = backend.wire
    .filter((e) => e.url.endsWith('/oauth2/token'))
    .map((e) => `${new URLSearchParams(e.body).get('grant_type')} ${e.status}`);
  assert.deepEqual(grants, ['client_credentials 200', 'client_credentials 200']);
  const path = `/fhir/R4/Patient/${patient.id}`;
  assert.deepEqual(statusesOf(backend, path).slice(-2), [`GET ${path} 401`, `GET ${path} 200`]);
});
