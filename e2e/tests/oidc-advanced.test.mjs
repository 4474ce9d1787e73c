// What a relying party can ask of Portvakt beyond the plain code flow,
// with panva's openid-client doing the client's side: pushed authorization
// requests (RFC 9126), private_key_jwt client authentication (RFC 7523),
// ID tokens signed with the algorithm each client registered, and resource
// indicators (RFC 8707) in RFC 9068 access tokens. Every client is
// registered with `portvakt client create` before the server starts; the
// browser signs in on the hosted pages between the relying party (lib/rp.mjs)
// and Portvakt, following real redirects.
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after } from 'node:test';
import * as client from 'openid-client';
import { suite } from '../lib/harness.mjs';
import { checkPage } from '../lib/a11y.mjs';
import { startRelyingParty, describe } from '../lib/rp.mjs';
import { decodeJWT, fetchJWKS, verifyJWT } from '../lib/jwt.mjs';
import { t, expectPage, submitLogin } from '../lib/steps.mjs';

const password = 'harbour-lantern-quartz-17';
const grace = { email: 'grace.advanced@example.test', givenName: 'Grace', familyName: 'Hopper' };
const api = 'https://api.example.com/';
const otherAPI = 'https://reports.example.com/';

// The relying parties, one per client registration.
const parRP = await startRelyingParty({ par: true });
const es256RP = await startRelyingParty({ metadata: { id_token_signed_response_alg: 'ES256' }, verifySignatures: true });
const eddsaRP = await startRelyingParty({ metadata: { id_token_signed_response_alg: 'EdDSA' }, verifySignatures: true });
const apiRP = await startRelyingParty();

// The private_key_jwt client's key pair: Portvakt gets only the public key.
const serviceKID = 'service-2026-11';
const serviceKeys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);
const strangerKeys = await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']);

const { test, state } = suite({
  server: {
    async setup({ cli, url, dataDir }) {
      /** Runs client create --json with args; returns what it printed. */
      const createClient = async (args) => {
        const { stdout } = await cli(['client', 'create', '--type', 'confidential', ...args, '--json']);
        return JSON.parse(stdout);
      };
      const browserClient = async (rp, name, args = []) => {
        const created = await createClient([
          '--name', name, '--redirect-uri', rp.callbackURL,
          '--grant-type', 'authorization_code,refresh_token',
          '--scope', 'openid profile email offline_access', '--first-party', ...args,
        ]);
        assert.ok(created.client_id && created.client_secret, `client create --json printed ${JSON.stringify(created)}`);
        rp.register({ issuer: url, clientId: created.client_id, clientSecret: created.client_secret });
        return created;
      };
      const par = await browserClient(parRP, 'Pushing RP', ['--require-par']);
      assert.equal(par.require_par ?? par.require_pushed_authorization_requests, true, `the client must push: ${JSON.stringify(par)}`);
      const es256 = await browserClient(es256RP, 'ES256 RP', ['--id-token-alg', 'ES256']);
      const eddsa = await browserClient(eddsaRP, 'EdDSA RP', ['--id-token-alg', 'EdDSA']);
      const apiClient = await browserClient(apiRP, 'API RP', ['--audience', api, '--audience', otherAPI]);

      const jwk = await webcrypto.subtle.exportKey('jwk', serviceKeys.publicKey);
      const jwksFile = path.join(dataDir, 'service-jwks.json');
      writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...jwk, kid: serviceKID, alg: 'ES256', use: 'sig' }] }));
      const service = await createClient([
        '--name', 'Signing service', '--grant-type', 'client_credentials', '--scope', 'portvakt:users:read',
        '--token-endpoint-auth-method', 'private_key_jwt', '--jwks-file', jwksFile,
      ]);
      assert.equal(service.token_endpoint_auth_method, 'private_key_jwt', `client create --json printed ${JSON.stringify(service)}`);
      assert.equal(service.client_secret, undefined, 'a private_key_jwt client gets no secret');

      await cli(['user', 'create', '--email', grace.email, '--password-stdin', '--verified',
        '--given-name', grace.givenName, '--family-name', grace.familyName], { stdin: `${password}\n` });
      return {
        par: par.client_id, es256: es256.client_id, eddsa: eddsa.client_id,
        api: apiClient.client_id, service: service.client_id,
      };
    },
  },
});
after(() => Promise.all([parRP, es256RP, eddsaRP, apiRP].map((rp) => rp.close())));

/** The requests that led to a response, first first (redirects followed). */
function chain(response) {
  const out = [];
  for (let r = response.request(); r; r = r.redirectedFrom()) out.unshift(new URL(r.url()));
  return out;
}

/** Records every request a browser context makes to origin. */
function requestsTo(context, origin) {
  const seen = [];
  context.on('request', (r) => {
    if (new URL(r.url()).origin === origin) seen.push(r.url());
  });
  return seen;
}

