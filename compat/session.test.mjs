// Session lifetime: refresh after the access token expires, and signOut.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newClient, newPatient, registerProjectAdmin, shortLivedBaseUrl, sleep, statusesOf, lastStatus } from './lib.mjs';

// The short-lived server issues access tokens that expire within seconds
// (compat_test.go starts it next to the main one).
const shortLived = { skip: shortLivedBaseUrl ? false : 'WARD_SHORT_TOKEN_BASE_URL is not set' };

test('a 401 on an expired access token is refreshed transparently', shortLived, async () => {
  // A negative grace period makes the client trust its token past exp, so
  // the server, not the client, notices the expiry.
  // (Super admins never get refresh tokens, so a registered project admin.)
  const { client: medplum } = await registerProjectAdmin('refresh-401', {
    baseUrl: shortLivedBaseUrl,
    refreshGracePeriod: -3_600_000,
  });
  const patient = await medplum.createResource(newPatient('Refresh'));
  const firstToken = medplum.getAccessToken();
  const firstRefresh = medplum.getActiveLogin()?.refreshToken;
  assert.ok(firstRefresh, 'scope offline yields a refresh token');

  const read = await readAfterExpiry(medplum, patient.id);
  assert.equal(read.id, patient.id);
  const refreshes = medplum.wire.filter(
    (e) => e.url.endsWith('/oauth2/token') && new URLSearchParams(e.body).get('grant_type') === 'refresh_token',
  );
  assert.equal(refreshes.length, 1, 'exactly one refresh_token grant');
  assert.equal(refreshes[0].status, 200);
  assert.equal(new URLSearchParams(refreshes[0].body).get('refresh_token'), firstRefresh);
  assert.notEqual(medplum.getAccessToken(), firstToken);
  assert.notEqual(medplum.getActiveLogin()?.refreshToken, firstRefresh, 'the refresh token rotates');
  assert.equal(lastStatus(medplum), 200);
});

// readAfterExpiry reads the Patient until the server has rejected the first
// access token once (the client then refreshes and retries by itself).
async function readAfterExpiry(medplum, id) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const read = await medplum.readResource('Patient', id, { cache: 'no-cache' });
    if (medplum.wire.some((e) => e.status === 401)) {
      const path = `/fhir/R4/Patient/${id}`;
      const reads = statusesOf(medplum, path);
      assert.deepEqual(reads.slice(-2), [`GET ${path} 401`, `GET ${path} 200`], 'the 401 read is retried after the refresh');
      return read;
    }
    assert.ok(Date.now() < deadline, 'the server never rejected the expired access token');
    await sleep(500);
  }
}

test('the client refreshes an expiring token before using it', shortLived, async () => {
  // Within refreshGracePeriod of exp the client refreshes before the
  // request instead of waiting for a 401. (The grace period must stay below
  // the token lifetime, or every refresh's own /auth/me refreshes again.)
  const { client: medplum } = await registerProjectAdmin('refresh-early', {
    baseUrl: shortLivedBaseUrl,
    refreshGracePeriod: 5_000,
  });
  const firstToken = medplum.getAccessToken();
  while (medplum.isAuthenticated()) {
    await sleep(200);
  }
  const patient = await medplum.createResource(newPatient('Proactive'));
  assert.ok(patient.id);
  assert.notEqual(medplum.getAccessToken(), firstToken);
  const grants = medplum.wire
    .filter((e) => e.url.endsWith('/oauth2/token'))
    .map((e) => `${new URLSearchParams(e.body).get('grant_type')} ${e.status}`);
  assert.deepEqual(grants.slice(-2), ['authorization_code 200', 'refresh_token 200']);
  assert.ok(!medplum.wire.some((e) => e.status === 401), 'no request was sent with a stale token');
});

test('signOut revokes the login: its access and refresh tokens stop working', async () => {
  const { client: medplum } = await registerProjectAdmin('sign-out');
  const accessToken = medplum.getAccessToken();
  const refreshToken = medplum.getActiveLogin()?.refreshToken;
  assert.ok(refreshToken, 'scope offline yields a refresh token');
  await medplum.readResource('Project', medplum.getProject().id);

  await medplum.signOut();
  assert.deepEqual(statusesOf(medplum, '/oauth2/logout'), ['POST /oauth2/logout 200']);
  assert.equal(medplum.getAccessToken(), undefined);
  assert.equal(medplum.getProfile(), undefined);

  // Someone holding the old tokens gets 401, and cannot refresh them.
  const stale = newClient();
  stale.setAccessToken(accessToken, refreshToken);
  await assert.rejects(stale.get('auth/me'));
  assert.deepEqual(statusesOf(stale, '/auth/me'), ['GET /auth/me 401']);
  assert.deepEqual(statusesOf(stale, '/oauth2/token'), ['POST /oauth2/token 400']);
  assert.equal(stale.getAccessToken(), undefined, 'the client clears its state after the failed refresh');
});
