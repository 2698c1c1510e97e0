// FHIR Bulk Data export as a Medplum app runs it: MedplumClient.bulkExport
// kicks the export off, polls until the manifest, and the files are
// downloaded with the client's token — holding what the caller's search
// holds, and nothing of another project.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { lastStatus, newPatient, registerProjectAdmin } from './lib.mjs';

test('bulkExport returns a manifest whose files hold the caller\'s resources', async () => {
  const [{ client: admin }, { client: other }] = await Promise.all([
    registerProjectAdmin('export-admin'),
    registerProjectAdmin('export-other'),
  ]);
  const family = `Export${randomUUID().slice(0, 8)}`;
  const mine = await Promise.all([1, 2, 3].map(() => admin.createResource(newPatient(family))));
  await other.createResource(newPatient(family));

  const manifest = await admin.bulkExport('', 'Patient', undefined, { pollStatusOnAccepted: true, pollStatusPeriod: 50 });
  assert.ok(Array.isArray(manifest.output), JSON.stringify(manifest));
  const file = manifest.output.find((o) => o.type === 'Patient');
  assert.ok(file?.url, JSON.stringify(manifest));
  const ndjson = await (await admin.download(file.url)).text();
  const ids = ndjson.trim().split('\n').map((line) => JSON.parse(line).id).sort();
  const searched = (await admin.searchResources('Patient', { _count: '1000' })).map((p) => p.id).sort();
  assert.deepEqual(ids, searched, 'the file holds what the search holds');
  for (const p of mine) {
    assert.ok(ids.includes(p.id));
  }

  // Another project's token fetches nothing (download may resolve with the
  // error body: the status on the wire is what counts).
  const leaked = await other.download(file.url).then((b) => b.text()).catch(() => '');
  assert.equal(lastStatus(other), 404, 'another project cannot fetch the file');
  assert.ok(!leaked.includes(mine[0].id), 'and sees none of it');
});
