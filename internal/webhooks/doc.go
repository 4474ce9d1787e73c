// Package webhooks owns outgoing webhooks: subscriptions (a URL, the event
// types it wants, a signing secret, enabled or not), the deliveries of
// events to them, and the record of every attempt.
//
// Delivery hangs on the outbox in two steps. Fanout is an events consumer:
// for each event it writes one pending delivery per matching subscription,
// so an event committed before a crash is still delivered after it. The
// Dispatcher, which runs on every node, claims due deliveries under a lease
// (two nodes never send the same attempt at once), signs them per the
// Standard Webhooks specification and posts them, in order per
// subscription and subject, retrying with exponential back-off and jitter
// for three days before a delivery is dead-lettered. Dead deliveries are
// replayed by hand, one or all of a subscription. A subscription whose
// deliveries keep failing is paused, with a webhook.paused event.
//
// Events about webhooks themselves (webhook.*) are never delivered, and
// the outcome of a single attempt is a row, not an event: either would
// make deliveries feed themselves.
package webhooks
