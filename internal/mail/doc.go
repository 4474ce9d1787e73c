// Package mail owns the mail Portvakt sends to people: verifying an email
// address, "you already have an account", resetting a password and "your
// password was changed".
//
// A Renderer turns a Message (a template name, a language and values) into a
// localized subject with a plain-text and an HTML body; every human word
// comes from the i18n catalog. The Outbox delivers rendered mail once per
// domain event: the event consumer calls Deliver for each event, as often as
// at-least-once delivery makes it, and the Outbox keeps a record per event
// (bodies encrypted with the keyring, since they carry links and codes) so
// that a repeated event sends nothing twice and a retried mail carries the
// same link. A Sender hands mail to a server; SMTPSender speaks SMTP and tells
// permanent failures (ErrPermanent) from temporary ones (ErrTemporary).
//
// With no Sender configured, mail is captured in the database instead of
// sent, and DevHandler and "portvakt mail list" show it, so that someone
// trying Portvakt without a mail server can still follow the links.
package mail
