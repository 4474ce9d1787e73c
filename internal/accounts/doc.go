// Package accounts owns customer accounts: who a user is (email, names,
// phone, locale, external ID from the CRM, schema-validated attributes),
// whether the account is active, and the rules for creating and changing
// one. Every change is written together with its event in the outbox.
package accounts
