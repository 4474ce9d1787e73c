// Consents with versioned documents. The server runs with a config file
// of purposes: terms of service and a privacy notice (required), and news
// by email (optional). A person registers, ticking the required ones and
// news; an application (openid-client) signs them in and reads the
// consents claim. The server is then restarted with version 2 of the
// terms in effect: signing in to the application stops at the page that
// shows the new version, and the application gets no code until it is
// accepted — declining signs out. Finally the person withdraws news on
// the privacy page, and the CRM reads consent.withdrawn from the event
// log (GET /api/v1/events).
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { suite } from '../lib/harness.mjs';
import { checkPage } from '../lib/a11y.mjs';
import { startRelyingParty, describe } from '../lib/rp.mjs';
import { t, expectPage, alertText, submitLogin, verificationMail, enterCode, signOut } from '../lib/steps.mjs';

const password = 'saffron-kettle-harbour-64';
const email = 'vera.consent@example.test';
const terms2 = 'https://example.com/terms/2';

const confDir = mkdtempSync(path.join(os.tmpdir(), 'portvakt-e2e-consents-'));
const confPath = path.join(confDir, 'portvakt.yaml');

/** The purposes; with termsV2 (an RFC 3339 time), version 2 of the terms takes effect then. */
function writeConfig(termsV2) {
  const v2 = termsV2 ? `
      - version: "2"
        effective: "${termsV2}"
        url:
          en: ${terms2}` : '';
  writeFileSync(confPath, `consents:
  - id: terms
    required: true
    title:
      en: Terms of service
      sv: Användarvillkor
      fi: Käyttöehdot
    versions:
      - version: "1"
        effective: 2025-01-01
        url:
          en: https://example.com/terms/1${v2}
  - id: privacy
    required: true
    title:
      en: Privacy notice
      sv: Integritetspolicy
      fi: Tietosuojaseloste
    versions:
      - version: "2025-01"
        effective: 2025-01-01
        text:
          en: |
            We keep your address to send you what you ask for.
            You can ask for a copy or deletion at any time.
  - id: news
    title:
      en: News by email
      sv: Nyheter via e-post
      fi: Uutiset sähköpostitse
    description:
      en: At most once a month. Withdraw at any time.
    versions:
      - version: "1"
        effective: 2025-01-01
        url:
          en: /news-terms
`);
}
writeConfig();

const rp = await startRelyingParty();
after(() => {
  rp.close();
  rmSync(confDir, { recursive: true, force: true });
});

const { test } = suite({
  server: {
    env: { PORTVAKT_CONFIG: confPath },
    async setup({ cli, url }) {
      const app = JSON.parse((await cli([
        'client', 'create', '--name', 'Webshop', '--type', 'confidential', '--redirect-uri', rp.callbackURL,
        '--grant-type', 'authorization_code,refresh_token', '--scope', 'openid profile email offline_access', '--first-party',
        '--release-consents', '--json',
      ])).stdout);
      rp.register({ issuer: url, clientId: app.client_id, clientSecret: app.client_secret });
      const crm = JSON.parse((await cli([
        'client', 'create', '--name', 'CRM', '--type', 'confidential', '--grant-type', 'client_credentials',
        '--scope', 'portvakt:events:read', '--json',
      ])).stdout);
      return { app: app.client_id, crm };
    },
  },
});

/** The consents claim of the application's ID token. */
async function consentsClaim(page) {
  return JSON.parse(await page.locator('[data-id-token-claim="consents"]').innerText());
}

/** Signs in at the application; returns once the browser is back at its callback or held at Portvakt. */
async function toApp(rec, name) {
  await rec.goto(`${rp.url}/login`, `${name}-start`);
}

