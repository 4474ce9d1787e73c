// Reading and checking JWTs the provider issues, with Node's own crypto:
// an independent check beside the relying-party library's.
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';

/** The header and claims of a compact JWS, unverified. */
export function decodeJWT(jwt) {
  const parts = String(jwt).split('.');
  assert.equal(parts.length, 3, `a compact JWS has three parts: ${jwt}`);
  const json = (s) => JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  return { header: json(parts[0]), claims: json(parts[1]) };
}

/** The provider's published keys (its jwks_uri). */
export async function fetchJWKS(issuer) {
  const res = await fetch(`${issuer}/keys`);
  assert.equal(res.status, 200, `GET ${issuer}/keys`);
  const jwks = await res.json();
  assert.ok(Array.isArray(jwks.keys) && jwks.keys.length > 0, `keys at ${issuer}/keys: ${JSON.stringify(jwks)}`);
  return jwks;
}

// How each JWS algorithm verifies with node:crypto.
const algorithms = {
  RS256: { hash: 'sha256', kty: 'RSA' },
  ES256: { hash: 'sha256', kty: 'EC', crv: 'P-256', dsaEncoding: 'ieee-p1363' },
  EdDSA: { hash: null, kty: 'OKP', crv: 'Ed25519' },
};

/**
 * Asserts that jwt is signed by the key of jwks its header's kid names,
 * with that key's type for the header's alg; returns header and claims.
 */
export function verifyJWT(jwt, jwks) {
  const { header, claims } = decodeJWT(jwt);
  const alg = algorithms[header.alg];
  assert.ok(alg, `an algorithm this check knows: ${header.alg}`);
  assert.ok(header.kid, `the header names its key: ${JSON.stringify(header)}`);
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  assert.ok(jwk, `key ${header.kid} is published; kids: ${jwks.keys.map((k) => k.kid).join(' ')}`);
  assert.equal(jwk.kty, alg.kty, `key ${header.kid} is an ${alg.kty} key`);
  if (alg.crv) assert.equal(jwk.crv, alg.crv, `key ${header.kid} is on ${alg.crv}`);
  if (jwk.alg) assert.equal(jwk.alg, header.alg, `key ${header.kid} is for ${header.alg}`);
  const [h, p, s] = jwt.split('.');
  const key = createPublicKey({ key: jwk, format: 'jwk' });
  const ok = verify(alg.hash, Buffer.from(`${h}.${p}`), alg.dsaEncoding ? { key, dsaEncoding: alg.dsaEncoding } : key, Buffer.from(s, 'base64url'));
  assert.ok(ok, `the ${header.alg} signature verifies with key ${header.kid}`);
  return { header, claims };
}
