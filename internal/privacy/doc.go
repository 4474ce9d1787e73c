// Package privacy owns what the data protection rules give people over
// the data Portvakt holds about them: a copy of it (the right of access
// and to portability, GDPR articles 15 and 20) and its erasure (article
// 17).
//
// An export assembles everything held about one person, read through
// small interfaces defined here, into one documented, versioned JSON
// shape (Format); the hosted pages show the same data readably, and the
// management API and the command line hand it to operators answering
// requests that came by other channels. Each export is recorded with a
// user.exported event.
//
// An erasure deletes, in one transaction, the account and everything
// keyed to it or naming its address, and scrubs the person's address,
// names, phone and IP addresses from the events and webhook deliveries
// that outlive it: the audit log keeps what happened, when and by whom,
// with the account's random ID as a pseudonym that nothing links back to
// the person once the account is gone. Its user.deleted event, written in
// the same transaction, carries the external IDs integrations know the
// person by, and the applications to log out.
//
// A person's own request waits a grace period (signing in cancels it)
// before the retention sweep erases the account; operators erase at once.
// The same sweep erases registrations whose address was never verified
// after a retention period.
package privacy