test('registration asks for the required purposes and offers the optional one, unticked', async ({ page, rec, mailbox, server }) => {
  await rec.goto('/registration', 'registration');
  await expectPage(rec, { path: '/registration', status: 200, h1: t('en', 'registration.title') });
  const termsBox = page.getByRole('checkbox', { name: t('en', 'consents.accept', { Title: 'Terms of service' }) });
  const privacyBox = page.getByRole('checkbox', { name: t('en', 'consents.accept', { Title: 'Privacy notice' }) });
  const newsBox = page.getByRole('checkbox', { name: 'News by email' });
  assert.equal(await termsBox.isChecked(), false);
  assert.equal(await newsBox.isChecked(), false, 'the optional purpose is offered unticked');
  assert.equal(await page.getByRole('group', { name: t('en', 'consents.optional_legend') }).count(), 1);
  assert.equal(await page.getByRole('link', { name: t('en', 'consents.document_link', { Title: 'Terms of service' }) }).getAttribute('href'),
    'https://example.com/terms/1');
  // The privacy notice is text on the page, behind a disclosure.
  await page.getByText(t('en', 'consents.document_text', { Title: 'Privacy notice' })).click();
  assert.match(await page.getByRole('region', { name: t('en', 'consents.document_text', { Title: 'Privacy notice' }) }).innerText(), /We keep your address/);

  await page.getByLabel(t('en', 'field.email.label')).fill(email);
  await page.getByLabel(t('en', 'field.password.new_label'), { exact: true }).fill(password);
  await termsBox.check();
  await rec.click(page.getByRole('button', { name: t('en', 'registration.submit') }), 'registration-without-privacy');
  await expectPage(rec, { path: '/registration', status: 400, text: t('en', 'consents.required_error') });
  assert.equal(await alertText(page), t('en', 'form.has_errors'));
  assert.equal(await termsBox.isChecked(), true, 'what was ticked stays ticked');
  assert.equal(await privacyBox.getAttribute('aria-invalid'), 'true');

  await page.getByLabel(t('en', 'field.password.new_label'), { exact: true }).fill(password);
  await privacyBox.check();
  await newsBox.check();
  await rec.click(page.getByRole('button', { name: t('en', 'registration.submit') }), 'verification');
  await expectPage(rec, { path: '/verification', status: 200, h1: t('en', 'verification.title') });
  const mail = await verificationMail(mailbox, { email, server });
  await enterCode(rec, { code: mail.code, email });

  await rec.click(page.getByRole('link', { name: t('en', 'account.privacy_link') }), 'privacy');
  await expectPage(rec, {
    path: '/account/privacy', status: 200, h1: t('en', 'privacy.title'),
    text: [t('en', 'privacy.history'), t('en', 'privacy.channel.registration')],
  });
  const today = new Date().toISOString().slice(0, 10);
  const news = page.getByRole('region', { name: 'News by email' });
  assert.ok((await news.innerText()).includes(t('en', 'privacy.status.granted', { Version: '1', Date: today })), await news.innerText());
  // A required purpose is not withdrawn here: it goes with the account.
  const termsSection = page.getByRole('region', { name: 'Terms of service' });
  assert.equal(await termsSection.getByRole('button').count(), 0, 'no button to withdraw the terms');
  assert.equal(await termsSection.getByRole('link', { name: t('en', 'privacy.data_link') }).getAttribute('href'), '/account/data');
  // In Swedish too.
  await rec.goto('/account/privacy?lang=sv', 'privacy-sv');
  await expectPage(rec, { path: '/account/privacy', lang: 'sv', h1: t('sv', 'privacy.title'), text: ['Nyheter via e-post', t('sv', 'privacy.history')] });
  await rec.goto('/account/privacy?lang=en', 'privacy-en');
});

