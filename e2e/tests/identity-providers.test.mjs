// "Continue with …" against a real upstream OpenID provider: a second
// Portvakt, started by this file, is the upstream. The Portvakt under test
// registers it twice with `portvakt idp create`: as a social provider
// ("Upstream") and as an identity-proofing eID broker ("Upstream eID")
// whose acr maps low to substantial. The browser signs in at the upstream
// on its own hosted pages, as a person would at Google or a bank.
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { suite } from '../lib/harness.mjs';
import { checkPage } from '../lib/a11y.mjs';
import { startMailbox } from '../lib/mailbox.mjs';
import { startPortvakt } from '../lib/server.mjs';
import { startRelyingParty, describe } from '../lib/rp.mjs';
import { t, expectPage, signIn, signOut, submitLogin } from '../lib/steps.mjs';

const password = 'cobalt-lantern-river-91';
const upstreamPassword = 'meadow-signal-copper-27';
const people = {
  jit: 'ines.jit@example.test', // only upstream: registered just in time
  link: 'olle.link@example.test', // has a password account here too
  eid: 'pia.eid@example.test',
};
const substantial = 'urn:portvakt:loa:substantial';

const upstreamMail = await startMailbox();
// On another host name than the server under test (localhost against
// 127.0.0.1), as an upstream would be: browsers keep cookies per host, not
// per port, and the two servers' cookies have the same names.
const upstream = await startPortvakt({ smtpPort: upstreamMail.port, host: 'localhost' });
const rp = await startRelyingParty();
after(async () => {
  rp.close();
  await upstream.stop();
  await upstreamMail.close();
});

const { test } = suite({
  server: {
    async setup({ cli, url }) {
      // At the upstream: the client for Portvakt under test, and the people.
      const { stdout } = await upstream.cli([
        'client', 'create', '--name', 'Portvakt under test', '--type', 'confidential',
        '--redirect-uri', `${url}/login/idp/callback`, '--grant-type', 'authorization_code',
        '--scope', 'openid email profile', '--first-party', '--json',
      ]);
      const client = JSON.parse(stdout);
      for (const email of Object.values(people)) {
        await upstream.cli(['user', 'create', '--email', email, '--password-stdin', '--verified', '--given-name', 'Up', '--family-name', 'Stream'],
          { stdin: `${upstreamPassword}\n` });
      }
      // Here: the two registrations of the upstream, an application, and
      // Olle's own account.
      await cli(['idp', 'create', '--id', 'upstream', '--name', 'Upstream', '--issuer-url', upstream.url,
        '--client-id', client.client_id, '--client-secret-stdin', '--trust-email', '--json'], { stdin: `${client.client_secret}\n` });
      await cli(['idp', 'create', '--id', 'upstream-eid', '--name', 'Upstream eID', '--issuer-url', upstream.url,
        '--client-id', client.client_id, '--client-secret-stdin', '--trust-email', '--proofing',
        '--acr-map', `urn:portvakt:loa:low=${substantial}`, '--json'], { stdin: `${client.client_secret}\n` });
      await cli(['user', 'create', '--email', people.link, '--password-stdin', '--verified', '--given-name', 'Olle'], { stdin: `${password}\n` });
      const app = JSON.parse((await cli([
        'client', 'create', '--name', 'App', '--type', 'confidential', '--redirect-uri', rp.callbackURL,
        '--grant-type', 'authorization_code,refresh_token', '--scope', 'openid profile email offline_access', '--first-party', '--json',
      ])).stdout);
      rp.register({ issuer: url, clientId: app.client_id, clientSecret: app.client_secret });
      return {};
    },
  },
});

/** Presses Continue with name, signs in at the upstream; returns the response back here. */
async function continueWith(rec, name, email, next) {
  const page = rec.page;
  await rec.click(page.getByRole('button', { name: t('en', 'upstream.continue', { Name: name }), exact: true }), 'upstream-login');
  assert.equal(new URL(page.url()).origin, upstream.url, `at the upstream: ${page.url()}`);
  await expectPage(rec, { path: '/login', status: 200, h1: t('en', 'login.title') });
  return submitLogin(rec, { email, password: upstreamPassword, name: next });
}

test('Continue with a provider: registered just in time, then signed in again', async ({ page, rec }) => {
  await rec.goto('/registration', 'registration');
  await checkPage(page, 'registration page with a provider');
  await continueWith(rec, 'Upstream', people.jit, 'account');
  await expectPage(rec, { path: '/account', status: 200, text: [people.jit, t('en', 'account.identities'), 'Upstream'] });
  await signOut(rec);
  // The upstream still has its session: straight back, signed in.
  await rec.goto('/login', 'login');
  await rec.click(page.getByRole('button', { name: t('en', 'upstream.continue', { Name: 'Upstream' }), exact: true }), 'account');
  await expectPage(rec, { path: '/account', status: 200, text: people.jit });
});

test('an address that has an account: linked after signing in to it, then unlinked', async ({ page, rec }) => {
  await rec.goto('/login', 'login');
  await continueWith(rec, 'Upstream', people.link, 'link');
  await expectPage(rec, { path: '/login', status: 200, text: t('en', 'upstream.link_notice') });
  assert.equal(await page.getByLabel(t('en', 'field.email.label')).inputValue(), people.link);
  await submitLogin(rec, { email: people.link, password, name: 'account' });
  await expectPage(rec, { path: '/account', status: 200, text: ['Upstream', people.link] });

  await rec.click(page.getByRole('button', { name: t('en', 'account.identity_unlink_named', { Name: 'Upstream' }) }), 'account-unlinked');
  await expectPage(rec, { path: '/account', status: 200, text: t('en', 'upstream.unlinked') });
  await signOut(rec);
  await signIn(rec, { email: people.link, password });
});

test('an eID broker lifts the level: the application receives acr substantial', async ({ page, rec }) => {
  await rec.goto(`${rp.url}/login?acr_values=${encodeURIComponent(substantial)}`, 'login');
  await continueWith(rec, 'Upstream eID', people.eid, 'rp-callback');
  const body = await page.locator('main').innerText();
  assert.equal(new URL(page.url()).origin, rp.url, `back at the application: ${page.url()}\n${body}\n${rp.errors.map(describe).join('\n')}`);
  await expectPage(rec, { path: '/callback', status: 200, h1: 'Signed in' });
  assert.equal(await page.locator('[data-id-token-claim="acr"]').innerText(), substantial);
  assert.deepEqual(JSON.parse(await page.locator('[data-id-token-claim="amr"]').innerText()), ['fed', 'eid']);
});
