// A member governed by an AccessPolicy, set up the way the MSO demo does it:
// the admin stores the policy, invites the clinician with
// membership.accessPolicy, and later edits the membership over FHIR.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lastStatus, newClient, password, registerProjectAdmin, signIn, uniqueEmail } from './lib.mjs';

// rejectsWith asserts that promise fails with HTTP status on the client's last exchange.
async function rejectsWith(client, promise, status) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.outcome?.resourceType, 'OperationOutcome');
    return true;
  });
  assert.equal(lastStatus(client), status);
}

test('an invited member with an AccessPolicy gets exactly what it allows', async () => {
  const { client: admin } = await registerProjectAdmin('policy-admin');
  const projectId = admin.getProject().id;
  const policy = await admin.createResource({
    resourceType: 'AccessPolicy',
    name: 'Compat clinician',
    resource: [{ resourceType: 'Patient' }, { resourceType: 'Organization', readonly: true }],
  });
  const clinic = await admin.createResource({ resourceType: 'Organization', name: 'Compat clinic' });
  const email = uniqueEmail('policy-member');
  const membership = await admin.post('admin/projects/:projectId/invite', {
    resourceType: 'Practitioner',
    firstName: 'Carol',
    lastName: 'Clinician',
    email,
    password,
    sendEmail: false,
    scope: 'project',
    membership: { accessPolicy: { reference: `AccessPolicy/${policy.id}` } },
  });
  assert.equal(membership.accessPolicy?.reference, `AccessPolicy/${policy.id}`);

  const member = newClient();
  await signIn(member, email, password, { projectId });
  assert.equal(member.isProjectAdmin(), false);
  const types = member.getAccessPolicy()?.resource?.map((r) => r.resourceType) ?? [];
  assert.ok(types.includes('Patient') && types.includes('Organization'), `getAccessPolicy(): ${JSON.stringify(member.getAccessPolicy())}`);

  const patient = await member.createResource({ resourceType: 'Patient', name: [{ family: 'Governed' }] });
  assert.equal(lastStatus(member), 201);
  assert.equal((await admin.readResource('Patient', patient.id)).id, patient.id);
  assert.equal((await member.readResource('Organization', clinic.id)).name, 'Compat clinic');

  await rejectsWith(member, member.createResource({ resourceType: 'Observation', status: 'final', code: { text: 'x' } }), 403);
  await rejectsWith(member, member.createResource({ resourceType: 'Organization', name: 'Not mine to make' }), 403);
  await rejectsWith(member, member.searchResources('ProjectMembership'), 403);
});

test('the admin finds and edits a membership over FHIR, as the MSO demo enrols a clinician', async () => {
  const { client: admin } = await registerProjectAdmin('enrol-admin');
  const projectId = admin.getProject().id;
  const policy = await admin.createResource({
    resourceType: 'AccessPolicy',
    name: 'Compat MSO',
    compartment: { reference: '%organization' },
    resource: [{ resourceType: 'Organization', readonly: true }, { resourceType: 'Patient', criteria: 'Patient?_compartment=%organization' }],
  });
  const clinic = await admin.createResource({ resourceType: 'Organization', name: 'Compat clinic A' });
  const email = uniqueEmail('enrolled');
  const invited = await admin.post('admin/projects/:projectId/invite', {
    resourceType: 'Practitioner',
    firstName: 'Dan',
    lastName: 'Enrolled',
    email,
    password,
    sendEmail: false,
    scope: 'project',
    membership: { accessPolicy: { reference: `AccessPolicy/${policy.id}` } },
  });

  const found = await admin.searchResources('ProjectMembership', { profile: invited.profile.reference });
  assert.deepEqual(found.map((m) => m.id), [invited.id]);
  const access = [
    {
      policy: { reference: `AccessPolicy/${policy.id}` },
      parameter: [{ name: 'organization', valueReference: { reference: `Organization/${clinic.id}` } }],
    },
  ];
  const updated = await admin.updateResource({ ...found[0], access });
  assert.equal(updated.id, invited.id);
  assert.deepEqual(updated.access, access);

  const member = newClient();
  await signIn(member, email, password, { projectId });
  assert.deepEqual(member.getProjectMembership().access, access);
  assert.equal((await member.readResource('Organization', clinic.id)).id, clinic.id);
});
