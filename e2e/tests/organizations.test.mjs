// Organizations and delegated administration on SQLite (the tests are in
// organizations.suite.mjs; organizations.postgres.test.mjs runs them on
// PostgreSQL).
import { organizationTests } from './organizations.suite.mjs';

await organizationTests('sqlite');
