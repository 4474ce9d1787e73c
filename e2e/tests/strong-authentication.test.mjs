// Two-step verification in a real browser: set up an authenticator app
// from the account page (the test computes the app's codes from the key
// the page shows, as an app would), sign in with a code, see a replayed
// code refused, sign in with a recovery code, and the mails that tell the
// person about each. Then levels of assurance with panva's openid-client
// as the application: step-up from low to substantial when it asks with
// acr_values (only the code is asked for, and the ID token says acr and
// amr), and unmet_authentication_requirements when the person cannot
// reach the level.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after } from 'node:test';
import { suite } from '../lib/harness.mjs';
import { checkPage } from '../lib/a11y.mjs';
import { startRelyingParty, describe } from '../lib/rp.mjs';
import { t, alertText, expectPage, signIn, signOut, submitLogin } from '../lib/steps.mjs';

const password = 'juniper-quasar-meadow-58';
const users = {
  totp: 'ada.mfa@example.test',
  stepUp: 'bo.stepup@example.test',
  unmet: 'cy.unmet@example.test',
  code: 'di.code@example.test',
};
const substantial = 'urn:portvakt:loa:substantial';

const rp = await startRelyingParty();

const { test } = suite({
  server: {
    env: { PORTVAKT_EMAIL_CODES: 'true' },
    async setup({ cli, url }) {
      const { stdout } = await cli([
        'client', 'create', '--name', 'Strong RP', '--type', 'confidential', '--redirect-uri', rp.callbackURL,
        '--grant-type', 'authorization_code,refresh_token', '--scope', 'openid profile email offline_access',
        '--first-party', '--json',
      ]);
      const created = JSON.parse(stdout);
      rp.register({ issuer: url, clientId: created.client_id, clientSecret: created.client_secret });
      for (const email of Object.values(users)) {
        await cli(['user', 'create', '--email', email, '--password-stdin', '--verified', '--given-name', 'Test'], { stdin: `${password}\n` });
      }
      return {};
    },
  },
});
after(() => rp.close());

/** RFC 6238 code for a base32 key at time ms (SHA-1, 6 digits, 30 s). */
function totp(key, ms = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of key.replace(/=+$/, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const bytes = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(ms / 1000 / 30)));
  const mac = createHmac('sha1', bytes).update(counter).digest();
  const off = mac[mac.length - 1] & 0xf;
  const n = (mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000;
  return String(n).padStart(6, '0');
}

/** Sets up an authenticator app for the signed-in person; returns the key and the recovery codes. */
async function setUpAuthenticator(rec) {
  const page = rec.page;
  await rec.goto('/account', 'account');
  await rec.click(page.getByRole('link', { name: t('en', 'account.totp_setup') }), 'totp-setup');
  await expectPage(rec, { path: '/account/totp', status: 200, lang: 'en', h1: t('en', 'totp.title') });
  await checkPage(page, 'authenticator set-up page');
  const qr = page.getByRole('img', { name: t('en', 'totp.qr_alt') });
  assert.match(await qr.getAttribute('src'), /^data:image\/png;base64,/, 'the QR code is an image made by the server');
  assert.ok(await qr.evaluate((img) => img.complete && img.naturalWidth > 100), 'the QR code image loads (CSP allows it)');
  const key = (await page.locator('#totp-secret').innerText()).trim();
  assert.match(key, /^[A-Z2-7]{32}$/);

  // A wrong first code keeps the same key and marks the field.
  await page.getByLabel(t('en', 'field.totp_code.label')).fill('000000');
  await rec.click(page.getByRole('button', { name: t('en', 'totp.submit') }), 'totp-wrong');
  await expectPage(rec, { path: '/account/totp', status: 422 });
  assert.equal((await page.locator('#totp-secret').innerText()).trim(), key);
  assert.equal(await page.getByLabel(t('en', 'field.totp_code.label')).getAttribute('aria-invalid'), 'true');

  await page.getByLabel(t('en', 'field.totp_code.label')).fill(totp(key));
  await page.getByLabel(new RegExp(t('en', 'field.factor_name.label'))).fill('Work phone');
  await rec.click(page.getByRole('button', { name: t('en', 'totp.submit') }), 'recovery-codes');
  await expectPage(rec, { path: '/account/totp', status: 200, h1: t('en', 'recovery_codes.title'), text: t('en', 'totp.done') });
  await checkPage(page, 'recovery codes page');
  const codes = (await page.locator('ul.recovery-codes code').allInnerTexts()).map((s) => s.trim());
  assert.equal(codes.length, 10);
  for (const c of codes) assert.match(c, /^[a-z2-9]{6}-[a-z2-9]{6}$/);
  await rec.click(page.getByRole('link', { name: t('en', 'recovery_codes.saved') }), 'account');
  await expectPage(rec, { path: '/account', status: 200, text: ['Two-step verification is on with Work phone', 'Recovery codes left: 10'] });
  return { key, codes };
}

