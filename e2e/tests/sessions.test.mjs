// Where you're signed in: the account page lists the person's sessions,
// this device first, and signs out the others. Two browsers sign in as the
// same person; from one, "End all other sessions" ends the other.
import assert from 'node:assert/strict';
import { suite } from '../lib/harness.mjs';
import { t, expectPage, signIn } from '../lib/steps.mjs';

const password = 'harbour-violet-quartz-58';
const email = 'sam.sessions@example.test';

const { test } = suite({
  server: {
    async setup({ cli }) {
      await cli(['user', 'create', '--email', email, '--password-stdin', '--verified'], { stdin: `${password}\n` });
    },
  },
});

test('the account page lists where the person is signed in and signs out the others', async ({ page, rec, open }) => {
  const other = await open({ label: 'other' });
  await signIn(other.rec, { email, password });
  await signIn(rec, { email, password });

  const sessions = page.getByRole('region', { name: t('en', 'account.sessions') });
  const text = await sessions.innerText();
  assert.ok(text.includes(t('en', 'account.session_current')), text);
  const named = new RegExp(`^${t('en', 'account.session_end_named', { Device: '.+', When: '.+' })}$`);
  assert.equal(await sessions.getByRole('button', { name: named }).count(), 1, 'one other session to sign out');

  await rec.click(sessions.getByRole('button', { name: t('en', 'account.sessions_end_others') }), 'sessions-ended');
  await expectPage(rec, { path: '/account', status: 200, text: [t('en', 'account.done.sessions_ended')] });
  assert.equal(await page.getByRole('region', { name: t('en', 'account.sessions') }).getByRole('button', { name: named }).count(), 0);

  // The other browser is signed out: the account page asks it to sign in.
  await other.rec.goto('/account', 'signed-out');
  assert.equal(new URL(other.page.url()).pathname, '/login');
});
