// What Medplum's app does with a chart and a list (issue 13): the form
// page's batch (it compares response.status with '200'), the chart's
// "Export" (POST $everything and $summary with a plain object), and the
// list's "Export → CSV" ($csv) — through @medplum/core, with nothing of
// another project in any answer.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { lastStatus, newPatient, registerProjectAdmin } from './lib.mjs';

test('executeBatch answers Medplum\'s status strings', async () => {
  const { client } = await registerProjectAdmin('exports-batch');
  const questionnaire = await client.createResource({ resourceType: 'Questionnaire', status: 'active', title: 'Intake' });
  const patient = await client.createResource(newPatient(`Batch${randomUUID().slice(0, 8)}`));

  // The app's FormPage: the Questionnaire and the subject in one batch.
  const form = await client.executeBatch({
    resourceType: 'Bundle',
    type: 'batch',
    entry: [
      { request: { method: 'GET', url: `Questionnaire/${questionnaire.id}` } },
      { request: { method: 'GET', url: `Patient/${patient.id}` } },
    ],
  });
  assert.equal(form.entry?.[0]?.response?.status, '200', JSON.stringify(form.entry?.[0]?.response));
  assert.equal(form.entry[0].resource.id, questionnaire.id);
  assert.equal(form.entry[1].resource.id, patient.id);

  const batch = await client.executeBatch({
    resourceType: 'Bundle',
    type: 'batch',
    entry: [
      { request: { method: 'POST', url: 'Patient' }, resource: newPatient('Created') },
      { request: { method: 'GET', url: `Patient/${randomUUID()}` } },
      { request: { method: 'DELETE', url: `Patient/${patient.id}` } },
    ],
  });
  assert.deepEqual(batch.entry.map((e) => e.response.status), ['201', '404', '200']);
  assert.equal(batch.entry[0].response.outcome?.id, 'created');
  assert.equal(batch.entry[0].response.location, `Patient/${batch.entry[0].resource.id}`);
  assert.equal(batch.entry[1].response.outcome?.issue?.[0]?.code, 'not-found');

  const tx = await client.executeBatch({
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { fullUrl: 'urn:uuid:0f1e2d3c-4b5a-4697-8877-665544332211', request: { method: 'POST', url: 'Patient' }, resource: newPatient('Tx') },
      {
        request: { method: 'POST', url: 'Observation' },
        resource: { resourceType: 'Observation', status: 'final', code: { text: 'Tx' }, subject: { reference: 'urn:uuid:0f1e2d3c-4b5a-4697-8877-665544332211' } },
      },
    ],
  });
  assert.equal(tx.type, 'transaction-response');
  assert.deepEqual(tx.entry.map((e) => e.response.status), ['201', '201']);
});

// A chart: a patient with a lab result and an allergy, in one project, and
// a stranger project with a patient of the same family.
async function chart(prefix) {
  const [{ client: admin }, { client: stranger }] = await Promise.all([
    registerProjectAdmin(`${prefix}-admin`),
    registerProjectAdmin(`${prefix}-stranger`),
  ]);
  const family = `Chart${randomUUID().slice(0, 8)}`;
  const patient = await admin.createResource(newPatient(family));
  const subject = { reference: `Patient/${patient.id}` };
  const obs = await admin.createResource({
    resourceType: 'Observation', status: 'final', code: { text: 'Glucose' }, subject,
    valueQuantity: { value: 5.4, unit: 'mmol/L' }, effectiveDateTime: '2024-03-04T10:00:00Z',
  });
  const allergy = await admin.createResource({ resourceType: 'AllergyIntolerance', code: { text: 'Peanut' }, patient: subject });
  const theirs = await stranger.createResource(newPatient(family));
  return { admin, stranger, family, patient, obs, allergy, theirs };
}

