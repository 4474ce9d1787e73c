// "Your data": a person registers, fills their profile, downloads
// everything kept about them (compared field by field with what they
// typed), reads it on a page (on a phone too), and deletes their account.
// Without a grace period the account goes at once and signing in no
// longer works. With one (the default, 14 days; here in Swedish and
// without JavaScript) they are signed out and mailed the date; signing in
// keeps the account, and an operator's erasure then ends it for good.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe } from 'node:test';
import { suite } from '../lib/harness.mjs';
import {
  t, expectPage, register, verificationMail, enterCode, signIn, submitLogin, expectLoginFailed, expectSignedOut,
} from '../lib/steps.mjs';
import { uniqueEmail } from '../lib/env.mjs';

const password = 'harbour-violet-quartz-58';

/** Opens "Your data" from the account page; asserts it. */
async function openYourData(rec, lang) {
  await rec.click(rec.page.getByRole('link', { name: t(lang, 'account.data.link') }), 'your-data');
  await expectPage(rec, { path: '/account/data', status: 200, lang, h1: t(lang, 'data.title') });
}

/** Ticks the box and deletes the account; returns the page's response. */
async function deleteAccount(rec, lang) {
  await rec.page.getByLabel(t(lang, 'data.delete.confirm')).check();
  return rec.click(rec.page.getByRole('button', { name: t(lang, 'data.delete.submit') }), 'deleted');
}

describe('without a grace period', () => {
  const { test } = suite({ server: { env: { PORTVAKT_DELETION_GRACE_PERIOD: '0' } } });

  test('the person downloads and reads their data, then deletes their account at once', async ({ page, rec, open, mailbox, server }) => {
    const email = uniqueEmail('Dana.Data');
    const typed = { givenName: 'Dana', familyName: 'Dahlqvist', phone: '+46701112233' };
    await register(rec, { email, password, givenName: typed.givenName, familyName: typed.familyName });
    const mail = await verificationMail(mailbox, { email, server });
    await enterCode(rec, { code: mail.code, email });
    const profile = page.getByRole('region', { name: t('en', 'account.profile.title') });
    await profile.getByLabel(t('en', 'field.phone.label')).fill('+46 70 111 22 33');
    await rec.click(profile.getByRole('button', { name: t('en', 'account.profile.save') }), 'profile-saved');
    await expectPage(rec, { path: '/account', status: 200, text: t('en', 'account.done.profile_saved') });

    await openYourData(rec, 'en');
    await expectPage(rec, { text: [t('en', 'data.delete.text_now'), t('en', 'data.delete.what')] });

    // The download: a JSON file with what was typed, field by field.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: t('en', 'data.download') }).click(),
    ]);
    assert.match(download.suggestedFilename(), /^my-data-\d{4}-\d{2}-\d{2}\.json$/);
    const x = JSON.parse(await readFile(await download.path(), 'utf8'));
    assert.equal(x.format, 'portvakt-export/1');
    assert.equal(x.user.email, email);
    assert.equal(x.user.email_verified, true);
    assert.equal(x.user.given_name, typed.givenName);
    assert.equal(x.user.family_name, typed.familyName);
    assert.equal(x.user.phone, typed.phone);
    assert.equal(x.user.password_set, true);
    assert.deepEqual(x.identities, []);
    assert.equal(x.sessions.length, 1, 'this browser is the one session');
    assert.equal(x.sessions[0].user_agent, await page.evaluate(() => navigator.userAgent));
    assert.ok(x.mail.some((m) => m.template === 'verify_email' && m.status === 'sent'), JSON.stringify(x.mail));
    const types = x.events.map((e) => e.type);
    for (const want of ['user.registered', 'user.verified', 'user.updated', 'session.started']) {
      assert.ok(types.includes(want), `events ${types} lack ${want}`);
    }
    const change = x.events.find((e) => e.type === 'user.updated');
    assert.deepEqual(change.data.changes.phone, { old: '', new: typed.phone });
    for (const secret of ['argon2', 'password_hash']) assert.ok(!JSON.stringify(x).includes(secret), `the export holds ${secret}`);

    // The same, readable on a page.
    await rec.click(page.getByRole('link', { name: t('en', 'data.view_link') }), 'your-data-view');
    await expectPage(rec, {
      path: '/account/data/view', status: 200, h1: t('en', 'data_view.title'),
      text: [email, typed.givenName, typed.familyName, typed.phone, 'user.registered', t('en', 'data_view.events')],
    });
    await rec.click(page.getByRole('link', { name: t('en', 'data_view.back') }), 'your-data-again');

    // Both pages fit a phone screen (the checks run on every page).
    const phone = await open({ label: 'phone', viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    await phone.rec.goto('/login', 'phone-login');
    await submitLogin(phone.rec, { email, password, name: 'phone-account' });
    await phone.rec.goto('/account/data', 'phone-your-data');
    await phone.rec.goto('/account/data/view', 'phone-your-data-view');
    await expectPage(phone.rec, { path: '/account/data/view', status: 200, text: [email, 'Mozilla/5.0'] });

    // Deleting asks for the box to be ticked.
    await rec.click(page.getByRole('button', { name: t('en', 'data.delete.submit') }), 'delete-unconfirmed');
    await expectPage(rec, { path: '/account/data/delete', status: 422, h1: t('en', 'data.title'), text: t('en', 'data.delete.confirm_required') });
    assert.equal(await page.getByLabel(t('en', 'data.delete.confirm')).getAttribute('aria-invalid'), 'true');
    await deleteAccount(rec, 'en');
    await expectPage(rec, { path: '/account/deleted', status: 200, h1: t('en', 'deleted.title'), text: t('en', 'deleted.text') });

    // Gone: signed out, and the password opens nothing.
    await expectSignedOut(rec);
    await submitLogin(rec, { email, password, name: 'login-after-deletion' });
    await expectLoginFailed(rec, { email });
  });
});

