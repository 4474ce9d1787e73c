// The profile section of the account page, with attribute ownership: the
// deployment gives the family name to the CRM (PORTVAKT_ATTRIBUTE_OWNERS).
// The person edits their first name and sees the notice, gets a field
// error for a bad phone number, chooses Swedish, and sees the CRM-owned
// family name read-only with the Swedish "ask your account manager" hint.
// The configuration file declares two custom attributes: a nickname the
// person edits and a customer number shown read-only; the person saves a
// nickname, gets a field error for one the pattern refuses, and sees the
// saved value after a reload.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { suite } from '../lib/harness.mjs';
import { t, expectPage, signIn } from '../lib/steps.mjs';

const password = 'harbour-violet-quartz-58';
const email = 'pia.profile@example.test';
const attrEmail = 'nils.attributes@example.test';

const confDir = mkdtempSync(path.join(os.tmpdir(), 'portvakt-e2e-profile-'));
const confPath = path.join(confDir, 'portvakt.yaml');
writeFileSync(confPath, `user_attributes:
  nickname:
    type: string
    pattern: "[A-Za-zÅÄÖåäö ]+"
    max_length: 30
    self_service: edit
    label: {en: Nickname, sv: Smeknamn, fi: Lempinimi}
    hint: {en: Letters only, sv: Bara bokstäver, fi: Vain kirjaimia}
  customer_number:
    type: string
    self_service: show
    label: {en: Customer number, sv: Kundnummer, fi: Asiakasnumero}
`);
after(() => rmSync(confDir, { recursive: true, force: true }));

const { test } = suite({
  server: {
    env: { PORTVAKT_ATTRIBUTE_OWNERS: 'family_name=crm', PORTVAKT_CONFIG: confPath },
    async setup({ cli }) {
      await cli(['user', 'create', '--email', email, '--password-stdin', '--verified'], { stdin: `${password}\n` });
      await cli(['user', 'create', '--email', attrEmail, '--password-stdin', '--verified'], { stdin: `${password}\n` });
    },
  },
});

test('the person edits their profile; a CRM-owned field is read-only with a hint', async ({ page, rec }) => {
  await signIn(rec, { email, password });
  const profile = page.getByRole('region', { name: t('en', 'account.profile.title') });
  assert.equal(await profile.getByLabel(t('en', 'field.family_name.label')).count(), 0, 'the CRM-owned family name is no input');
  assert.ok((await profile.innerText()).includes(t('en', 'account.profile.owned_by_crm')), 'the CRM hint shows');

  // A first name: saved, with the notice.
  await profile.getByLabel(t('en', 'field.given_name.label')).fill('Pia');
  await rec.click(profile.getByRole('button', { name: t('en', 'account.profile.save') }), 'profile-saved');
  await expectPage(rec, { path: '/account', status: 200, lang: 'en', text: t('en', 'account.done.profile_saved') });
  assert.equal(await page.getByRole('status').innerText(), t('en', 'account.done.profile_saved'));
  assert.equal(await profile.getByLabel(t('en', 'field.given_name.label')).inputValue(), 'Pia');

  // A bad phone number: the error is tied to the field, nothing is saved.
  await profile.getByLabel(t('en', 'field.phone.label')).fill('123');
  await rec.click(profile.getByRole('button', { name: t('en', 'account.profile.save') }), 'profile-error');
  await expectPage(rec, { path: '/account/profile', status: 400, lang: 'en' });
  const phone = profile.getByLabel(t('en', 'field.phone.label'));
  assert.equal(await phone.getAttribute('aria-invalid'), 'true');
  assert.equal(await phone.getAttribute('aria-describedby'), 'phone-hint phone-error');
  assert.equal(await page.locator('#phone-error').innerText(), t('en', 'field.phone.invalid'));

  // Swedish: the page follows the setting; the hint is in Swedish.
  await phone.fill('+46 70 123 45 67');
  await profile.getByLabel(t('en', 'field.locale.label')).selectOption('sv');
  await rec.click(profile.getByRole('button', { name: t('en', 'account.profile.save') }), 'profile-swedish');
  await expectPage(rec, {
    path: '/account', status: 200, lang: 'sv', h1: t('sv', 'account.title'),
    text: [t('sv', 'account.done.profile_saved'), t('sv', 'account.profile.owned_by_crm')],
  });
  const sv = page.getByRole('region', { name: t('sv', 'account.profile.title') });
  assert.equal(await sv.getByLabel(t('sv', 'field.phone.label')).inputValue(), '+46701234567');
  assert.equal(await sv.getByLabel(t('sv', 'field.family_name.label')).count(), 0, 'still no family name input');
});

test('the person edits a configured attribute; a shown one is read-only', async ({ page, rec }) => {
  await signIn(rec, { email: attrEmail, password });
  const profile = page.getByRole('region', { name: t('en', 'account.profile.title') });
  assert.equal(await profile.getByLabel('Customer number').count(), 0, 'the shown attribute is no input');
  const text = await profile.innerText();
  assert.ok(text.includes('Customer number'), 'the shown attribute is listed');
  const nickname = profile.getByLabel('Nickname');
  assert.equal(await nickname.getAttribute('aria-describedby'), 'attributes.nickname-hint');

  // A nickname the pattern refuses: the error is tied to the field.
  await nickname.fill('R2-D2');
  await rec.click(profile.getByRole('button', { name: t('en', 'account.profile.save') }), 'attribute-error');
  await expectPage(rec, { path: '/account/profile', status: 400, lang: 'en', text: t('en', 'account.attribute.pattern') });
  assert.equal(await nickname.getAttribute('aria-invalid'), 'true');
  assert.equal(await nickname.getAttribute('aria-describedby'), 'attributes.nickname-hint attributes.nickname-error');
  assert.equal(await nickname.inputValue(), 'R2-D2', 'the typed value is kept');

  // A good one: saved, and there after a reload.
  await nickname.fill('Nisse');
  await rec.click(profile.getByRole('button', { name: t('en', 'account.profile.save') }), 'attribute-saved');
  await expectPage(rec, { path: '/account', status: 200, lang: 'en', text: t('en', 'account.done.profile_saved') });
  await page.reload();
  assert.equal(await profile.getByLabel('Nickname').inputValue(), 'Nisse');
  assert.equal(await profile.getByLabel('Nickname').getAttribute('aria-invalid'), 'false');
});
