// Profile freshness with the default profile_freshness (a year). Profiles
// are made old the supported way: `portvakt import users` keeps when the
// person last confirmed their profile in the registry they come from
// (profile_confirmed_at, here 2020). Imported people have no password, so
// they sign in with a code by mail (PORTVAKT_EMAIL_CODES). The pages:
// "Is this still correct?" on the way to an openid-client relying party,
// confirmed with one press or corrected; "Not now" without JavaScript, in
// Swedish; and an organization admin's view of whose profile may be out
// of date.
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { suite } from '../lib/harness.mjs';
import { startRelyingParty, describe } from '../lib/rp.mjs';
import { t, expectPage, signIn } from '../lib/steps.mjs';

const password = 'harbour-violet-quartz-58';
const confirmedLongAgo = '2020-01-02T03:04:05Z';
const stina = { email: 'stina.stale@example.test', givenName: 'Stina', familyName: 'Sjöberg' };
const erik = { email: 'erik.stale@example.test', givenName: 'Erik', familyName: 'Ek' };
const saga = { email: 'saga.stale@example.test', givenName: 'Saga', familyName: 'Svensson', locale: 'sv' };
const olle = { email: 'olle.stale@acme.test', givenName: 'Olle', familyName: 'Old' };
const anna = 'anna.admin@acme.test';
const mats = 'mats.fresh@acme.test';
const bo = 'bo.admin@beta.test';

const rp = await startRelyingParty();
after(() => rp.close());

const { test, state } = suite({
  server: {
    env: { PORTVAKT_EMAIL_CODES: 'true' },
    async setup({ cli, url }) {
      const app = JSON.parse((await cli([
        'client', 'create', '--name', 'Shop', '--type', 'confidential',
        '--redirect-uri', rp.callbackURL, '--grant-type', 'authorization_code',
        '--scope', 'openid profile email', '--first-party', '--json',
      ])).stdout);
      rp.register({ issuer: url, clientId: app.client_id, clientSecret: app.client_secret });
      const lines = [stina, erik, saga, olle].map((u) => JSON.stringify({
        email: u.email, email_verified: true, given_name: u.givenName, family_name: u.familyName,
        phone: '+46701234567', locale: u.locale ?? '', profile_confirmed_at: confirmedLongAgo,
      }));
      await cli(['import', 'users'], { stdin: `${lines.join('\n')}\n` });
      for (const email of [anna, mats, bo]) {
        await cli(['user', 'create', '--email', email, '--password-stdin', '--verified'], { stdin: `${password}\n` });
      }
      const acme = JSON.parse((await cli(['org', 'create', '--name', 'Acme Oy', '--slug', 'acme', '--json'])).stdout);
      await cli(['org', 'create', '--name', 'Beta AB', '--slug', 'beta']);
      await cli(['org', 'member', 'add', 'acme', anna, '--role', 'portvakt/org_admin']);
      await cli(['org', 'member', 'add', 'acme', mats]);
      await cli(['org', 'member', 'add', 'acme', olle.email]);
      await cli(['org', 'member', 'add', 'beta', bo, '--role', 'portvakt/org_admin']);
      return { acme };
    },
  },
});

/**
 * From the sign-in page, signs email in with a code by mail (in mailLang,
 * the person's language); name is the page it lands on.
 */
async function signInWithCode(rec, mailbox, email, name, mailLang = 'en') {
  const page = rec.page;
  await rec.click(page.getByRole('link', { name: t('en', 'login.use_code') }), 'login-code');
  await page.getByLabel(t('en', 'field.email.label')).fill(email);
  await rec.click(page.getByRole('button', { name: t('en', 'login_code.send') }), 'login-code-sent');
  const mail = await mailbox.waitFor({ to: email, subjectIncludes: t(mailLang, 'mail.sign_in_code.subject', { ProductName: 'Portvakt' }) });
  const code = mail.text.match(/\b(\d{6})\b/)?.[1];
  assert.ok(code, `a 6-digit code in the mail:\n${mail.text}`);
  await page.getByLabel(t('en', 'field.code.label'), { exact: true }).fill(code);
  return rec.click(page.getByRole('button', { name: t('en', 'login_code.submit'), exact: true }), name);
}