describe('with a grace period', () => {
  const email = uniqueEmail('Svea.Grace');
  const { test } = suite({
    server: {
      async setup({ cli }) {
        await cli(['user', 'create', '--email', email, '--password-stdin', '--verified', '--given-name', 'Svea', '--locale', 'sv'],
          { stdin: `${password}\n` });
      },
    },
  });

  test('asking signs the person out and mails the date; signing in keeps the account', async ({ page, rec, mailbox, server }) => {
    const lang = 'sv';
    await rec.goto('/login', 'login');
    await submitLogin(rec, { email, password, lang, name: 'account' });
    await expectPage(rec, { path: '/account', status: 200, lang, h1: t(lang, 'account.title') });
    await openYourData(rec, lang);
    const when = (await page.locator('#delete-when').innerText()).match(/\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/)?.[0];
    assert.ok(when, 'the page says when the account would be deleted');
    await expectPage(rec, { text: t(lang, 'data.delete.text_later', { Date: when }) });

    await deleteAccount(rec, lang);
    const due = new URL(page.url()).searchParams.get('due');
    assert.ok(due, `the page after asking: ${page.url()}`);
    const date = new Date(due).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
    await expectPage(rec, {
      path: '/account/deleted', status: 200, lang, h1: t(lang, 'deletion_scheduled.title'),
      text: t(lang, 'deletion_scheduled.text', { Date: date }),
    });
    // Told by mail, in Swedish, with the date and the way back.
    const mail = await mailbox.waitFor({ to: email, subjectIncludes: t(lang, 'mail.deletion_scheduled.subject', { ProductName: 'Portvakt', Date: date }) });
    assert.ok(mail.text.includes(t(lang, 'mail.deletion_scheduled.intro', { ProductName: 'Portvakt', Date: date })), mail.text);
    assert.ok(mail.links.includes(`${server.url}/login`), `links: ${mail.links}`);
    await expectSignedOut(rec, { lang });

    // Signing in keeps the account.
    await submitLogin(rec, { email, password, lang, name: 'kept' });
    await expectPage(rec, { path: '/account', status: 200, lang, text: t(lang, 'account.done.deletion_cancelled') });
    assert.equal(await page.getByRole('status').innerText(), t(lang, 'account.done.deletion_cancelled'));

    // An operator erases it (DELETE /api/v1/users/{id} does the same): the
    // session ends with it and the password opens nothing.
    await server.cli(['user', 'delete', email, '--yes']);
    await expectSignedOut(rec, { lang });
    await submitLogin(rec, { email, password, lang, name: 'login-after-erasure' });
    await expectLoginFailed(rec, { email, lang });
  }, { context: { locale: 'sv-SE', javaScriptEnabled: false } });
});
