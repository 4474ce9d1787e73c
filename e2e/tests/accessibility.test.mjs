// Accessibility smoke checks. Every page any test visits is checked for
// <html lang>, one <h1>, labelled inputs and no horizontal scrolling (see
// lib/a11y.mjs); here the pages are also visited on a phone-sized screen,
// with validation errors showing, and signed into with the keyboard only.
import assert from 'node:assert/strict';
import { suite } from '../lib/harness.mjs';
import { uniqueEmail } from '../lib/env.mjs';
import { pageFacts } from '../lib/a11y.mjs';
import {
  t, alertText, expectPage, expectAccount, register, verificationMail, enterCode, signOut, submitLogin,
} from '../lib/steps.mjs';

const { test } = suite();
const password = 'tangerine-orbit-velvet-42';
const phone = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

/** Asserts the phone page does not scroll sideways (checkPage does too; this names it). */
async function fitsPhone(page) {
  const f = await pageFacts(page);
  assert.equal(f.clientWidth, 390, 'the phone viewport is 390 px wide');
  assert.ok(
    f.scrollWidth <= f.innerWidth && f.scrollWidth <= f.clientWidth,
    `${page.url()}: scrolls sideways: scrollWidth ${f.scrollWidth}, innerWidth ${f.innerWidth}, clientWidth ${f.clientWidth}`,
  );
}

test('every page fits a 390×844 phone screen and passes the smoke checks', async ({ open, mailbox, server }) => {
  const { page, rec } = await open({ ...phone, label: 'phone' });
  const email = uniqueEmail('phone');

  // Registration, first with every field wrong: errors are tied to fields.
  await rec.goto('/registration', 'registration');
  await fitsPhone(page);
  await page.getByLabel(t('en', 'field.email.label')).fill('not-an-address');
  await rec.click(page.getByRole('button', { name: t('en', 'registration.submit') }), 'registration-errors');
  await expectPage(rec, { path: '/registration', status: 400, h1: 'Create account' });
  assert.equal(await alertText(page), t('en', 'form.has_errors'));
  const emailInput = page.getByLabel(t('en', 'field.email.label'));
  assert.equal(await emailInput.getAttribute('aria-invalid'), 'true');
  assert.equal(await emailInput.getAttribute('aria-describedby'), 'email-error');
  assert.equal(await page.locator('#email-error').innerText(), t('en', 'field.email.invalid'));
  const pw = page.getByLabel(t('en', 'field.password.new_label'), { exact: true });
  assert.equal(await pw.getAttribute('aria-invalid'), 'true');
  assert.equal(await pw.getAttribute('aria-describedby'), 'password-hint password-error');
  assert.equal(await page.locator('#password-error').innerText(), t('en', 'field.password.required'));
  await fitsPhone(page);

  // A long address must wrap, not widen the page.
  await register(rec, { email, password, givenName: 'Aino', familyName: 'Väisänen-Lindqvist-Oksanen' });
  await fitsPhone(page);

  // A wrong code: the error is tied to the field.
  await page.getByLabel(t('en', 'field.code.label'), { exact: true }).fill('000000');
  await rec.click(page.getByRole('button', { name: t('en', 'verification.submit') }), 'verification-wrong-code');
  await expectPage(rec, { path: '/verification', status: 400 });
  const code = page.getByLabel(t('en', 'field.code.label'), { exact: true });
  assert.equal(await code.getAttribute('aria-invalid'), 'true');
  assert.equal(await code.getAttribute('aria-describedby'), 'code-hint code-error');
  assert.equal(await page.locator('#code-error').innerText(), t('en', 'verification.wrong_code'));

  const mail = await verificationMail(mailbox, { email, server });
  await enterCode(rec, { code: mail.code, email });
  await fitsPhone(page);
  // The account's own pages: the address, the password, the applications.
  for (const [path, h1] of [['/account/email', 'email_change.title'], ['/account/password', 'password_change.title'], ['/account/applications', 'applications.title']]) {
    await rec.goto(path, path.slice(1).replaceAll('/', '-'));
    await expectPage(rec, { path, status: 200, h1: t('en', h1) });
    await fitsPhone(page);
  }
  await rec.goto('/account', 'account');
  await signOut(rec);
  await fitsPhone(page);

  await rec.goto('/login', 'login');
  await submitLogin(rec, { email, password: 'not-the-password', name: 'login-failed' });
  await expectPage(rec, { status: 401 });
  await fitsPhone(page);
  await rec.goto('/login', 'login');
  await rec.click(page.getByRole('button', { name: t('en', 'login.submit') }), 'login-empty');
  await expectPage(rec, { path: '/login', status: 400 });
  assert.equal(await page.locator('#email-error').innerText(), t('en', 'field.email.required'));
  assert.equal(await page.locator('#password-error').innerText(), t('en', 'field.password.required'));

  await rec.goto('/recovery', 'recovery');
  await page.getByLabel(t('en', 'field.email.label')).fill('nobody');
  await rec.click(page.getByRole('button', { name: t('en', 'recovery.submit') }), 'recovery-invalid');
  await expectPage(rec, { path: '/recovery', status: 400 });
  assert.equal(await page.getByLabel(t('en', 'field.email.label')).getAttribute('aria-invalid'), 'true');
  // An address without an account gets the same answer as one with.
  await page.getByLabel(t('en', 'field.email.label')).fill(uniqueEmail('nobody'));
  await rec.click(page.getByRole('button', { name: t('en', 'recovery.submit') }), 'recovery-sent');
  await expectPage(rec, { path: '/recovery', status: 200, h1: t('en', 'recovery.sent.title') });

  // Message and error pages.
  await rec.goto('/reset?token=not-a-token', 'reset-invalid');
  await expectPage(rec, { status: 410, h1: t('en', 'reset.invalid.title') });
  await rec.goto('/verify?token=not-a-token', 'verify-invalid');
  await expectPage(rec, { status: 410, h1: t('en', 'verify_link.invalid.title') });
  await rec.goto('/verification?flow=gone', 'verification-expired');
  await expectPage(rec, { status: 410, h1: t('en', 'error.flow_expired.title') });
  await rec.goto('/logged-out', 'logged-out');
  for (const lang of ['sv', 'fi']) {
    await rec.goto(`/registration?lang=${lang}`, `registration-${lang}`);
    await expectPage(rec, { lang, h1: t(lang, 'registration.title') });
    await fitsPhone(page);
  }
});

