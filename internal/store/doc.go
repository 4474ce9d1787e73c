// Package store is Portvakt's one storage implementation. It runs the same
// hand-written SQL on two engines, embedded SQLite (the default, one node) and
// PostgreSQL (many stateless nodes on one database). What differs between the
// engines is kept in dialect.go; nothing else in the package branches on the
// engine except through it.
//
// Domain packages define the small interfaces they need; Store implements
// them. Every method that changes state takes the domain events describing
// the change and writes them to the outbox in the same transaction.
//
// Times are stored as UTC microseconds since the Unix epoch (BIGINT) on both
// engines, so that comparisons and ordering are the same everywhere.
package store
