// The profile section of the account page, with attribute ownership: the
// deployment gives the family name to the CRM (PORTVAKT_ATTRIBUTE_OWNERS).
// The person edits their first name and sees the notice, gets a field
// error for a bad phone number, chooses Swedish, and sees the CRM-owned
// family name read-only with the Swedish "ask your account manager" hint.
import assert from 'node:assert/strict';
import { suite } from '../lib/harness.mjs';
import { t, expectPage, signIn } from '../lib/steps.mjs';

const password = 'harbour-violet-quartz-58';
const email = 'pia.profile@example.test';

const { test } = suite({
  server: {
    env: { PORTVAKT_ATTRIBUTE_OWNERS: 'family_name=crm' },
    async setup({ cli }) {
      await cli(['user', 'create', '--email', email, '--password-stdin', '--verified'], { stdin: `${password}\n` });
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
