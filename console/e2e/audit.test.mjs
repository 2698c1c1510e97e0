// The audit trail in the console: a clinician opens a patient of their
// clinic and tries one of another clinic (the server answers 404 and
// records the refusal in the clinician's project); the MSO admin's Audit
// page shows both accesses with the clinician as who and the patient, the
// refusal in red; filters narrow the table; the patient's Access history
// tab lists the clinician's read. A clinician has no Audit page, and the
// server refuses them the trail. The project is set up through the API (the
// MSO test drives those pages).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { baseUrl, launch, registerAdmin, signIn, step, watchedPage } from './lib.mjs';

const password = 'correct-horse-battery-staple';
const run = randomUUID().slice(0, 8);
const adminEmail = `audra-${run}@example.com`;
const aliceEmail = `alice-audit-${run}@example.com`;
const otherEmail = `olga-${run}@example.com`;

let browser;
before(async () => {
  await registerAdmin(adminEmail, password, 'Harbor MSO', 'Audra', 'Admin');
  await registerAdmin(otherEmail, password, 'Other Practice', 'Olga', 'Other');
  browser = await launch();
});
after(async () => browser?.close());

// api calls Ward as the page's signed-in user (the token @medplum/core
// keeps in localStorage), so the page's watcher sees every answer.
async function api(page, method, path, body) {
  return page.evaluate(
    async ({ method, path, body }) => {
      const login = JSON.parse(localStorage.getItem('activeLogin'));
      const res = await fetch(path, {
        method,
        headers: { Authorization: `Bearer ${login.accessToken}`, 'Content-Type': 'application/fhir+json' },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: res.status, json: await res.json().catch(() => undefined) };
    },
    { method, path, body },
  );
}

async function ok(page, method, path, body) {
  const res = await api(page, method, path, body);
  assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(res.json)}`);
  return res.json;
}

// rows returns the audit table's rows once loaded: the cells by column
// title, and the row's outcome code; undefined while React is re-rendering
// it (a row read without its cells).
async function rows(page, testId) {
  const table = page.locator(`[data-testid="${testId}"]:not([data-loaded="false"])`);
  await table.waitFor();
  return table.evaluate((t) => {
    const titles = [...t.querySelectorAll('thead th')].map((th) => th.innerText.trim());
    if (titles.length === 0) {
      return undefined;
    }
    const out = [];
    for (const tr of t.querySelectorAll('tbody tr')) {
      const cells = [...tr.querySelectorAll('td')].map((td) => td.innerText.trim());
      if (cells.length !== titles.length) {
        return undefined;
      }
      out.push({ ...Object.fromEntries(titles.map((title, i) => [title, cells[i]])), outcome: tr.getAttribute('data-outcome') });
    }
    return out;
  });
}

// rowsUntil waits until the table's rows satisfy check, and fails with
// what the table shows otherwise.
async function rowsUntil(page, testId, what, check, timeout = 15000) {
  const until = Date.now() + timeout;
  let got;
  for (;;) {
    got = await rows(page, testId);
    if ((got && check(got)) || Date.now() > until) {
      break;
    }
    await page.waitForTimeout(200);
  }
  assert.ok(got && check(got), `table ${testId}: ${what}; it shows ${JSON.stringify(got, null, 1)}`);
  return got;
}

const aliceRead = (r) => r.Who === 'Alice Clinician' && /^read/.test(r.Action) && r.outcome === '0';

test('an admin reads who accessed which patient, refusals included', async () => {
  const admin = await watchedPage(browser, 'admin');
  let projectId;
  const ids = {};
  await step(admin, 'admin signs in and sets up two clinics, a clinician and two patients', async () => {
    await signIn(admin, adminEmail, password);
    projectId = await admin.evaluate(() => JSON.parse(localStorage.getItem('activeLogin')).project.reference.split('/')[1]);
    for (const [key, name] of [['north', 'North Clinic'], ['south', 'South Clinic']]) {
      ids[key] = (await ok(admin, 'POST', '/fhir/R4/Organization', { resourceType: 'Organization', name })).id;
    }
    const clinical = ['Patient', 'Observation', 'DiagnosticReport', 'Encounter', 'Communication'];
    const policy = await ok(admin, 'POST', '/fhir/R4/AccessPolicy', {
      resourceType: 'AccessPolicy',
      name: 'Managed Service Organization Access Policy',
      compartment: { reference: '%organization' },
      resource: [
        { resourceType: 'Organization', readonly: true },
        { resourceType: 'Practitioner', readonly: true },
        ...clinical.map((t) => ({ resourceType: t, criteria: `${t}?_compartment=%organization` })),
      ],
    });
    await ok(admin, 'POST', `/admin/projects/${projectId}/invite`, {
      resourceType: 'Practitioner',
      firstName: 'Alice',
      lastName: 'Clinician',
      email: aliceEmail,
      password,
      sendEmail: false,
      membership: {
        accessPolicy: { reference: `AccessPolicy/${policy.id}` },
        access: [{ policy: { reference: `AccessPolicy/${policy.id}` }, parameter: [{ name: 'organization', valueReference: { reference: `Organization/${ids.north}` } }] }],
      },
    });
    for (const [key, given, family, clinic] of [['nora', 'Nora', 'Northfield', ids.north], ['sam', 'Sam', 'Southgate', ids.south]]) {
      ids[key] = (await ok(admin, 'POST', '/fhir/R4/Patient', { resourceType: 'Patient', name: [{ given: [given], family }] })).id;
      await ok(admin, 'POST', `/fhir/R4/Patient/${ids[key]}/$set-accounts`, {
        resourceType: 'Parameters',
        parameter: [{ name: 'accounts', valueReference: { reference: `Organization/${clinic}` } }, { name: 'propagate', valueBoolean: true }],
      });
    }
  });

  const alice = await watchedPage(browser, 'alice');
  await step(alice, "alice opens her clinic's patient", async () => {
    await signIn(alice, aliceEmail, password, projectId);
    await alice.getByRole('cell', { name: 'Nora Northfield' }).click();
    await alice.getByRole('heading', { name: 'Nora Northfield' }).waitFor();
    assert.equal(await alice.getByRole('tab', { name: 'Access history' }).count(), 0, 'no access history tab for a clinician');
  });

  await step(alice, "alice tries another clinic's patient and is refused", async () => {
    alice.expectStatus(404, new RegExp(`^/fhir/R4/Patient/${ids.sam}$`));
    await alice.goto(`${baseUrl}/patients/${ids.sam}`);
    await alice.getByRole('heading', { name: 'Patient not found' }).waitFor();
  });

  await step(alice, 'alice has no Audit page and the server refuses her the trail', async () => {
    assert.equal(await alice.getByRole('link', { name: 'Audit', exact: true }).count(), 0, 'no Audit link for a clinician');
    await alice.goto(`${baseUrl}/audit`);
    await alice.getByText('Page not found.').waitFor();
    alice.expectStatus(403, /^\/fhir\/R4\/AuditEvent$/);
    const res = await api(alice, 'GET', '/fhir/R4/AuditEvent?_count=5');
    assert.equal(res.status, 403, `a clinician searching AuditEvent: ${JSON.stringify(res.json)}`);
  });

  await step(admin, "the Audit page shows alice's read of Nora and her refused attempt", async () => {
    await admin.getByRole('link', { name: 'Audit', exact: true }).click();
    await admin.getByRole('heading', { name: 'Audit' }).waitFor();
    const samRefused = (r) => r.Who === 'Alice Clinician' && /^read/.test(r.Action) && r.outcome === '4' && r.Patients === 'Sam Southgate';
    const got = await rowsUntil(admin, 'audit', "alice's read of Nora and her refused read of Sam", (rs) =>
      rs.some((r) => aliceRead(r) && r.Patients === 'Nora Northfield') && rs.some(samRefused) &&
      rs.some((r) => r.Who === 'Alice Clinician' && r.What.startsWith('AuditEvent') && r.outcome === '4'),
    );
    assert.match(got.find(samRefused).Outcome, /refused/i);
    assert.ok(got.some((r) => r.Who === 'Alice Clinician' && r.What.startsWith('AuditEvent') && r.outcome === '4'), 'her refused AuditEvent search is on the trail too');
    assert.ok(got.every((r) => r.When && r.Address), 'every row says when and from where');
    // The refusal stands out: its row is red, its badge filled.
    const row = admin.locator('[data-testid="audit"] tbody tr[data-outcome="4"]').first();
    const background = await row.evaluate((tr) => getComputedStyle(tr).backgroundColor);
    assert.notEqual(background, 'rgba(0, 0, 0, 0)', 'a refused row has a background');
    const ok0 = admin.locator('[data-testid="audit"] tbody tr[data-outcome="0"]').first();
    assert.notEqual(await ok0.evaluate((tr) => getComputedStyle(tr).backgroundColor), background, 'a success row looks different');
  });

  await step(admin, 'filtering by outcome shows only refusals', async () => {
    await admin.getByRole('textbox', { name: 'Outcome', exact: true }).click();
    await admin.getByRole('option', { name: 'Refused', exact: true }).click();
    await rowsUntil(admin, 'audit', 'only refusals', (rs) => rs.length > 0 && rs.every((r) => r.outcome === '4'));
    await admin.getByRole('button', { name: 'Clear filters' }).click();
  });

  await step(admin, 'filtering by patient narrows the table to Nora', async () => {
    const input = admin.getByTestId('audit-filters').getByRole('searchbox');
    await input.click();
    await input.pressSequentially('Nora', { delay: 20 });
    await admin.getByRole('option', { name: /Nora Northfield/ }).first().click();
    await rowsUntil(admin, 'audit', "only accesses concerning Nora, alice's read among them", (rs) =>
      rs.length > 0 && rs.every((r) => r.Patients.includes('Nora Northfield')) && rs.some(aliceRead),
    );
    assert.match(admin.url(), new RegExp(`patient=${ids.nora}`));
  });

  await step(admin, "filtering by user as well leaves alice's accesses to Nora", async () => {
    await admin.getByRole('textbox', { name: 'User', exact: true }).click();
    await admin.getByRole('option', { name: 'Alice Clinician', exact: true }).click();
    await rowsUntil(admin, 'audit', "alice's accesses to Nora only", (rs) =>
      rs.length > 0 && rs.every((r) => r.Who === 'Alice Clinician' && r.Patients.includes('Nora Northfield')) && rs.some(aliceRead),
    );
  });

  await step(admin, "filtering by Sam shows who tried to see him, in red", async () => {
    await admin.goto(`${baseUrl}/audit?patient=${ids.sam}&outcome=4`);
    const got = await rowsUntil(admin, 'audit', "alice's refused read of Sam only", (rs) =>
      rs.length > 0 && rs.every((r) => r.outcome === '4' && r.Patients === 'Sam Southgate') && rs.some((r) => r.Who === 'Alice Clinician'),
    );
    assert.ok(got.length > 0, 'alice tried');
  });

  await step(admin, 'a date range narrows the table', async () => {
    const day = (offset) => new Date(Date.now() + offset * 86400000).toISOString().slice(0, 10);
    await admin.goto(`${baseUrl}/audit?to=${day(-2)}`);
    await rowsUntil(admin, 'audit', 'nothing before the day before yesterday', (rs) => rs.length === 0);
    await admin.getByText('Nothing here yet.').waitFor();
    await admin.goto(`${baseUrl}/audit?from=${day(-1)}&to=${day(1)}`);
    await rowsUntil(admin, 'audit', "alice's read within the last days", (rs) => rs.some(aliceRead));
    assert.equal(await admin.locator('input[name="auditFrom"]').inputValue(), day(-1), 'the address fills the From field');
  });

  await step(admin, "Nora's Access history tab lists alice's read", async () => {
    await admin.goto(`${baseUrl}/patients/${ids.nora}`);
    await admin.getByRole('tab', { name: 'Access history' }).click();
    const got = await rowsUntil(admin, 'access-history', "alice's read", (rs) => rs.some(aliceRead));
    assert.ok(got.every((r) => r.Who && r.When), 'every row says who and when');
  });

  const olga = await watchedPage(browser, 'olga');
  await step(olga, "another project's admin sees only their own project's trail", async () => {
    await signIn(olga, otherEmail, password);
    await olga.getByRole('link', { name: 'Audit', exact: true }).click();
    // Names resolve after the rows appear: wait until no row still shows a bare reference.
    const got = await rowsUntil(olga, 'audit', "olga's own accesses, named", (rs) => rs.length > 0 && rs.every((r) => !/^\w+\//.test(r.Who)));
    assert.deepEqual([...new Set(got.map((r) => r.Who))], ['Olga Other'], 'only Olga on her trail');
    assert.ok(!got.some((r) => /Nora|Sam/.test(r.Patients) || r.What.includes(ids.nora) || r.What.includes(ids.sam)), 'no Harbor patient');
    olga.expectStatus(404, new RegExp(`^/fhir/R4/Patient/${ids.nora}$`)); // the filter field reads the patient: not hers
    await olga.goto(`${baseUrl}/audit?patient=${ids.nora}`);
    await rowsUntil(olga, 'audit', "nothing about Harbor's Nora", (rs) => rs.every((r) => r.Who === 'Olga Other' && !r.Patients.includes('Nora')));
  });
});
