// Password guessing is slowed down per account: five wrong passwords cost
// nothing, then each failure makes the next attempt wait (30 s, doubling).
import assert from 'node:assert/strict';
import { suite } from '../lib/harness.mjs';
import { uniqueEmail } from '../lib/env.mjs';
import {
  t, alertText, expectPage, expectLoginFailed, expectSignedOut, register, verificationMail, enterCode, signOut,
  submitLogin, signIn,
} from '../lib/steps.mjs';

const { test } = suite();

test('wrong passwords: error message, then "Too many attempts" (429) even for the right password', async ({ page, rec, open, mailbox, server }) => {
  const email = uniqueEmail('throttled');
  const password = 'tangerine-orbit-velvet-42';
  await register(rec, { email, password });
  await enterCode(rec, { code: (await verificationMail(mailbox, { email, server })).code, email });
  await signOut(rec);

  await rec.goto('/login', 'login');
  // Five free failures, and the sixth is still answered (it starts the wait).
  for (let i = 1; i <= 6; i++) {
    const res = await submitLogin(rec, { email, password: `wrong-guess-${i}-xyz`, name: `login-wrong-${i}` });
    assert.equal(res.status(), 401, `wrong password #${i}`);
    await expectLoginFailed(rec, { email });
  }

  // The seventh attempt must wait.
  const res = await submitLogin(rec, { email, password: 'wrong-guess-7-xyz', name: 'login-throttled' });
  assert.equal(res.status(), 429);
  const retryAfter = Number(await res.headerValue('retry-after'));
  assert.ok(retryAfter >= 25 && retryAfter <= 32, `Retry-After ${retryAfter} s, want about 30`);
  await expectPage(rec, {
    status: 429,
    lang: 'en',
    h1: 'Too many attempts',
    text: /For your security, please wait (2[5-9]|3[0-2]) seconds before trying again\./,
  });
  assert.equal(await page.getByLabel(t('en', 'field.password.label'), { exact: true }).count(), 0, 'no sign-in form while throttled');
  const again = page.getByRole('link', { name: t('en', 'common.try_again') });
  assert.match(await again.getAttribute('href'), /^\/login\?flow=/);

  // Even the right password is refused while the wait lasts.
  await rec.click(again, 'login-try-again');
  await expectPage(rec, { path: '/login', status: 200, h1: 'Sign in' });
  const right = await submitLogin(rec, { email, password, name: 'login-right-password-throttled' });
  assert.equal(right.status(), 429);
  await expectPage(rec, { h1: 'Too many attempts', text: /please wait \d+ seconds/ });
  await expectSignedOut(rec);

  // The wait is per account: another account signs in from the same address.
  const other = uniqueEmail('not-throttled');
  const b = await open({ label: 'other-user' });
  await register(b.rec, { email: other, password });
  await enterCode(b.rec, { code: (await verificationMail(mailbox, { email: other, server })).code, email: other });
  await signOut(b.rec);
  await signIn(b.rec, { email: other, password });
  assert.equal(await alertText(b.page), '');
});
