// The MSO enrollment operations exactly as a Managed Service Organization
// app performs them with @medplum/core (spec 5.12, the medplum-mso-demo):
// upload the policy (search by name, then create or update), create
// clinics, invite clinicians with one access entry per clinic, enrol and
// unenrol clinicians by editing their ProjectMembership, enrol and unenrol
// patients with Patient/$set-accounts. After each step a clinician, signed
// in with their own client, sees exactly what the enrollment allows.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lastStatus, newClient, password, registerProjectAdmin, signIn, uniqueEmail } from './lib.mjs';

const policyName = 'Managed Service Organization Access Policy';

// The demo's policy: %organization compartment, the directory read-only,
// patient data behind Type?_compartment=%organization.
function msoPolicy() {
  const data = ['Patient', 'Observation', 'DiagnosticReport', 'Encounter', 'Communication'];
  return {
    resourceType: 'AccessPolicy',
    name: policyName,
    compartment: { reference: '%organization' },
    resource: [
      { resourceType: 'Organization', readonly: true },
      { resourceType: 'Practitioner', readonly: true },
      { resourceType: 'PractitionerRole', readonly: true },
      ...data.map((t) => ({ resourceType: t, criteria: `${t}?_compartment=%organization` })),
    ],
  };
}

// uploadPolicy: the demo's policy page.
async function uploadPolicy(admin) {
  const existing = await admin.searchOne('AccessPolicy', { name: policyName });
  if (existing) {
    return admin.updateResource({ ...msoPolicy(), id: existing.id });
  }
  return admin.createResource(msoPolicy());
}

function clinicAccess(policy, clinic) {
  return {
    policy: { reference: `AccessPolicy/${policy.id}` },
    parameter: [{ name: 'organization', valueReference: { reference: `Organization/${clinic.id}` } }],
  };
}

// inviteClinician: the demo's "new clinician" form.
async function inviteClinician(admin, policy, firstName, clinics) {
  const email = uniqueEmail(`mso-${firstName.toLowerCase()}`);
  const membership = await admin.post('admin/projects/:projectId/invite', {
    resourceType: 'Practitioner',
    firstName,
    lastName: 'Clinician',
    email,
    password,
    sendEmail: false,
    scope: 'project',
    membership: {
      accessPolicy: { reference: `AccessPolicy/${policy.id}` },
      access: clinics.map((c) => clinicAccess(policy, c)),
    },
  });
  return { email, membership };
}

// The demo's clinician enrollment: find the membership by profile, then
// PUT it with an access entry added or removed.
async function membershipOf(admin, profile) {
  const found = await admin.searchResources('ProjectMembership', { profile: profile.reference });
  assert.equal(found.length, 1, `ProjectMembership?profile=${profile.reference}: ${found.length} results`);
  return found[0];
}

async function enrolClinician(admin, policy, profile, clinic) {
  const m = await membershipOf(admin, profile);
  return admin.updateResource({ ...m, access: [...(m.access ?? []), clinicAccess(policy, clinic)] });
}

async function unenrolClinician(admin, profile, clinic) {
  const m = await membershipOf(admin, profile);
  const access = (m.access ?? []).filter((a) => a.parameter?.[0]?.valueReference?.reference !== `Organization/${clinic.id}`);
  return admin.updateResource({ ...m, access });
}

// setAccounts: the demo's patient enrollment, the complete list of clinics
// with propagate true.
async function setAccounts(admin, patient, clinics) {
  return admin.post(admin.fhirUrl('Patient', patient.id, '$set-accounts'), {
    resourceType: 'Parameters',
    parameter: [
      ...clinics.map((c) => ({ name: 'accounts', valueReference: { reference: `Organization/${c.id}` } })),
      { name: 'propagate', valueBoolean: true },
    ],
  });
}

function resourcesUpdated(parameters) {
  return parameters.parameter?.find((p) => p.name === 'resourcesUpdated')?.valueInteger;
}

const ids = (resources) => resources.map((r) => r.id).sort();
const sorted = (...list) => list.map((r) => r.id).sort();

// rejectsWith asserts that promise fails with an OperationOutcome and HTTP
// status on the client's last exchange.
async function rejectsWith(client, promise, status, what) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.outcome?.resourceType, 'OperationOutcome', what);
    return true;
  });
  assert.equal(lastStatus(client), status, what);
}

// view is what a clinician sees of the clinic data: patient and
// observation ids, as the demo's SearchControl lists them.
async function view(clinician) {
  return {
    patients: ids(await clinician.searchResources('Patient', { _count: 100 })),
    observations: ids(await clinician.searchResources('Observation', { _count: 100 })),
  };
}

