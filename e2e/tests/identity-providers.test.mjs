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
  post: 'pelle.post@example.test', // the provider's answer posted (form_post)
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

const terms = 'https://example.com/terms';

const { test } = suite({
  server: {
    // Every registration accepts the terms of service; the social provider
    // must also leave a phone number (it sends none): progressive profiling.
    env: { PORTVAKT_TERMS_URL: terms },
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
        '--client-id', client.client_id, '--client-secret-stdin', '--trust-email', '--require-field', 'phone', '--brand', 'github',
        '--json'], { stdin: `${client.client_secret}\n` });
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

/** Completes a registration on the "Almost done" page: the phone (if asked) and the terms. */
async function completeProfile(rec, { phone, next }) {
  const page = rec.page;
  await expectPage(rec, { path: '/login/idp/profile', h1: t('en', 'profile.title') });
  if (phone) await page.getByLabel(t('en', 'field.phone.label')).fill(phone);
  await page.getByRole('checkbox', { name: t('en', 'consents.accept', { Title: t('en', 'consents.terms.title') }) }).check();
  return rec.click(page.getByRole('button', { name: t('en', 'profile.submit') }), next);
}

test('Continue with a provider: registered just in time, then signed in again', async ({ page, rec }) => {
  await rec.goto('/registration', 'registration');
  await checkPage(page, 'registration page with a provider');
  // The provider's own look, and the terms on the registration form too.
  assert.equal(await page.locator('button.idp-github svg[aria-hidden="true"]').count(), 1, 'the branded button with its hidden mark');
  assert.equal(await page.getByRole('link', { name: t('en', 'consents.document_link', { Title: t('en', 'consents.terms.title') }) }).getAttribute('href'), terms);
  await continueWith(rec, 'Upstream', people.jit, 'profile');
  // Only what is missing is asked: the phone (the names came from the provider) and the terms.
  await expectPage(rec, { path: '/login/idp/profile', status: 200, h1: t('en', 'profile.title'), text: people.jit });
  assert.equal(await page.getByLabel(t('en', 'field.given_name.label')).count(), 0, 'the first name is not asked again');
  await rec.click(page.getByRole('button', { name: t('en', 'profile.submit') }), 'profile-incomplete');
  await expectPage(rec, { status: 400, text: [t('en', 'field.phone.required'), t('en', 'consents.required_error')] });
  await completeProfile(rec, { phone: '+46 70 123 45 67', next: 'account' });
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
  await continueWith(rec, 'Upstream eID', people.eid, 'profile');
  await completeProfile(rec, { next: 'rp-callback' });
  const body = await page.locator('main').innerText();
  assert.equal(new URL(page.url()).origin, rp.url, `back at the application: ${page.url()}\n${body}\n${rp.errors.map(describe).join('\n')}`);
  await expectPage(rec, { path: '/callback', status: 200, h1: 'Signed in' });
  assert.equal(await page.locator('[data-id-token-claim="acr"]').innerText(), substantial);
  assert.deepEqual(JSON.parse(await page.locator('[data-id-token-claim="amr"]').innerText()), ['fed', 'eid']);
});

/**
 * Signs in with Upstream, but takes its answer as a provider that posts
 * it (form_post, as Apple does) would send it: a cross-site POST, from a
 * page of no origin, which carries none of this site's cookies.
 */
async function postAnswer(rec, email, url) {
  const page = rec.page;
  let answer;
  // The upstream's redirect back is taken at the upstream and not
  // followed; its code and state are posted instead.
  const atUpstream = (u) => u.origin === upstream.url;
  await page.route(atUpstream, async (route) => {
    // Redirects are followed here (a browser's own would not be routed)
    // until one leads back to the callback.
    let res = await route.fetch({ maxRedirects: 0 });
    let from = route.request().url();
    while (res.status() >= 300 && res.status() < 400 && res.headers().location) {
      const next = new URL(res.headers().location, from);
      if (next.origin === url && next.pathname === '/login/idp/callback') {
        answer = next;
        return route.fulfill({
          status: 200, contentType: 'text/html; charset=utf-8',
          body: '<!doctype html><html lang="en"><head><title>Answer taken</title></head><body><main><h1>Answer taken</h1></main></body></html>',
        });
      }
      if (next.origin !== upstream.url) break;
      from = next.href;
      res = await page.context().request.get(from, { maxRedirects: 0 });
    }
    return route.fulfill({ response: res });
  });
  await rec.goto('/login', 'login');
  await continueWith(rec, 'Upstream', email, 'answer-taken');
  await page.unroute(atUpstream);
  assert.ok(answer?.searchParams.get('code'), 'the provider answered with a code');
  await page.goto('about:blank');
  const fields = [...answer.searchParams].map(([k, v]) => `<input type="hidden" name="${k}" value="${v.replace(/"/g, '&quot;')}">`).join('');
  await page.setContent(`<form method="post" action="${url}/login/idp/callback">${fields}<button>Post</button></form>`);
}

test('a provider that posts its answer (form_post): posted again from here, with and without JavaScript', async ({ open, server }) => {
  // Without JavaScript: the page says so and the person presses Continue.
  const plain = await open({ label: 'no-js', javaScriptEnabled: false });
  await postAnswer(plain.rec, people.post, server.url);
  await plain.rec.click(plain.page.getByRole('button', { name: 'Post' }), 'continue');
  await expectPage(plain.rec, { path: '/login/idp/callback', status: 200, h1: t('en', 'upstream.continue_title') });
  await plain.rec.click(plain.page.getByRole('button', { name: t('en', 'common.continue') }), 'profile');
  await completeProfile(plain.rec, { phone: '+358 40 123 4567', next: 'account' });
  await expectPage(plain.rec, { path: '/account', status: 200, text: people.post });

  // With JavaScript the page posts itself.
  const js = await open({ label: 'js' });
  await postAnswer(js.rec, people.post, server.url);
  await Promise.all([
    js.page.waitForURL(`${server.url}/account`, { timeout: 15_000 }),
    js.page.getByRole('button', { name: 'Post' }).click(),
  ]);
  await expectPage(js.rec, { path: '/account', text: people.post });
});
