// The whole life of an account in English: register, verify by code or by
// the mailed link, sign out and in, forget the password and reset it.
import assert from 'node:assert/strict';
import { suite } from '../lib/harness.mjs';
import { uniqueEmail } from '../lib/env.mjs';
import {
  t, alertText, expectPage, expectAccount, expectLoginFailed, expectSignedOut,
  register, verificationMail, enterCode, signOut, signIn, submitLogin,
} from '../lib/steps.mjs';

const { test } = suite();

test('happy path: register, verify by code, sign out and in, reset the password', async ({ page, rec, mailbox, server }) => {
  const email = uniqueEmail('happy');
  const password = 'tangerine-orbit-velvet-42';
  const newPassword = 'marmalade-comet-harbour-77';

  await register(rec, { email, password, givenName: 'Astrid' });

  const mail = await verificationMail(mailbox, { email, server });
  assert.equal(mail.subject, 'Verify your email address for Portvakt');
  assert.match(mail.text, /^Hello Astrid,/, 'the mail greets the person by name');

  await enterCode(rec, { code: mail.code, email });
  assert.equal(await page.getByLabel(t('en', 'field.given_name.label')).inputValue(), 'Astrid');

  await signOut(rec);
  await expectSignedOut(rec);

  // The signed-out page's link leads to sign-in.
  await rec.goto('/logged-out', 'logged-out');
  await rec.click(page.getByRole('link', { name: t('en', 'login.submit') }), 'login');
  await expectPage(rec, { path: '/login', status: 200, h1: 'Sign in' });
  await submitLogin(rec, { email, password, name: 'account' });
  await expectAccount(rec, { email, verified: true });
  await signOut(rec);

  // Forgot the password.
  await rec.goto('/login', 'login');
  await rec.click(page.getByRole('link', { name: 'Forgot your password?' }), 'recovery');
  await expectPage(rec, { path: '/recovery', status: 200, h1: t('en', 'recovery.title'), text: t('en', 'recovery.text') });
  await page.getByLabel(t('en', 'field.email.label')).fill(email);
  await rec.click(page.getByRole('button', { name: t('en', 'recovery.submit') }), 'recovery-sent');
  await expectPage(rec, {
    path: '/recovery',
    status: 200,
    h1: 'Check your email',
    text: t('en', 'recovery.sent.text', { Email: email }),
  });

  const reset = await mailbox.waitFor({ to: email, subjectIncludes: 'Reset your password' });
  assert.equal(reset.subject, 'Reset your password for Portvakt');
  assert.ok(reset.text.includes(t('en', 'mail.reset_password.intro')), reset.text);
  const link = reset.links.find((l) => l.startsWith(`${server.url}/reset?token=`));
  assert.ok(link, `a /reset?token= link in the mail; links: ${reset.links.join(' ')}`);

  await rec.goto(link, 'reset');
  await expectPage(rec, {
    path: '/reset',
    status: 200,
    h1: t('en', 'reset.title'),
    text: t('en', 'reset.for', { Email: email }),
  });
  await page.getByLabel(t('en', 'field.password.new_label'), { exact: true }).fill(newPassword);
  await rec.click(page.getByRole('button', { name: t('en', 'reset.submit') }), 'reset-done');
  await expectPage(rec, { path: '/reset', status: 200, h1: 'Password changed', text: t('en', 'reset.done.text') });

  const changed = await mailbox.waitFor({ to: email, subjectIncludes: 'password was changed' });
  assert.equal(changed.subject, 'Your Portvakt password was changed');

  // The reset link works once.
  await rec.goto(link, 'reset-again');
  await expectPage(rec, { path: '/reset', status: 410, h1: t('en', 'reset.invalid.title') });

  // The old password no longer works; the new one does.
  await rec.goto('/login', 'login');
  await submitLogin(rec, { email, password, name: 'login-old-password' });
  await expectLoginFailed(rec, { email });
  assert.equal(await alertText(page), 'The email address or password is wrong. Check them and try again.');
  await submitLogin(rec, { email, password: newPassword, name: 'account' });
  await expectAccount(rec, { email, verified: true });
});

test('verification by the link in the mail, opened in another browser', async ({ rec, open, mailbox, server }) => {
  const email = uniqueEmail('link');
  const password = 'tangerine-orbit-velvet-42';
  await register(rec, { email, password });
  const mail = await verificationMail(mailbox, { email, server });
  assert.equal(mail.subject, 'Verify your email address for Portvakt');

  // The link is opened where the mail is read: a browser with no cookies.
  const other = await open({ label: 'mail-client' });
  await other.rec.goto(mail.link, 'verify-link');
  await expectPage(other.rec, {
    path: '/verify',
    status: 200,
    lang: 'en',
    h1: 'Email verified',
    text: t('en', 'verified.text'),
  });

  // Once only.
  await other.rec.goto(mail.link, 'verify-link-again');
  await expectPage(other.rec, { path: '/verify', status: 410, h1: t('en', 'verify_link.invalid.title') });

  // That browser is not signed in by the link; signing in shows the address verified.
  await expectSignedOut(other.rec);
  await signIn(other.rec, { email, password });
  await expectAccount(other.rec, { email, verified: true });
});
