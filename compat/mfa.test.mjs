// Multi-factor authentication the way Medplum's app drives it: the
// security page reads auth/mfa/status (QR code), enrols with
// post('auth/mfa/enroll'); SignInForm's startLogin then answers
// mfaRequired, the code goes to post('auth/mfa/verify'), and processCode
// finishes the sign-in. The codes come from an authenticator written here
// (RFC 6238 with node:crypto), as a phone app would compute them.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { newClient, OperationOutcomeError, password, registerProjectAdmin, sleep, statusesOf } from './lib.mjs';

const period = 30;

// totp is the 6-digit code of a base32 secret at TOTP step `step`.
function totp(secret, step) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(step));
  const mac = createHmac('sha1', base32(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(value).padStart(6, '0');
}

function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of text.replace(/=+$/, '').toUpperCase()) {
    const v = alphabet.indexOf(c);
    assert.ok(v >= 0, `not base32: ${text}`);
    bits += v.toString(2).padStart(5, '0');
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) {
    bytes.push(parseInt(bits.slice(i, i + 8), 2));
  }
  return Buffer.from(bytes);
}

// freshStep waits until at least 8 s of the current step remain and
// returns it: codes of steps s-1, s and s+1 are then all accepted for
// the next seconds, one per use (a code is good once).
async function freshStep() {
  const into = (Date.now() / 1000) % period;
  if (into > period - 8) {
    await sleep((period - into + 0.5) * 1000);
  }
  return Math.floor(Date.now() / 1000 / period);
}

test('enroll with the status QR code, then sign in with startLogin → mfaRequired → auth/mfa/verify → processCode', async () => {
  const { client: medplum, email } = await registerProjectAdmin('mfa');

  const status = await medplum.get('auth/mfa/status', { cache: 'no-cache' });
  assert.equal(status.enrolled, false);
  assert.match(status.enrollQrCode, /^data:image\/png;base64,/);
  const uri = new URL(status.enrollUri);
  assert.equal(uri.protocol, 'otpauth:');
  const secret = uri.searchParams.get('secret');
  assert.ok(secret, `no secret in ${status.enrollUri}`);
  assert.ok(decodeURIComponent(uri.pathname).includes(email), `account ${uri.pathname} names the user`);

  const step = await freshStep();
  await assert.rejects(medplum.post('auth/mfa/enroll', { token: totp(secret, step + 5) }), (err) => {
    assert.ok(err instanceof OperationOutcomeError);
    assert.equal(err.message, 'Invalid token');
    return true;
  });
  const enrolled = await medplum.post('auth/mfa/enroll', { token: totp(secret, step - 1) });
  assert.equal(enrolled.resourceType, 'OperationOutcome');
  assert.equal(enrolled.id, 'ok');
  assert.deepEqual(await medplum.get('auth/mfa/status', { cache: 'no-cache' }), { enrolled: true });
  const me = await medplum.get('auth/me', { cache: 'no-cache' });
  assert.equal(me.security?.mfaEnrolled, true);
  assert.ok(!JSON.stringify(me).includes(secret), '/auth/me never shows the secret');

  // A second device signs in: the password alone gives no code.
  const phone = newClient();
  const login = await phone.startLogin({ email, password, scope: 'openid offline' });
  assert.equal(login.mfaRequired, true);
  assert.equal(login.code, undefined);
  assert.ok(login.login);
  await assert.rejects(phone.post('auth/mfa/verify', { login: login.login, token: totp(secret, step + 5) }), /Invalid MFA token/);
  const verified = await phone.post('auth/mfa/verify', { login: login.login, token: totp(secret, step) });
  assert.match(verified.code ?? '', /^[0-9a-f]{32}$/, `verify returned no code: ${JSON.stringify(verified)}`);
  const profile = await phone.processCode(verified.code);
  assert.equal(profile.resourceType, 'Practitioner');
  assert.ok(phone.isAuthenticated());
  assert.deepEqual(statusesOf(phone, '/auth/mfa/verify'), ['POST /auth/mfa/verify 400', 'POST /auth/mfa/verify 200']);

  // Turn it off again: the next sign-in is password only.
  const disabled = await medplum.post('auth/mfa/disable', { token: totp(secret, step + 1) });
  assert.equal(disabled.id, 'ok');
  const again = await newClient().startLogin({ email, password, scope: 'openid' });
  assert.match(again.code ?? '', /^[0-9a-f]{32}$/);
  assert.equal(again.mfaRequired, undefined);
});

test("a project's requireMfa setting: startLogin → mfaEnrollRequired (QR code) → auth/mfa/login-enroll → processCode", async () => {
  const { client: admin, email } = await registerProjectAdmin('mfa-required');
  const projectId = admin.getProject().id;
  const saved = await admin.post(`admin/projects/${projectId}/settings`, [{ name: 'requireMfa', valueBoolean: true }]);
  assert.deepEqual(saved.setting, [{ name: 'requireMfa', valueBoolean: true }]);

  const medplum = newClient();
  const login = await medplum.startLogin({ email, password, scope: 'openid' });
  assert.equal(login.mfaEnrollRequired, true);
  assert.equal(login.code, undefined);
  assert.match(login.enrollQrCode, /^data:image\/png;base64,/);
  const secret = new URL(login.enrollUri).searchParams.get('secret');

  const step = await freshStep();
  await assert.rejects(medplum.post('auth/mfa/login-enroll', { login: login.login, token: totp(secret, step + 5) }), /Invalid MFA token/);
  const enrolled = await medplum.post('auth/mfa/login-enroll', { login: login.login, token: totp(secret, step) });
  assert.match(enrolled.code ?? '', /^[0-9a-f]{32}$/, `login-enroll returned no code: ${JSON.stringify(enrolled)}`);
  await medplum.processCode(enrolled.code);
  assert.equal(medplum.getProject().id, projectId);
  assert.deepEqual(await medplum.get('auth/mfa/status', { cache: 'no-cache' }), { enrolled: true });

  const next = await newClient().startLogin({ email, password, scope: 'openid' });
  assert.equal(next.mfaRequired, true);
  assert.equal(next.code, undefined);
});