/** Asserts the relying party's callback: signed in as who, with their given name from userinfo. */
async function expectAtApp(rec, who) {
  const page = rec.page;
  const body = await page.locator('main').innerText();
  assert.equal(new URL(page.url()).origin, rp.url, `back at the application: ${page.url()}`);
  assert.equal(rec.response.status(), 200, `the application's callback failed:\n${body}\n${rp.errors.map(describe).join('\n')}`);
  await expectPage(rec, { path: '/callback', h1: 'Signed in' });
  assert.equal(await page.locator('[data-userinfo-claim="email"]').innerText(), who.email);
  assert.equal(await page.locator('[data-userinfo-claim="given_name"]').innerText(), who.givenName);
}

/** Asserts the stop page in lang, going on to an authorization request when app. */
async function expectStop(rec, who, { lang = 'en', app = true } = {}) {
  await expectPage(rec, {
    path: '/account/confirm-profile', status: 200, lang, h1: t(lang, 'confirm_profile.title'),
    text: [who.email, who.givenName, who.familyName, '+46701234567', t(lang, 'confirm_profile.last_confirmed', { Date: '2020-01-02' })],
  });
  const next = new URL(rec.page.url()).searchParams.get('return_to') ?? '';
  if (app) assert.match(next, /^\/authorize\/callback\?id=/, 'the page goes on to the application\'s authorization request');
  const later = rec.page.getByRole('link', { name: t(lang, 'confirm_profile.later') });
  assert.equal(await later.getAttribute('href'), next || '/account', '"Not now" goes where the person was going');
  return next;
}

/** The user as `portvakt user get --json` prints it. */
async function userRecord(email) {
  return JSON.parse((await state.server.cli(['user', 'get', email, '--json'])).stdout);
}

test('a stale profile is confirmed with one press on the way to the application; the next sign-in goes straight through', async ({ page, rec, open, mailbox }) => {
  await rec.goto(`${rp.url}/login`, 'app-login');
  await expectPage(rec, { path: '/login', status: 200, h1: t('en', 'login.title') });
  await signInWithCode(rec, mailbox, stina.email, 'confirm-profile');
  await expectStop(rec, stina);
  assert.equal(await page.getByRole('link', { name: t('en', 'confirm_profile.edit') }).count(), 1);

  await rec.click(page.getByRole('button', { name: t('en', 'confirm_profile.yes') }), 'app-callback');
  await expectAtApp(rec, stina);
  const confirmed = new Date((await userRecord(stina.email)).profile_confirmed_at);
  assert.ok(Date.now() - confirmed < 10 * 60_000, `the confirmation is recorded now, not ${confirmed.toISOString()}`);

  // Another browser, the same person: no question this time.
  const again = await open({ label: 'again' });
  await again.rec.goto(`${rp.url}/login`, 'app-login-again');
  await signInWithCode(again.rec, mailbox, stina.email, 'app-callback-again');
  await expectAtApp(again.rec, stina);
}, { timeout: 120_000 });

test('a stale profile is corrected on the way: a mistake is shown at its field, the saved name reaches the application', async ({ page, rec, mailbox }) => {
  await rec.goto(`${rp.url}/login`, 'app-login');
  await signInWithCode(rec, mailbox, erik.email, 'confirm-profile');
  await expectStop(rec, erik);

  await rec.click(page.getByRole('link', { name: t('en', 'confirm_profile.edit') }), 'confirm-profile-edit');
  await expectPage(rec, { path: '/account/confirm-profile', status: 200, h1: t('en', 'confirm_profile.title'), text: t('en', 'confirm_profile.edit_intro') });
  assert.equal(await page.getByLabel(t('en', 'field.given_name.label')).inputValue(), erik.givenName);
  const phone = page.getByLabel(t('en', 'field.phone.label'));
  await phone.fill('123');
  await rec.click(page.getByRole('button', { name: t('en', 'confirm_profile.save') }), 'confirm-profile-error');
  await expectPage(rec, { path: '/account/confirm-profile/edit', status: 400, h1: t('en', 'confirm_profile.title') });
  assert.equal(await phone.getAttribute('aria-invalid'), 'true');
  assert.equal(await phone.getAttribute('aria-describedby'), 'phone-hint phone-error');
  assert.equal(await page.locator('#phone-error').innerText(), t('en', 'field.phone.invalid'));
  assert.equal(await phone.inputValue(), '123', 'what was typed is kept');
  assert.equal((await userRecord(erik.email)).profile_confirmed_at, confirmedLongAgo, 'a refused save confirms nothing');

  await phone.fill('+46 70 765 43 21');
  await page.getByLabel(t('en', 'field.given_name.label')).fill('Erika');
  await rec.click(page.getByRole('button', { name: t('en', 'confirm_profile.save') }), 'app-callback');
  await expectAtApp(rec, { ...erik, givenName: 'Erika' });
  const saved = await userRecord(erik.email);
  assert.equal(saved.phone, '+46707654321');
  assert.notEqual(saved.profile_confirmed_at, confirmedLongAgo, 'saving confirmed the profile');
});

