// The sign-in flows of Medplum's React components (@medplum/react 5.2.13),
// replayed with @medplum/core exactly as the components call it:
//
//   * SignInForm: EmailForm posts auth/method, PasswordForm calls
//     startLogin({...props, email, password, remember}), a login with several
//     memberships shows ChooseProfileForm, which posts auth/profile; the code
//     goes to processCode. With its `login` prop the form resumes with
//     GET auth/login/{login}.
//   * MedplumClient.signInWithRedirect: /oauth2/authorize (code flow with
//     PKCE S256) → the sign-in page → back to the app with ?code&state →
//     processCode.
//
// The app runs on another origin (WARD_APP_ORIGIN, allowed by the compat
// servers), so every call goes through browserFetch, which applies the
// browser's CORS rules; an origin that is not allowed must be refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  baseUrl,
  ClientStorage,
  MedplumClient,
  MemoryStorage,
  newPatient,
  password,
  registerProjectAdmin,
} from './lib.mjs';

const appOrigin = process.env.WARD_APP_ORIGIN;
const wardOrigin = new URL(baseUrl).origin;
const corsConfigured = { skip: appOrigin ? false : 'WARD_APP_ORIGIN is not set (compat_test.go sets it)' };

// --- a browser's CORS rules (Fetch standard), enough for what Medplum sends ---

const safelistedRequestHeaders = new Set(['accept', 'accept-language', 'content-language', 'content-type']);
const simpleContentTypes = new Set(['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain']);
// Response headers a page may read without Access-Control-Expose-Headers.
const safelistedResponseHeaders = ['cache-control', 'content-language', 'content-length', 'content-type', 'expires', 'last-modified', 'pragma'];

function unsafeHeaderNames(headers) {
  const names = [];
  for (const [name, value] of headers) {
    const simpleType = name === 'content-type' && simpleContentTypes.has(value.split(';')[0].trim().toLowerCase());
    if (!safelistedRequestHeaders.has(name) || (name === 'content-type' && !simpleType)) {
      names.push(name);
    }
  }
  return names.sort();
}

function listHas(list, token) {
  return (list ?? '').split(',').some((v) => v.trim().toLowerCase() === token.toLowerCase());
}

// corsAllowed is the browser's "CORS check" of a credentialed response.
function corsAllowed(headers, origin) {
  return headers.get('access-control-allow-origin') === origin && headers.get('access-control-allow-credentials') === 'true';
}

class CORSError extends TypeError {
  constructor(why) {
    super(`Failed to fetch (CORS: ${why})`);
  }
}

// browserFetch is fetch as a page of origin sees it: a preflight first when
// the request is not "simple", the Origin header, a TypeError when the
// server does not allow the origin, and only the safelisted and exposed
// response headers. log collects "OPTIONS path status" and "METHOD path status".
function browserFetch(origin, log = []) {
  const f = async (url, init = {}) => {
    const method = (init.method ?? 'GET').toUpperCase();
    const headers = new Headers(init.headers);
    const path = new URL(url).pathname;
    const unsafe = unsafeHeaderNames(headers);
    if (!['GET', 'HEAD', 'POST'].includes(method) || unsafe.length > 0) {
      const pre = await globalThis.fetch(url, {
        method: 'OPTIONS',
        headers: {
          Origin: origin,
          'Access-Control-Request-Method': method,
          ...(unsafe.length ? { 'Access-Control-Request-Headers': unsafe.join(',') } : {}),
        },
      });
      log.push(`OPTIONS ${path} ${pre.status}`);
      if (!pre.ok || !corsAllowed(pre.headers, origin)) {
        throw new CORSError(`preflight of ${method} ${path} answered ${pre.status} without this origin`);
      }
      const methods = pre.headers.get('access-control-allow-methods');
      if (!['GET', 'HEAD', 'POST'].includes(method) && !listHas(methods, method)) {
        throw new CORSError(`${method} not in Access-Control-Allow-Methods ${methods}`);
      }
      const allowed = pre.headers.get('access-control-allow-headers');
      for (const name of unsafe) {
        if (!listHas(allowed, name)) {
          throw new CORSError(`request header ${name} not in Access-Control-Allow-Headers ${allowed}`);
        }
      }
    }
    headers.set('Origin', origin);
    const res = await globalThis.fetch(url, { ...init, headers, redirect: 'manual' });
    log.push(`${method} ${path} ${res.status}`);
    if (!corsAllowed(res.headers, origin)) {
      throw new CORSError(`${method} ${path} answered without Access-Control-Allow-Origin: ${origin}`);
    }
    const exposed = (res.headers.get('access-control-expose-headers') ?? '').split(',').map((h) => h.trim().toLowerCase());
    const visible = new Headers();
    for (const [name, value] of res.headers) {
      if (safelistedResponseHeaders.includes(name) || exposed.includes(name)) {
        visible.append(name, value);
      }
    }
    return new Response(res.body, { status: res.status, statusText: res.statusText, headers: visible });
  };
  f.log = log;
  return f;
}

