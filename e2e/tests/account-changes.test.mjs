// The account page's changes, each on its own page: the email address
// (the code from the mail to the new address; the undo link from the mail
// to the old one, which restores it, signs everyone out and asks for a new
// password), the password (the other browser is signed out; the new one
// signs in), and connected applications (an openid-client relying party is
// let in, then its access revoked: its refresh token is refused).
import assert from 'node:assert/strict';
import { after } from 'node:test';
import * as client from 'openid-client';
import { suite } from '../lib/harness.mjs';
import { startRelyingParty, describe } from '../lib/rp.mjs';
import { t, expectPage, expectAccount, expectSignedOut, signIn, signOut, submitLogin, alertText } from '../lib/steps.mjs';

const password = 'harbour-violet-quartz-58';
const ada = 'ada.change@example.test';
const adaNew = 'ada.renamed@example.org';
const lea = 'lea.link@example.test';
const pia = 'pia.password@example.test';
const cai = 'cai.apps@example.test';
const product = { ProductName: 'Portvakt' };

const rp = await startRelyingParty();

const { test } = suite({
  server: {
    async setup({ cli, url }) {
      for (const email of [ada, lea, pia, cai]) {
        await cli(['user', 'create', '--email', email, '--password-stdin', '--verified', '--given-name', 'Test'], { stdin: `${password}\n` });
      }
      // A third-party application: the person is asked, and the answer
      // is remembered until they revoke it.
      const { stdout } = await cli([
        'client', 'create', '--name', 'Budget Planner', '--type', 'confidential',
        '--redirect-uri', rp.callbackURL, '--post-logout-redirect-uri', rp.loggedOutURL,
        '--grant-type', 'authorization_code,refresh_token',
        '--scope', 'openid profile email offline_access', '--json',
      ]);
      const created = JSON.parse(stdout);
      const registration = { issuer: url, clientId: created.client_id, clientSecret: created.client_secret };
      rp.register(registration);
      return registration;
    },
  },
});
after(() => rp.close());

/** Opens the email change page from the account page and asks for addr. */
async function requestChange(rec, addr) {
  const page = rec.page;
  await rec.click(page.getByRole('link', { name: t('en', 'account.email_change') }), 'email-change');
  await expectPage(rec, { path: '/account/email', status: 200, lang: 'en', h1: t('en', 'email_change.title') });
  const field = page.getByLabel(t('en', 'email_change.new_label'));
  assert.equal(await field.getAttribute('autocomplete'), 'email');
  await field.fill(addr);
  await rec.click(page.getByRole('button', { name: t('en', 'email_change.submit') }), 'email-code');
  await expectPage(rec, { path: '/account/email', status: 200, text: t('en', 'email_change.sent', { Email: addr }) });
}