test('the chart\'s export: POST $everything and $summary as PatientExportForm sends them', async () => {
  const { admin, stranger, patient, obs, allergy, theirs } = await chart('exports-chart');

  // PatientExportForm posts {} (no field filled) to the operation's URL.
  const everything = await admin.post(admin.fhirUrl('Patient', patient.id, '$everything'), {});
  assert.equal(everything.resourceType, 'Bundle');
  const ids = everything.entry.map((e) => e.resource.id).sort();
  assert.deepEqual(ids, [patient.id, obs.id, allergy.id].sort());
  const viaGet = await admin.readPatientEverything(patient.id);
  assert.deepEqual(viaGet.entry.map((e) => e.resource.id).sort(), ids, 'POST answers what GET does');

  const summary = await admin.post(admin.fhirUrl('Patient', patient.id, '$summary'), { authoredOn: '2024-05-01T00:00:00.000Z' });
  assert.equal(summary.type, 'document');
  const composition = summary.entry[0].resource;
  assert.equal(composition.resourceType, 'Composition');
  assert.equal(composition.subject.reference, `Patient/${patient.id}`);
  assert.equal(composition.date, '2024-05-01T00:00:00.000Z');
  const section = (code) => composition.section.find((s) => s.code.coding[0].code === code);
  assert.deepEqual(section('48765-2').entry.map((e) => e.reference), [`AllergyIntolerance/${allergy.id}`]);
  assert.deepEqual(section('30954-2').entry.map((e) => e.reference), [`Observation/${obs.id}`]);
  assert.match(section('30954-2').text.div, /5\.4 mmol\/L/);

  // MedplumClient's own call: GET.
  const got = await admin.readPatientSummary(patient.id);
  assert.equal(got.entry[0].resource.resourceType, 'Composition');

  // Another project: 404, and nothing of this chart in its own summary.
  await assert.rejects(stranger.post(stranger.fhirUrl('Patient', patient.id, '$summary'), {}));
  assert.equal(lastStatus(stranger), 404);
  await assert.rejects(stranger.post(stranger.fhirUrl('Patient', patient.id, '$everything'), {}));
  assert.equal(lastStatus(stranger), 404);
  const own = await stranger.readPatientSummary(theirs.id);
  assert.ok(!JSON.stringify(own).includes(patient.id) && !JSON.stringify(own).includes('Peanut'));

  // Bad input is a 400 OperationOutcome.
  await assert.rejects(
    admin.post(admin.fhirUrl('Patient', patient.id, '$summary'), { resourceType: 'Parameters', parameter: 'author' }),
    (err) => err.outcome?.resourceType === 'OperationOutcome',
  );
  assert.equal(lastStatus(admin), 400);
});

test('the list\'s Export → CSV: $csv of the search, nothing of another project', async () => {
  const { admin, stranger, family, patient, theirs } = await chart('exports-csv');
  await admin.createResource({ resourceType: 'Patient', name: [{ given: ['=1+2'], family }] });

  // HomePage: medplum.fhirUrl(type, '$csv') + formatSearchQuery(search).
  const params = new URLSearchParams({ _fields: 'id,name,birthDate', name: family, _sort: '_id' });
  const text = await admin.get(admin.fhirUrl('Patient', '$csv') + '?' + params);
  assert.equal(typeof text, 'string', 'a CSV body reaches the app as text');
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  assert.equal(lines[0], 'id,name,birthDate');
  assert.equal(lines.length, 3, text);
  assert.ok(lines.some((l) => l.startsWith(`"${patient.id}",`)));
  assert.ok(lines.some((l) => l.includes(`"'=1+2 ${family}"`)), 'a formula is defused');
  assert.ok(!text.includes(theirs.id), 'another project\'s patient of the same name is not exported');

  // The app's download path: medplum.download(url) → Blob.
  const blob = await admin.download(admin.fhirUrl('Patient', '$csv') + '?' + params);
  assert.match(blob.type, /^text\/csv/);
  assert.equal((await blob.text()).replace(/^\uFEFF/, ''), text.replace(/^\uFEFF/, ''));

  const theirCsv = await stranger.get(stranger.fhirUrl('Patient', '$csv') + '?' + params);
  assert.ok(theirCsv.includes(theirs.id) && !theirCsv.includes(patient.id));

  await assert.rejects(admin.get(admin.fhirUrl('Patient', '$csv') + '?_fields=nonsense'));
  assert.equal(lastStatus(admin), 400);
});
