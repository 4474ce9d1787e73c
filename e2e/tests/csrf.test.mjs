// Forms are protected against cross-site request forgery: a post without
// the form's csrf_token, with a wrong one, or from another origin is
// refused with 403 and a translated message, and changes nothing.
import assert from 'node:assert/strict';
import { suite } from '../lib/harness.mjs';
import { uniqueEmail } from '../lib/env.mjs';
import {
  t, alertText, expectPage, expectAccount, expectSignedOut, register, verificationMail, enterCode, signOut, submitLogin,
} from '../lib/steps.mjs';

const { test } = suite();
const password = 'tangerine-orbit-velvet-42';
let email;

/** Registers and verifies the account the tests sign in with, then signs out. */
async function ensureUser(rec, mailbox, server) {
  if (email) return email;
  const e = uniqueEmail('csrf');
  await register(rec, { email: e, password });
  await enterCode(rec, { code: (await verificationMail(mailbox, { email: e, server })).code, email: e });
  await signOut(rec);
  email = e;
  return e;
}

test('sign-in form without csrf_token: 403 "form has expired", not signed in', async ({ page, rec, mailbox, server }) => {
  await ensureUser(rec, mailbox, server);
  await rec.goto('/login', 'login');
  const removed = await page.evaluate(() => {
    const input = document.querySelector('form input[name="csrf_token"]');
    input?.remove();
    return Boolean(input);
  });
  assert.ok(removed, 'the sign-in form has a hidden csrf_token field');
  const res = await submitLogin(rec, { email, password, name: 'login-without-csrf' });
  assert.equal(res.status(), 403);
  await expectPage(rec, { status: 403, lang: 'en', h1: t('en', 'error.title') });
  assert.equal(await alertText(page), t('en', 'error.csrf'));
  assert.match(await alertText(page), /This form has expired/);
  await expectSignedOut(rec);
});

test('the refusal is translated (Swedish) and a wrong token or foreign origin is refused too', async ({ page, rec, mailbox, server }) => {
  await ensureUser(rec, mailbox, server);
  await rec.goto('/login?lang=sv', 'login-sv');
  await expectPage(rec, { path: '/login', status: 200, lang: 'sv', h1: 'Logga in' });
  await page.evaluate(() => document.querySelector('form input[name="csrf_token"]').remove());
  const res = await submitLogin(rec, { email, password, lang: 'sv', name: 'login-sv-without-csrf' });
  assert.equal(res.status(), 403);
  await expectPage(rec, { status: 403, lang: 'sv', h1: 'Något gick fel' });
  assert.equal(await alertText(page), t('sv', 'error.csrf'));
  assert.match(await alertText(page), /^Formuläret har gått ut/);

  // Posts from Node with this browser's cookies (page.request shares them).
  await rec.goto('/login', 'login-sv-again');
  const action = new URL(await page.locator('form[method="post"]').getAttribute('action'), server.url).toString();
  const token = await page.locator('input[name="csrf_token"]').inputValue();
  assert.equal(token.length, 43, 'the token is 32 random bytes, base64url');
  const post = (form, headers = {}) => page.request.post(action, { form, headers, maxRedirects: 0 });

  const noToken = await post({ email, password });
  assert.equal(noToken.status(), 403);
  assert.ok((await noToken.text()).includes(t('sv', 'error.csrf')), 'the Swedish message, by the language cookie');

  const wrong = await post({ csrf_token: 'A'.repeat(43), email, password });
  assert.equal(wrong.status(), 403, 'a token not matching the cookie');

  const foreign = await post({ csrf_token: token, email, password }, { Origin: 'https://evil.example' });
  assert.equal(foreign.status(), 403, 'a post from another origin');

  await expectSignedOut(rec, { lang: 'sv' });

  // The same request with the token and this origin does sign in: the
  // refusals above were for the token, not the request.
  const ok = await post({ csrf_token: token, email, password }, { Origin: server.url });
  assert.equal(ok.status(), 303);
  assert.equal(ok.headers().location, '/account');
  await rec.goto('/account', 'account');
  await expectAccount(rec, { email, lang: 'sv' });
});

test('sign-out without csrf_token is refused and the session stays', async ({ page, rec, mailbox, server }) => {
  await ensureUser(rec, mailbox, server);
  await rec.goto('/login', 'login');
  await submitLogin(rec, { email, password, name: 'account' });
  await expectAccount(rec, { email });
  await page.evaluate(() => document.querySelector('form[action="/logout"] input[name="csrf_token"]').remove());
  const res = await rec.click(page.getByRole('button', { name: t('en', 'account.sign_out') }), 'logout-without-csrf');
  assert.equal(res.status(), 403);
  await expectPage(rec, { path: '/logout', h1: t('en', 'error.title') });
  assert.equal(await alertText(page), t('en', 'error.csrf'));
  await rec.goto('/account', 'account-still-signed-in');
  await expectAccount(rec, { email });
  assert.ok(server.running(), 'the server is still up');
});
