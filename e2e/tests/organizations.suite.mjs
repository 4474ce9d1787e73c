// Organizations and delegated administration, with a real relying party
// (openid-client, lib/rp.mjs) registered for the application "portal".
// Set up with the CLI: two organizations, the portal's roles, an admin of
// Acme (Anna), a colleague (Mats), and Eva who belongs to both.
// Shared by organizations.test.mjs (SQLite) and
// organizations.postgres.test.mjs (PostgreSQL).
import assert from 'node:assert/strict';
import { after } from 'node:test';
import * as client from 'openid-client';
import { suite } from '../lib/harness.mjs';
import { startRelyingParty, describe } from '../lib/rp.mjs';
import { t, expectPage, signIn, submitLogin } from '../lib/steps.mjs';

/**
 * Declares the organization tests with the server on engine.
 * @param {'sqlite' | 'postgres'} engine
 */
export async function organizationTests(engine) {
  const password = 'harbour-violet-engine-58';
  const anna = 'anna.admin@acme.test';
  const mats = 'mats.member@acme.test';
  const eva = 'eva.both@acme.test';
  const nils = 'nils.new@acme.test'; // invited by Anna

  const rp = await startRelyingParty();
  after(() => rp.close());

  const { test: e2eTest, state } = suite({
    server: {
      engine,
      async setup({ cli, url }) {
        const app = JSON.parse((await cli([
          'client', 'create', '--name', 'Portal', '--type', 'confidential', '--app', 'portal',
          '--redirect-uri', rp.callbackURL, '--grant-type', 'authorization_code,refresh_token',
          '--scope', 'openid profile email offline_access', '--first-party',
          '--initiate-login-uri', `${rp.url}/login`, '--json',
        ])).stdout);
        rp.register({ issuer: url, clientId: app.client_id, clientSecret: app.client_secret });
        await cli(['role', 'create', '--app', 'portal', '--name', 'buyer', '--permission', 'orders:create', '--permission', 'orders:read',
          '--description', 'Places orders', '--delegable']);
        await cli(['role', 'create', '--app', 'portal', '--name', 'viewer', '--permission', 'orders:read', '--delegable']);
        const acme = JSON.parse((await cli(['org', 'create', '--name', 'Acme Oy', '--slug', 'acme', '--json'])).stdout);
        const beta = JSON.parse((await cli(['org', 'create', '--name', 'Beta AB', '--slug', 'beta', '--json'])).stdout);
        for (const email of [anna, mats, eva]) {
          await cli(['user', 'create', '--email', email, '--password-stdin', '--verified'], { stdin: `${password}\n` });
        }
        await cli(['org', 'member', 'add', 'acme', anna, '--role', 'portvakt/org_admin', '--role', 'portal/buyer', '--role', 'portal/viewer']);
        await cli(['org', 'member', 'add', 'acme', mats, '--role', 'portal/viewer']);
        await cli(['org', 'member', 'add', 'acme', eva, '--role', 'portal/viewer']);
        await cli(['org', 'member', 'add', 'beta', eva, '--role', 'portal/buyer']);
        return { acme, beta };
      },
    },
  });

  // The same tests on either engine, told apart by name.
  const test = (name, ...rest) => e2eTest(engine === 'postgres' ? `${name} [PostgreSQL]` : name, ...rest);

  /** Signs in at the RP as email; returns the ID token's claims shown there. */
  async function signInAtRP(rec, email, next = 'rp-callback') {
    await rec.goto(`${rp.url}/login`, 'login');
    await submitLogin(rec, { email, password, name: next });
  }

  async function idClaim(page, name) {
    return page.locator(`[data-id-token-claim="${name}"]`).innerText();
  }

  test('an org admin gives a colleague a role; the token carries it; removed, the refresh is refused', async ({ page, rec, open, server }) => {
    const { acme } = state.server.setup;
    // Anna manages Acme from her account page.
    await signIn(rec, { email: anna, password });
    await rec.click(page.getByRole('link', { name: t('en', 'account.organization_manage_named', { Name: 'Acme Oy' }) }), 'org');
    await expectPage(rec, { path: `/org/${acme.id}`, status: 200, h1: 'Acme Oy', text: [mats, eva] });
    const matsRoles = page.getByRole('group', { name: t('en', 'org.roles_of', { Email: mats }) });
    await matsRoles.getByLabel(/^buyer/).check();
    await rec.click(page.locator('form', { has: matsRoles }).getByRole('button', { name: t('en', 'org.save_roles') }), 'org-roles-saved');
    await expectPage(rec, { path: `/org/${acme.id}`, status: 200, text: t('en', 'org.done.roles') });

    // Mats signs in to the portal: his only organization, his roles there.
    const m = await open({ label: 'mats' });
    await signInAtRP(m.rec, mats);
    const body = await m.page.locator('main').innerText();
    assert.equal(new URL(m.page.url()).origin, rp.url, `back at the RP: ${m.page.url()}\n${body}\n${rp.errors.map(describe).join('\n')}`);
    assert.equal(await idClaim(m.page, 'org_id'), acme.id);
    assert.equal(await idClaim(m.page, 'org_name'), 'Acme Oy');
    assert.deepEqual(JSON.parse(await idClaim(m.page, 'roles')).sort(), ['buyer', 'viewer']);
    assert.deepEqual(JSON.parse(await idClaim(m.page, 'permissions')).sort(), ['orders:create', 'orders:read']);
    const userinfoRoles = await m.page.locator('[data-userinfo-claim="roles"]').innerText();
    assert.deepEqual(JSON.parse(userinfoRoles).sort(), ['buyer', 'viewer'], 'userinfo carries the roles too');
    const session = await rp.sessionOf(m.context);
    const config = await rp.configure();
    const refreshed = await client.refreshTokenGrant(config, session.tokens.refresh_token);

    // Anna removes Mats: his refresh token no longer works.
    await rec.goto(`/org/${acme.id}`, 'org');
    await rec.click(page.getByRole('button', { name: t('en', 'org.remove_named', { Email: mats }) }), 'org-removed');
    await expectPage(rec, { path: `/org/${acme.id}`, status: 200, text: t('en', 'org.done.removed') });
    assert.ok(!(await page.locator('main').innerText()).includes(mats), 'Mats is no longer listed');
    await assert.rejects(client.refreshTokenGrant(config, refreshed.refresh_token), (err) => {
      assert.equal(err.error, 'invalid_grant', `a leaver's refresh: ${describe(err)}`);
      return true;
    });
  });

  test('a person in two organizations picks one; a member who is not an admin gets 404 on the admin page', async ({ page, rec }) => {
    const { acme, beta } = state.server.setup;
    await signInAtRP(rec, eva, 'organizations');
    await expectPage(rec, { path: '/authorize/organization', status: 200, h1: t('en', 'organizations.title'), text: ['Acme Oy', 'Beta AB'] });
    await rec.click(page.getByRole('button', { name: 'Beta AB' }), 'rp-callback');
    assert.equal(await idClaim(page, 'org_id'), beta.id);
    assert.deepEqual(JSON.parse(await idClaim(page, 'roles')), ['buyer']);

    const res = await rec.goto(`/org/${acme.id}`, 'org-not-found');
    assert.equal(res.status(), 404);
    await expectPage(rec, { h1: t('en', 'error.not_found.title') });

    // She leaves Beta from her account page; the portal then signs her in
    // for Acme, her only organization, without asking.
    await rec.goto('/account', 'account');
    await rec.click(page.getByRole('button', { name: t('en', 'account.organization_leave_named', { Name: 'Beta AB' }) }), 'account-left');
    await expectPage(rec, { path: '/account', status: 200, text: [t('en', 'account.done.org_left')] });
    await rec.goto(`${rp.url}/login`, 'rp-callback');
    assert.equal(await idClaim(page, 'org_id'), acme.id);
  });

  test('an org admin invites a colleague; the mail opens a pre-filled registration; the colleague lands in the organization', async ({ page, rec, open, mailbox, server }) => {
    const { acme } = state.server.setup;
    await signIn(rec, { email: anna, password });
    await rec.goto(`/org/${acme.id}`, 'org');
    const invite = page.locator('form', { has: page.getByRole('button', { name: t('en', 'org.invite.submit') }) });
    await invite.getByLabel(t('en', 'field.email.label')).fill(nils);
    await invite.getByLabel(new RegExp(`^${t('en', 'field.given_name.label')}`)).fill('Nils');
    await invite.getByLabel(new RegExp(`^${t('en', 'field.family_name.label')}`)).fill('Nyström');
    await invite.getByLabel(t('en', 'org.invite.language')).selectOption('sv');
    await invite.getByLabel(/^viewer/).check();
    await invite.getByLabel(t('en', 'org.invite.app')).selectOption({ label: 'Portal' });
    await rec.click(invite.getByRole('button', { name: t('en', 'org.invite.submit') }), 'org-invited');
    await expectPage(rec, { path: `/org/${acme.id}`, status: 200, text: [t('en', 'org.done.invited'), nils] });

    // The mail, in Swedish, with the link.
    const mail = await mailbox.waitFor({ to: nils, subjectIncludes: 'Acme Oy' });
    assert.ok(mail.text.includes(t('sv', 'mail.invitation.button')), mail.text);
    const link = mail.links.find((l) => l.startsWith(`${server.url}/invitation?token=`));
    assert.ok(link, `an invitation link; links: ${mail.links.join(' ')}`);

    // The registration form, pre-filled; the address fixed.
    const n = await open({ label: 'nils' });
    await n.rec.goto(link, 'invitation');
    await expectPage(n.rec, { path: '/invitation', status: 200, lang: 'sv', h1: t('sv', 'invitation.title', { Organization: 'Acme Oy' }) });
    const email = n.page.getByLabel(t('sv', 'field.email.label'));
    assert.equal(await email.inputValue(), nils);
    assert.equal(await email.getAttribute('readonly'), '');
    assert.equal(await n.page.getByLabel(new RegExp(`^${t('sv', 'field.given_name.label')}`)).inputValue(), 'Nils');
    assert.equal(await n.page.getByLabel(new RegExp(`^${t('sv', 'field.family_name.label')}`)).inputValue(), 'Nyström');
    await n.page.getByLabel(t('sv', 'field.password.new_label'), { exact: true }).fill(password);
    // Registered, he is sent on to the portal (its initiate login URI, with
    // this issuer), which signs him in at once: Acme, viewer.
    await n.rec.click(n.page.getByRole('button', { name: t('sv', 'invitation.register') }), 'rp-callback');
    assert.equal(new URL(n.page.url()).origin, new URL(rp.url).origin, `landed on ${n.page.url()}`);
    assert.equal(await idClaim(n.page, 'org_id'), acme.id);
    assert.deepEqual(JSON.parse(await idClaim(n.page, 'roles')), ['viewer']);
    assert.equal(await n.page.locator('[data-userinfo-claim="email"]').innerText(), nils);

    // The link works once.
    const again = await open({ label: 'again' });
    const res = await again.rec.goto(link, 'invitation-used');
    assert.equal(res.status(), 410);
    await expectPage(again.rec, { h1: t('sv', 'invitation.invalid.title') });
  });
}