test('change the email address with the code from the mail, then undo it from the old address', async ({ page, rec, open, mailbox, server }) => {
  const other = await open({ label: 'other' });
  await signIn(other.rec, { email: ada, password });
  await signIn(rec, { email: ada, password });
  await requestChange(rec, adaNew);

  const mail = await mailbox.waitFor({ to: adaNew, subjectIncludes: t('en', 'mail.change_email.subject', product) });
  assert.match(mail.code ?? '', /^\d{6}$/, `a code in the mail:\n${mail.text}`);
  assert.ok(mail.text.includes(t('en', 'mail.change_email.intro', { ...product, Email: adaNew })), mail.text);
  assert.ok(mail.links.some((l) => l.startsWith(`${server.url}/account/email/confirm?token=`)), mail.links.join(' '));

  // A wrong code first: the field says so.
  const code = page.getByLabel(t('en', 'field.code.label'), { exact: true });
  await code.fill(mail.code === '000000' ? '000001' : '000000');
  await rec.click(page.getByRole('button', { name: t('en', 'email_change.confirm') }), 'email-wrong-code');
  await expectPage(rec, { path: '/account/email/code', status: 400 });
  assert.equal(await code.getAttribute('aria-invalid'), 'true');
  assert.equal(await page.locator('#code-error').innerText(), t('en', 'verification.wrong_code'));
  await code.fill(mail.code);
  await rec.click(page.getByRole('button', { name: t('en', 'email_change.confirm') }), 'email-changed');
  await expectAccount(rec, { email: adaNew, verified: true });
  assert.equal(await page.getByRole('status').innerText(), t('en', 'account.done.email_changed'));

  // The old address is told, with a link that undoes the change.
  const notice = await mailbox.waitFor({ to: ada, subjectIncludes: t('en', 'mail.email_changed.subject', product) });
  assert.ok(notice.text.includes(t('en', 'mail.email_changed.intro', { NewEmail: adaNew })), notice.text);
  assert.ok(notice.text.includes(t('en', 'mail.email_changed.expires', { Days: 7 })), notice.text);
  const undo = notice.links.find((l) => l.startsWith(`${server.url}/account/email/undo?token=`));
  assert.ok(undo, `an undo link: ${notice.links.join(' ')}`);

  // Whoever reads the old mailbox undoes it, in a browser of their own.
  const owner = await open({ label: 'old-mailbox' });
  await owner.rec.goto(undo, 'undo');
  await expectPage(owner.rec, { path: '/account/email/undo', status: 200, h1: t('en', 'email_undo.title'), text: t('en', 'email_undo.step_address', { Email: ada }) });
  await owner.rec.click(owner.page.getByRole('button', { name: t('en', 'email_undo.submit') }), 'undone');
  await expectPage(owner.rec, { path: '/account/email/undo', status: 200, h1: t('en', 'reset.title'), text: t('en', 'email_undo.done', { Email: ada }) });
  const fresh = 'a-fresh-start-passphrase-7';
  const newPassword = owner.page.getByLabel(t('en', 'field.password.new_label'), { exact: true });
  assert.equal(await newPassword.getAttribute('autocomplete'), 'new-password');
  await newPassword.fill(fresh);
  await owner.rec.click(owner.page.getByRole('button', { name: t('en', 'reset.submit') }), 'new-password');
  await expectPage(owner.rec, { path: '/reset', status: 200, h1: t('en', 'reset.done.title') });

  // Everyone was signed out; the old address and the new password sign in.
  await expectSignedOut(rec);
  await expectSignedOut(other.rec);
  await signIn(owner.rec, { email: ada, password: fresh });
  // The link works once.
  await owner.rec.goto(undo, 'undo-again');
  await expectPage(owner.rec, { status: 410, h1: t('en', 'email_undo.invalid.title') });
});

test('change the email address with the link from the mail, opened in another browser', async ({ page, rec, open, mailbox, server }) => {
  await signIn(rec, { email: lea, password });
  const addr = 'lea.linked@example.org';
  await requestChange(rec, addr);
  const mail = await mailbox.waitFor({ to: addr, subjectIncludes: t('en', 'mail.change_email.subject', product) });
  const link = mail.links.find((l) => l.startsWith(`${server.url}/account/email/confirm?token=`));
  assert.ok(link, mail.links.join(' '));

  const phone = await open({ label: 'phone' });
  await phone.rec.goto(link, 'confirm');
  await expectPage(phone.rec, { path: '/account/email/confirm', status: 200, h1: t('en', 'email_confirm.title'), text: t('en', 'email_confirm.text', { Email: addr }) });
  await phone.rec.click(phone.page.getByRole('button', { name: t('en', 'email_confirm.submit') }), 'confirmed');
  await expectPage(phone.rec, { status: 200, h1: t('en', 'email_confirm.done.title'), text: t('en', 'email_confirm.done.text', { Email: addr }) });

  await rec.goto('/account', 'account');
  await expectAccount(rec, { email: addr, verified: true });
  const notice = await mailbox.waitFor({ to: lea, subjectIncludes: t('en', 'mail.email_changed.subject', product) });
  assert.ok(notice.text.includes(t('en', 'mail.email_changed.intro', { NewEmail: addr })), notice.text);
  assert.equal(new URL(page.url()).pathname, '/account');
});

