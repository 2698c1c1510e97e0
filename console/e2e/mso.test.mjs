// The MSO console end to end in a real browser: an admin signs in, creates
// two clinics, uploads the MSO policy, invites a clinician per clinic,
// creates and enrolls patients; a clinician signs in and sees exactly
// their clinic's patients; an unenrollment takes access away; the
// directory lists both clinicians. Along the way the server's refusals
// (400 invalid policy, 409 repeated invite, 403 type taken out of the
// policy) show in the page in the server's words; Medplum's SignInForm
// (with its project chooser), ResourceForm and SearchControl run against
// Ward unchanged. Every step leaves a screenshot.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { artifacts, baseUrl, launch, pick, registerAdmin, rowsBecome, signIn, step, watchedPage } from './lib.mjs';

const password = 'correct-horse-battery-staple';
const run = randomUUID().slice(0, 8);
const adminEmail = `ada-${run}@example.com`;
const aliceEmail = `alice-${run}@example.com`;
const bobEmail = `bob-${run}@example.com`;
const maxEmail = `max-${run}@example.com`;

let browser;
before(async () => {
  await registerAdmin(adminEmail, password);
  // Max runs another project of their own; added to Riverside, they have two.
  await registerAdmin(maxEmail, password, 'Lakeside Practice', 'Max', 'Multi');
  browser = await launch();
});
after(async () => browser?.close());

