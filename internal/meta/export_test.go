package meta

// SQLiteRebindForTest exposes the SQLite placeholder rewriting to the external tests.
func SQLiteRebindForTest(query string, args []any) (string, []any) {
	return sqliteDialect{}.rebind(query, args)
}
