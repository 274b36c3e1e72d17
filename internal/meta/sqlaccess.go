package meta

import "database/sql"

// WritePool is the pool write transactions use, for libraries that keep their own tables in the
// same database (the job queue). On SQLite it is the single writer connection: sharing it keeps
// the library's writes queueing in Go with Berth's rather than contending for SQLite's lock.
func (db *DB) WritePool() *sql.DB { return db.w }

// SQL is the transaction underneath, so such a library can write in the same transaction (a
// job queued together with the change that causes it).
func (tx *Tx) SQL() *sql.Tx { return tx.tx }
