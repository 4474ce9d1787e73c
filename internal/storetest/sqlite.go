package storetest

// SQLite returns the SQLite engine, for unit tests that need one real store
// rather than every engine.
func SQLite() Engine {
	return Engine{Name: "sqlite", NewURL: SQLiteURL, RawDB: sqliteRawDB}
}
