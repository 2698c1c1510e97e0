// Password sign-in of the seeded super admin, the way Medplum's SignInForm
// does it: startLogin (PKCE S256) + processCode, then the /auth/me views.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adminEmail, adminPassword, newClient, s256Challenge, signIn, statusesOf } from './lib.mjs';

test('startLogin + processCode with the PKCE challenge of the client itself', async () => {
  // On Node @medplum/core falls back to the 'plain' method (see s256Challenge).
  const medplum = newClient();
  const profile = await signIn(medplum, adminEmail, adminPassword);

  const loginBody = JSON.parse(medplum.wire.find((e) => e.url.endsWith('/auth/login')).body);
  const tokenBody = new URLSearchParams(medplum.wire.find((e) => e.url.endsWith('/oauth2/token')).body);
  assert.equal(tokenBody.get('grant_type'), 'authorization_code');
  assert.ok(tokenBody.get('code_verifier'), 'processCode sent no code_verifier');
  assert.ok(['plain', 'S256'].includes(loginBody.codeChallengeMethod), loginBody.codeChallengeMethod);
  if (loginBody.codeChallengeMethod === 'plain') {
    assert.equal(loginBody.codeChallenge, tokenBody.get('code_verifier'));
  }

  assert.deepEqual(statusesOf(medplum, '/auth/me'), ['GET /auth/me 200'], 'the client fetches /auth/me because the token has login_id');
  assert.equal(profile.resourceType, 'Practitioner');
  assert.ok(medplum.isAuthenticated(), 'client holds an unexpired access token');
});

test('startLogin with an S256 challenge + processCode with its verifier', async () => {
  const medplum = newClient();
  const { verifier, ...pkce } = s256Challenge(medplum);
  const profile = await signIn(medplum, adminEmail, adminPassword, pkce);

  const loginBody = JSON.parse(medplum.wire.find((e) => e.url.endsWith('/auth/login')).body);
  assert.equal(loginBody.codeChallengeMethod, 'S256');
  assert.equal(loginBody.codeChallenge, pkce.codeChallenge);
  const tokenBody = new URLSearchParams(medplum.wire.find((e) => e.url.endsWith('/oauth2/token')).body);
  assert.equal(tokenBody.get('code_verifier'), verifier);
  assert.equal(profile.resourceType, 'Practitioner');
  assert.equal(medplum.getProfile().id, profile.id);
});

test('a code is redeemed only with the verifier of its S256 challenge', async () => {
  const medplum = newClient();
  const pkce = s256Challenge(medplum);
  medplum.storage.setString('codeVerifier', 'not-the-verifier-of-this-challenge-0123456789abc');
  const login = await medplum.startLogin({
    email: adminEmail,
    password: adminPassword,
    codeChallenge: pkce.codeChallenge,
    codeChallengeMethod: 'S256',
  });
  await assert.rejects(medplum.processCode(login.code), /Invalid code verifier/);
  assert.deepEqual(statusesOf(medplum, '/oauth2/token'), ['POST /oauth2/token 400']);
  assert.equal(medplum.getProfile(), undefined);
});

test('getProfile, getProject and isProjectAdmin come from /auth/me', async () => {
  const medplum = newClient();
  await signIn(medplum, adminEmail, adminPassword);

  const profile = medplum.getProfile();
  assert.equal(profile.resourceType, 'Practitioner');
  assert.ok(profile.id);
  assert.deepEqual(profile.name?.[0]?.given, ['Medplum']);
  assert.equal(profile.name?.[0]?.family, 'Admin');

  const project = medplum.getProject();
  assert.equal(project.resourceType, 'Project');
  assert.equal(project.name, 'Super Admin');
  assert.equal(project.superAdmin, true);
  assert.equal(medplum.isSuperAdmin(), true);
  assert.equal(medplum.isProjectAdmin(), true);

  const membership = medplum.getProjectMembership();
  assert.equal(membership.resourceType, 'ProjectMembership');
  assert.equal(membership.profile?.reference, `Practitioner/${profile.id}`);
  assert.equal(membership.admin, true);

  // Medplum never gives super admin sessions a refresh token (spec 4.6).
  const activeLogin = medplum.getActiveLogin();
  assert.equal(activeLogin.refreshToken, undefined);
  assert.equal(activeLogin.project?.reference, `Project/${project.id}`);
  assert.equal(activeLogin.profile?.reference, `Practitioner/${profile.id}`);
});

test('a wrong password is rejected with a 400 OperationOutcome', async () => {
  const medplum = newClient();
  await assert.rejects(medplum.startLogin({ email: adminEmail, password: 'not-the-password' }), (err) => {
    assert.equal(err.outcome?.resourceType, 'OperationOutcome');
    return true;
  });
  assert.deepEqual(statusesOf(medplum, '/auth/login'), ['POST /auth/login 400']);
  assert.equal(medplum.getProfile(), undefined);
});
