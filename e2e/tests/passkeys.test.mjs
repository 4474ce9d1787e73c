// Passkeys in Chromium with a virtual authenticator (DevTools protocol
// WebAuthn.addVirtualAuthenticator through playwright-core's CDP
// session): offered right after registration, passwordless sign-in at an
// application (openid-client checks acr and amr in the ID token), a
// passkey as the second step after a password, and removal. The server's
// issuer is http://localhost:<port>: WebAuthn takes no IP address as its
// relying party ID.
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { suite } from '../lib/harness.mjs';
import { checkPage } from '../lib/a11y.mjs';
import { startRelyingParty, describe } from '../lib/rp.mjs';
import { t, expectPage, register, verificationMail, signIn, signOut, submitLogin } from '../lib/steps.mjs';

const password = 'saffron-nebula-anchor-63';
const substantial = 'urn:portvakt:loa:substantial';

const rp = await startRelyingParty();

const { test } = suite({
  server: {
    host: 'localhost',
    async setup({ cli, url }) {
      const { stdout } = await cli([
        'client', 'create', '--name', 'Passkey RP', '--type', 'confidential', '--redirect-uri', rp.callbackURL,
        '--grant-type', 'authorization_code,refresh_token', '--scope', 'openid profile email offline_access',
        '--first-party', '--json',
      ]);
      const created = JSON.parse(stdout);
      rp.register({ issuer: url, clientId: created.client_id, clientSecret: created.client_secret });
      await cli(['user', 'create', '--email', 'dag.second@example.test', '--password-stdin', '--verified', '--given-name', 'Dag'], { stdin: `${password}\n` });
      return {};
    },
  },
});
after(() => rp.close());

/** Gives the page's browser a platform authenticator that verifies the user. */
async function virtualAuthenticator(page) {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2', ctap2Version: 'ctap2_1', transport: 'internal', hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  return {
    credentials: async () => (await cdp.send('WebAuthn.getCredentials', { authenticatorId })).credentials,
    /** With presence off, the authenticator answers nothing (the person is away). */
    presence: (enabled) => cdp.send('WebAuthn.setAutomaticPresenceSimulation', { authenticatorId, enabled }),
  };
}

/** Adds a passkey on the open add-a-passkey page; returns the response. */
async function createPasskey(rec, name, next) {
  const page = rec.page;
  const button = page.getByRole('button', { name: t('en', 'passkey.add') });
  await button.waitFor({ state: 'visible' });
  await page.getByLabel(new RegExp(t('en', 'field.passkey_name.label'))).fill(name);
  return rec.click(button, next);
}

