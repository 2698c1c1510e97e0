// Files on a patient's timeline (Medplum's ResourceTimeline in the patient
// page): the admin and a clinician of the patient's clinic each upload a
// file through the timeline's attach button (createAttachment: a Binary
// with the patient as securityContext, then a Media), see it in the
// timeline, also after a reload, and download it through the link the page
// shows, byte for byte. A clinician of another clinic cannot open the
// patient, finds no Media of theirs and is refused the Binaries. The
// project is set up through the API (the MSO test drives those pages).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, test } from 'node:test';
import { baseUrl, launch, registerAdmin, signIn, step, watchedPage } from './lib.mjs';

const password = 'correct-horse-battery-staple';
const run = randomUUID().slice(0, 8);
const adminEmail = `tess-${run}@example.com`;
const aliceEmail = `alice-timeline-${run}@example.com`;
const bobEmail = `bob-timeline-${run}@example.com`;

// A text file and a 1×1 PNG, with bytes a lossy path would change.
const textFile = { name: `visit-note-${run}.txt`, mimeType: 'text/plain', buffer: Buffer.from(`Visit note ${run}\nBP 120/80 — ünïcode ✓\n`) };
const pngFile = {
  name: `wound-${run}.png`,
  mimeType: 'image/png',
  buffer: Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64'),
};