test('"Not now" without JavaScript on a phone, in the person\'s Swedish: nothing recorded, asked again at the next sign-in', async ({ open, mailbox }) => {
  // The pages' smoke checks include that nothing scrolls sideways.
  const { page, rec } = await open({ javaScriptEnabled: false, viewport: { width: 390, height: 844 }, isMobile: true, label: 'no-js-phone' });
  await rec.goto('/login', 'login');
  await signInWithCode(rec, mailbox, saga.email, 'confirm-profile', 'sv');
  await expectStop(rec, saga, { lang: 'sv', app: false });
  await rec.click(page.getByRole('link', { name: t('sv', 'confirm_profile.later') }), 'account');
  await expectPage(rec, { path: '/account', status: 200, lang: 'sv', h1: t('sv', 'account.title') });
  assert.equal((await userRecord(saga.email)).profile_confirmed_at, confirmedLongAgo, '"Not now" confirms nothing');

  // Signed out, the browser is no one's: the next page is in its own language.
  await rec.click(page.getByRole('button', { name: t('sv', 'account.sign_out') }), 'logged-out');
  await expectPage(rec, { path: '/logged-out', status: 200, h1: t('en', 'logged_out.title') });
  await rec.goto('/login', 'login-again');
  await signInWithCode(rec, mailbox, saga.email, 'confirm-profile-again', 'sv');
  await expectStop(rec, saga, { lang: 'sv', app: false });
  await rec.click(page.getByRole('button', { name: t('sv', 'confirm_profile.yes') }), 'account-confirmed');
  await expectPage(rec, { path: '/account', status: 200, lang: 'sv', text: t('sv', 'account.done.profile_confirmed') });
  assert.equal(await page.getByRole('status').innerText(), t('sv', 'account.done.profile_confirmed'));
}, { timeout: 120_000 });

test('an organization admin sees whose profile may be out of date, and only those on request; another organization\'s admin sees nothing', async ({ page, rec, open }) => {
  const { acme } = state.server.setup;
  await signIn(rec, { email: anna, password });
  await rec.click(page.getByRole('link', { name: t('en', 'account.organization_manage_named', { Name: 'Acme Oy' }) }), 'org');
  await expectPage(rec, { path: `/org/${acme.id}`, status: 200, h1: 'Acme Oy', text: [t('en', 'org.stale_count', { Count: 1, Total: 3 }), t('en', 'org.stale_hint')] });
  const member = (email) => page.locator('article.member', { hasText: email });
  const old = member(olle.email);
  assert.equal(await old.locator('.badge.stale').innerText(), t('en', 'org.stale'));
  assert.ok((await old.innerText()).includes(t('en', 'org.profile_confirmed', { Date: '2020-01-02' })), await old.innerText());
  const fresh = member(mats);
  assert.equal(await fresh.locator('.badge.stale').count(), 0, 'a fresh profile is not marked');
  assert.ok((await fresh.innerText()).includes(t('en', 'org.profile_never_confirmed')), await fresh.innerText());

  await rec.click(page.getByRole('link', { name: t('en', 'org.stale_only') }), 'org-stale-only');
  await expectPage(rec, { path: `/org/${acme.id}`, status: 200, text: [olle.email, t('en', 'org.stale_count', { Count: 1, Total: 3 })] });
  assert.equal(await page.locator('article.member').count(), 1, 'only the stale profile is listed');
  await rec.click(page.getByRole('link', { name: t('en', 'org.stale_all') }), 'org-all');
  assert.equal(await page.locator('article.member').count(), 3, 'everyone again');

  // Beta's admin: Acme's page does not exist for her, filtered or not.
  const other = await open({ label: 'beta-admin' });
  await signIn(other.rec, { email: bo, password });
  for (const q of ['', '?stale=1']) {
    await other.rec.goto(`/org/${acme.id}${q}`, 'acme-as-beta-admin');
    await expectPage(other.rec, { status: 404, h1: t('en', 'error.not_found.title') });
    assert.ok(!(await other.page.locator('main').innerText()).includes(olle.email));
  }
});