test('passkey offered after registration, then passwordless sign-in at an application', async ({ page, rec, mailbox, server }) => {
  const authenticator = await virtualAuthenticator(page);
  const email = 'eva.passkey@example.test';
  await register(rec, { email, password, givenName: 'Eva' });
  const mail = await verificationMail(mailbox, { email, server });
  await page.getByLabel(t('en', 'field.code.label'), { exact: true }).fill(mail.code);
  await rec.click(page.getByRole('button', { name: t('en', 'verification.submit') }), 'passkey-offer');
  await expectPage(rec, { path: '/account/passkeys/new', status: 200, lang: 'en', h1: t('en', 'passkey.offer_title'), text: t('en', 'passkey.explain') });
  await checkPage(page, 'passkey offer');
  assert.ok(await page.getByRole('link', { name: t('en', 'passkey.not_now') }).isVisible(), 'the offer can be skipped');

  await createPasskey(rec, 'Eva laptop', 'account');
  await expectPage(rec, { path: '/account', status: 200, text: [t('en', 'passkey.added'), 'Eva laptop'] });
  assert.equal((await authenticator.credentials()).length, 1, 'the authenticator holds one passkey');
  const added = await mailbox.waitFor({ to: email, subjectIncludes: 'A passkey was added' });
  assert.ok(added.text.includes(t('en', 'mail.passkey_added.intro')), added.text);
  await signOut(rec);

  // The sign-in page offers the passkey in the email field's autofill.
  await authenticator.presence(false);
  await rec.goto('/login', 'login');
  await expectPage(rec, { path: '/login', status: 200, h1: t('en', 'login.title') });
  assert.equal(await page.getByLabel(t('en', 'field.email.label')).getAttribute('autocomplete'), 'username webauthn', 'passkeys are offered in the email autofill');
  await page.getByRole('button', { name: t('en', 'passkey.sign_in') }).waitFor({ state: 'visible' });
  await checkPage(page, 'sign-in page with passkeys');

  // At an application that wants substantial: the person picks the passkey
  // from the autofill (the virtual authenticator does at once), and the
  // passkey alone reaches the level.
  await authenticator.presence(true);
  const callback = page.waitForResponse((r) => r.url().startsWith(`${rp.url}/callback`));
  await rec.goto(`${rp.url}/login?acr_values=${encodeURIComponent(substantial)}`, 'login');
  const res = await callback;
  await page.waitForLoadState('load');
  const body = await page.locator('main').innerText();
  assert.equal(res.status(), 200, `the application's callback: ${body}\n${rp.errors.map(describe).join('\n')}`);
  await expectPage(rec, { path: '/callback', h1: 'Signed in' });
  assert.equal(await page.locator('[data-id-token-claim="acr"]').innerText(), substantial);
  assert.deepEqual(JSON.parse(await page.locator('[data-id-token-claim="amr"]').innerText()), ['hwk', 'user']);
  assert.equal(await page.locator('[data-userinfo-claim="email"]').innerText(), email);
});

test('a passkey as the second step after the password, and removing it', async ({ page, rec, mailbox, server }) => {
  const authenticator = await virtualAuthenticator(page);
  const email = 'dag.second@example.test';
  await signIn(rec, { email, password });
  await rec.click(page.getByRole('link', { name: t('en', 'account.passkey_add') }), 'passkey-new');
  await expectPage(rec, { path: '/account/passkeys/new', status: 200, h1: t('en', 'passkey.add_title') });
  await createPasskey(rec, 'Dag phone', 'account');
  await expectPage(rec, { path: '/account', status: 200, text: 'Dag phone' });
  await signOut(rec);

  // The password is followed by the passkey, not a code. (The person
  // types the password rather than picking the passkey from the autofill.)
  await authenticator.presence(false);
  await rec.goto('/login', 'login');
  await submitLogin(rec, { email, password, name: 'second-factor' });
  await authenticator.presence(true);
  await expectPage(rec, { path: '/login/second-factor', status: 200, h1: t('en', 'second_factor.title'), text: t('en', 'second_factor.passkey_text') });
  await checkPage(page, 'passkey second step');
  const use = page.getByRole('button', { name: t('en', 'passkey.use') });
  await use.waitFor({ state: 'visible' });
  await rec.click(use, 'account');
  await expectPage(rec, { path: '/account', status: 200, h1: t('en', 'account.title') });

  // Removing it: a mail, and the password alone signs in again.
  await rec.click(page.getByRole('button', { name: 'Remove the passkey Dag phone' }), 'account-removed');
  await expectPage(rec, { path: '/account', status: 200, text: t('en', 'passkey.removed') });
  await mailbox.waitFor({ to: email, subjectIncludes: 'A passkey was removed' });
  await signOut(rec);

  // The authenticator still holds it, but the server no longer accepts it.
  // (The page submits itself from the autofill: no screenshot in between.)
  const refused = page.waitForResponse((r) => r.url().includes('/login/passkey'));
  await page.goto(`${server.url}/login`);
  assert.equal((await refused).status(), 401, 'a removed passkey is refused');
  // The refusal page offers passkeys again; the person is away now.
  await authenticator.presence(false);
  await page.waitForURL(/\/login\/passkey/);
  await page.waitForLoadState('load');
  assert.equal((await page.getByRole('alert').first().innerText()).trim(), t('en', 'passkey.failed'));
  await page.goto('about:blank');
  await signIn(rec, { email, password });
});
