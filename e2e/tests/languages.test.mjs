// Swedish and Finnish: the relying party's ui_locales, the language
// switcher, the mail's language and the user's stored language.
import assert from 'node:assert/strict';
import { suite } from '../lib/harness.mjs';
import { uniqueEmail } from '../lib/env.mjs';
import {
  t, alertText, expectPage, expectAccount, register, verificationMail, enterCode, signOut, submitLogin,
} from '../lib/steps.mjs';

const { test } = suite();

test('Swedish registration by ui_locales, then Finnish by the language switcher', async ({ page, rec, mailbox, server }) => {
  const email = uniqueEmail('svenska');
  const password = 'tangerine-orbit-velvet-42';

  // The switcher on an English page offers Svenska and leads to Swedish.
  await rec.goto('/registration', 'registration-en');
  await expectPage(rec, { path: '/registration', lang: 'en', h1: 'Create account' });
  const nav = page.getByRole('navigation', { name: 'Language' });
  assert.deepEqual(await nav.getByRole('link').allInnerTexts(), ['English', 'Svenska', 'Suomi']);
  assert.equal(await nav.getByRole('link', { name: 'English' }).getAttribute('aria-current'), 'true');
  const flowBefore = new URL(page.url()).searchParams.get('flow');
  await rec.click(nav.getByRole('link', { name: 'Svenska' }), 'registration-sv-switched');
  await expectPage(rec, { path: '/registration', status: 200, lang: 'sv', h1: 'Skapa konto' });
  assert.equal(new URL(page.url()).searchParams.get('flow'), flowBefore, 'switching language keeps the form');
  assert.equal(await page.getByRole('navigation', { name: 'Språk' }).getByRole('link', { name: 'Svenska' }).getAttribute('aria-current'), 'true');

  // A relying party asks for Swedish with ui_locales, in a browser that
  // never chose a language (no cookie): a fresh context.
  await page.context().clearCookies();
  await register(rec, { email, password, givenName: 'Sigrid', lang: 'sv', query: '?ui_locales=sv' });
  const html = page.locator('html');
  assert.equal(await html.getAttribute('lang'), 'sv');
  await expectPage(rec, {
    path: '/verification',
    text: [`Vi har skickat ett mejl till ${email}.`, 'Kod', '6 siffror från mejlet'],
  });
  assert.ok(await page.getByRole('button', { name: 'Bekräfta e-post' }).isVisible());

  const mail = await verificationMail(mailbox, { email, lang: 'sv', server });
  assert.equal(mail.subject, 'Bekräfta din e-postadress hos Portvakt');
  assert.match(mail.text, /^Hej Sigrid!/);
  assert.ok(mail.text.includes('Du kan också ange den här koden på bekräftelsesidan:'), mail.text);
  assert.doesNotMatch(mail.text, /Verify your email|Hello|Please confirm/, 'no English in the Swedish mail');

  await enterCode(rec, { code: mail.code, email, lang: 'sv' });
  await expectPage(rec, { h1: 'Ditt konto', text: ['E-postadress', '(bekräftad)', 'Förnamn'] });
  assert.equal(await page.getByLabel('Förnamn').inputValue(), 'Sigrid');
  assert.ok(await page.getByRole('button', { name: 'Logga ut' }).isVisible());

  // Sign out. The signed-out page knows no user and this browser chose no
  // language, so it follows Accept-Language (English here) or Swedish.
  await rec.click(page.getByRole('button', { name: 'Logga ut' }), 'logged-out');
  await expectPage(rec, { path: '/logged-out', status: 200 });
  assert.match(await page.locator('h1').innerText(), new RegExp(`^(${t('en', 'logged_out.title')}|${t('sv', 'logged_out.title')})$`));

  // The sign-in page, switched to Finnish by its switcher.
  await rec.goto('/login', 'login-en');
  await expectPage(rec, { path: '/login', status: 200, lang: 'en', h1: 'Sign in' });
  await rec.click(page.getByRole('navigation', { name: 'Language' }).getByRole('link', { name: 'Suomi' }), 'login-fi');
  await expectPage(rec, {
    path: '/login',
    status: 200,
    lang: 'fi',
    h1: 'Kirjaudu sisään',
    text: ['Sähköpostiosoite', 'Salasana', 'Unohditko salasanasi?', 'Uusi käyttäjä?'],
  });
  assert.equal(await page.getByRole('navigation', { name: 'Kieli' }).getByRole('link', { name: 'Suomi' }).getAttribute('aria-current'), 'true');
  assert.doesNotMatch(await page.locator('main').innerText(), /Sign in|Password|Forgot/, 'no English left on the Finnish page');

  // Errors are Finnish too.
  await submitLogin(rec, { email, password: 'wrong-password-123', lang: 'fi', name: 'login-fi-failed' });
  await expectPage(rec, { path: '/login', status: 401, lang: 'fi', h1: 'Kirjaudu sisään' });
  assert.equal(await alertText(page), 'Sähköpostiosoite tai salasana on väärin. Tarkista ne ja yritä uudelleen.');

  // The choice is remembered: the account page is Finnish although the
  // account's own language is Swedish.
  await submitLogin(rec, { email, password, lang: 'fi', name: 'account-fi' });
  await expectAccount(rec, { email, lang: 'fi', verified: true });
  await expectPage(rec, { h1: 'Oma tili', text: ['Etunimi'] });
  assert.equal(await page.getByLabel('Etunimi').inputValue(), 'Sigrid');

  // And the signed-out page too.
  await signOut(rec, { lang: 'fi' });
  await expectPage(rec, { h1: 'Olet kirjautunut ulos', lang: 'fi' });
});