function appClient(origin, options = {}) {
  const fetch = browserFetch(origin);
  const client = new MedplumClient({ baseUrl, fetch, storage: new ClientStorage(new MemoryStorage()), ...options });
  client.cors = fetch.log;
  return client;
}

// twoSeats registers a user with its own project and gives it a seat in a
// second project, as profile.test.mjs does: the login then lists both.
async function twoSeats(prefix) {
  const [{ client: home, email, projectName: homeName }, { client: other, projectName: otherName }] = await Promise.all([
    registerProjectAdmin(`${prefix}-home`),
    registerProjectAdmin(`${prefix}-other`),
  ]);
  const seat = await other.post('admin/projects/:projectId/invite', {
    resourceType: 'Practitioner',
    firstName: 'Carol',
    lastName: 'Seated',
    email,
    sendEmail: false,
    scope: 'server',
  });
  return { email, home, homeName, other, otherName, seat };
}

// The props SignInForm spreads into its login request (baseLoginRequest):
// the app's own settings plus the form's flags, which the server ignores.
const signInFormProps = { scope: 'openid offline', disableGoogleAuth: true, disableEmailAuth: false };

test('SignInForm from an allowed origin: auth/method, password, the project chooser, auth/profile, processCode', corsConfigured, async () => {
  const { email, homeName, other, otherName, seat } = await twoSeats('signin-form');
  const medplum = appClient(appOrigin);

  // EmailForm: no authorizeUrl means "ask for the password".
  const method = await medplum.post('auth/method', { email });
  assert.equal(method.authorizeUrl, undefined, JSON.stringify(method));

  // PasswordForm.
  const login = await medplum.startLogin({ ...signInFormProps, email, password, remember: false });
  assert.ok(login.login, JSON.stringify(login));
  assert.equal(login.code, undefined, 'several memberships: no code before the choice');
  assert.equal(login.memberships?.length, 2, JSON.stringify(login));

  // ChooseProfileForm lists profile.display and project.display and filters
  // on them; the user types part of the other project's name.
  const search = otherName.slice(-8).toLowerCase();
  const shown = login.memberships.filter(
    (m) => m.profile?.display?.toLowerCase().includes(search) || m.project?.display?.toLowerCase().includes(search)
  );
  assert.deepEqual(shown.map((m) => m.id), [seat.id], `search ${search} in ${JSON.stringify(login.memberships)}`);
  assert.deepEqual(login.memberships.map((m) => m.project?.display).sort(), [homeName, otherName].sort());
  for (const m of login.memberships) {
    assert.ok(m.profile?.display, `membership ${m.id} has no profile.display for the chooser`);
  }

  // SignInForm with the `login` prop (a reload mid-choice) gets the same list.
  const resumed = await medplum.get('auth/login/' + encodeURIComponent(login.login));
  assert.deepEqual(resumed.memberships?.map((m) => m.id).sort(), login.memberships.map((m) => m.id).sort());

  const chosen = await medplum.post('auth/profile', { login: login.login, profile: seat.id });
  assert.match(chosen.code ?? '', /^[0-9a-f]{32}$/, JSON.stringify(chosen));
  const profile = await medplum.processCode(chosen.code);
  assert.equal(`Practitioner/${profile.id}`, seat.profile.reference);
  assert.equal(medplum.getProject().id, other.getProject().id);
  assert.equal(medplum.getProjectMembership().id, seat.id);

  // Then the app works with FHIR from its origin: preflighted writes, and
  // the headers @medplum/core reads are exposed.
  const created = await medplum.createResource(newPatient('CrossOrigin'));
  assert.equal((await medplum.readResource('Patient', created.id)).id, created.id);
  const res = await medplum.fetch(medplum.fhirUrl('Patient').toString(), {
    method: 'POST',
    headers: { 'Content-Type': 'application/fhir+json', Authorization: `Bearer ${medplum.getAccessToken()}` },
    body: JSON.stringify(newPatient('Exposed')),
  });
  assert.equal(res.status, 201);
  assert.match(res.headers.get('location') ?? '', /\/fhir\/R4\/Patient\/[^/]+\/_history\//, 'Location is exposed to the page');
  assert.ok(res.headers.get('etag'), 'ETag is exposed to the page');

  for (const path of ['/auth/method', '/auth/login', '/auth/profile', '/fhir/R4/Patient']) {
    assert.ok(medplum.cors.includes(`OPTIONS ${path} 204`), `no preflight of ${path} in ${medplum.cors}`);
  }
  assert.ok(medplum.cors.includes('POST /oauth2/token 200'), 'the token exchange is a simple request');
});

test('SignInForm with chooseScopes (an OAuth page): the code waits for ChooseScopeForm, auth/scope narrows it', corsConfigured, async () => {
  const { email } = await registerProjectAdmin('signin-scopes');
  const medplum = appClient(appOrigin);
  const asked = 'openid offline patient/*.read user/*.read';
  const login = await medplum.startLogin({ ...signInFormProps, scope: asked, email, password, remember: false });
  assert.match(login.code ?? '', /^[0-9a-f]{32}$/, JSON.stringify(login));

  // ChooseScopeForm posts the checked boxes; a scope that was not asked for is refused.
  await assert.rejects(medplum.post('auth/scope', { login: login.login, scope: 'openid user/*.*' }), /Invalid scope/);
  const narrowed = await medplum.post('auth/scope', { login: login.login, scope: 'openid offline patient/*.read' });
  assert.match(narrowed.code ?? '', /^[0-9a-f]{32}$/, JSON.stringify(narrowed));
  await medplum.processCode(narrowed.code);
  const claims = JSON.parse(Buffer.from(medplum.getAccessToken().split('.')[1], 'base64url').toString());
  assert.equal(claims.scope, 'openid offline patient/*.read');
});

test('signInWithRedirect: /oauth2/authorize with PKCE S256, the sign-in page, back to the app, processCode', corsConfigured, async () => {
  const { client: admin, email } = await registerProjectAdmin('redirect');
  const redirectUri = appOrigin + '/';
  const app = await admin.post('admin/projects/:projectId/client', { name: 'Cross-origin app', redirectUri });
  assert.ok(app.id, JSON.stringify(app));

  const browser = fakeBrowser(appOrigin);
  try {
    // 1. The app starts the redirect: the browser leaves for /oauth2/authorize.
    const medplum = appClient(appOrigin, { clientId: app.id });
    await medplum.signInWithRedirect();
    const authorize = new URL(browser.assigned.pop());
    assert.equal(authorize.origin + authorize.pathname, new URL('oauth2/authorize', baseUrl).toString());
    const q = authorize.searchParams;
    assert.equal(q.get('response_type'), 'code');
    assert.equal(q.get('client_id'), app.id);
    assert.equal(q.get('redirect_uri'), redirectUri);
    assert.equal(q.get('code_challenge_method'), 'S256', 'a browser hashes the verifier');
    assert.equal(q.get('state'), medplum.storage.getString('pkceState'));

    // 2. Ward sends the browser to its sign-in page, which logs in on
    // Ward's own origin as signin.html does.
    const toPage = await globalThis.fetch(authorize, { redirect: 'manual' });
    assert.equal(toPage.status, 302);
    const page = new URL(toPage.headers.get('location'), baseUrl);
    const html = await globalThis.fetch(page);
    assert.equal(html.status, 200);
    assert.match(html.headers.get('content-type'), /^text\/html/);
    const p = page.searchParams;
    const signedIn = await globalThis.fetch(new URL('auth/login', baseUrl), {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Origin: wardOrigin },
      body: JSON.stringify({
        email,
        password,
        clientId: p.get('client_id'),
        scope: p.get('scope'),
        codeChallenge: p.get('code_challenge'),
        codeChallengeMethod: p.get('code_challenge_method'),
      }),
    });
    const result = await signedIn.json();
    assert.equal(signedIn.status, 200, JSON.stringify(result));
    assert.match(result.code ?? '', /^[0-9a-f]{32}$/, JSON.stringify(result));
    const cookie = (signedIn.headers.getSetCookie?.() ?? []).find((c) => c.startsWith(`medplum-${app.id}=`));
    assert.ok(cookie, 'the login sets the client cookie for silent re-login');

    // 3. Back at the app with ?code&state: signInWithRedirect exchanges the
    // code with the stored verifier (a cross-origin, credentialed fetch).
    browser.search = `?code=${result.code}&state=${encodeURIComponent(p.get('state'))}`;
    const profile = await medplum.signInWithRedirect();
    assert.equal(profile.resourceType, 'Practitioner');
    assert.equal(medplum.getProject().id, admin.getProject().id);
    assert.ok(medplum.cors.includes('POST /oauth2/token 200'), medplum.cors.join('\n'));
    assert.ok(medplum.cors.includes('OPTIONS /auth/me 204'), medplum.cors.join('\n'));

    // 4. Next visit: the cookie signs the user in without the page.
    browser.search = '';
    const again = appClient(appOrigin, { clientId: app.id });
    await again.signInWithRedirect();
    const silent = await globalThis.fetch(browser.assigned.pop(), {
      redirect: 'manual',
      headers: { Cookie: cookie.split(';')[0] },
    });
    assert.equal(silent.status, 302);
    const back = new URL(silent.headers.get('location'));
    assert.equal(back.origin + back.pathname, redirectUri);
    assert.equal(back.searchParams.get('state'), again.storage.getString('pkceState'));
    browser.search = back.search;
    const profileAgain = await again.signInWithRedirect();
    assert.equal(profileAgain.id, profile.id);
  } finally {
    browser.restore();
  }
});