test('an MSO admin and two clinicians use the console', async () => {
  const admin = await watchedPage(browser, 'admin');
  const nav = (label) => admin.getByRole('link', { name: label, exact: true }).click();

  await step(admin, 'admin signs in', async () => {
    await signIn(admin, adminEmail, password);
    await admin.getByRole('heading', { name: 'Clinics' }).waitFor();
  });

  await step(admin, 'admin creates two clinics', async () => {
    for (const name of ['North Clinic', 'South Clinic']) {
      await admin.locator('input[name="clinicName"]').fill(name);
      await admin.getByRole('button', { name: 'Create clinic' }).click();
      await admin.getByText(`Clinic ${name} created`).waitFor();
    }
    await rowsBecome(admin, 'clinics', ['North Clinic', 'South Clinic']);
  });

  await step(admin, 'admin creates the MSO policy from the template', async () => {
    await nav('Access policy');
    await admin.getByRole('button', { name: 'Create from template' }).click();
    await admin.getByTestId('policy-rules').waitFor();
    const rules = await admin.getByTestId('policy-rules').locator('tbody tr').count();
    assert.equal(rules, 12, 'the template has 12 rules');
  });

  await step(admin, 'an invalid policy is refused with the server message', async () => {
    admin.expectStatus(400, /^\/fhir\/R4\/AccessPolicy\//);
    const json = admin.locator('textarea[name="policyJson"]');
    const text = await json.inputValue();
    await json.fill(text.replace('"resourceType": "Organization"', '"resourceType": "NotAResourceType"'));
    await admin.getByRole('button', { name: 'Validate and save' }).click();
    await admin.getByText('The server refused the policy').waitFor();
  });

  let projectId;
  await step(admin, 'admin invites two clinicians', async () => {
    await nav('Clinicians');
    for (const [first, email, clinic, specialty] of [
      ['Alice', aliceEmail, 'North Clinic', 'Cardiology'],
      ['Bob', bobEmail, 'South Clinic', 'Pediatrics'],
    ]) {
      await admin.locator('input[name="firstName"]').fill(first);
      await admin.locator('input[name="lastName"]').fill('Clinician');
      await admin.locator('input[name="email"]').fill(email);
      await admin.locator('input[name="password"]').fill(password);
      await pick(admin, 'Clinics', clinic);
      await pick(admin, 'Specialty', specialty);
      await admin.getByRole('button', { name: 'Invite clinician' }).click();
      await admin.getByText(`${first} Clinician invited`).waitFor();
    }
    await rowsBecome(admin, 'clinicians', ['Ada Admin (admin)', 'Alice Clinician', 'Bob Clinician']);
    const invited = await admin.getByTestId('invited').innerText();
    projectId = /\?project=([0-9a-f-]+)/.exec(invited)?.[1];
    assert.ok(projectId, `sign-in link in ${invited}`);
  });

  await step(admin, 'inviting the same clinician twice shows the conflict', async () => {
    admin.expectStatus(409, /\/invite$/);
    await admin.locator('input[name="firstName"]').fill('Alice');
    await admin.locator('input[name="lastName"]').fill('Clinician');
    await admin.locator('input[name="email"]').fill(aliceEmail);
    await admin.getByRole('button', { name: 'Invite clinician' }).click();
    await admin.getByText('Could not invite the clinician').waitFor();
    await admin.getByText('User is already a member of this project').waitFor();
  });

  await step(admin, 'admin creates and enrolls patients', async () => {
    await nav('Patients');
    for (const [given, family, clinics] of [
      ['Nora', 'Northfield', ['North Clinic']],
      ['Sam', 'Southgate', ['South Clinic']],
      ['Ben', 'Bothwell', ['North Clinic', 'South Clinic']],
    ]) {
      await admin.locator('input[name="given"]').fill(given);
      await admin.locator('input[name="family"]').fill(family);
      await admin.locator('input[name="birthDate"]').fill('1980-02-03');
      await pick(admin, 'Clinics', ...clinics);
      await admin.getByRole('button', { name: 'Create patient' }).click();
      await admin.getByText(`Patient ${given} ${family} created`).waitFor();
    }
    await rowsBecome(admin, 'patients', ['Ben Bothwell', 'Nora Northfield', 'Sam Southgate']);
  });

  await step(admin, 'the directory lists both clinicians with their clinics', async () => {
    await nav('Provider directory');
    await rowsBecome(admin, 'directory', ['Ada Admin', 'Alice Clinician', 'Bob Clinician']);
    await pick(admin, 'Clinic', 'North Clinic');
    await rowsBecome(admin, 'directory', ['Alice Clinician']);
  });

  await step(admin, "admin edits a clinic with Medplum's ResourceForm and sees its people", async () => {
    await nav('Clinics');
    await admin.getByRole('cell', { name: 'North Clinic' }).click();
    const form = admin.getByTestId('clinic-form');
    await form.locator('input[name="name"]').fill('North Clinic Downtown');
    // A coded field: its options come from ValueSet/$expand with a filter.
    await form.getByText('Add Type').click();
    const typeInput = form.getByRole('searchbox').first();
    await typeInput.click();
    await typeInput.pressSequentially('Healthcare', { delay: 20 });
    await admin.getByRole('option', { name: /Healthcare Provider/ }).first().click();
    await form.locator('button[type="submit"]').click();
    await admin.getByText('Clinic North Clinic Downtown saved').waitFor();
    await admin.getByRole('heading', { name: 'North Clinic Downtown' }).waitFor();
    await rowsBecome(admin, 'clinic-patients', ['Ben Bothwell', 'Nora Northfield']);
    await rowsBecome(admin, 'clinic-clinicians', ['Alice Clinician']);
  });

  const alice = await watchedPage(browser, 'alice');
  await step(alice, 'alice signs in and sees exactly North Clinic patients', async () => {
    await signIn(alice, aliceEmail, password, projectId);
    await alice.getByRole('heading', { name: 'Patients' }).waitFor();
    await rowsBecome(alice, 'patients', ['Ben Bothwell', 'Nora Northfield']);
    assert.equal(await alice.getByRole('link', { name: 'Clinics', exact: true }).count(), 0, 'no admin pages for a clinician');
  });

  await step(alice, "alice records a heart rate and sees it in Medplum's SearchControl", async () => {
    await alice.getByRole('cell', { name: 'Nora Northfield' }).click();
    await alice.locator('input[name="vitalValue"]').fill('72');
    await alice.getByRole('button', { name: 'Record' }).click();
    await alice.getByText('Heart rate recorded').waitFor();
    await alice.getByTestId('records-Observation').getByText('72').first().waitFor();
  });

  const bob = await watchedPage(browser, 'bob');
  await step(bob, 'bob signs in and sees exactly South Clinic patients', async () => {
    await signIn(bob, bobEmail, password, projectId);
    await rowsBecome(bob, 'patients', ['Ben Bothwell', 'Sam Southgate']);
  });

  await step(alice, 'alice reads the directory', async () => {
    await alice.getByRole('link', { name: 'Provider directory', exact: true }).click();
    await rowsBecome(alice, 'directory', ['Ada Admin', 'Alice Clinician', 'Bob Clinician']);
    await pick(alice, 'Specialty', 'Pediatrics');
    await rowsBecome(alice, 'directory', ['Bob Clinician']);
  });

  await step(admin, 'admin unenrolls Ben from North Clinic', async () => {
    await nav('Patients');
    await admin.getByRole('cell', { name: 'Ben Bothwell' }).click();
    await admin.getByRole('checkbox', { name: 'North Clinic Downtown' }).uncheck();
    await admin.getByRole('button', { name: 'Save enrollment' }).click();
    await admin.getByText('Enrollment saved').waitFor();
  });

  await step(alice, 'alice no longer sees Ben', async () => {
    await alice.goto(`${baseUrl}/patients`);
    await rowsBecome(alice, 'patients', ['Nora Northfield']);
  });

  await step(admin, 'admin unenrolls Alice from North Clinic', async () => {
    await nav('Clinicians');
    await admin.getByRole('link', { name: 'Alice Clinician' }).click();
    await admin.getByRole('checkbox', { name: 'North Clinic Downtown' }).uncheck();
    await admin.getByRole('button', { name: 'Save enrollment' }).click();
    await admin.getByText(/Alice Clinician: clinics saved|Could not change/).waitFor();
  });

  await step(alice, 'alice sees no patients once unenrolled', async () => {
    await alice.goto(`${baseUrl}/patients`);
    await rowsBecome(alice, 'patients', []);
  });

  await step(admin, 'admin adds an existing user as a project admin', async () => {
    await nav('Project members');
    await admin.locator('input[name="memberFirstName"]').fill('Max');
    await admin.locator('input[name="memberLastName"]').fill('Multi');
    await admin.locator('input[name="memberEmail"]').fill(maxEmail);
    await admin.getByRole('checkbox', { name: 'Project admin' }).check();
    await admin.getByRole('button', { name: 'Add member' }).click();
    await admin.getByText(`${maxEmail} added to the project`).waitFor();
    await admin.getByTestId('members').getByText('Max Multi').first().waitFor();
  });

  const max = await watchedPage(browser, 'max');
  await step(max, 'a user with two memberships chooses the project in SignInForm', async () => {
    await max.goto(`${baseUrl}/signin`);
    await max.getByTestId('auth.email').fill(maxEmail);
    await max.getByRole('button', { name: 'Continue' }).click();
    await max.getByTestId('auth.password').fill(password);
    await max.getByRole('button', { name: 'Sign In' }).click();
    await max.getByText('Choose a Project').waitFor();
    await max.screenshot({ path: `${artifacts}/chooser.png` });
    await max.getByRole('option', { name: /Riverside MSO/ }).click();
    await max.getByTestId('whoami').waitFor();
    await max.getByRole('heading', { name: 'Clinics' }).waitFor();
    assert.match(await max.getByTestId('whoami').innerText(), /Max Multi \(admin\)/);
  });

  await step(max, 'signing out returns to the sign-in form', async () => {
    await max.getByRole('button', { name: 'Sign out' }).click();
    await max.getByTestId('auth.email').waitFor();
  });

  await step(admin, 'admin removes Communication from the policy', async () => {
    await nav('Access policy');
    const json = admin.locator('textarea[name="policyJson"]');
    await admin.getByTestId('policy-rules').waitFor();
    const policy = JSON.parse(await json.inputValue());
    policy.resource = policy.resource.filter((r) => r.resourceType !== 'Communication');
    await json.fill(JSON.stringify(policy, null, 2));
    await admin.getByRole('button', { name: 'Validate and save' }).click();
    await admin.getByText(/Managed Service Organization Access Policy saved/).waitFor();
    await admin.getByTestId('policy-rules').getByRole('cell', { name: 'Communication', exact: true }).waitFor({ state: 'detached' });
    assert.equal(await admin.getByTestId('policy-rules').locator('tbody tr').count(), 11);
  });

  await step(bob, "bob's Communications tab shows the server's refusal", async () => {
    bob.expectStatus(403, /^\/fhir\/R4\/Communication$/);
    await bob.goto(`${baseUrl}/patients`);
    await bob.getByRole('cell', { name: 'Sam Southgate' }).click();
    await bob.getByRole('tab', { name: 'Communications' }).click();
    await bob.getByTestId('records-Communication').getByText(/forbidden/i).first().waitFor();
  });
});