/**
 * From the RP's /login (with query) through /authorize to the hosted
 * sign-in page, signs in as Grace and asserts the RP's callback page;
 * returns the RP's session and the authorization request the browser sent.
 */
async function signInAt(rp, rec, { query = '', name }) {
  const page = rec.page;
  const res = await rec.goto(`${rp.url}/login${query}`, `${name}-login`);
  assert.equal(new URL(page.url()).origin, state.server.url, `at Portvakt: ${page.url()} ${rp.errors.map(describe).join('\n')}`);
  const authorize = chain(res).find((u) => u.origin === state.server.url && u.pathname === '/authorize');
  assert.ok(authorize, `through /authorize: ${chain(res).map(String).join(' → ')}`);
  await expectPage(rec, { path: '/login', status: 200, lang: 'en', h1: t('en', 'login.title') });
  await submitLogin(rec, { ...grace, password, name: `${name}-callback` });
  const body = await page.locator('main').innerText();
  assert.equal(new URL(page.url()).origin, rp.url, `back at the relying party: ${page.url()}`);
  assert.equal(rec.response.status(), 200, `the RP's callback failed:\n${body}\n${rp.errors.map(describe).join('\n')}`);
  await expectPage(rec, { path: '/callback', lang: 'en', h1: 'Signed in', text: `Welcome, ${grace.givenName}.` });
  const s = await rp.sessionOf(page.context());
  assert.equal(s.userinfo.email, grace.email, 'userinfo names Grace');
  assert.equal(s.idClaims.sub, s.userinfo.sub, 'the ID token and userinfo name the same subject');
  assert.equal(s.idClaims.nonce, s.nonce, 'the ID token carries the nonce');
  assert.equal(s.idClaims.iss, state.server.url);
  return { session: s, authorize };
}

/**
 * Asserts that the last navigation was refused by Portvakt itself: 400,
 * still on Portvakt, nothing sent to the client, the body names the
 * problem, and it is a page for people (one <h1>, <html lang>, the other
 * smoke checks).
 */
async function expectRefusedAtPortvakt(rec, t, { response, toClient, says, name }) {
  const page = rec.page;
  assert.equal(response.status(), 400, `status of ${page.url()}`);
  assert.equal(new URL(page.url()).origin, state.server.url, `stays at Portvakt: ${page.url()}`);
  assert.deepEqual(chain(response).map((u) => u.origin), [state.server.url], 'no redirect');
  assert.deepEqual(toClient, [], 'nothing is sent to the client');
  const body = await page.locator('body').innerText();
  assert.match(body, says, 'the answer names the problem');
  assert.match(response.headers()['content-type'] ?? '', /^text\/html/, 'an HTML page');
  await checkPage(page, name);
}

test('pushed authorization request: the browser carries only client_id and request_uri, once', async ({ page, rec, server }, t) => {
  const { session, authorize } = await signInAt(parRP, rec, { name: 'par' });
  const q = authorize.searchParams;
  assert.deepEqual([...q.keys()].sort(), ['client_id', 'request_uri'], `the authorization URL: ${authorize}`);
  assert.equal(q.get('client_id'), server.setup.par);
  assert.match(q.get('request_uri'), /^urn:ietf:params:oauth:request_uri:\S+$/);
  assert.equal(session.authorizationURL.href, authorize.href, 'the URL openid-client built after pushing');
  assert.equal(session.callbackURL.searchParams.get('state'), session.state, 'the state pushed comes back');
  assert.ok([].concat(session.idClaims.aud).includes(server.setup.par), `aud ${session.idClaims.aud} names the client`);

  // The same request_uri again, in the same signed-in browser (where a
  // usable request would go straight back to the client with a code).
  const toClient = requestsTo(page.context(), parRP.url);
  rec.a11y = false; // checked below
  const response = await rec.goto(authorize.href, 'par-request-uri-again');
  await expectRefusedAtPortvakt(rec, t, { response, toClient, says: /invalid_request_uri/, name: 'request_uri used twice' });
});

test('pushed authorization requests required: a plain authorization URL is refused', async ({ page, rec, server }, t) => {
  const config = await parRP.configure();
  const plain = client.buildAuthorizationUrl(config, {
    redirect_uri: parRP.callbackURL,
    scope: 'openid profile email',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
    state: client.randomState(),
    nonce: client.randomNonce(),
  });
  assert.equal(plain.searchParams.get('client_id'), server.setup.par);
  assert.equal(plain.searchParams.has('request_uri'), false, 'a request that was not pushed');
  const toClient = requestsTo(page.context(), parRP.url);
  rec.a11y = false; // checked below
  const response = await rec.goto(plain.href, 'par-required');
  await expectRefusedAtPortvakt(rec, t, { response, toClient, says: /push/, name: 'unpushed request' });
});