test('MSO enrollment through MedplumClient: who sees what after each step', async (t) => {
  // A fresh client per caller, without the client-side GET cache: each
  // view must come from the server, right after the change.
  const { client: admin } = await registerProjectAdmin('mso-admin', { cacheTime: 0 });
  const projectId = admin.getProject().id;
  assert.equal(admin.isProjectAdmin(), true);

  const first = await uploadPolicy(admin);
  const policy = await uploadPolicy(admin); // re-upload: found by name, updated in place
  assert.equal(policy.id, first.id);

  const north = await admin.createResource({ resourceType: 'Organization', name: 'North Clinic' });
  const south = await admin.createResource({ resourceType: 'Organization', name: 'South Clinic' });

  const alice = await inviteClinician(admin, policy, 'Alice', [north]);
  const bob = await inviteClinician(admin, policy, 'Bob', [south]);
  assert.deepEqual(alice.membership.access, [clinicAccess(policy, north)]);
  assert.equal(alice.membership.accessPolicy?.reference, `AccessPolicy/${policy.id}`);
  const aliceClient = newClient({ cacheTime: 0 });
  await signIn(aliceClient, alice.email, password, { projectId });
  const bobClient = newClient({ cacheTime: 0 });
  await signIn(bobClient, bob.email, password, { projectId });
  assert.equal(aliceClient.isProjectAdmin(), false);
  // /auth/me gives the client the computed policy: the clinic substituted
  // for %organization, the compartment from the (last) access entry.
  const computed = aliceClient.getAccessPolicy();
  assert.equal(computed?.compartment?.reference, `Organization/${north.id}`, JSON.stringify(computed));
  assert.ok(
    computed.resource.some((r) => r.resourceType === 'Patient' && r.criteria === `Patient?_compartment=Organization/${north.id}`),
    JSON.stringify(computed.resource),
  );

  // Patients and their records exist before any enrollment.
  const patients = {};
  const observations = {};
  for (const name of ['north', 'south', 'both']) {
    patients[name] = await admin.createResource({ resourceType: 'Patient', name: [{ given: ['Mso'], family: name }] });
    observations[name] = await admin.createResource({
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'Heart rate' },
      subject: { reference: `Patient/${patients[name].id}` },
    });
  }
  assert.deepEqual(await view(aliceClient), { patients: [], observations: [] }, 'before enrollment alice sees nothing');

  await t.test('patients enrolled with $set-accounts', async () => {
    assert.equal(resourcesUpdated(await setAccounts(admin, patients.north, [north])), 2);
    assert.equal(resourcesUpdated(await setAccounts(admin, patients.south, [south])), 2);
    assert.equal(resourcesUpdated(await setAccounts(admin, patients.both, [north, south])), 2);
    const enrolled = await admin.readResource('Observation', observations.both.id);
    assert.deepEqual(enrolled.meta?.accounts?.map((a) => a.reference).sort(), [`Organization/${north.id}`, `Organization/${south.id}`].sort());

    assert.deepEqual(await view(aliceClient), {
      patients: sorted(patients.north, patients.both),
      observations: sorted(observations.north, observations.both),
    });
    assert.deepEqual(await view(bobClient), {
      patients: sorted(patients.south, patients.both),
      observations: sorted(observations.south, observations.both),
    });
    await rejectsWith(aliceClient, aliceClient.readResource('Patient', patients.south.id), 404, "alice reads south's patient");
    await rejectsWith(aliceClient, aliceClient.readResource('Observation', observations.south.id), 404, "alice reads south's observation");
    assert.equal((await aliceClient.readResource('Organization', south.id)).name, 'South Clinic', 'the clinic directory is readable');
    await rejectsWith(aliceClient, aliceClient.createResource({ resourceType: 'Organization', name: 'Rogue' }), 403, 'alice creates a clinic');
    await rejectsWith(aliceClient, aliceClient.searchResources('Condition'), 403, 'a type the policy does not grant');
    await rejectsWith(aliceClient, setAccounts(aliceClient, patients.south, [north]), 403, 'a clinician calls $set-accounts');
  });

  await t.test("the demo's lists", async () => {
    const clinicPatients = await admin.searchResources('Patient', { _compartment: `Organization/${north.id}`, _fields: 'name' });
    assert.deepEqual(ids(clinicPatients), sorted(patients.north, patients.both));
    assert.ok(clinicPatients.every((p) => p.name && !p.birthDate), '_fields=name');
    const memberships = await admin.searchResources('ProjectMembership');
    for (const m of [alice.membership, bob.membership]) {
      assert.ok(memberships.some((x) => x.id === m.id), `GET ProjectMembership lists ${m.id}`);
    }
    const profiles = [alice.membership.profile, bob.membership.profile].map((p) => p.reference.split('/')[1]);
    const practitioners = await aliceClient.searchResources('Practitioner', { _id: profiles.join(','), _fields: 'name' });
    assert.deepEqual(ids(practitioners), [...profiles].sort());
  });

  await t.test('a patient enrolled asynchronously (Prefer: respond-async), the client polling the job', async () => {
    const patient = await admin.createResource({ resourceType: 'Patient', name: [{ given: ['Mso'], family: 'async' }] });
    const obs = await admin.createResource({
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'Heart rate' },
      subject: { reference: `Patient/${patient.id}` },
    });
    const job = await admin.post(
      admin.fhirUrl('Patient', patient.id, '$set-accounts'),
      {
        resourceType: 'Parameters',
        parameter: [
          { name: 'accounts', valueReference: { reference: `Organization/${north.id}` } },
          { name: 'propagate', valueBoolean: true },
        ],
      },
      undefined,
      { headers: { Prefer: 'respond-async' }, pollStatusOnAccepted: true, pollStatusPeriod: 100 },
    );
    assert.ok(
      admin.wire.some((e) => e.url.endsWith('$set-accounts') && e.status === 202),
      `no 202 for the async call: ${JSON.stringify(admin.wire.slice(-3).map((e) => `${e.method} ${e.url} ${e.status}`))}`,
    );
    assert.equal(job.resourceType, 'AsyncJob', JSON.stringify(job));
    assert.equal(job.status, 'completed', JSON.stringify(job));
    assert.equal(job.output?.parameter?.find((p) => p.name === 'resourcesUpdated')?.valueInteger, 2, JSON.stringify(job.output));
    const seen = await view(aliceClient);
    assert.ok(seen.patients.includes(patient.id) && seen.observations.includes(obs.id), 'alice sees the asynchronously enrolled patient');
    await rejectsWith(bobClient, bobClient.readResource('Patient', patient.id), 404, 'bob does not');
    patients.async = patient;
    observations.async = obs;
  });

  await t.test('alice enrolled in south too (membership PUT)', async () => {
    const updated = await enrolClinician(admin, policy, alice.membership.profile, south);
    assert.deepEqual(updated.access, [clinicAccess(policy, north), clinicAccess(policy, south)]);
    assert.deepEqual(await view(aliceClient), {
      patients: sorted(patients.north, patients.south, patients.both, patients.async),
      observations: sorted(observations.north, observations.south, observations.both, observations.async),
    });
    // A clinician in two clinics stamps what they create with the last one.
    const created = await aliceClient.createResource({ resourceType: 'Patient', name: [{ family: 'Walkin' }] });
    const stored = await admin.readResource('Patient', created.id);
    assert.deepEqual(stored.meta?.accounts?.map((a) => a.reference), [`Organization/${south.id}`]);
    patients.walkin = created;
  });

  await t.test('alice unenrolled from north (membership PUT)', async () => {
    const updated = await unenrolClinician(admin, alice.membership.profile, north);
    assert.deepEqual(updated.access, [clinicAccess(policy, south)]);
    assert.deepEqual(await view(aliceClient), {
      patients: sorted(patients.south, patients.both, patients.walkin),
      observations: sorted(observations.south, observations.both),
    });
    await rejectsWith(aliceClient, aliceClient.readResource('Patient', patients.north.id), 404, "alice reads north's patient after unenrollment");
  });

  await t.test('a clinician charts, the chart is stamped with the patient and the clinic', async () => {
    const note = await aliceClient.createResource({
      resourceType: 'Observation',
      status: 'final',
      code: { text: 'Note' },
      subject: { reference: `Patient/${patients.south.id}` },
    });
    const stored = await admin.readResource('Observation', note.id);
    assert.deepEqual(stored.meta?.accounts?.map((a) => a.reference), [`Organization/${south.id}`]);
    observations.note = note;
    assert.equal((await bobClient.readResource('Observation', note.id)).id, note.id, 'the clinic colleague reads the note');
  });

  await t.test('patient north enrolled in south as well, then unenrolled everywhere ($set-accounts)', async () => {
    assert.equal(resourcesUpdated(await setAccounts(admin, patients.north, [north, south])), 2);
    assert.ok((await view(aliceClient)).patients.includes(patients.north.id), 'alice sees north once it is in south');
    assert.ok((await view(bobClient)).observations.includes(observations.north.id), 'bob sees its observation');

    assert.equal(resourcesUpdated(await setAccounts(admin, patients.north, [])), 2);
    await rejectsWith(aliceClient, aliceClient.readResource('Patient', patients.north.id), 404, 'alice after unenrollment');
    await rejectsWith(bobClient, bobClient.readResource('Observation', observations.north.id), 404, 'bob after unenrollment');
    assert.equal((await admin.readResource('Patient', patients.north.id)).meta?.accounts?.length ?? 0, 0);
  });

  await t.test('patient south unenrolled takes the clinician note with it', async () => {
    assert.equal(resourcesUpdated(await setAccounts(admin, patients.south, [])), 3);
    await rejectsWith(aliceClient, aliceClient.readResource('Observation', observations.note.id), 404, "alice's own note after unenrollment");
    assert.deepEqual(await view(bobClient), { patients: sorted(patients.both, patients.walkin), observations: sorted(observations.both) });
  });
});
