// Console benchmarks in headless chromium against a running Ward:
//   first contentful paint of the sign-in page, and the time from
//   navigation to an interactive patient list (rows rendered and
//   clickable) for a signed-in admin, with a cold and a warm browser cache.
// Median of WARD_BENCH_RUNS (default 7) runs each.
//
//   go run ./cmd/ward serve &            # or any Ward; WARD_BASE_URL names it
//   WARD_BASE_URL=http://localhost:8103/ npm --prefix console/e2e run bench
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { baseUrl, launch, registerAdmin } from './lib.mjs';

const runs = Number(process.env.WARD_BENCH_RUNS ?? 7);
const patients = Number(process.env.WARD_BENCH_PATIENTS ?? 100);
const password = 'correct-horse-battery-staple';

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// Marks the moment the patient table shows loaded rows that respond to
// clicks (React has attached its handlers when the row has onclick wiring:
// the console's rows carry a pointer cursor only with a click handler).
const readyProbe = () => {
  const check = () => {
    const row = document.querySelector('[data-testid="patients"][data-loaded="true"] tbody tr');
    if (row && row.style.cursor === 'pointer' && !window.__patientsReady) {
      window.__patientsReady = performance.now();
    }
    if (document.querySelector('[data-testid="auth.email"]') && !window.__signinReady) {
      window.__signinReady = performance.now();
    }
  };
  new MutationObserver(check).observe(document, { subtree: true, childList: true, attributes: true });
};

async function signedInState(browser, email) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${baseUrl}/signin`);
  await page.getByTestId('auth.email').fill(email);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByTestId('auth.password').fill(password);
  await page.getByRole('button', { name: 'Sign In' }).click();
  await page.getByTestId('whoami').waitFor();
  const state = await context.storageState();
  const token = await page.evaluate(() => JSON.parse(localStorage.getItem('activeLogin') ?? '{}').accessToken);
  await context.close();
  return { state, token };
}

async function seedPatients(token) {
  const entry = Array.from({ length: patients }, (_, i) => ({
    request: { method: 'POST', url: 'Patient' },
    resource: { resourceType: 'Patient', name: [{ given: ['Bench'], family: `Patient${String(i).padStart(4, '0')}` }], birthDate: '1970-01-01' },
  }));
  const res = await fetch(`${baseUrl}/fhir/R4`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/fhir+json', Authorization: `Bearer ${token}` },
    body: JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry }),
  });
  if (!res.ok) {
    throw new Error(`seeding patients: ${res.status} ${await res.text()}`);
  }
}

async function measure(context, path) {
  const page = await context.newPage();
  await page.addInitScript(readyProbe);
  await page.goto(`${baseUrl}${path}`);
  const result = {};
  if (path === '/patients') {
    await page.waitForFunction(() => window.__patientsReady, null, { timeout: 30000 });
    result.ready = await page.evaluate(() => window.__patientsReady);
  } else {
    await page.waitForFunction(() => window.__signinReady, null, { timeout: 30000 });
    result.ready = await page.evaluate(() => window.__signinReady);
  }
  result.fcp = await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime);
  await page.close();
  return result;
}

function assetSize() {
  const dir = new URL('../dist/', import.meta.url).pathname;
  let raw = 0;
  let gz = 0;
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) {
        walk(p);
      } else {
        const data = readFileSync(p);
        raw += data.length;
        gz += /\.(js|css)$/.test(name) ? gzipSync(data, { level: 9 }).length : data.length;
      }
    }
  };
  walk(dir);
  return { raw, gz };
}

const browser = await launch();
try {
  const email = `bench-${randomUUID().slice(0, 8)}@example.com`;
  await registerAdmin(email, password);
  const { state, token } = await signedInState(browser, email);
  await seedPatients(token);

  const signinFcp = [];
  const signinReady = [];
  const coldFcp = [];
  const coldReady = [];
  const warmReady = [];
  for (let i = 0; i < runs; i++) {
    const anon = await browser.newContext();
    const signin = await measure(anon, '/signin');
    signinFcp.push(signin.fcp);
    signinReady.push(signin.ready);
    await anon.close();
    // A new context: signed in (its localStorage), nothing cached.
    const context = await browser.newContext({ storageState: state });
    const cold = await measure(context, '/patients');
    coldFcp.push(cold.fcp);
    coldReady.push(cold.ready);
    warmReady.push((await measure(context, '/patients')).ready);
    await context.close();
  }
  const { raw, gz } = assetSize();
  const ms = (xs) => `${median(xs).toFixed(0)} ms (runs: ${xs.map((x) => x.toFixed(0)).join(', ')})`;
  console.log(`console benchmark, ${runs} runs, ${patients} patients, ${baseUrl}`);
  console.log(`sign-in page first contentful paint:           ${ms(signinFcp)}`);
  console.log(`sign-in form rendered (cold cache):            ${ms(signinReady)}`);
  console.log(`patient list first contentful paint (cold):    ${ms(coldFcp)}`);
  console.log(`interactive patient list, cold cache:          ${ms(coldReady)}`);
  console.log(`interactive patient list, warm cache:          ${ms(warmReady)}`);
  console.log(`embedded assets (console/dist): ${(raw / 1024).toFixed(0)} KiB, ${(gz / 1024).toFixed(0)} KiB as served gzipped`);
} finally {
  await browser.close();
}
