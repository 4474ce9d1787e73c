// Organizations and delegated administration on PostgreSQL: the tests of
// organizations.suite.mjs, with the server on a fresh database of the
// server PORTVAKT_TEST_POSTGRES_URL names. Without it they are skipped,
// except under CI, where that is a failure.
import { test } from 'node:test';
import { organizationTests } from './organizations.suite.mjs';

if (process.env.PORTVAKT_TEST_POSTGRES_URL) {
  await organizationTests('postgres');
} else if (process.env.CI) {
  throw new Error('PORTVAKT_TEST_POSTGRES_URL is not set under CI; the PostgreSQL browser tests must run');
} else {
  test('organizations on PostgreSQL', { skip: 'set PORTVAKT_TEST_POSTGRES_URL to run them' }, () => {});
}
