// OpenID Connect with a real relying-party library: panva's openid-client
// in a small web application (lib/rp.mjs) on 127.0.0.1, registered as a
// confidential first-party client with `portvakt client create` before the
// server starts. The browser goes RP /login → Portvakt's /authorize → the
// hosted sign-in page → back to the RP's /callback, which exchanges the
// code (PKCE S256, state, nonce and iss checked), reads userinfo and shows
// the claims. Then refresh token rotation, and RP-initiated logout.
import assert from 'node:assert/strict';
import { after } from 'node:test';
import * as client from 'openid-client';
import { suite } from '../lib/harness.mjs';
import { startRelyingParty, describe } from '../lib/rp.mjs';
import { t, expectPage, expectAccount, expectSignedOut, submitLogin } from '../lib/steps.mjs';

const password = 'tangerine-orbit-velvet-42';
const ada = { email: 'ada.oidc@example.test', givenName: 'Ada', familyName: 'Lovelace' };
const sigrid = { email: 'sigrid.oidc@example.test', givenName: 'Sigrid', familyName: 'Lindqvist', locale: 'sv' };

const rp = await startRelyingParty();

const { test, state } = suite({
  server: {
    // Before `serve`: the client and the users, through the CLI.
    async setup({ cli, url }) {
      const { stdout } = await cli([
        'client', 'create', '--name', 'Test RP', '--type', 'confidential',
        '--redirect-uri', rp.callbackURL, '--post-logout-redirect-uri', rp.loggedOutURL,
        '--grant-type', 'authorization_code,refresh_token',
        '--scope', 'openid profile email offline_access', '--first-party', '--json',
      ]);
      const created = JSON.parse(stdout);
      assert.ok(created.client_id && created.client_secret, `client create --json printed ${stdout}`);
      assert.equal(created.token_endpoint_auth_method, 'client_secret_basic');
      for (const u of [ada, sigrid]) {
        const args = ['user', 'create', '--email', u.email, '--password-stdin', '--verified',
          '--given-name', u.givenName, '--family-name', u.familyName];
        if (u.locale) args.push('--locale', u.locale);
        await cli(args, { stdin: `${password}\n` });
      }
      const registration = { issuer: url, clientId: created.client_id, clientSecret: created.client_secret };
      rp.register(registration);
      return registration;
    },
  },
});
after(() => rp.close());

/** The requests that led to a response, first first (redirects followed). */
function chain(response) {
  const out = [];
  for (let r = response.request(); r; r = r.redirectedFrom()) out.unshift(new URL(r.url()));
  return out;
}

/** Asserts the RP's callback page: signed in, with the claims shown. */
async function expectSignedInAtRP(rec, who) {
  const page = rec.page;
  const body = await page.locator('main').innerText();
  assert.equal(new URL(page.url()).origin, rp.url, `back at the relying party: ${page.url()}`);
  assert.equal(rec.response.status(), 200, `the RP's callback failed:\n${body}\n${rp.errors.map(describe).join('\n')}`);
  await expectPage(rec, { path: '/callback', lang: 'en', h1: 'Signed in', text: `Welcome, ${who.givenName}.` });
  const claim = async (kind, name) => {
    const dd = page.locator(`[data-${kind}-claim="${name}"]`);
    return (await dd.count()) ? dd.innerText() : undefined;
  };
  const sub = await claim('userinfo', 'sub');
  assert.match(sub ?? '', /\S/, 'userinfo has a sub');
  assert.equal(await claim('id-token', 'sub'), sub, 'the ID token and userinfo name the same subject');
  assert.equal(await claim('userinfo', 'email'), who.email);
  assert.equal(await claim('userinfo', 'email_verified'), 'true');
  assert.equal(await claim('userinfo', 'given_name'), who.givenName);
  assert.equal(await claim('userinfo', 'family_name'), who.familyName);
  assert.equal(await claim('userinfo', 'name'), `${who.givenName} ${who.familyName}`);
  if (who.locale) assert.equal(await claim('userinfo', 'locale'), who.locale);
  assert.equal(await claim('id-token', 'iss'), state.server.url);
  const aud = await claim('id-token', 'aud');
  assert.ok([].concat(aud?.startsWith('[') ? JSON.parse(aud) : aud).includes(state.server.setup.clientId), `aud ${aud} names the client`);
  assert.match(await claim('id-token', 'auth_time') ?? '', /^\d+$/, 'auth_time in the ID token');
  assert.match(await claim('id-token', 'at_hash') ?? '', /\S/, 'at_hash in the ID token');
  assert.equal(await claim('response', 'iss'), state.server.url, 'the authorization response carries iss (RFC 9207)');
  return sub;
}

