// _filter as the Medplum app's timeline sends it: comparisons joined by or,
// not and parentheses; one that does not parse is a 400 naming where.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { lastStatus, newPatient, registerProjectAdmin } from './lib.mjs';

test("a resource's timeline: Task?_filter=based-on eq X or focus eq X or subject eq X", async () => {
  const [{ client: medplum }, { client: other }] = await Promise.all([
    registerProjectAdmin('filter-timeline'),
    registerProjectAdmin('filter-other'),
  ]);
  const patient = await medplum.createResource(newPatient(`Filter${randomUUID().slice(0, 8)}`));
  const x = `Patient/${patient.id}`;
  const task = (extra) => medplum.createResource({ resourceType: 'Task', status: 'requested', intent: 'order', ...extra });
  const basedOn = await task({ basedOn: [{ reference: x }] });
  const focus = await task({ focus: { reference: x } });
  const subject = await task({ for: { reference: x } });
  await task({ description: 'about nobody' });

  const ids = (resources) => resources.map((r) => r.id).sort();
  const found = await medplum.searchResources('Task', `_filter=based-on eq ${x} or focus eq ${x} or subject eq ${x}`);
  assert.deepEqual(ids(found), [basedOn.id, focus.id, subject.id].sort());
  assert.equal(found.bundle.type, 'searchset');
  // Another project's admin asking the same finds nothing.
  const theirs = await other.searchResources('Task', `_filter=based-on eq ${x} or focus eq ${x} or not (subject eq ${x})`);
  assert.deepEqual(ids(theirs), []);

  const notFocus = await medplum.searchResources('Task', {
    _filter: `(based-on eq ${x} or subject eq ${x}) and not (focus eq ${x})`,
  });
  assert.deepEqual(ids(notFocus), [basedOn.id, subject.id].sort());

  await assert.rejects(medplum.searchResources('Task', `_filter=based-on eq ${x} or (focus eq ${x}`), (err) => {
    const issue = err.outcome?.issue?.[0];
    assert.equal(issue?.code, 'invalid');
    assert.deepEqual(issue?.expression, ['_filter']);
    assert.match(issue?.details?.text ?? '', /position \d+/);
    return true;
  });
  assert.equal(lastStatus(medplum), 400);
});
