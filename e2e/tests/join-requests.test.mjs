// Joining an organization by the domain of a verified address, with a real
// relying party (openid-client, lib/rp.mjs) for the application "portal".
// Set up with the CLI: Gamma AB (gamma.test), whose admin Gina approves
// requests, and Delta Oy (delta.test), which admits its domain at once;
// both give the role portal/viewer to people who join this way.
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { suite } from '../lib/harness.mjs';
import { startRelyingParty } from '../lib/rp.mjs';
import { t, expectPage, register, verificationMail, enterCode, signIn } from '../lib/steps.mjs';

const password = 'lantern-quartz-meadow-31';
const gina = 'gina.admin@gamma.test';

const rp = await startRelyingParty();
after(() => rp.close());

const { test, state } = suite({
  server: {
    async setup({ cli, url }) {
      const app = JSON.parse((await cli([
        'client', 'create', '--name', 'Portal', '--type', 'confidential', '--app', 'portal',
        '--redirect-uri', rp.callbackURL, '--grant-type', 'authorization_code',
        '--scope', 'openid profile email', '--first-party', '--json',
      ])).stdout);
      rp.register({ issuer: url, clientId: app.client_id, clientSecret: app.client_secret });
      await cli(['role', 'create', '--app', 'portal', '--name', 'viewer', '--permission', 'orders:read']);
      const gamma = JSON.parse((await cli(['org', 'create', '--name', 'Gamma AB', '--slug', 'gamma', '--domain', 'gamma.test',
        '--join-role', 'portal/viewer', '--json'])).stdout);
      const delta = JSON.parse((await cli(['org', 'create', '--name', 'Delta Oy', '--slug', 'delta', '--domain', 'delta.test',
        '--auto-join', '--join-role', 'portal/viewer', '--json'])).stdout);
      await cli(['user', 'create', '--email', gina, '--password-stdin', '--verified'], { stdin: `${password}\n` });
      await cli(['org', 'member', 'add', 'gamma', gina, '--role', 'portvakt/org_admin']);
      return { gamma, delta };
    },
  },
});

async function idClaim(page, name) {
  return page.locator(`[data-id-token-claim="${name}"]`).innerText();
}

/** Registers email and verifies it with the code from the mail; at the account page. */
async function registerVerified(rec, mailbox, server, email) {
  await register(rec, { email, password });
  const mail = await verificationMail(mailbox, { email, server });
  await enterCode(rec, { code: mail.code, email });
}

test('a person registers in the domain and asks to join; the admin approves; the token carries the organization', async ({ page, rec, open, mailbox, server }) => {
  const { gamma } = state.server.setup;
  const jonas = 'jonas@gamma.test';
  await registerVerified(rec, mailbox, server, jonas);
  await expectPage(rec, { path: '/account', text: [t('en', 'account.join.title'), 'Gamma AB'] });
  await rec.click(page.getByRole('button', { name: t('en', 'account.join.ask_named', { Name: 'Gamma AB' }) }), 'join-requested');
  await expectPage(rec, {
    path: '/account', status: 200,
    text: [t('en', 'account.done.org_join_requested'), t('en', 'account.join.pending')],
  });

  // Gina sees the request on her organization's page and approves it.
  const g = await open({ label: 'gina' });
  await signIn(g.rec, { email: gina, password });
  await g.rec.goto(`/org/${gamma.id}`, 'org');
  await expectPage(g.rec, { path: `/org/${gamma.id}`, status: 200, h1: 'Gamma AB', text: [t('en', 'org.join_requests'), jonas] });
  await g.rec.click(g.page.getByRole('button', { name: t('en', 'org.join_approve_named', { Email: jonas }) }), 'join-approved');
  await expectPage(g.rec, { path: `/org/${gamma.id}`, status: 200, text: [t('en', 'org.done.join_approved'), jonas] });
  assert.equal(await g.page.getByRole('heading', { name: t('en', 'org.join_requests') }).count(), 0, 'no request is left');

  // Jonas belongs to Gamma now; signed in already, he goes to the portal.
  await rec.goto('/account', 'account-member');
  await expectPage(rec, { path: '/account', text: [t('en', 'account.organizations'), 'Gamma AB'] });
  assert.equal(await page.getByRole('heading', { name: t('en', 'account.join.title') }).count(), 0, 'nothing left to join');
  await rec.goto(`${rp.url}/login`, 'rp-callback');
  assert.equal(await idClaim(page, 'org_id'), gamma.id);
  assert.deepEqual(JSON.parse(await idClaim(page, 'roles')), ['viewer']);
});

test('an organization that admits its domain lets the person join with one button', async ({ page, rec, mailbox, server }) => {
  const { delta } = state.server.setup;
  const dora = 'dora@delta.test';
  await registerVerified(rec, mailbox, server, dora);
  await rec.click(page.getByRole('button', { name: t('en', 'account.join.join_named', { Name: 'Delta Oy' }) }), 'joined');
  await expectPage(rec, { path: '/account', status: 200, text: [t('en', 'account.done.org_joined'), t('en', 'account.organizations'), 'Delta Oy'] });
  await rec.goto(`${rp.url}/login`, 'rp-callback');
  assert.equal(await idClaim(page, 'org_id'), delta.id);
  assert.deepEqual(JSON.parse(await idClaim(page, 'roles')), ['viewer']);
});
