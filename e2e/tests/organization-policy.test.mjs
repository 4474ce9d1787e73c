// An organization's sign-in policy, with a real relying party
// (openid-client, lib/rp.mjs) registered for the application "portal":
// Acme requires a second factor (`portvakt org update acme
// --require-mfa`). A member who has only a password signs in to the portal
// for Acme, is asked to set up an authenticator app first, and comes back
// to the portal with a token whose amr says mfa. A person outside any
// organization signs in with the password alone.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after } from 'node:test';
import { suite } from '../lib/harness.mjs';
import { checkPage } from '../lib/a11y.mjs';
import { startRelyingParty, describe } from '../lib/rp.mjs';
import { t, expectPage, submitLogin } from '../lib/steps.mjs';

const password = 'lantern-copper-meadow-73';
const member = 'mia.member@acme.test';
const outsider = 'olle.outside@example.test';

const rp = await startRelyingParty();
after(() => rp.close());

const { test, state } = suite({
  server: {
    async setup({ cli, url }) {
      const app = JSON.parse((await cli([
        'client', 'create', '--name', 'Portal', '--type', 'confidential', '--app', 'portal',
        '--redirect-uri', rp.callbackURL, '--grant-type', 'authorization_code,refresh_token',
        '--scope', 'openid profile email offline_access', '--first-party', '--json',
      ])).stdout);
      rp.register({ issuer: url, clientId: app.client_id, clientSecret: app.client_secret });
      await cli(['role', 'create', '--app', 'portal', '--name', 'viewer', '--permission', 'orders:read']);
      const acme = JSON.parse((await cli(['org', 'create', '--name', 'Acme Oy', '--slug', 'acme', '--json'])).stdout);
      await cli(['org', 'update', 'acme', '--require-mfa']);
      for (const email of [member, outsider]) {
        await cli(['user', 'create', '--email', email, '--password-stdin', '--verified'], { stdin: `${password}\n` });
      }
      await cli(['org', 'member', 'add', 'acme', member, '--role', 'portal/viewer']);
      return { acme };
    },
  },
});

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

async function idClaim(page, name) {
  return page.locator(`[data-id-token-claim="${name}"]`).innerText();
}

async function backAtRP(page) {
  const body = await page.locator('main').innerText();
  assert.equal(new URL(page.url()).origin, rp.url, `back at the RP: ${page.url()}\n${body}\n${rp.errors.map(describe).join('\n')}`);
}

test('an organization that requires a second factor: a member with a password sets one up, and the token says mfa', async ({ page, rec }) => {
  const { acme } = state.server.setup;
  await rec.goto(`${rp.url}/login`, 'login');
  await expectPage(rec, { path: '/login', status: 200, h1: t('en', 'login.title') });
  await submitLogin(rec, { email: member, password, name: 'mfa-setup' });

  // Signed in with the password, Acme's policy asks for a second factor:
  // none yet, so set one up first.
  await expectPage(rec, { path: '/account/mfa', status: 200, lang: 'en', h1: t('en', 'mfa_setup.title') });
  await checkPage(page, 'second factor set-up, asked for by the organization');
  await rec.click(page.getByRole('link', { name: t('en', 'account.totp_setup') }), 'totp-setup');
  await expectPage(rec, { path: '/account/totp', status: 200, h1: t('en', 'totp.title') });
  const key = (await page.locator('#totp-secret').innerText()).trim();
  assert.match(key, /^[A-Z2-7]{32}$/);
  await page.getByLabel(t('en', 'field.totp_code.label')).fill(totp(key));
  await rec.click(page.getByRole('button', { name: t('en', 'totp.submit') }), 'recovery-codes');
  await expectPage(rec, { path: '/account/totp', status: 200, h1: t('en', 'recovery_codes.title') });

  // Then on to the portal, signed in for Acme with two factors.
  await rec.click(page.getByRole('link', { name: t('en', 'recovery_codes.saved') }), 'rp-callback');
  await backAtRP(page);
  await expectPage(rec, { path: '/callback', status: 200, h1: 'Signed in' });
  assert.equal(await idClaim(page, 'org_id'), acme.id);
  const amr = JSON.parse(await idClaim(page, 'amr'));
  assert.ok(amr.includes('mfa') && amr.includes('otp'), `amr ${JSON.stringify(amr)}, want otp and mfa`);
});

test('outside any organization the password is enough', async ({ page, rec }) => {
  await rec.goto(`${rp.url}/login`, 'login');
  await submitLogin(rec, { email: outsider, password, name: 'rp-callback' });
  await backAtRP(page);
  await expectPage(rec, { path: '/callback', status: 200, h1: 'Signed in' });
  assert.deepEqual(JSON.parse(await idClaim(page, 'amr')), ['pwd']);
});
