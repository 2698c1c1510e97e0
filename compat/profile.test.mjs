// A server-scoped user with seats in two projects: /auth/login lists the
// memberships (with displays for the React chooser) and /auth/profile picks
// one, as Medplum's SignInForm does.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newClient, password, registerProjectAdmin, statusesOf } from './lib.mjs';

test('auth/method, then a membership chosen with auth/profile among two projects', async () => {
  const [{ client: home, email }, { client: other }] = await Promise.all([
    registerProjectAdmin('chooser-home'),
    registerProjectAdmin('chooser-other'),
  ]);
  const otherProject = other.getProject();
  // The admin of the other project invites the (server-scoped) registered user.
  const invited = await other.post('admin/projects/:projectId/invite', {
    resourceType: 'Practitioner',
    firstName: 'Alice',
    lastName: 'Guest',
    email,
    sendEmail: false,
    scope: 'server',
  });
  assert.equal(invited.project?.reference, `Project/${otherProject.id}`);
  assert.equal(invited.user?.reference, home.getProjectMembership().user?.reference, 'the existing user gets the seat');

  const medplum = newClient();
  assert.deepEqual(await medplum.post('auth/method', { email }), {}, 'password sign-in, no external IdP');
  const login = await medplum.startLogin({ email, password, scope: 'openid offline' });
  assert.equal(login.code, undefined, 'no code before a membership is chosen');
  assert.equal(login.memberships?.length, 2, JSON.stringify(login));
  const choice = login.memberships.find((m) => m.project?.reference === `Project/${otherProject.id}`);
  assert.ok(choice, `no membership of ${otherProject.id} in ${JSON.stringify(login.memberships)}`);
  assert.equal(choice.id, invited.id);
  assert.equal(choice.project.display, otherProject.name);
  assert.equal(choice.profile?.display, 'Alice Guest');
  const homeSeat = login.memberships.find((m) => m !== choice);
  assert.ok(homeSeat.project?.display, 'every membership names its project for the chooser');

  const chosen = await medplum.post('auth/profile', { login: login.login, profile: choice.id });
  assert.equal(chosen.login, login.login);
  assert.match(chosen.code ?? '', /^[0-9a-f]{32}$/);
  await medplum.processCode(chosen.code);
  assert.deepEqual(statusesOf(medplum, '/auth/profile'), ['POST /auth/profile 200']);
  assert.equal(medplum.getProject().id, otherProject.id);
  assert.equal(medplum.getProjectMembership().id, invited.id);
  assert.equal(medplum.isProjectAdmin(), false);
  assert.equal(`Practitioner/${medplum.getProfile().id}`, invited.profile.reference);
});