let browser;
before(async () => {
  await registerAdmin(adminEmail, password, 'Timeline MSO', 'Tess', 'Admin');
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
        headers: { Authorization: `Bearer ${login.accessToken}`, 'Content-Type': 'application/fhir+json', Accept: 'application/fhir+json' },
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

// openTimeline opens the patient's page on its Timeline tab and waits until
// the timeline has loaded (the patient's own "Created" entry shows).
async function openTimeline(page, patientId, name) {
  await page.goto(`${baseUrl}/patients/${patientId}`);
  await page.getByRole('heading', { name }).waitFor();
  await page.getByRole('tab', { name: 'Timeline' }).click();
  await page.getByTestId('timeline').getByText('Created').first().waitFor();
}

// upload picks file in the timeline's file input (what its attach button
// opens) and waits for the Media to show with the file's name as its link.
async function upload(page, file) {
  await page.getByTestId('timeline').getByTestId('upload-file-input').setInputFiles(file);
  await page.getByText('Upload complete').waitFor();
  await fileLink(page, file).waitFor();
}

const fileLink = (page, file) => page.getByTestId('timeline').getByRole('link', { name: file.name, exact: true });

// download clicks the file's link in the timeline and returns the
// downloaded bytes and the URL they came from.
async function download(page, file) {
  const link = fileLink(page, file);
  const href = await link.getAttribute('href');
  const [dl] = await Promise.all([page.waitForEvent('download'), link.click()]);
  const bytes = await readFile(await dl.path());
  assert.equal(dl.suggestedFilename(), file.name, 'the download keeps the file name');
  return { bytes, href };
}

async function assertDownloads(page, file) {
  const { bytes, href } = await download(page, file);
  assert.match(new URL(href, baseUrl).pathname, /^\/storage\//, `the link is a signed storage URL: ${href}`);
  assert.ok(bytes.equals(file.buffer), `${file.name}: downloaded ${bytes.length} bytes differ from the ${file.buffer.length} uploaded`);
}

test('files uploaded to a patient timeline download unchanged, only for those who may see the patient', async () => {
  const admin = await watchedPage(browser, 'admin');
  let projectId;
  const ids = {};
  await step(admin, 'admin signs in and sets up two clinics, their clinicians and a patient', async () => {
    await signIn(admin, adminEmail, password);
    projectId = await admin.evaluate(() => JSON.parse(localStorage.getItem('activeLogin')).project.reference.split('/')[1]);
    for (const [key, name] of [['north', 'North Clinic'], ['south', 'South Clinic']]) {
      ids[key] = (await ok(admin, 'POST', '/fhir/R4/Organization', { resourceType: 'Organization', name })).id;
    }
    // The console's MSO template (console/app/src/lib.js): Media and Binary
    // make the timeline's files theirs.
    const clinical = ['Patient', 'Observation', 'DiagnosticReport', 'Encounter', 'Communication', 'Media'];
    const policy = await ok(admin, 'POST', '/fhir/R4/AccessPolicy', {
      resourceType: 'AccessPolicy',
      name: 'Managed Service Organization Access Policy',
      compartment: { reference: '%organization' },
      resource: [
        { resourceType: 'Organization', readonly: true },
        { resourceType: 'Practitioner', readonly: true },
        { resourceType: 'PractitionerRole', readonly: true },
        ...clinical.map((t) => ({ resourceType: t, criteria: `${t}?_compartment=%organization` })),
        { resourceType: 'Binary' },
      ],
    });
    for (const [email, firstName, clinic] of [[aliceEmail, 'Alice', ids.north], [bobEmail, 'Bob', ids.south]]) {
      await ok(admin, 'POST', `/admin/projects/${projectId}/invite`, {
        resourceType: 'Practitioner',
        firstName,
        lastName: 'Clinician',
        email,
        password,
        sendEmail: false,
        membership: {
          accessPolicy: { reference: `AccessPolicy/${policy.id}` },
          access: [{ policy: { reference: `AccessPolicy/${policy.id}` }, parameter: [{ name: 'organization', valueReference: { reference: `Organization/${clinic}` } }] }],
        },
      });
    }
    ids.nora = (await ok(admin, 'POST', '/fhir/R4/Patient', { resourceType: 'Patient', name: [{ given: ['Nora'], family: 'Northfield' }] })).id;
    await ok(admin, 'POST', `/fhir/R4/Patient/${ids.nora}/$set-accounts`, {
      resourceType: 'Parameters',
      parameter: [{ name: 'accounts', valueReference: { reference: `Organization/${ids.north}` } }, { name: 'propagate', valueBoolean: true }],
    });
  });

  await step(admin, "admin uploads a text file to Nora's timeline", async () => {
    await openTimeline(admin, ids.nora, 'Nora Northfield');
    await upload(admin, textFile);
  });

  await step(admin, 'admin downloads it through the link the timeline shows', async () => {
    await assertDownloads(admin, textFile);
  });

  await step(admin, 'after a reload the timeline still shows the file and it still downloads', async () => {
    await openTimeline(admin, ids.nora, 'Nora Northfield');
    await fileLink(admin, textFile).waitFor();
    await assertDownloads(admin, textFile);
  });

  const alice = await watchedPage(browser, 'alice');
  await step(alice, "alice, of Nora's clinic, sees the admin's file and downloads it", async () => {
    await signIn(alice, aliceEmail, password, projectId);
    await alice.getByRole('cell', { name: 'Nora Northfield' }).click();
    await alice.getByRole('heading', { name: 'Nora Northfield' }).waitFor();
    await alice.getByRole('tab', { name: 'Timeline' }).click();
    await fileLink(alice, textFile).waitFor();
    await assertDownloads(alice, textFile);
  });

  await step(alice, 'alice uploads an image, sees it and downloads it', async () => {
    await upload(alice, pngFile);
    await alice.getByTestId('timeline').getByRole('img', { name: pngFile.name }).waitFor();
    await assertDownloads(alice, pngFile);
  });

  // The Media and Binaries as the admin reads them, to ask for them as Bob.
  const media = await ok(admin, 'GET', `/fhir/R4/Media?subject=Patient/${ids.nora}`);
  const files = (media.entry ?? []).map((e) => e.resource.content);
  assert.deepEqual(files.map((c) => c.title).sort(), [pngFile.name, textFile.name].sort(), "Nora's Media are the two files");
  const binaryIds = files.map((c) => new URL(c.url, baseUrl).pathname.split('/')[2]);

  const bob = await watchedPage(browser, 'bob');
  await step(bob, "bob, of another clinic, cannot open Nora and finds none of her files", async () => {
    await signIn(bob, bobEmail, password, projectId);
    bob.expectStatus(404, new RegExp(`^/fhir/R4/Patient/${ids.nora}$`));
    await bob.goto(`${baseUrl}/patients/${ids.nora}`);
    await bob.getByRole('heading', { name: 'Patient not found' }).waitFor();
    const found = await ok(bob, 'GET', `/fhir/R4/Media?subject=Patient/${ids.nora}`);
    assert.equal(found.entry?.length ?? 0, 0, 'no Media of Nora for bob');
    const all = await ok(bob, 'GET', '/fhir/R4/Media');
    assert.equal(all.entry?.length ?? 0, 0, 'no Media at all for bob');
    for (const id of binaryIds) {
      bob.expectStatus(404, new RegExp(`^/fhir/R4/Binary/${id}$`));
      const res = await api(bob, 'GET', `/fhir/R4/Binary/${id}`);
      assert.equal(res.status, 404, `bob reading Binary/${id}: ${JSON.stringify(res.json)}`);
    }
  });
});
