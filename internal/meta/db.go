// Package meta is Berth's metadata store: the SQL schema, its migrations and every query, for
// SQLite (embedded mode) and PostgreSQL (scale-out mode). Both run the same migration files and
// the same queries; the few places where the dialects differ are named in dialect.go.
package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	_ "modernc.org/sqlite"             // registers the "sqlite" database/sql driver
)

var (
	ErrNotFound = errors.New("meta: not found")
	ErrConflict = errors.New("meta: already exists")
	ErrNotEmpty = errors.New("meta: not empty")
	// ErrConcurrentUpdate means a row changed between read and write (e.g. two PATCHes of one upload).
	ErrConcurrentUpdate = errors.New("meta: concurrent update")
)

// errRaced is returned inside a transaction that lost a race to a concurrent one (a unique
// row inserted meanwhile); Tx runs the function again, which then sees the winner's row.
var errRaced = errors.New("meta: lost a race to a concurrent transaction")

// DB is the metadata store. Reads go to a pool of connections; writes go to the write pool,
// which for SQLite is a single connection (SQLite has one writer: queueing in Go is cheaper and
// fairer than spinning on SQLITE_BUSY) and for PostgreSQL is the same pool as reads.
type DB struct {
	q
	w       *sql.DB
	r       *sql.DB
	dialect dialect
}

// Options tunes the connection pools; zero values pick defaults for the machine.
type Options struct {
	MaxConns int
}

// Open connects to PostgreSQL when url is a postgres:// URL, otherwise opens (creating it if
// needed) the SQLite database at sqlitePath, then runs the migrations.
func Open(ctx context.Context, url, sqlitePath string, opt Options) (*DB, error) {
	var db *DB
	var err error
	if url != "" {
		db, err = openPostgres(url, opt)
	} else {
		db, err = openSQLite(sqlitePath, opt)
	}
	if err != nil {
		return nil, err
	}
	if err := db.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	if err := db.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func openPostgres(url string, opt Options) (*DB, error) {
	pool, err := sql.Open("pgx", url)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	n := opt.MaxConns
	if n <= 0 {
		n = 4 * runtime.GOMAXPROCS(0)
		if n < 8 {
			n = 8
		}
	}
	pool.SetMaxOpenConns(n)
	pool.SetMaxIdleConns(n)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	d := postgresDialect{}
	return &DB{q: q{db: pool, rdb: pool, d: d}, w: pool, r: pool, dialect: d}, nil
}

func openSQLite(path string, opt Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("open sqlite: no database path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	// WAL lets readers run beside the writer; synchronous=FULL makes every acknowledged commit
	// durable (NORMAL could lose the last transactions on power loss, and a registry acknowledges
	// pushes). busy_timeout covers other processes (berth gc, fsck) sharing the file.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
		"&_pragma=busy_timeout(30000)&_pragma=foreign_keys(1)&_txlock=immediate"
	w, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	r, err := sql.Open("sqlite", dsn+"&mode=ro")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	n := opt.MaxConns
	if n <= 0 {
		n = 2 * runtime.GOMAXPROCS(0)
		if n < 4 {
			n = 4
		}
	}
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	d := sqliteDialect{}
	return &DB{q: q{db: w, rdb: r, d: d}, w: w, r: r, dialect: d}, nil
}

// Dialect names the database in use: "sqlite" or "postgres".
func (db *DB) Dialect() string { return db.dialect.name() }

// Ping checks both pools (readiness probe).
func (db *DB) Ping(ctx context.Context) error {
	if err := db.w.PingContext(ctx); err != nil {
		return fmt.Errorf("ping database: %w", err)
	}
	if db.r != db.w {
		if err := db.r.PingContext(ctx); err != nil {
			return fmt.Errorf("ping database: %w", err)
		}
	}
	return nil
}

func (db *DB) Close() error {
	err := db.w.Close()
	if db.r != db.w {
		if e := db.r.Close(); err == nil {
			err = e
		}
	}
	return err
}

// Tx runs fn in a write transaction, committed when fn returns nil and rolled back otherwise.
// Serialization failures and deadlocks (PostgreSQL) are retried a few times: fn must be safe to
// run again, which it is when it only talks to the database through its Tx.
func (db *DB) Tx(ctx context.Context, fn func(tx *Tx) error) error {
	for attempt := 0; ; attempt++ {
		err := db.tx(ctx, fn)
		if err == nil || attempt >= 4 || !(db.dialect.retryable(err) || errors.Is(err, errRaced)) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Duration(attempt+1) * 10 * time.Millisecond):
		}
	}
}

func (db *DB) tx(ctx context.Context, fn func(tx *Tx) error) error {
	sqlTx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	tx := &Tx{q: q{db: sqlTx, rdb: sqlTx, d: db.dialect}}
	if err := fn(tx); err != nil {
		sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Tx is a write transaction; it offers the same queries as DB.
type Tx struct {
	q
}

// execer is what both *sql.DB and *sql.Tx offer.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// q carries the queries. db takes writes (and reads that must see them), rdb takes plain reads.
type q struct {
	db  execer
	rdb execer
	d   dialect
}

func (q q) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return q.db.ExecContext(ctx, q.d.rebind(query), args...)
}

func (q q) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return q.rdb.QueryContext(ctx, q.d.rebind(query), args...)
}

func (q q) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return q.rdb.QueryRowContext(ctx, q.d.rebind(query), args...)
}

// queryRowW reads through the write connection: inside a transaction, or to read what was just
// written without racing a replica of the read pool.
func (q q) queryRowW(ctx context.Context, query string, args ...any) *sql.Row {
	return q.db.QueryRowContext(ctx, q.d.rebind(query), args...)
}

func (q q) queryW(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return q.db.QueryContext(ctx, q.d.rebind(query), args...)
}

// placeholders returns "$n,$n+1,..." for k values starting at n.
func placeholders(n, k int) string {
	var b strings.Builder
	for i := 0; i < k; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "$%d", n+i)
	}
	return b.String()
}

func now() int64 { return time.Now().UnixMicro() }

func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

func fromNullMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicros(v.Int64)
}

func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// QueryRowForTest runs a read query; tests use it to look at rows no API exposes.
func (db *DB) QueryRowForTest(ctx context.Context, query string, args ...any) *sql.Row {
	return db.queryRowW(ctx, query, args...)
}
