// Package events owns the outbox: the append-only log of domain events that
// every state change writes in the same transaction as the change itself, and
// the worker framework that reads that log in order on behalf of named
// consumers (webhooks, audit log, analytics, mail) with per-consumer
// checkpoints and leases.
//
// Delivery is at least once: a consumer's checkpoint moves only after its
// handler returned without error, so a crash between handling and
// checkpointing replays the event. Handlers must therefore be idempotent,
// keyed on Event.UUID.
package events
