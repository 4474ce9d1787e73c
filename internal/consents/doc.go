// Package consents keeps what people have agreed to. The deployment names
// its purposes — terms of service and a privacy notice that everyone must
// accept, marketing mail or profiling that people may choose — each for
// the whole service or for some applications only, with versioned
// documents (a link or a text per language, and the date each version
// takes effect).
//
// Every grant and every withdrawal is a receipt: who, which purpose and
// version, when, where (registration, a sign-in, the account page, the
// management API; the application, if any) and how (a checkbox, a button,
// the API). Receipts are never changed; beside them each person has a
// current state per purpose, which is what a sign-in reads to see whether
// a new required version waits to be accepted. A receipt is written with
// its event (consent.granted, consent.withdrawn) in the same transaction,
// and the receipt's ID is the event's UUID.
package consents