/**
 * A long address as people really have them: dotted, no hyphens, so the
 * browser finds no place to break it (about 60 characters).
 */
const longEmail = (tag) => `aino.vaisanen.lindqvist.${tag}${Date.now().toString(36)}@customerservice.example.test`;

test('a long email address wraps on a phone screen instead of widening the page', async ({ open, mailbox, server }) => {
  const { page, rec } = await open({ ...phone, label: 'phone' });
  const email = longEmail('long');
  // register() checks each page it lands on, the verification page (which
  // shows the address in its text) included.
  await register(rec, { email, password });
  await fitsPhone(page);
  await enterCode(rec, { code: (await verificationMail(mailbox, { email, server })).code, email });
  await fitsPhone(page);
  await signOut(rec);
  // "Check your email" repeats the address; one without an account gets the same page.
  const unknown = longEmail('unknown');
  await rec.goto('/recovery', 'recovery');
  await page.getByLabel(t('en', 'field.email.label')).fill(unknown);
  await rec.click(page.getByRole('button', { name: t('en', 'recovery.submit') }), 'recovery-sent');
  await expectPage(rec, { path: '/recovery', status: 200, text: t('en', 'recovery.sent.text', { Email: unknown }) });
  await fitsPhone(page);
});

test('the reset-password pages fit a phone screen', async ({ open, mailbox, server }) => {
  const { page, rec } = await open({ ...phone, label: 'phone' });
  const email = longEmail('reset');
  await register(rec, { email, password });
  await enterCode(rec, { code: (await verificationMail(mailbox, { email, server })).code, email });
  await signOut(rec);
  await rec.goto('/recovery', 'recovery');
  await page.getByLabel(t('en', 'field.email.label')).fill(email);
  await rec.click(page.getByRole('button', { name: t('en', 'recovery.submit') }), 'recovery-sent');
  await expectPage(rec, { path: '/recovery', status: 200, h1: t('en', 'recovery.sent.title') });
  const mail = await mailbox.waitFor({ to: email, subjectIncludes: 'Reset your password' });
  const link = mail.links.find((l) => l.startsWith(`${server.url}/reset?token=`));
  await rec.goto(link, 'reset');
  await expectPage(rec, { path: '/reset', status: 200, h1: t('en', 'reset.title'), text: t('en', 'reset.for', { Email: email }) });
  await fitsPhone(page);
  await page.getByLabel(t('en', 'field.password.new_label'), { exact: true }).fill('short');
  await rec.click(page.getByRole('button', { name: t('en', 'reset.submit') }), 'reset-too-short');
  await expectPage(rec, { path: '/reset', status: 400, h1: t('en', 'reset.title') });
  assert.equal(await page.locator('#password-error').innerText(), t('en', 'field.password.too_short', { Min: 8 }));
  await page.getByLabel(t('en', 'field.password.new_label'), { exact: true }).fill('marmalade-comet-harbour-77');
  await rec.click(page.getByRole('button', { name: t('en', 'reset.submit') }), 'reset-done');
  await expectPage(rec, { path: '/reset', status: 200, h1: t('en', 'reset.done.title') });
  await fitsPhone(page);
});

