// Package storetest is the storage conformance suite: the same tests run
// against every engine the store supports, SQLite always and PostgreSQL when
// PORTVAKT_TEST_POSTGRES_URL names a server the tests may create databases
// on. It also hands out fresh, empty databases to other packages' tests.
package storetest
