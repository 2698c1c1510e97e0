// Inviting a clinician the way the MSO demo does: POST to the literal
// admin/projects/:projectId/invite, then the invitee signs in.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newClient, password, registerProjectAdmin, signIn, statusesOf, uniqueEmail } from './lib.mjs';

test("invite via post('admin/projects/:projectId/invite') and the invitee signs in", async () => {
  const { client: admin } = await registerProjectAdmin('inviter');
  const projectId = admin.getProject().id;
  const email = uniqueEmail('invitee');

  const membership = await admin.post('admin/projects/:projectId/invite', {
    resourceType: 'Practitioner',
    firstName: 'Bob',
    lastName: 'Invited',
    email,
    password,
    sendEmail: false,
    scope: 'project',
  });
  assert.deepEqual(statusesOf(admin, '/invite'), ['POST /admin/projects/:projectId/invite 200']);
  assert.equal(membership.resourceType, 'ProjectMembership');
  assert.equal(membership.project?.reference, `Project/${projectId}`);
  assert.match(membership.profile?.reference ?? '', /^Practitioner\/.+/);
  assert.match(membership.user?.reference ?? '', /^User\/.+/);
  assert.equal(membership.admin ?? false, false);

  // scope 'project' makes a project-scoped user: it signs in within its project.
  const invitee = newClient();
  const profile = await signIn(invitee, email, password, { projectId });
  assert.equal(`Practitioner/${profile.id}`, membership.profile.reference);
  assert.equal(profile.name?.[0]?.family, 'Invited');
  assert.equal(invitee.getProject().id, projectId);
  assert.equal(invitee.getProjectMembership().id, membership.id);
  assert.equal(invitee.isProjectAdmin(), false);
});
