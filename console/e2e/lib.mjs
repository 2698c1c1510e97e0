// Shared helpers of the console's browser tests: Debian's chromium through
// playwright-core (no browser download), a page that records every console
// error, page crash and unexpected failed request, and numbered screenshots.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const baseUrl = (process.env.WARD_BASE_URL ?? 'http://localhost:8103/').replace(/\/$/, '');
export const artifacts = process.env.WARD_ARTIFACTS_DIR ?? new URL('./artifacts/', import.meta.url).pathname;
mkdirSync(artifacts, { recursive: true });

// launch starts headless chromium. playwright gives it a fresh profile
// directory of its own (it refuses a --user-data-dir argument).
export async function launch() {
  return chromium.launch({
    executablePath: process.env.WARD_CHROMIUM ?? '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

// watchedPage opens a page in a fresh context (its own localStorage, so
// its own signed-in user) that records problems: console errors, uncaught
// exceptions, failed requests and HTTP errors that the current step did not
// announce with page.expectStatus(status, pathPattern).
export async function watchedPage(browser, who) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.problems = [];
  page.expected = [];
  page.expectStatus = (status, pattern) => page.expected.push({ status, pattern });
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !isExpectedConsoleError(page, msg.text())) {
      page.problems.push(`${who}: console error: ${msg.text()}`);
    }
  });
  page.on('pageerror', (err) => page.problems.push(`${who}: page crashed: ${err.message}`));
  page.on('requestfailed', (req) => {
    // A navigation away cancels in-flight requests; that is not a failure.
    if (req.failure()?.errorText !== 'net::ERR_ABORTED') {
      page.problems.push(`${who}: request failed: ${req.method()} ${req.url()} ${req.failure()?.errorText}`);
    }
  });
  page.on('response', (res) => {
    const status = res.status();
    if (status < 400) {
      return;
    }
    const path = new URL(res.url()).pathname;
    const i = page.expected.findIndex((e) => e.status === status && e.pattern.test(path));
    if (i >= 0) {
      page.expected.splice(i, 1);
      page.seenErrors = [...(page.seenErrors ?? []), `${status} ${path}`];
    } else {
      const problem = `${who}: unexpected HTTP ${status}: ${res.request().method()} ${res.url()}`;
      page.problems.push(problem);
      // The body says why; it is added once read.
      res.text().then(
        (body) => page.problems.splice(page.problems.indexOf(problem), 1, `${problem} ${body.slice(0, 300)}`),
        () => {},
      );
    }
  });
  return page;
}

// The browser logs every HTTP error response on the console as well; the
// ones a step expects are not problems.
function isExpectedConsoleError(page, text) {
  // Medplum's autocompletes abort the search a newer keystroke supersedes,
  // and @medplum/core logs the aborted read ("Error parsing response 200
  // AbortError"): the component's own cancellation, not a failure.
  if (/^Error parsing response \d+ AbortError/.test(text)) {
    return true;
  }
  return /Failed to load resource: the server responded with a status of (\d+)/.test(text) &&
    (page.seenErrors ?? []).some((e) => text.includes(`status of ${e.split(' ')[0]}`));
}

let shots = 0;

// step runs one named step, then checks the page had no problems and
// every announced error happened, and keeps a screenshot of the result.
export async function step(page, name, fn) {
  page.expected = [];
  const started = Date.now();
  try {
    await fn();
    await page.waitForLoadState('networkidle').catch(() => {});
  } finally {
    shots += 1;
    const file = join(artifacts, `${String(shots).padStart(2, '0')}-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => {});
  }
  console.log(`step ${String(shots).padStart(2, '0')} ${name}: ${Date.now() - started} ms`);
  assert.deepEqual(page.problems, [], `step "${name}" had problems`);
  assert.deepEqual(page.expected, [], `step "${name}" expected errors that did not happen`);
}

// signIn fills Medplum's SignInForm: email, Continue, password, Sign In.
export async function signIn(page, email, password, projectId) {
  await page.goto(`${baseUrl}/signin${projectId ? `?project=${projectId}` : ''}`);
  await page.getByTestId('auth.email').fill(email);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByTestId('auth.password').fill(password);
  await page.getByRole('button', { name: 'Sign In' }).click();
  await page.getByTestId('whoami').waitFor();
}

// pick chooses options of a Mantine Select or MultiSelect by its label.
export async function pick(page, label, ...options) {
  for (const option of options) {
    const item = page.getByRole('option', { name: option, exact: true });
    // A MultiSelect keeps its dropdown open after a choice, a Select closes
    // it, and the options may still be loading: open it until the option shows.
    for (let i = 0; i < 20 && !(await item.isVisible()); i++) {
      await page.getByRole('textbox', { name: label, exact: true }).click({ force: true });
      await item.waitFor({ timeout: 500 }).catch(() => {});
    }
    await item.click();
  }
  await page.keyboard.press('Escape');
}

// firstColumn returns the sorted first cells of the rows of the table
// with testId once it is not loading.
export async function firstColumn(page, testId) {
  const table = page.locator(`[data-testid="${testId}"]:not([data-loaded="false"])`);
  await table.waitFor();
  return (await table.locator('tbody tr td:first-child').allInnerTexts()).map((s) => s.trim()).sort();
}

// rowsBecome waits until the table's first column is exactly want (in
// any order), and fails with what it shows otherwise.
export async function rowsBecome(page, testId, want, timeout = 15000) {
  const sorted = [...want].sort();
  const until = Date.now() + timeout;
  let got;
  for (;;) {
    got = await firstColumn(page, testId);
    if (JSON.stringify(got) === JSON.stringify(sorted) || Date.now() > until) {
      break;
    }
    await page.waitForTimeout(100);
  }
  assert.deepEqual(got, sorted, `table ${testId}`);
}

// registerAdmin registers a new user and project through the API (the
// Medplum app's Register page) and returns the credentials.
export async function registerAdmin(email, password, projectName = 'Riverside MSO', firstName = 'Ada', lastName = 'Admin') {
  const post = async (path, body) => {
    const res = await fetch(`${baseUrl}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    const json = await res.json();
    assert.equal(res.status, 200, `${path}: ${JSON.stringify(json)}`);
    return json;
  };
  const user = await post('/auth/newuser', { firstName, lastName, email, password, recaptchaToken: 'e2e' });
  await post('/auth/newproject', { login: user.login, projectName });
}