/** Asserts the authorization request the browser made through the RP. */
function expectAuthorizationRequest(response, want = {}) {
  const hops = chain(response);
  const authorize = hops.find((u) => u.origin === state.server.url && u.pathname === '/authorize');
  assert.ok(authorize, `the browser went through ${state.server.url}/authorize: ${hops.map(String).join(' → ')}`);
  assert.equal(hops[0].origin, rp.url, 'it started at the RP');
  const q = authorize.searchParams;
  assert.equal(q.get('client_id'), state.server.setup.clientId);
  assert.equal(q.get('response_type'), 'code');
  assert.equal(q.get('redirect_uri'), rp.callbackURL);
  assert.equal(q.get('code_challenge_method'), 'S256');
  assert.match(q.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
  assert.match(q.get('state') ?? '', /\S{16,}/);
  assert.match(q.get('nonce') ?? '', /\S{16,}/);
  for (const [k, v] of Object.entries(want)) assert.equal(q.get(k), v, `${k} in the authorization request`);
  return q;
}

test('openid-client relying party: code flow with PKCE, userinfo, refresh rotation, end_session', async ({ page, rec, server }) => {
  // The RP's /login redirects to /authorize, which hands over to the hosted
  // sign-in page.
  const res = await rec.goto(`${rp.url}/login`, 'login');
  assert.equal(new URL(page.url()).origin, server.url, `at Portvakt: ${page.url()} ${rp.errors.map(describe).join('\n')}`);
  expectAuthorizationRequest(res);
  await expectPage(rec, { path: '/login', status: 200, lang: 'en', h1: t('en', 'login.title') });
  const login = chain(res).find((u) => u.origin === server.url && u.pathname === '/login' && u.searchParams.has('return_to'));
  assert.match(login?.searchParams.get('return_to') ?? '', /^\/authorize\/callback\?/, 'the sign-in page returns to the authorization request');

  // Sign in: back at the RP's callback, which shows the claims.
  await submitLogin(rec, { ...ada, password, name: 'rp-callback' });
  const sub = await expectSignedInAtRP(rec, ada);
  const rps = await rp.sessionOf(page.context());
  assert.equal(rps.callbackURL.searchParams.get('state'), rps.state);
  assert.equal(rps.idClaims.nonce, rps.nonce, 'the ID token carries the nonce');

  // The browser also has a Portvakt session (single sign-on).
  await rec.goto(`${server.url}/account`, 'portvakt-account');
  await expectAccount(rec, { email: ada.email, verified: true });

  // Refresh with rotation: a new refresh token each time; the first one,
  // used again, is refused, and that reuse revokes the whole family.
  const first = rps.tokens.refresh_token;
  assert.ok(first, 'a refresh token for offline_access');
  const config = await rp.configure();
  const refreshed = await client.refreshTokenGrant(config, first);
  assert.ok(refreshed.refresh_token, 'a new refresh token');
  assert.notEqual(refreshed.refresh_token, first, 'the refresh token rotates');
  assert.notEqual(refreshed.access_token, rps.tokens.access_token, 'a new access token');
  const info = await client.fetchUserInfo(config, refreshed.access_token, sub);
  assert.equal(info.email, ada.email, 'the refreshed access token works at userinfo');
  await assert.rejects(client.refreshTokenGrant(config, first), (err) => {
    assert.equal(err.error, 'invalid_grant', `second use of the first refresh token: ${describe(err)}`);
    return true;
  });
  await assert.rejects(client.refreshTokenGrant(config, refreshed.refresh_token), (err) => {
    assert.equal(err.error, 'invalid_grant', `the family is revoked after reuse: ${describe(err)}`);
    return true;
  });

  // RP-initiated logout: the RP's /logout → Portvakt's end_session (with
  // id_token_hint) → back to the registered post-logout URI with state.
  const out = await rec.goto(`${rp.url}/logout`, 'rp-logged-out');
  const hops = chain(out);
  const endSession = hops.find((u) => u.origin === server.url && u.pathname === '/end_session');
  assert.ok(endSession, `through ${server.url}/end_session: ${hops.map(String).join(' → ')}`);
  assert.equal(endSession.searchParams.get('id_token_hint'), rps.tokens.id_token);
  assert.equal(endSession.searchParams.get('post_logout_redirect_uri'), rp.loggedOutURL);
  assert.equal(new URL(page.url()).origin, rp.url, `back at the RP: ${page.url()}`);
  await expectPage(rec, { path: '/logged-out', status: 200, lang: 'en', h1: 'Signed out' });

  // And the browser's Portvakt session is over: /account asks to sign in.
  // (This needs RP-initiated logout as internal/oidc/logout.go does it; with
  // the framework's default, a no-op TerminateSession, it fails here.)
  await expectSignedOut(rec);
});

test('ui_locales=sv from the relying party: the sign-in page is Swedish', async ({ page, rec, server }) => {
  const res = await rec.goto(`${rp.url}/login?ui_locales=sv`, 'login-sv');
  assert.equal(new URL(page.url()).origin, server.url, `at Portvakt: ${page.url()} ${rp.errors.map(describe).join('\n')}`);
  expectAuthorizationRequest(res, { ui_locales: 'sv' });
  await expectPage(rec, {
    path: '/login',
    status: 200,
    lang: 'sv',
    h1: 'Logga in',
    text: [t('sv', 'field.email.label'), t('sv', 'field.password.label')],
  });
  assert.equal(t('sv', 'login.title'), 'Logga in');
  assert.ok(await page.getByRole('button', { name: t('sv', 'login.submit') }).isVisible(), 'the Swedish submit button');
  assert.doesNotMatch(await page.locator('main').innerText(), /Sign in|Password/, 'no English on the Swedish page');

  await submitLogin(rec, { ...sigrid, password, lang: 'sv', name: 'rp-callback-sv' });
  await expectSignedInAtRP(rec, sigrid);
});
