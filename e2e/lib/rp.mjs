// A tiny relying party: a web application that signs its users in with
// Portvakt through panva's openid-client, as a real application would. It
// runs in the test process (node:http on 127.0.0.1), so the browser
// follows real redirects to and from it; nothing is intercepted.
//
//   GET /           home page with a "Sign in" link
//   GET /login      starts the code flow (also the initiate login URI: an
//                   iss other than the issuer is refused): PKCE S256, state and nonce kept in
//                   the RP's own session (cookie rp_sid); ui_locales,
//                   login_hint, resource, acr_values, claims and organization in the query
//                   are passed on; with
//                   par, the request is pushed first (RFC 9126) and the
//                   browser carries only client_id and request_uri
//   GET /callback   authorizationCodeGrant (checks state, iss, the ID
//                   token and its nonce), fetchUserInfo; shows the claims
//   GET /logout     RP-initiated logout: to the end_session endpoint
//   GET /logged-out where end_session sends the browser back
//
// The pages pass the accessibility smoke checks every visited page gets.
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import * as client from 'openid-client';

const COOKIE = 'rp_sid';

/**
 * @typedef {object} RPSession
 * @property {string} [codeVerifier]
 * @property {string} [state]
 * @property {string} [nonce]
 * @property {URL}    [authorizationURL]  the authorization request sent
 * @property {URL}    [callbackURL]       the authorization response received
 * @property {import('openid-client').TokenEndpointResponse & import('openid-client').TokenEndpointResponseHelpers} [tokens]
 * @property {import('openid-client').IDToken} [idClaims]
 * @property {import('openid-client').UserInfoResponse} [userinfo]
 * @property {string} [logoutState]
 * @property {URLSearchParams} [loggedOut]  the query end_session came back with
 */

/**
 * Starts the relying party on a free port. register() tells it its client
 * registration; it runs discovery at the first sign-in, as an application
 * would once Portvakt is up.
 *
 * opts.par pushes every authorization request (buildAuthorizationUrlWithPAR);
 * opts.metadata is client metadata for openid-client, e.g.
 * id_token_signed_response_alg, which it then holds the ID token to;
 * opts.verifySignatures has it also check the ID token's signature against
 * the provider's JWKS (openid-client skips that for tokens it received
 * directly from the token endpoint).
 * @param {{par?: boolean, metadata?: Partial<import('openid-client').ClientMetadata>, verifySignatures?: boolean}} [opts]
 */
