// Self-service registration: startNewUser + startNewProject make the new
// user the admin of a new project.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newClient, password, registerProjectAdmin, statusesOf } from './lib.mjs';

test('startNewUser + startNewProject sign the user in as admin of the new project', async () => {
  const { client: medplum, email, projectName } = await registerProjectAdmin('register');

  assert.deepEqual(
    [...statusesOf(medplum, '/auth/newuser'), ...statusesOf(medplum, '/auth/newproject')],
    ['POST /auth/newuser 200', 'POST /auth/newproject 200'],
  );
  const project = medplum.getProject();
  assert.equal(project.name, projectName);
  assert.equal(project.superAdmin ?? false, false);
  assert.equal(medplum.isProjectAdmin(), true);
  assert.equal(medplum.isSuperAdmin(), false);

  const profile = medplum.getProfile();
  assert.equal(profile.resourceType, 'Practitioner');
  assert.equal(profile.name?.[0]?.family, 'register');
  assert.equal(medplum.getProjectMembership().profile?.reference, `Practitioner/${profile.id}`);
  assert.equal(medplum.getActiveLogin().project?.reference, `Project/${project.id}`);

  // The new admin can use its project right away.
  const patient = await medplum.createResource({ resourceType: 'Patient', name: [{ family: 'Registered' }] });
  assert.equal((await medplum.readResource('Patient', patient.id)).id, patient.id);
  assert.ok(email);
});

test('startNewUser with an email that is already registered is refused', async () => {
  const { email } = await registerProjectAdmin('register-twice');
  const medplum = newClient();
  await assert.rejects(
    medplum.startNewUser({ firstName: 'Again', lastName: 'Twice', email, password, recaptchaToken: 'compat-suite' }),
    /Email already registered/,
  );
  assert.deepEqual(statusesOf(medplum, '/auth/newuser'), ['POST /auth/newuser 400']);
});