test('an origin that is not allowed: preflights are refused and answers carry no CORS headers', corsConfigured, async () => {
  const evil = 'http://evil.compat.test';
  const medplum = appClient(evil);
  await assert.rejects(medplum.post('auth/method', { email: 'someone@example.com' }), CORSError);
  await assert.rejects(medplum.startLogin({ email: 'someone@example.com', password }), CORSError);
  // A simple request reaches Ward, but the page cannot read the answer.
  await assert.rejects(medplum.processCode('0'.repeat(32), { redirectUri: evil + '/' }), CORSError);
  await assert.rejects(medplum.get('.well-known/openid-configuration'), CORSError);
  // (@medplum/core retries a failed fetch, so each shows up more than once.)
  assert.ok(medplum.cors.includes('OPTIONS /auth/login 403'), medplum.cors.join('\n'));
  assert.deepEqual(
    medplum.cors.filter((e) => !e.startsWith('OPTIONS ')),
    medplum.cors.filter((e) => e.startsWith('POST /oauth2/token ')),
    'after a refused preflight the browser never sends the request itself'
  );

  for (const path of ['auth/login', 'fhir/R4/Patient', 'oauth2/token', 'admin/projects/x/invite']) {
    const pre = await globalThis.fetch(new URL(path, baseUrl), {
      method: 'OPTIONS',
      headers: { Origin: evil, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
    });
    assert.equal(pre.status, 403, path);
    assert.equal(pre.headers.get('access-control-allow-origin'), null, path);
  }
});

// fakeBrowser installs the window and location @medplum/core looks for
// (typeof window, location.assign/search/origin, window.btoa for S256):
// assign records where the page would go. restore removes them.
function fakeBrowser(origin) {
  const u = new URL(origin);
  const state = { assigned: [], search: '' };
  const location = {
    protocol: u.protocol,
    host: u.host,
    origin: u.origin,
    pathname: '/',
    get search() {
      return state.search;
    },
    assign(url) {
      state.assigned.push(String(url));
    },
    reload() {},
    toString() {
      return u.origin + '/' + state.search;
    },
  };
  const had = { window: Object.getOwnPropertyDescriptor(globalThis, 'window'), location: Object.getOwnPropertyDescriptor(globalThis, 'location') };
  globalThis.window = { btoa, atob, TextEncoder, TextDecoder, location, addEventListener() {}, removeEventListener() {} };
  Object.defineProperty(globalThis, 'location', { value: location, configurable: true, writable: true });
  state.restore = () => {
    for (const name of ['window', 'location']) {
      if (had[name]) {
        Object.defineProperty(globalThis, name, had[name]);
      } else {
        delete globalThis[name];
      }
    }
  };
  return state;
}
