// The pages are rendered on the server and work with JavaScript off.
import assert from 'node:assert/strict';
import { suite } from '../lib/harness.mjs';
import { uniqueEmail } from '../lib/env.mjs';
import {
  expectAccount, expectLoginFailed, expectSignedOut, register, verificationMail, enterCode, signOut, signIn, submitLogin,
} from '../lib/steps.mjs';

const { test } = suite({ context: { javaScriptEnabled: false } });

test('registration, verification and sign-in work with JavaScript disabled', async ({ page, rec, mailbox, server }) => {
  // Prove that this browser runs no page scripts.
  await page.setContent('<p id="p">off</p><script>document.getElementById("p").textContent = "on"</script>');
  assert.equal(await page.locator('#p').innerText(), 'off', 'JavaScript is disabled in this context');

  const email = uniqueEmail('nojs');
  const password = 'tangerine-orbit-velvet-42';
  await register(rec, { email, password, givenName: 'Noscript' });
  assert.equal(await page.locator('script').count(), 0, 'the pages need no scripts');
  await enterCode(rec, { code: (await verificationMail(mailbox, { email, server })).code, email });
  await signOut(rec);
  await expectSignedOut(rec);

  await submitLogin(rec, { email, password: 'not-the-password', name: 'login-failed' });
  await expectLoginFailed(rec, { email });
  await submitLogin(rec, { email, password, name: 'account' });
  await expectAccount(rec, { email, verified: true });
  await signOut(rec);
  await signIn(rec, { email, password });
});