/** openid-client configured for the signing service, signing with key. */
function serviceConfig(key) {
  return client.discovery(new URL(state.server.url), state.server.setup.service, undefined,
    client.PrivateKeyJwt({ key, kid: serviceKID }), { execute: [client.allowInsecureRequests] });
}

test('private_key_jwt: client credentials for a signed assertion; an RFC 9068 access token', async ({ server }) => {
  const config = await serviceConfig(serviceKeys.privateKey);
  assert.ok(config.serverMetadata().token_endpoint_auth_methods_supported?.includes('private_key_jwt'),
    'discovery lists private_key_jwt');
  let tokens;
  try {
    tokens = await client.clientCredentialsGrant(config, { scope: 'portvakt:users:read' });
  } catch (err) {
    assert.fail(`client credentials with the registered key: ${describe(err)}`);
  }
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  assert.equal(tokens.scope, 'portvakt:users:read');
  assert.equal(tokens.refresh_token, undefined, 'no refresh token for client credentials');

  const { header, claims } = verifyJWT(tokens.access_token, await fetchJWKS(server.url));
  assert.equal(header.typ, 'at+jwt', 'an RFC 9068 access token');
  assert.equal(header.alg, 'ES256');
  assert.equal(claims.iss, server.url);
  assert.equal(claims.client_id, server.setup.service);
  assert.equal(claims.sub, server.setup.service, 'the client acts for itself');
  assert.match(claims.jti ?? '', /\S/, 'a jti');
  assert.ok(claims.exp > Date.now() / 1000, `exp ${claims.exp} is in the future`);
  assert.equal(claims.scope, 'portvakt:users:read');

  // An assertion signed by a key the client never registered, under the
  // registered kid.
  const stranger = await serviceConfig(strangerKeys.privateKey);
  await assert.rejects(client.clientCredentialsGrant(stranger, { scope: 'portvakt:users:read' }), (err) => {
    assert.equal(err.error, 'invalid_client', `an assertion signed with another key: ${describe(err)}`);
    assert.equal(err.status, 401);
    return true;
  });
});

for (const alg of ['ES256', 'EdDSA']) {
  test(`ID token signed ${alg}, as the client registered`, async ({ rec, server }) => {
    const rp = alg === 'ES256' ? es256RP : eddsaRP;
    const clientID = alg === 'ES256' ? server.setup.es256 : server.setup.eddsa;
    // openid-client refuses an ID token signed with any other algorithm
    // than the id_token_signed_response_alg it was given, and checks the
    // signature against the provider's JWKS.
    assert.equal((await rp.configure()).clientMetadata().id_token_signed_response_alg, alg);
    const { session } = await signInAt(rp, rec, { name: alg.toLowerCase() });
    assert.ok([].concat(session.idClaims.aud).includes(clientID), `aud ${session.idClaims.aud} names the client`);
    const jwks = await fetchJWKS(server.url);
    const { header, claims } = verifyJWT(session.tokens.id_token, jwks);
    assert.equal(header.alg, alg, 'the ID token header');
    assert.equal(claims.sub, session.idClaims.sub);
    // The access token keeps its own algorithm.
    assert.equal(decodeJWT(session.tokens.access_token).header.alg, 'ES256');
  });
}

test('resource indicator: the access token is for the resource asked for', async ({ page, rec, server }) => {
  const { session, authorize } = await signInAt(apiRP, rec, { query: `?resource=${encodeURIComponent(api)}`, name: 'resource' });
  assert.equal(authorize.searchParams.get('resource'), api, 'the authorization request names the resource');
  const { header, claims } = verifyJWT(session.tokens.access_token, await fetchJWKS(server.url));
  assert.equal(header.typ, 'at+jwt');
  // Registered for two audiences, asked for one: only that one.
  assert.deepEqual([].concat(claims.aud), [api], 'aud is the resource');
  assert.equal(claims.client_id, server.setup.api);
  assert.equal(claims.sub, session.idClaims.sub, 'the access token is the person\'s');
  const info = await client.fetchUserInfo(await apiRP.configure(), session.tokens.access_token, claims.sub);
  assert.equal(info.email, grace.email, 'the access token works at userinfo');

  // A resource the client is not registered for: the error goes back to
  // the client (RFC 8707, section 2), which shows it.
  const res = await rec.goto(`${apiRP.url}/login?resource=${encodeURIComponent('https://elsewhere.example.com/')}`, 'resource-refused');
  assert.equal(new URL(page.url()).origin, apiRP.url, `back at the client: ${page.url()}`);
  assert.equal(res.status(), 400, 'the client could not sign in');
  const callback = new URL(page.url());
  assert.equal(callback.pathname, '/callback');
  assert.equal(callback.searchParams.get('error'), 'invalid_target');
  assert.equal(callback.searchParams.has('code'), false, 'no code');
  await expectPage(rec, { path: '/callback', h1: 'Sign-in failed', text: /invalid_target/ });
});