/** Signs in with the password and lands on the second step. */
async function passwordStep(rec, email) {
  await rec.goto('/login', 'login');
  await submitLogin(rec, { email, password, name: 'second-factor' });
  await expectPage(rec, { path: '/login/second-factor', status: 200, lang: 'en', h1: t('en', 'second_factor.title') });
}

async function enterCode(rec, code, name) {
  const page = rec.page;
  const label = (await page.locator('input[name=method]').inputValue()) === 'recovery' ? 'field.recovery_code.label' : 'field.totp_code.label';
  await page.getByLabel(t('en', label)).fill(code);
  return rec.click(page.getByRole('button', { name: t('en', 'second_factor.submit') }), name);
}

test('authenticator app: set up, sign in with a code, replay refused, recovery code, mails', async ({ page, rec, mailbox }) => {
  const email = users.totp;
  await signIn(rec, { email, password });
  const { key, codes } = await setUpAuthenticator(rec);
  const on = await mailbox.waitFor({ to: email, subjectIncludes: 'Two-step verification is on' });
  assert.ok(on.text.includes(t('en', 'mail.factor_added.intro')), on.text);
  await signOut(rec);

  // The password alone is not enough any more.
  await passwordStep(rec, email);
  await checkPage(page, 'second step');
  assert.equal(await page.getByLabel(t('en', 'field.totp_code.label')).getAttribute('autocomplete'), 'one-time-code');
  await rec.goto('/account', 'account-between-steps');
  await expectPage(rec, { path: '/login', h1: t('en', 'login.title') });

  // The set-up used this 30-second step's code; the next step's is
  // accepted (one step of clock skew), once.
  const next = totp(key, Date.now() + 30_000);
  await passwordStep(rec, email);
  await enterCode(rec, next, 'account');
  await expectPage(rec, { path: '/account', status: 200, h1: t('en', 'account.title') });
  await signOut(rec);
  await passwordStep(rec, email);
  await enterCode(rec, next, 'replayed');
  await expectPage(rec, { path: '/login/second-factor', status: 401 });
  assert.match(await page.locator('#code-error').innerText(), /wrong or has expired/);

  // A recovery code instead, once.
  await rec.click(page.getByRole('link', { name: t('en', 'second_factor.use_recovery') }), 'recovery-code');
  await expectPage(rec, { path: '/login/second-factor', status: 200, text: t('en', 'second_factor.recovery_text') });
  await enterCode(rec, codes[0].toUpperCase(), 'account');
  await expectPage(rec, { path: '/account', status: 200, text: 'Recovery codes left: 9' });
  const used = await mailbox.waitFor({ to: email, subjectIncludes: 'recovery code was used' });
  assert.ok(used.text.includes('You have 9 recovery codes left'), used.text);
  await signOut(rec);
  await passwordStep(rec, email);
  await rec.click(page.getByRole('link', { name: t('en', 'second_factor.use_recovery') }), 'recovery-code');
  await enterCode(rec, codes[0], 'recovery-reused');
  await expectPage(rec, { path: '/login/second-factor', status: 401 });
  assert.equal((await page.locator('#code-error').innerText()).trim(), t('en', 'second_factor.wrong_recovery'));
  assert.equal(await alertText(page), '');
});

