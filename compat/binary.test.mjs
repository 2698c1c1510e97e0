// Binary storage the way Medplum's app uses it: the timeline's upload
// button (createAttachment → createMedia/createDocumentReference), then
// the attachment's URL fetched with download(), exactly as the app shows
// or saves the file, now and on later reads (the stored URL is Binary/{id},
// signed afresh). Another project's client cannot read the Binary.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { OperationOutcomeError, registerProjectAdmin, statusesOf } from './lib.mjs';

async function bytesOf(blob) {
  return Buffer.from(await blob.arrayBuffer());
}

test('createBinary then download through its signed URL and as Binary/{id}', async () => {
  const { client: medplum } = await registerProjectAdmin('binary');
  const data = randomBytes(300_000); // not text: the bytes must survive as they are
  const binary = await medplum.createBinary({ data, filename: 'scan.png', contentType: 'image/png' });
  assert.equal(binary.resourceType, 'Binary');
  assert.equal(binary.contentType, 'image/png');
  assert.match(binary.url, /\/storage\/[0-9a-f-]{36}\/[0-9a-f-]{36}\?/);
  assert.deepEqual(statusesOf(medplum, '/Binary'), ['POST /fhir/R4/Binary 201']);

  const viaURL = await medplum.download(binary.url);
  assert.equal(viaURL.type, 'image/png');
  assert.ok(data.equals(await bytesOf(viaURL)), 'the signed URL serves the uploaded bytes');
  const viaRef = await medplum.download(`Binary/${binary.id}`);
  assert.ok(data.equals(await bytesOf(viaRef)), 'Binary/{id} with Accept */* serves the bytes');

  // readResource asks for FHIR JSON: the resource, not the bytes.
  const read = await medplum.readResource('Binary', binary.id);
  assert.equal(read.contentType, 'image/png');
  assert.equal(read.id, binary.id);
});

test('createAttachment, createMedia and createDocumentReference point at downloadable bytes', async () => {
  const { client: medplum } = await registerProjectAdmin('attach');
  const text = 'clinic letter ' + 'x'.repeat(10_000);

  const attachment = await medplum.createAttachment({ data: text, filename: 'letter.txt', contentType: 'text/plain' });
  assert.equal(attachment.contentType, 'text/plain');
  assert.equal(attachment.title, 'letter.txt');
  assert.equal(await (await medplum.download(attachment.url)).text(), text);

  const media = await medplum.createMedia({ data: text, filename: 'media.txt', contentType: 'text/plain' });
  assert.equal(media.resourceType, 'Media');
  assert.equal(media.status, 'completed');
  assert.equal(await (await medplum.download(media.content.url)).text(), text);

  const doc = await medplum.createDocumentReference({ data: text, filename: 'doc.txt', contentType: 'text/plain' });
  assert.equal(doc.resourceType, 'DocumentReference');
  const url = doc.content[0].attachment.url;
  assert.equal(await (await medplum.download(url)).text(), text);

  // Stored as Binary/{id} and signed afresh on every read, as Medplum rewrites attachment URLs.
  const reread = await medplum.readResource('Media', media.id);
  assert.match(reread.content.url, /\/storage\//);
  assert.equal(await (await medplum.download(reread.content.url)).text(), text);
  const found = await medplum.searchResources('DocumentReference', { _id: doc.id });
  assert.equal(await (await medplum.download(found[0].content[0].attachment.url)).text(), text);

  // The Binary of the Media carries it as securityContext, as Medplum's client sets it.
  const binaryId = new URL(media.content.url).pathname.split('/')[2];
  const binary = await medplum.readResource('Binary', binaryId);
  assert.equal(binary.securityContext?.reference, `Media/${media.id}`);
});

test('another project cannot read the Binary; refused types and bad URLs are refused', async () => {
  const { client: owner } = await registerProjectAdmin('binowner');
  const { client: other } = await registerProjectAdmin('binother');
  const binary = await owner.createBinary({ data: 'private bytes', contentType: 'text/plain' });

  await assert.rejects(other.readResource('Binary', binary.id), (err) => err instanceof OperationOutcomeError);
  // download() hands back whatever body came (it does not throw on a 404).
  const refused = await other.download(`Binary/${binary.id}`);
  assert.ok(!(await refused.text()).includes('private bytes'));
  assert.deepEqual(statusesOf(other, binary.id).map((s) => s.split(' ').at(-1)), ['404', '404']);

  // An executable is refused as Medplum refuses it.
  await assert.rejects(owner.createBinary({ data: 'MZ', filename: 'setup.exe', contentType: 'application/octet-stream' }));
  // The signed URL with another signature serves nothing.
  const altered = binary.url.replace(/Signature=[^&]+/, 'Signature=AAAA');
  const res = await fetch(altered);
  assert.equal(res.status, 401);
  assert.ok(!(await res.text()).includes('private bytes'));
});
