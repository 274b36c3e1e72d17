package meta

import (
	"context"
	"database/sql"
)

// SQLiteRebindForTest exposes the SQLite placeholder rewriting to the external tests.
func SQLiteRebindForTest(query string, args []any) (string, []any) {
	return sqliteDialect{}.rebind(query, args)
}

// ExecForTest runs a statement in the transaction (tests keep their own witness tables).
func (tx *Tx) ExecForTest(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return tx.exec(ctx, query, args...)
}

// QueryRowForTestTx reads through the transaction.
func (tx *Tx) QueryRowForTestTx(ctx context.Context, query string, args ...any) *sql.Row {
	return tx.queryRowW(ctx, query, args...)
}
