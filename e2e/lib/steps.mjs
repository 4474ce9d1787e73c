// User journeys shared by the tests, each asserting where the browser
// lands and what the page says. `lang` picks the expected texts.
import assert from 'node:assert/strict';
import { t, tRe } from './i18n.mjs';

/** Asserts the current page: path, status, <html lang>, <h1> and the text it should contain. */
export async function expectPage(rec, { path, status, lang, h1, text = [] }) {
  const page = rec.page;
  const url = new URL(page.url());
  if (path instanceof RegExp) assert.match(url.pathname + url.search, path, `URL ${page.url()}`);
  else if (path) assert.equal(url.pathname, path, `URL ${page.url()}`);
  if (status !== undefined) assert.equal(rec.response?.status(), status, `HTTP status of ${page.url()}`);
  if (lang) assert.equal(await page.locator('html').getAttribute('lang'), lang, `<html lang> of ${page.url()}`);
  if (h1) {
    const heading = (await page.locator('h1').innerText()).trim();
    if (h1 instanceof RegExp) assert.match(heading, h1);
    else assert.equal(heading, h1);
  }
  const body = await page.locator('main').innerText();
  for (const x of [].concat(text)) {
    if (x instanceof RegExp) assert.match(body, x, `page ${url.pathname}`);
    else assert.ok(body.includes(x), `page ${url.pathname} should say ${JSON.stringify(x)}; it says:\n${body}`);
  }
}

/** The visible text of the alert (role=alert) on the page, or "". */
export async function alertText(page) {
  const a = page.getByRole('alert');
  return (await a.count()) ? (await a.first().innerText()).trim() : '';
}

/**
 * Opens /registration (with query, e.g. "?ui_locales=sv"), fills it and
 * submits; asserts the verification page. Returns nothing.
 */
export async function register(rec, { email, password, givenName = '', familyName = '', lang = 'en', query = '' }) {
  const page = rec.page;
  await rec.goto(`/registration${query}`, 'registration');
  await expectPage(rec, { path: '/registration', status: 200, lang, h1: t(lang, 'registration.title') });
  assert.match(page.url(), /[?&]flow=[^&]+/, 'registration redirects to a flow');
  await page.getByLabel(t(lang, 'field.email.label')).fill(email);
  await page.getByLabel(t(lang, 'field.password.new_label'), { exact: true }).fill(password);
  if (givenName) await page.getByLabel(t(lang, 'field.given_name.label')).fill(givenName);
  if (familyName) await page.getByLabel(t(lang, 'field.family_name.label')).fill(familyName);
  await rec.click(page.getByRole('button', { name: t(lang, 'registration.submit') }), 'verification');
  await expectPage(rec, {
    path: '/verification',
    status: 200,
    lang,
    h1: t(lang, 'verification.title'),
    text: t(lang, 'verification.text', { Email: email }),
  });
}

/** Waits for the verification mail and checks it; returns it. */
export async function verificationMail(mailbox, { email, lang = 'en', server }) {
  const mail = await mailbox.waitFor({ to: email, subjectIncludes: t(lang, 'mail.verify_email.subject', { ProductName: 'Portvakt' }) });
  assert.equal(mail.fromHeader, 'no-reply@portvakt.test');
  assert.match(mail.code ?? '', /^\d{6}$/, `a 6-digit code in the mail:\n${mail.text}`);
  assert.ok(mail.text.includes(t(lang, 'mail.verify_email.intro')), `mail text in ${lang}:\n${mail.text}`);
  assert.ok(mail.text.includes(t(lang, 'mail.verify_email.code_intro')), `mail text in ${lang}:\n${mail.text}`);
  assert.ok(mail.html.includes(mail.code), 'the HTML part has the code too');
  const link = mail.links.find((l) => l.startsWith(`${server.url}/verify?token=`));
  assert.ok(link, `a ${server.url}/verify?token= link in the mail; links: ${mail.links.join(' ')}`);
  assert.ok(mail.html.includes(link.replace(/&/g, '&amp;')), 'the HTML part has the same link');
  assert.doesNotMatch(mail.text, /\bmail\.[a-z_]+\.[a-z_]+/, 'no untranslated message IDs in the mail');
  return { ...mail, link };
}

/** Enters the code on the verification page; asserts the account page. */
export async function enterCode(rec, { code, email, lang = 'en' }) {
  const page = rec.page;
  await page.getByLabel(t(lang, 'field.code.label'), { exact: true }).fill(code);
  await rec.click(page.getByRole('button', { name: t(lang, 'verification.submit') }), 'account');
  await expectAccount(rec, { email, lang, verified: true });
}

/** Asserts the account page of email. */
export async function expectAccount(rec, { email, lang = 'en', verified }) {
  await expectPage(rec, { path: '/account', status: 200, lang, h1: t(lang, 'account.title'), text: email });
  const profile = await rec.page.locator('dl.profile').innerText();
  assert.ok(profile.includes(email), `the account page shows ${email}: ${profile}`);
  if (verified !== undefined) {
    const marked = profile.includes(`(${t(lang, 'account.verified')})`);
    assert.equal(marked, verified, `account page marks the address ${verified ? '' : 'not '}verified: ${profile}`);
  }
}

/** Presses "Sign out" on the account page; asserts the signed-out page. */
export async function signOut(rec, { lang = 'en' } = {}) {
  await rec.click(rec.page.getByRole('button', { name: t(lang, 'account.sign_out') }), 'logged-out');
  await expectPage(rec, {
    path: '/logged-out',
    status: 200,
    lang,
    h1: t(lang, 'logged_out.title'),
    text: t(lang, 'logged_out.text'),
  });
}

/** Fills and submits the sign-in form already open; returns the response. */
export async function submitLogin(rec, { email, password, lang = 'en', name = 'login-submitted' }) {
  const page = rec.page;
  await page.getByLabel(t(lang, 'field.email.label')).fill(email);
  await page.getByLabel(t(lang, 'field.password.label'), { exact: true }).fill(password);
  return rec.click(page.getByRole('button', { name: t(lang, 'login.submit'), exact: true }), name);
}

/** Opens /login and signs in; asserts the account page. */
export async function signIn(rec, { email, password, lang = 'en' }) {
  await rec.goto('/login', 'login');
  await expectPage(rec, { path: '/login', status: 200, lang, h1: t(lang, 'login.title') });
  await submitLogin(rec, { email, password, lang, name: 'account' });
  await expectAccount(rec, { email, lang });
}

/** Asserts the sign-in page refused the password with the error message. */
export async function expectLoginFailed(rec, { email, lang = 'en' }) {
  await expectPage(rec, { path: '/login', status: 401, lang, h1: t(lang, 'login.title') });
  assert.equal(await alertText(rec.page), t(lang, 'login.failed'));
  assert.equal(await rec.page.getByLabel(t(lang, 'field.email.label')).inputValue(), email, 'the email is kept');
  assert.equal(await rec.page.getByLabel(t(lang, 'field.password.label'), { exact: true }).inputValue(), '', 'the password is not echoed');
}

/** Asserts that the browser has no session: /account sends it to sign in. */
export async function expectSignedOut(rec, { lang = 'en' } = {}) {
  await rec.goto('/account', 'account-signed-out');
  await expectPage(rec, { path: '/login', status: 200, lang, h1: t(lang, 'login.title') });
}

export { t, tRe };