test('an application signs in; a new terms version holds it back until it is accepted', async ({ page, rec, open, server }) => {
  const context = page.context();
  await toApp(rec, 'app');
  await expectPage(rec, { path: '/login', status: 200, h1: t('en', 'login.title') });
  await submitLogin(rec, { email, password, name: 'app-callback' });
  assert.equal(new URL(page.url()).origin, rp.url, `back at the application: ${page.url()} ${rp.errors.map(describe).join('\n')}`);
  await expectPage(rec, { path: '/callback', status: 200, h1: 'Signed in' });
  let claim = await consentsClaim(page);
  assert.equal(claim.terms.granted, true);
  assert.equal(claim.terms.version, '1');
  assert.equal(claim.news.granted, true);
  assert.equal(claim.privacy.version, '2025-01');

  // Version 2 of the terms takes effect: a new configuration, deployed.
  writeConfig(new Date(Date.now() - 60_000).toISOString().replace(/\.\d+Z$/, 'Z'));
  await server.restart();

  // Declining signs out, and the application gets nothing (no JavaScript
  // needed either).
  const other = await open({ label: 'declines', javaScriptEnabled: false });
  await toApp(other.rec, 'declining');
  await submitLogin(other.rec, { email, password, name: 'declining-held' });
  await expectPage(other.rec, { path: '/consent/update', status: 200, h1: t('en', 'consent_update.title') });
  await checkPage(other.page, 'the page of new versions without JavaScript');
  const declining = await rp.sessionOf(other.context);
  await other.rec.click(other.page.getByRole('button', { name: t('en', 'consent_update.decline') }), 'declined');
  await expectPage(other.rec, { path: '/logged-out', status: 200, h1: t('en', 'logged_out.title') });
  assert.equal(declining.callbackURL, undefined, 'the application got no answer');

  // The signed-in browser goes to the application: held at the page.
  await toApp(rec, 'held');
  await expectPage(rec, {
    path: '/consent/update', status: 200, h1: t('en', 'consent_update.title'),
    text: [t('en', 'consent_update.intro_app', { App: 'Webshop' }), 'Terms of service',
      t('en', 'consent_update.accepted_before', { Version: '1', Date: new Date().toISOString().slice(0, 10) })],
  });
  assert.equal(new URL(page.url()).searchParams.get('client_id'), server.setup.app);
  assert.equal(await page.getByRole('link', { name: t('en', 'consents.document_link', { Title: 'Terms of service' }) }).getAttribute('href'), terms2);
  const session = await rp.sessionOf(context);
  assert.equal(session.callbackURL, undefined, 'no code before the new version is accepted');
  // The privacy notice was accepted at its current version: not asked.
  assert.equal(await page.getByRole('heading', { name: 'Privacy notice' }).count(), 0);

  await rec.click(page.getByRole('button', { name: t('en', 'consent_update.accept') }), 'accepted');
  assert.equal(new URL(page.url()).origin, rp.url, `back at the application: ${page.url()} ${rp.errors.map(describe).join('\n')}`);
  await expectPage(rec, { path: '/callback', status: 200, h1: 'Signed in' });
  claim = await consentsClaim(page);
  assert.equal(claim.terms.version, '2');
  assert.equal(claim.terms.granted, true);
});

test('withdrawing news on the privacy page is as easy as giving it, and the CRM reads the event', async ({ page, rec, server }) => {
  await rec.goto('/login', 'login');
  await submitLogin(rec, { email, password, name: 'account' });
  await expectPage(rec, { path: '/account', status: 200 });
  await rec.goto('/account/privacy', 'privacy');
  const news = page.getByRole('region', { name: 'News by email' });
  await rec.click(news.getByRole('button', { name: t('en', 'privacy.withdraw_named', { Title: 'News by email' }) }), 'withdrawn');
  await expectPage(rec, { path: '/account/privacy', status: 200, text: t('en', 'privacy.done.withdrawn') });
  const today = new Date().toISOString().slice(0, 10);
  assert.ok((await news.innerText()).includes(t('en', 'privacy.status.withdrawn', { Version: '1', Date: today })));
  const history = page.getByRole('region', { name: t('en', 'privacy.history') });
  assert.ok((await history.innerText()).includes(t('en', 'privacy.history_item', { Action: t('en', 'privacy.action.withdrawn'), Title: 'News by email', Version: '1' })));
  // Given again with the same one click.
  await rec.click(news.getByRole('button', { name: t('en', 'privacy.give_named', { Title: 'News by email' }) }), 'given');
  await expectPage(rec, { path: '/account/privacy', status: 200, text: t('en', 'privacy.done.given') });
  await rec.click(news.getByRole('button', { name: t('en', 'privacy.withdraw_named', { Title: 'News by email' }) }), 'withdrawn-again');

  // The CRM reads the event log with its own token.
  const { crm } = server.setup;
  const tokenRes = await fetch(`${server.url}/oauth/token`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded',
      Authorization: `Basic ${Buffer.from(`${crm.client_id}:${crm.client_secret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'portvakt:events:read' }),
  });
  assert.equal(tokenRes.status, 200, await tokenRes.clone().text());
  const { access_token: token } = await tokenRes.json();
  const res = await fetch(`${server.url}/api/v1/events?type=consent.withdrawn&limit=200`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(res.status, 200);
  const { items } = await res.json();
  assert.equal(items.length, 2, JSON.stringify(items));
  for (const e of items) {
    assert.deepEqual(e.data, { purpose: 'news', version: '1', channel: 'account', client_id: '', method: 'button' });
    assert.match(e.subject, /^user:/);
    assert.equal(e.actor, e.subject, 'the person withdrew it');
  }
  await rec.click(page.getByRole('link', { name: t('en', 'privacy.back') }), 'account');
  await signOut(rec);
});
