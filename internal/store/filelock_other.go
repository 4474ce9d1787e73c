//go:build !unix

package store

import (
	"context"
	"database/sql"
)

// fileLocker is a no-op where advisory file locks are not available; there,
// start one process at a time on a new SQLite file.
type fileLocker struct{ path string }

func (*fileLocker) SessionLock(context.Context, *sql.Conn) error   { return nil }
func (*fileLocker) SessionUnlock(context.Context, *sql.Conn) error { return nil }
