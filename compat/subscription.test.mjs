// FHIR Subscriptions as Medplum serves them: a rest-hook Subscription
// created with MedplumClient delivers matching resources to its endpoint
// with the channel's headers; one Ward cannot deliver is refused with 400.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { lastStatus, newClient, newPatient, password, registerProjectAdmin, signIn, sleep, uniqueEmail, waitFor } from './lib.mjs';

// listen starts a local rest-hook endpoint recording what it receives.
async function listen() {
  const received = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.push({ headers: req.headers, body: JSON.parse(body) });
      res.writeHead(200).end();
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { received, server, url: `http://127.0.0.1:${server.address().port}/hook` };
}

test('a rest-hook Subscription receives the matching resources with its headers', async () => {
  const { client: admin } = await registerProjectAdmin('subscription-admin');
  const hook = await listen();
  try {
    const family = `Hooked${Date.now()}`;
    const subscription = await admin.createResource({
      resourceType: 'Subscription',
      status: 'active',
      reason: 'compat',
      criteria: `Patient?name=${family}`,
      channel: { type: 'rest-hook', endpoint: hook.url, header: ['Authorization: Bearer compat-hook'], payload: 'application/fhir+json' },
    });
    const other = await admin.createResource(newPatient('NotHooked'));
    const patient = await admin.createResource(newPatient(family));
    await waitFor(() => hook.received.length > 0, 'the rest-hook delivery');
    await sleep(300); // time for a wrong delivery of the other patient to arrive
    assert.deepEqual(hook.received.map((r) => r.body.id), [patient.id], `other patient ${other.id} must not be delivered`);
    const { headers } = hook.received[0];
    assert.equal(headers.authorization, 'Bearer compat-hook');
    assert.equal(headers['content-type'], 'application/fhir+json');
    assert.equal(headers['x-medplum-subscription'], subscription.id);
    assert.equal(headers['x-medplum-interaction'], 'create');
  } finally {
    hook.server.close();
  }
});

test('a Subscription Ward cannot deliver is refused with 400', async () => {
  const { client: admin } = await registerProjectAdmin('subscription-refused');
  for (const [criteria, endpoint] of [
    ['Patient?no-such-param=x', 'https://hooks.example.com/in'],
    ['NotAType', 'https://hooks.example.com/in'],
    ['Patient', 'ftp://hooks.example.com/in'],
    ['Patient', 'http://169.254.169.254/latest/meta-data/'], // cloud metadata: never, whatever the operator allows
  ]) {
    await assert.rejects(
      admin.createResource({ resourceType: 'Subscription', status: 'active', reason: 'compat', criteria, channel: { type: 'rest-hook', endpoint } }),
      (err) => err.outcome?.resourceType === 'OperationOutcome',
    );
    assert.equal(lastStatus(admin), 400, `${criteria} → ${endpoint}`);
  }
});

test('a clinician hears about their clinic\'s patients only, and nothing once unenrolled', async () => {
  const { client: admin } = await registerProjectAdmin('subscription-clinic');
  const projectId = admin.getProject().id;
  const ours = await admin.createResource(newPatient('OurClinic'));
  const theirs = await admin.createResource(newPatient('OtherClinic'));
  const policy = await admin.createResource({
    resourceType: 'AccessPolicy',
    name: 'Compat subscribing clinician',
    resource: [{ resourceType: 'Observation', criteria: `Observation?subject=Patient/${ours.id}` }, { resourceType: 'Subscription' }],
  });
  const email = uniqueEmail('subscription-clinician');
  const membership = await admin.post('admin/projects/:projectId/invite', {
    resourceType: 'Practitioner',
    firstName: 'Sam',
    lastName: 'Subscriber',
    email,
    password,
    sendEmail: false,
    membership: { accessPolicy: { reference: `AccessPolicy/${policy.id}` } },
  });
  const clinician = newClient();
  await signIn(clinician, email, password, { projectId });
  const hook = await listen();
  try {
    await clinician.createResource({
      resourceType: 'Subscription',
      status: 'active',
      reason: 'compat',
      criteria: 'Observation',
      channel: { type: 'rest-hook', endpoint: hook.url, payload: 'application/fhir+json' },
    });
    const observation = (patient) =>
      admin.createResource({ resourceType: 'Observation', status: 'final', code: { text: 'bp' }, subject: { reference: `Patient/${patient.id}` } });
    await observation(theirs);
    const mine = await observation(ours);
    await waitFor(() => hook.received.length > 0, 'the clinician\'s delivery');
    await sleep(300);
    assert.deepEqual(hook.received.map((r) => r.body.id), [mine.id], 'only the own clinic\'s Observation');

    await admin.deleteResource('ProjectMembership', membership.id); // unenrolled
    await observation(ours);
    await sleep(1000);
    assert.equal(hook.received.length, 1, 'nothing after unenrolment');
  } finally {
    hook.server.close();
  }
});

test('a delete-only Subscription hears a deletion as Medplum sends it', async () => {
  const { client: admin } = await registerProjectAdmin('subscription-delete');
  const hook = await listen();
  try {
    const subscription = await admin.createResource({
      resourceType: 'Subscription',
      status: 'active',
      reason: 'compat',
      criteria: 'Patient',
      extension: [{ url: 'https://medplum.com/fhir/StructureDefinition/subscription-supported-interaction', valueCode: 'delete' }],
      channel: { type: 'rest-hook', endpoint: hook.url, payload: 'application/fhir+json' },
    });
    const patient = await admin.createResource(newPatient('Deleted'));
    await admin.updateResource({ ...patient, active: true });
    await admin.deleteResource('Patient', patient.id);
    await waitFor(() => hook.received.length > 0, 'the deletion notice');
    await sleep(300); // time for a wrong delivery of the create or the update to arrive
    assert.equal(hook.received.length, 1, 'only the deletion');
    const { headers, body } = hook.received[0];
    assert.deepEqual(body, {});
    assert.equal(headers['x-medplum-interaction'], 'delete');
    assert.equal(headers['x-medplum-deleted-resource'], `Patient/${patient.id}`);
    assert.equal(headers['x-medplum-subscription'], subscription.id);
  } finally {
    hook.server.close();
  }
});