test('change the password, then sign in with the new one; the other browser is signed out', async ({ page, rec, open, mailbox }) => {
  const other = await open({ label: 'other' });
  await signIn(other.rec, { email: pia, password });
  await signIn(rec, { email: pia, password });
  await rec.click(page.getByRole('link', { name: t('en', 'account.password.change') }), 'password');
  await expectPage(rec, { path: '/account/password', status: 200, h1: t('en', 'password_change.title'), text: t('en', 'password_change.sessions_note') });
  const current = page.getByLabel(t('en', 'password_change.current_label'));
  const next = page.getByLabel(t('en', 'password_change.new_label'));
  assert.equal(await current.getAttribute('autocomplete'), 'current-password');
  assert.equal(await next.getAttribute('autocomplete'), 'new-password');

  // A wrong current password, then a weak new one: each said at its field.
  const strong = 'tangerine-lantern-orbit-93';
  await current.fill('not-my-password-1');
  await next.fill(strong);
  await rec.click(page.getByRole('button', { name: t('en', 'password_change.submit') }), 'wrong-current');
  await expectPage(rec, { path: '/account/password', status: 401 });
  assert.equal(await page.locator('#current_password-error').innerText(), t('en', 'password_change.wrong_current'));
  assert.equal(await current.getAttribute('aria-invalid'), 'true');
  await current.fill(password);
  await next.fill('iloveyou1');
  await rec.click(page.getByRole('button', { name: t('en', 'password_change.submit') }), 'weak');
  await expectPage(rec, { path: '/account/password', status: 400 });
  assert.equal(await page.locator('#password-error').innerText(), t('en', 'field.password.too_common'));
  assert.equal(await next.getAttribute('aria-describedby'), 'password-hint password-error');

  await current.fill(password);
  await next.fill(strong);
  await rec.click(page.getByRole('button', { name: t('en', 'password_change.submit') }), 'changed');
  await expectPage(rec, { path: '/account', status: 200, text: t('en', 'account.done.password_changed') });
  const mail = await mailbox.waitFor({ to: pia, subjectIncludes: t('en', 'mail.password_changed.subject', product) });
  assert.ok(mail.text.includes(t('en', 'mail.password_changed.intro')), mail.text);

  await expectSignedOut(other.rec);
  await rec.goto('/account', 'still-signed-in');
  await expectAccount(rec, { email: pia });
  await signOut(rec);
  await rec.goto('/login', 'login-old');
  await submitLogin(rec, { email: pia, password, name: 'old-refused' });
  assert.equal(await alertText(page), t('en', 'login.failed'));
  await signIn(rec, { email: pia, password: strong });
});

test('connect an application with openid-client, then revoke it: its refresh token is refused', async ({ page, rec, server }) => {
  // Sign in at the relying party; Portvakt asks for consent (a third-party
  // application); allow it.
  await rec.goto(`${rp.url}/login`, 'rp-login');
  await expectPage(rec, { path: '/login', status: 200, h1: t('en', 'login.title') });
  await submitLogin(rec, { email: cai, password, name: 'consent' });
  await expectPage(rec, { path: '/authorize/consent', status: 200, h1: t('en', 'consent.heading', { Client: 'Budget Planner' }) });
  await rec.click(page.getByRole('button', { name: t('en', 'consent.allow'), exact: true }), 'rp-callback');
  assert.equal(new URL(page.url()).origin, rp.url, `back at the relying party: ${page.url()} ${rp.errors.map(describe).join('\n')}`);
  const rps = await rp.sessionOf(page.context());
  const refresh = rps.tokens.refresh_token;
  assert.ok(refresh, 'a refresh token for offline_access');

  // The account page leads to the connected applications.
  await rec.goto(`${server.url}/account`, 'account');
  await rec.click(page.getByRole('link', { name: t('en', 'account.applications.open') }), 'applications');
  await expectPage(rec, {
    path: '/account/applications', status: 200, h1: t('en', 'applications.title'),
    text: ['Budget Planner', t('en', 'consent.scope.email'), t('en', 'consent.scope.offline_access')],
  });
  const revoke = page.getByRole('button', { name: t('en', 'applications.revoke_named', { Name: 'Budget Planner' }) });
  await rec.click(revoke, 'revoked');
  await expectPage(rec, { path: '/account/applications', status: 200, text: [t('en', 'applications.revoked'), t('en', 'applications.none')] });

  // The refresh token is refused.
  const config = await rp.configure();
  await assert.rejects(client.refreshTokenGrant(config, refresh), (err) => {
    assert.equal(err.error, 'invalid_grant', `the revoked refresh token: ${describe(err)}`);
    return true;
  });
});
