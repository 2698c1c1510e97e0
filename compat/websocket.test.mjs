// WebSocket Subscriptions as Medplum serves them: MedplumClient's
// subscribeToCriteria creates a websocket Subscription, fetches a binding
// token with Subscription/$get-ws-binding-token, binds on
// /ws/subscriptions-r4 and hears the matching resources created after.
// The socket is Node's WebSocket (compat_test.go runs Node 20 with
// --experimental-websocket; Node 22 has it by default).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baseUrl, lastStatus, newPatient, registerProjectAdmin, sleep, waitFor } from './lib.mjs';

function within(ms, promise, what) {
  return Promise.race([promise, sleep(ms).then(() => assert.fail(`timed out waiting for ${what}`))]);
}

test('subscribeToCriteria hears the matching resource created after it connected', async () => {
  const { client: admin } = await registerProjectAdmin('websocket-admin');
  const family = `Socketed${Date.now()}`;
  const criteria = `Patient?name=${family}`;
  const emitter = admin.subscribeToCriteria(criteria);
  const messages = [];
  emitter.addEventListener('message', (event) => messages.push(event.payload));
  const { payload } = await within(10_000, new Promise((resolve) => emitter.addEventListener('connect', resolve)), 'the handshake');
  try {
    const subscription = await admin.readResource('Subscription', payload.subscriptionId);
    assert.equal(subscription.channel.type, 'websocket');
    assert.equal(subscription.criteria, criteria);

    const other = await admin.createResource(newPatient('NotSocketed'));
    const patient = await admin.createResource(newPatient(family));
    await waitFor(() => messages.length > 0, 'the event notification');
    await sleep(300); // time for a wrong notification of the other patient to arrive
    assert.equal(messages.length, 1, `only Patient/${patient.id}, never Patient/${other.id}`);
    const [bundle] = messages;
    assert.equal(bundle.resourceType, 'Bundle');
    assert.equal(bundle.type, 'history');
    const [status, entry] = bundle.entry;
    assert.equal(status.resource.resourceType, 'SubscriptionStatus');
    assert.equal(status.resource.type, 'event-notification');
    assert.equal(status.resource.subscription.reference, `Subscription/${subscription.id}`);
    assert.equal(status.resource.notificationEvent[0].focus.reference, `Patient/${patient.id}`);
    assert.equal(entry.resource.id, patient.id);
    assert.equal(entry.resource.name[0].family, family);
    assert.equal(entry.fullUrl, `${baseUrl.replace(/\/$/, '')}/fhir/R4/Patient/${patient.id}`);
  } finally {
    admin.unsubscribeFromCriteria(criteria);
    admin.getSubscriptionManager().closeWebSocket();
  }
});

test('$get-ws-binding-token: Medplum\'s Parameters for a websocket Subscription, 4xx otherwise', async () => {
  const { client: admin } = await registerProjectAdmin('websocket-token');
  const socketed = await admin.createResource({ resourceType: 'Subscription', status: 'active', reason: 'compat', criteria: 'Patient', channel: { type: 'websocket' } });
  const params = await admin.get(admin.fhirUrl('Subscription', socketed.id, '$get-ws-binding-token'), { cache: 'no-cache' });
  const value = (name) => params.parameter.find((p) => p.name === name);
  assert.match(value('token').valueString, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  assert.equal(value('subscription').valueString, socketed.id);
  assert.equal(value('websocket-url').valueUrl, `${baseUrl.replace(/^http/, 'ws').replace(/\/$/, '')}/ws/subscriptions-r4`);
  const expires = Date.parse(value('expiration').valueDateTime) - Date.now();
  assert.ok(expires > 59 * 60_000 && expires <= 60 * 60_000, `expires in ${expires} ms, want an hour`);

  const hooked = await admin.createResource({
    resourceType: 'Subscription', status: 'active', reason: 'compat', criteria: 'Patient',
    channel: { type: 'rest-hook', endpoint: 'https://hooks.example.com/in' },
  });
  await assert.rejects(admin.get(admin.fhirUrl('Subscription', hooked.id, '$get-ws-binding-token'), { cache: 'no-cache' }));
  assert.equal(lastStatus(admin), 400);

  const { client: stranger } = await registerProjectAdmin('websocket-stranger');
  await assert.rejects(stranger.get(stranger.fhirUrl('Subscription', socketed.id, '$get-ws-binding-token'), { cache: 'no-cache' }));
  assert.equal(lastStatus(stranger), 404, 'another project\'s Subscription is not found');
});

test('a socket bound with a garbage token gets an OperationOutcome and no data', async () => {
  const { client: admin } = await registerProjectAdmin('websocket-garbage');
  const socket = new WebSocket(`${baseUrl.replace(/^http/, 'ws').replace(/\/$/, '')}/ws/subscriptions-r4`);
  const received = [];
  socket.addEventListener('message', (event) => received.push(JSON.parse(event.data)));
  await within(10_000, new Promise((resolve) => socket.addEventListener('open', resolve)), 'the socket to open');
  try {
    socket.send(JSON.stringify({ type: 'bind-with-token', payload: { token: 'abc.def.ghi' } }));
    await waitFor(() => received.length > 0, 'the answer to the bind');
    assert.equal(received[0].resourceType, 'OperationOutcome');
    await admin.createResource(newPatient('Unheard'));
    await sleep(300);
    assert.equal(received.length, 1, 'nothing but the refusal');
  } finally {
    socket.close();
  }
});
