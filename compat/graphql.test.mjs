// $graphql through MedplumClient: graphql(), requestSchema(), nested
// references and reverse lookups, project walls, and errors as the client
// reports them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { lastStatus, newPatient, registerProjectAdmin, statusesOf } from './lib.mjs';

// lib.mjs checks the WebSocket global before @medplum/core is loaded.
const core = await import('@medplum/core');

test('graphql lists, reads, nested references and reverse lookups', async () => {
  const { client } = await registerProjectAdmin('graphql');
  const family = `Gql${randomUUID().slice(0, 8)}`;
  const patient = await client.createResource(newPatient(family));
  const obs = await client.createResource({
    resourceType: 'Observation',
    status: 'final',
    code: { text: 'heart rate' },
    subject: { reference: `Patient/${patient.id}` },
    valueQuantity: { value: 72, unit: '/min' },
  });

  const list = await client.graphql(`{ PatientList(family: "${family}", _count: 10) { id name { given family } } }`);
  assert.deepEqual(list, { data: { PatientList: [{ id: patient.id, name: [{ given: ['Compat'], family }] }] } });
  assert.deepEqual(statusesOf(client, '$graphql'), ['POST /fhir/R4/$graphql 200']);

  const nested = await client.graphql(
    `query Obs($id: ID!) { Observation(id: $id) { valueQuantity { value unit } subject { reference resource { ... on Patient { name { family } } } } } }`,
    'Obs',
    { id: obs.id },
  );
  assert.deepEqual(nested.data.Observation, {
    valueQuantity: { value: 72, unit: '/min' },
    subject: { reference: `Patient/${patient.id}`, resource: { name: [{ family }] } },
  });

  const reverse = await client.graphql(`{ Patient(id: "${patient.id}") { ObservationList(_reference: subject) { id } } }`);
  assert.deepEqual(reverse.data.Patient.ObservationList, [{ id: obs.id }]);

  const conn = await client.graphql(`{ PatientConnection(family: "${family}") { count edges { resource { id } } } }`);
  assert.deepEqual(conn.data.PatientConnection, { count: 1, edges: [{ resource: { id: patient.id } }] });
});

test('requestSchema loads the StructureDefinitions and SearchParameters it asks for', async () => {
  const { client } = await registerProjectAdmin('graphql-schema');
  // The compat server has no base definitions loaded: the project brings
  // its own, which the query reads like the R4 project's.
  const name = `GqlThing${randomUUID().slice(0, 8).replace(/[^a-z]/g, 'x')}`;
  await client.createResource({
    resourceType: 'StructureDefinition',
    // A canonical base URL, so the client indexes it as a data type.
    url: `https://medplum.com/fhir/StructureDefinition/${name}`,
    name,
    status: 'active',
    kind: 'logical',
    abstract: false,
    type: name,
    snapshot: {
      element: [
        { id: name, path: name, min: 0, max: '*', base: { path: name, min: 0, max: '*' } },
        { id: `${name}.label`, path: `${name}.label`, min: 0, max: '1', base: { path: `${name}.label`, min: 0, max: '1' }, type: [{ code: 'string' }] },
      ],
    },
  });
  await client.requestSchema(name);
  assert.deepEqual(statusesOf(client, '$graphql'), ['POST /fhir/R4/$graphql 200']);
  assert.ok(core.isDataTypeLoaded(name), `${name} is loaded after requestSchema`);
  assert.ok(core.getDataType(name).elements.label, 'its elements are indexed');
});

test("graphql stays inside the caller's project", async () => {
  const [{ client: first }, { client: second }] = await Promise.all([
    registerProjectAdmin('graphql-wall-1'),
    registerProjectAdmin('graphql-wall-2'),
  ]);
  const family = `GqlWall${randomUUID().slice(0, 8)}`;
  const patient = await first.createResource(newPatient(family));
  const query = `{ PatientList(family: "${family}") { id } }`;
  assert.deepEqual((await first.graphql(query)).data.PatientList, [{ id: patient.id }]);
  assert.deepEqual((await second.graphql(query)).data.PatientList, []);
  const read = await second.graphql(`{ Patient(id: "${patient.id}") { id } }`);
  assert.equal(read.data.Patient, null);
  assert.equal(read.errors?.[0]?.message, 'Not found');
});

test('a query the schema refuses is a 400 OperationOutcome the client throws', async () => {
  const { client } = await registerProjectAdmin('graphql-errors');
  for (const query of ['{ PatientList { id }', '{ PatientList { nope } }']) {
    await assert.rejects(client.graphql(query), (err) => {
      assert.equal(err.outcome?.resourceType, 'OperationOutcome', JSON.stringify(err.outcome));
      assert.equal(err.outcome?.issue?.[0]?.code, 'invalid');
      return true;
    });
    assert.equal(lastStatus(client), 400);
  }
  // An argument REST would refuse is a field error, as in Medplum.
  const bad = await client.graphql('{ PatientList(birthdate: "not-a-date") { id } }');
  assert.equal(bad.data.PatientList, null);
  assert.match(bad.errors[0].message, /birthdate/);
});

test('mutations create, update and delete as the caller', async () => {
  const { client } = await registerProjectAdmin('graphql-mutations');
  const family = `GqlMut${randomUUID().slice(0, 8)}`;
  // Medplum's documented example: a single given name is coerced to a list.
  const created = await client.graphql(
    `mutation { PatientCreate(res: { resourceType: "Patient", gender: "male", name: [{ given: "Homer", family: "${family}" }] }) { id gender name { given } } }`,
  );
  const id = created.data.PatientCreate.id;
  assert.deepEqual(created.data.PatientCreate, { id, gender: 'male', name: [{ given: ['Homer'] }] });
  assert.equal((await client.readResource('Patient', id)).name[0].family, family);

  const updated = await client.graphql(
    'mutation Up($id: ID!, $res: PatientUpdate!) { PatientUpdate(id: $id, res: $res) { gender } }',
    'Up',
    { id, res: { resourceType: 'Patient', gender: 'other', name: [{ family }] } },
  );
  assert.equal(updated.data.PatientUpdate.gender, 'other');

  const deleted = await client.graphql(`mutation { PatientDelete(id: "${id}") { id } }`);
  assert.equal(deleted.errors, undefined);
  await assert.rejects(client.readResource('Patient', id), (err) => {
    assert.equal(err.outcome?.issue?.[0]?.code, 'deleted');
    return true;
  });
});