test('step-up: an application asks for substantial; only the missing code is asked for', async ({ page, rec, open }) => {
  const email = users.stepUp;
  // Signed in with the password alone (low) in this browser; the
  // authenticator app is set up in another one (setting it up raises only
  // that browser's session).
  await signIn(rec, { email, password });
  const other = await open({ label: 'other-browser' });
  await signIn(other.rec, { email, password });
  const { key } = await setUpAuthenticator(other.rec);

  await rec.goto(`${rp.url}/login?acr_values=${encodeURIComponent(substantial)}`, 'step-up');
  await expectPage(rec, { path: '/login/second-factor', status: 200, h1: t('en', 'second_factor.title'), text: t('en', 'second_factor.step_up') });
  assert.equal(await page.getByLabel(t('en', 'field.password.label'), { exact: true }).count(), 0, 'no password is asked for');
  await enterCode(rec, totp(key, Date.now() + 30_000), 'rp-callback');
  const body = await page.locator('main').innerText();
  assert.equal(new URL(page.url()).origin, rp.url, `back at the application: ${page.url()}\n${body}\n${rp.errors.map(describe).join('\n')}`);
  await expectPage(rec, { path: '/callback', status: 200, h1: 'Signed in' });
  assert.equal(await page.locator('[data-id-token-claim="acr"]').innerText(), substantial);
  const amr = JSON.parse(await page.locator('[data-id-token-claim="amr"]').innerText());
  assert.deepEqual(amr, ['pwd', 'otp', 'mfa']);
});

test('unmet_authentication_requirements: the person has no second factor', async ({ page, rec }) => {
  await rec.goto(`${rp.url}/login?acr_values=${encodeURIComponent(substantial)}`, 'login');
  await expectPage(rec, { path: '/login', status: 200, h1: t('en', 'login.title') });
  await submitLogin(rec, { email: users.unmet, password, name: 'rp-callback' });
  assert.equal(new URL(page.url()).origin, rp.url, `back at the application: ${page.url()}`);
  assert.equal(new URL(page.url()).searchParams.get('error'), 'unmet_authentication_requirements');
  await expectPage(rec, { path: '/callback', status: 400, h1: 'Sign-in failed', text: 'unmet_authentication_requirements' });
});

test('sign-in with a code sent by email (email_codes)', async ({ page, rec, mailbox }) => {
  const email = users.code;
  await rec.goto('/login', 'login');
  await rec.click(page.getByRole('link', { name: t('en', 'login.use_code') }), 'login-code');
  await expectPage(rec, { path: '/login/code', status: 200, lang: 'en', h1: t('en', 'login_code.title') });
  await checkPage(page, 'email code page');
  await page.getByLabel(t('en', 'field.email.label')).fill(email);
  await rec.click(page.getByRole('button', { name: t('en', 'login_code.send') }), 'login-code-sent');
  await expectPage(rec, { path: '/login/code', status: 200, text: t('en', 'login_code.sent', { Email: email }) });
  const mail = await mailbox.waitFor({ to: email, subjectIncludes: 'sign-in code' });
  const code = mail.text.match(/\b(\d{6})\b/)?.[1];
  assert.ok(code, `a 6-digit code in the mail:\n${mail.text}`);
  assert.ok(mail.text.includes(t('en', 'mail.sign_in_code.expires', { Minutes: 10 })), mail.text);
  await page.getByLabel(t('en', 'field.code.label'), { exact: true }).fill(code);
  await rec.click(page.getByRole('button', { name: t('en', 'login_code.submit'), exact: true }), 'account');
  await expectPage(rec, { path: '/account', status: 200, h1: t('en', 'account.title'), text: email });
});
