// Shared helpers of the compatibility suite. Every scenario drives Ward only
// through @medplum/core's MedplumClient, as a Medplum application would; the
// fetch wrapper only records what went over the wire so tests can assert on
// status codes the client hides (it throws on >= 400 and retries on 401).
import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';

// @medplum/core 5.x reads WebSocket.CLOSING at import time; Node 20 has
// WebSocket only behind --experimental-websocket (compat_test.go passes it).
// Hence the check first and a dynamic import: a missing global fails with
// a clear message instead of a ReferenceError from minified code.
if (typeof globalThis.WebSocket === 'undefined') {
  throw new Error('globalThis.WebSocket is missing: run node >= 22 or node --experimental-websocket');
}
const core = await import('@medplum/core');

// startPkce hashes with window.btoa, so on Node it always warns and falls
// back to 'plain' (see s256Challenge). That one known warning is dropped
// so that real ones stand out.
const warn = console.warn;
console.warn = (...args) => {
  if (!String(args[0]).startsWith('Failed to hash code verifier')) {
    warn(...args);
  }
};
export const { MedplumClient, ClientStorage, MemoryStorage, OperationOutcomeError } = core;

export const baseUrl = requiredEnv('WARD_BASE_URL');
// Access tokens of this server live seconds. A client on it needs a
// refreshGracePeriod below that lifetime: with the default (5 min) every
// token is "expiring", and @medplum/core refreshes again from inside each
// refresh (its /auth/me call), forever.
export const shortLivedBaseUrl = process.env.WARD_SHORT_TOKEN_BASE_URL;
// Ward allows 10 quick sign-ins per account (then one every 30 s): tests
// sign the seeded admin in a handful of times at most and register fresh
// users for everything else.
export const adminEmail = requiredEnv('WARD_ADMIN_EMAIL');
export const adminPassword = requiredEnv('WARD_ADMIN_PASSWORD');
// password of every user the suite registers or invites.
export const password = 'correct-horse-battery-staple';

function requiredEnv(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set (compat_test.go starts Ward and sets it)`);
  }
  return v;
}

// newClient returns a MedplumClient over Ward with in-memory storage and a
// record of every exchange: client.wire is [{method, url, status, body}].
// WARD_COMPAT_TRACE=1 also prints each exchange to stderr.
export function newClient(options = {}) {
  const wire = [];
  const recordingFetch = async (url, init = {}) => {
    const res = await globalThis.fetch(url, init);
    const exchange = { method: init.method ?? 'GET', url: String(url), status: res.status, body: init.body };
    wire.push(exchange);
    if (process.env.WARD_COMPAT_TRACE === '1') {
      console.error(`${exchange.method} ${exchange.url} ${exchange.status}`);
    }
    return res;
  };
  const client = new MedplumClient({
    baseUrl: options.baseUrl ?? baseUrl,
    fetch: recordingFetch,
    storage: new ClientStorage(new MemoryStorage()),
    ...options,
  });
  client.wire = wire;
  return client;
}

// uniqueEmail keeps scenarios independent of each other and of reruns.
export function uniqueEmail(prefix) {
  return `${prefix}-${randomUUID()}@example.com`.toLowerCase();
}

// signIn runs the SignInForm's password flow: POST /auth/login with a PKCE
// challenge, then POST /oauth2/token (authorization_code + code_verifier),
// then GET /auth/me.
//
// extra adds startLogin fields: projectId (a project-scoped user, e.g. an
// invitee with scope 'project', only exists inside its project) or a PKCE
// challenge.
export async function signIn(client, email, pw, extra = {}) {
  const login = await client.startLogin({ email, password: pw, scope: 'openid offline', ...extra });
  assert.ok(login.login, `POST /auth/login returned no login: ${JSON.stringify(login)}`);
  assert.match(login.code ?? '', /^[0-9a-f]{32}$/, `POST /auth/login returned no code: ${JSON.stringify(login)}`);
  return client.processCode(login.code);
}

// registerProjectAdmin self-registers a new user and a new project (the
// Medplum app's "Register" page) and returns a client signed in as its admin.
export async function registerProjectAdmin(prefix, options = {}) {
  const client = newClient(options);
  const email = uniqueEmail(prefix);
  const user = await client.startNewUser({
    firstName: 'Alice',
    lastName: prefix,
    email,
    password,
    recaptchaToken: 'compat-suite',
    scope: 'openid offline',
  });
  assert.ok(user.login, `POST /auth/newuser returned no login: ${JSON.stringify(user)}`);
  const projectName = `Compat ${prefix} ${randomUUID().slice(0, 8)}`;
  const project = await client.startNewProject({ login: user.login, projectName });
  assert.match(project.code ?? '', /^[0-9a-f]{32}$/, `POST /auth/newproject returned no code: ${JSON.stringify(project)}`);
  await client.processCode(project.code);
  return { client, email, projectName };
}

// statusesOf lists "METHOD path status" for the exchanges whose URL contains part.
export function statusesOf(client, part) {
  return client.wire
    .filter((e) => e.url.includes(part))
    .map((e) => `${e.method} ${new URL(e.url).pathname} ${e.status}`);
}

// lastStatus is the HTTP status of the last exchange.
export function lastStatus(client) {
  return client.wire.at(-1)?.status;
}

export function newPatient(family) {
  return {
    resourceType: 'Patient',
    name: [{ given: ['Compat'], family }],
    birthDate: '1970-01-01',
  };
}

// s256Challenge prepares PKCE S256 for startLogin the way a Node app must:
// @medplum/core's own startPkce base64-encodes with window.btoa, so outside
// a browser it falls back to 'plain'. processCode reads the verifier from
// the client's storage, so the app stores it there.
export function s256Challenge(client) {
  const verifier = randomBytes(48).toString('base64url');
  client.storage.setString('codeVerifier', verifier);
  const codeChallenge = createHash('sha256').update(verifier).digest('base64url');
  return { codeChallengeMethod: 'S256', codeChallenge, verifier };
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// waitFor polls predicate every 50 ms for 10 s, then fails naming what.
export async function waitFor(predicate, what) {
  for (let i = 0; i < 200; i++) {
    if (predicate()) {
      return;
    }
    await sleep(50);
  }
  assert.fail(`timed out waiting for ${what}`);
}