export async function startRelyingParty({ par = false, metadata, verifySignatures = false } = {}) {
  /** @type {Map<string, RPSession>} */
  const sessions = new Map();
  /** @type {{issuer: string, clientId: string, clientSecret: string} | undefined} */
  let registration;
  /** @type {import('openid-client').Configuration | undefined} */
  let config;

  /** Discovery against Portvakt: the client is confidential (client_secret_basic). */
  async function configure() {
    if (config) return config;
    if (!registration) throw new Error('the relying party has no client registration yet');
    const { issuer, clientId, clientSecret } = registration;
    const execute = [client.allowInsecureRequests]; // Portvakt runs on http://127.0.0.1 in the tests.
    if (verifySignatures) execute.push(client.enableNonRepudiationChecks);
    config = await client.discovery(new URL(issuer), clientId, metadata, client.ClientSecretBasic(clientSecret), { execute });
    return config;
  }
  const errors = [];

  const server = http.createServer((req, res) => {
    handle(req, res).catch((err) => {
      errors.push(err);
      if (!res.headersSent) page(res, 500, 'Something went wrong', `<p role="alert">${esc(describe(err))}</p>`);
      else res.end();
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const url = `http://127.0.0.1:${server.address().port}`;

  async function handle(req, res) {
    const here = new URL(req.url, url);
    const sid = cookies(req)[COOKIE];
    let s = sid ? sessions.get(sid) : undefined;
    if (req.method !== 'GET') return page(res, 405, 'Method not allowed', '');
    switch (here.pathname) {
      case '/':
        return page(res, 200, 'Test RP', '<p><a href="/login">Sign in with Portvakt</a></p>');

      case '/login': {
        await configure();
        // Third-party-initiated login (OpenID Connect Core, section 4):
        // an iss that is not this RP's issuer is refused.
        if (here.searchParams.has('iss') && here.searchParams.get('iss') !== config.serverMetadata().issuer) {
          return page(res, 400, 'Unknown issuer', `<p>${esc(here.searchParams.get('iss'))} is not this application's issuer.</p>`);
        }
        const id = randomBytes(16).toString('base64url');
        s = {
          codeVerifier: client.randomPKCECodeVerifier(),
          state: client.randomState(),
          nonce: client.randomNonce(),
        };
        sessions.set(id, s);
        const params = {
          redirect_uri: `${url}/callback`,
          scope: 'openid profile email offline_access',
          code_challenge: await client.calculatePKCECodeChallenge(s.codeVerifier),
          code_challenge_method: 'S256',
          state: s.state,
          nonce: s.nonce,
          // offline_access needs consent; first-party clients are not asked.
          prompt: 'consent',
        };
        for (const k of ['ui_locales', 'login_hint', 'resource', 'acr_values', 'claims', 'organization']) if (here.searchParams.has(k)) params[k] = here.searchParams.get(k);
        s.authorizationURL = par
          ? await client.buildAuthorizationUrlWithPAR(config, params)
          : client.buildAuthorizationUrl(config, params);
        res.setHeader('Set-Cookie', `${COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax`);
        res.writeHead(303, { Location: s.authorizationURL.href }).end();
        return undefined;
      }

      case '/callback': {
        if (!s?.state) return page(res, 400, 'Sign-in failed', '<p role="alert">No sign-in was started in this browser.</p>');
        s.callbackURL = here;
        try {
          // Checks the response's state and iss (RFC 9207: Portvakt's
          // discovery says it sends iss, so it must be there and right),
          // sends the PKCE verifier, validates the ID token (signature,
          // iss, aud, exp, iat) and its nonce.
          s.tokens = await client.authorizationCodeGrant(config, here, {
            pkceCodeVerifier: s.codeVerifier,
            expectedState: s.state,
            expectedNonce: s.nonce,
            idTokenExpected: true,
          });
          s.idClaims = s.tokens.claims();
          s.userinfo = await client.fetchUserInfo(config, s.tokens.access_token, s.idClaims.sub);
        } catch (err) {
          errors.push(err);
          return page(res, 400, 'Sign-in failed', `<p role="alert">${esc(describe(err))}</p>`);
        }
        return page(res, 200, 'Signed in', [
          `<p>Welcome, <span id="welcome">${esc(s.userinfo.given_name ?? s.userinfo.email ?? s.userinfo.sub)}</span>.</p>`,
          '<h2>Userinfo</h2>',
          claimList('userinfo', s.userinfo),
          '<h2>ID token</h2>',
          claimList('id-token', s.idClaims),
          '<h2>Authorization response</h2>',
          claimList('response', { iss: here.searchParams.get('iss'), state_checked: true, nonce_checked: true }),
          '<p><a href="/logout">Sign out</a></p>',
        ].join('\n'));
      }

      case '/logout': {
        if (!s?.tokens) return page(res, 400, 'Not signed in', '<p role="alert">Not signed in.</p>');
        s.logoutState = client.randomState();
        const to = client.buildEndSessionUrl(config, {
          id_token_hint: s.tokens.id_token,
          post_logout_redirect_uri: `${url}/logged-out`,
          state: s.logoutState,
        });
        res.writeHead(303, { Location: to.href }).end();
        return undefined;
      }

      case '/logged-out': {
        const ok = s?.logoutState !== undefined && here.searchParams.get('state') === s.logoutState;
        if (s) s.loggedOut = here.searchParams;
        if (!ok) return page(res, 400, 'Sign-out failed', '<p role="alert">The sign-out response does not match the request (state).</p>');
        return page(res, 200, 'Signed out', '<p>You have signed out.</p><p><a href="/login">Sign in again</a></p>');
      }

      default:
        return page(res, 404, 'Not found', '');
    }
  }

  return {
    url,
    callbackURL: `${url}/callback`,
    loggedOutURL: `${url}/logged-out`,
    /** Errors the RP met (failed grants, bad responses), for messages. */
    errors,
    /** The client registration: the issuer (Portvakt's URL) and the credentials. */
    register({ issuer, clientId, clientSecret }) {
      registration = { issuer, clientId, clientSecret };
      config = undefined;
    },
    /** The openid-client Configuration, after discovery (at the first /login, or now). */
    configure,
    /** The RP session of a browser context (by its rp_sid cookie). */
    async sessionOf(context) {
      const c = (await context.cookies(url)).find((x) => x.name === COOKIE);
      return c ? sessions.get(c.value) : undefined;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function cookies(req) {
  const out = {};
  for (const part of (req.headers.cookie || '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

/** A <dl> of claims; each value is in <dd data-<kind>-claim="name">. */
function claimList(kind, claims) {
  const rows = Object.entries(claims).map(([k, v]) => {
    const text = typeof v === 'string' ? v : JSON.stringify(v);
    return `<dt>${esc(k)}</dt><dd data-${kind}-claim="${esc(k)}">${esc(text)}</dd>`;
  });
  return `<dl class="${kind}">${rows.join('')}</dl>`;
}

function page(res, status, title, body) {
  res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} – Test RP</title>
<style>body{font-family:sans-serif;max-width:40rem;margin:1rem auto;padding:0 1rem}dd{overflow-wrap:anywhere;margin:0 0 .5rem 1rem}</style>
</head><body><main><h1>${esc(title)}</h1>
${body}
</main></body></html>`);
}

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
}

/** An openid-client error with the server's error and description. */
export function describe(err) {
  const parts = [err.name, err.message];
  if (err.error) parts.push(`error=${err.error}`);
  if (err.error_description) parts.push(err.error_description);
  if (err.cause && typeof err.cause === 'object' && !(err.cause instanceof Error)) parts.push(JSON.stringify(err.cause));
  return parts.filter(Boolean).join(': ');
}