test('keyboard only: Tab reaches every field and the button in order, Enter signs in', async ({ rec, open, mailbox, server }) => {
  const email = uniqueEmail('keyboard');
  await register(rec, { email, password });
  await enterCode(rec, { code: (await verificationMail(mailbox, { email, server })).code, email });
  await signOut(rec);

  const { page: kb, rec: krec } = await open({ label: 'keyboard' });
  await krec.goto('/login', 'login');
  const focused = () =>
    kb.evaluate(() => {
      const el = document.activeElement;
      const s = el ? getComputedStyle(el) : null;
      return {
        tag: el?.tagName.toLowerCase(),
        id: el?.id || '',
        type: el?.getAttribute('type') || '',
        text: (el?.textContent || '').trim(),
        outline: s ? s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2 : false,
      };
    });

  // The page opens with the cursor in the email field (autofocus).
  assert.equal((await focused()).id, 'email', 'the email field has focus on load');

  // Shift+Tab walks back through the header to the skip link, the first stop.
  const back = [];
  for (let i = 0; i < 10; i++) {
    await kb.keyboard.press('Shift+Tab');
    const f = await focused();
    back.push(f.id || `${f.tag}:${f.text}`);
    if (f.text === t('en', 'common.skip_to_content')) break;
  }
  const skip = `a:${t('en', 'common.skip_to_content')}`;
  assert.equal(back.at(-1), skip, `Shift+Tab from the email field went: ${back.join(' ← ')}`);
  assert.deepEqual(back.filter((x) => /^a:(English|Svenska|Suomi)$/.test(x)), ['a:Suomi', 'a:Svenska', 'a:English'],
    `the language links are in the tab order: ${back.join(' ← ')}`);
  assert.ok((await focused()).outline, 'the focused skip link has a visible outline');

  // From there, Tab forward through the whole page, typing into the fields.
  const order = [];
  let submitted = false;
  for (let i = 0; i < 20 && !submitted; i++) {
    await kb.keyboard.press('Tab');
    const f = await focused();
    order.push(f.id || `${f.tag}:${f.text}`);
    if (f.tag === 'input' || f.tag === 'button') assert.ok(f.outline, `focus on ${f.id || f.text} is visible`);
    if (f.id === 'email') await kb.keyboard.type(email);
    if (f.id === 'password') await kb.keyboard.type(password);
    if (f.tag === 'button' && f.type === 'submit') {
      assert.equal(f.text, t('en', 'login.submit'));
      await krec.press('Enter', 'account');
      submitted = true;
    }
  }
  assert.ok(submitted, `Tab never reached the sign-in button; focus went: ${order.join(' → ')}`);
  const fields = order.filter((x) => ['email', 'password'].includes(x));
  assert.deepEqual(fields, ['email', 'password'], `focus order: ${order.join(' → ')}`);
  await expectAccount(krec, { email });
});
