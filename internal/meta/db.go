// Package meta is Berth's metadata store: the SQL schema, its migrations and every query, for
// SQLite (embedded mode) and PostgreSQL (scale-out mode). Both run the same migration files and
// the same queries; the few places where the dialects differ are named in dialect.go.
package meta

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	neturl "net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
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
	lazy    *sql.DB // PostgreSQL: commits that do not wait for the WAL flush
	dialect dialect
	group   *groupCommitter // SQLite: write transactions committed in groups
	// pendingUploads holds the sessions created but not yet committed (SQLite), by id.
	pendingUploads sync.Map
	listener       *contentListener // PostgreSQL
	// changeWatchers hear of commits that may have made a remembered answer wrong (see
	// WatchChanges).
	changeWatchers atomic.Pointer[[]func(Changes)]
	// eventWatchers hear of every commit that wrote events (see WatchEvents).
	eventWatchers atomic.Pointer[[]func()]
}

// Changes says what a commit may have made wrong of what a reader remembers of the store.
// Only answers that something exists are meant: adding rows cannot make one wrong.
type Changes struct {
	// Content: a tag moved, was renamed or deleted, or a manifest or repository changed or was
	// removed.
	Content bool
	// Removal: a repository, manifest, blob link or blob was removed (manifest rows never
	// change but by deletion, so answers about them are wrong only after one).
	Removal bool
	// Projects: a project row, its metadata (the vulnerability policy among them) or a CVE
	// allowlist (the system's too) changed. Announced for this process's commits and, on
	// PostgreSQL, every other writer's (migration 0017).
	Projects bool
	// ImmutableRules: a project's tag immutability rules changed. Announced for this
	// process's commits only: other replicas' readers bound how long they remember.
	ImmutableRules bool
	// Quotas: a project's storage limit changed; this process's only, too.
	Quotas bool
	// SystemConfig: the system configuration changed; this process's only, too.
	SystemConfig bool
}

// everything is what to assume when announcements may have been missed.
var everything = Changes{Content: true, Removal: true, Projects: true, ImmutableRules: true, Quotas: true, SystemConfig: true}

// WatchChanges calls fn for every commit that may have made wrong what a reader remembers:
// this process's, before the commit returns to its caller, and on PostgreSQL every other
// process's (replicas, berth gc, an operator's psql) as the database announces it (migration
// 0013), moments after its commit. Whenever announcements may have been missed (the listening
// connection was re-established) fn hears of everything. fn must be quick and never block.
func (db *DB) WatchChanges(fn func(Changes)) {
	addWatcher(&db.changeWatchers, fn)
	if db.listener != nil {
		db.listener.ensure()
	}
}

// ChangesHeard reports whether WatchChanges hears of every change now. On SQLite this process
// is the only serving writer (berth gc and fsck write from other processes: readers that
// remember also bound how long); on PostgreSQL the answer is false while this process is not
// listening (at start, and while the listening connection is re-established). Read it before
// what it vouches for: a listener that stops after this read announces everything.
func (db *DB) ChangesHeard() bool {
	if db.listener == nil {
		return db.group != nil
	}
	db.listener.ensure()
	return db.listener.listening.Load()
}

func (db *DB) changed(c Changes) {
	if ws := db.changeWatchers.Load(); ws != nil {
		for _, fn := range *ws {
			fn(c)
		}
	}
}

func addWatcher[F any](list *atomic.Pointer[[]F], fn F) {
	for {
		old := list.Load()
		var next []F
		if old != nil {
			next = append(next, *old...)
		}
		next = append(next, fn)
		if list.CompareAndSwap(old, &next) {
			return
		}
	}
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
	// Writes that may be lost in a crash (a new upload session) go through a few connections
	// whose commits do not wait for the WAL flush: one round trip, no fsync wait.
	u, err := neturl.Parse(url)
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	qs := u.Query()
	qs.Set("synchronous_commit", "off")
	u.RawQuery = qs.Encode()
	lazy, err := sql.Open("pgx", u.String())
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	lazy.SetMaxOpenConns(2)
	lazy.SetMaxIdleConns(2)
	lazy.SetConnMaxIdleTime(5 * time.Minute)
	d := postgresDialect{}
	db := &DB{q: q{db: pool, rdb: pool, d: d, gc: newGCSettings()}, w: pool, r: pool, lazy: lazy, dialect: d}
	db.q.changed = db.changed
	db.listener = newContentListener(url, db.changed)
	return db, nil
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
	if err := sqliteTempDir(w, filepath.Join(filepath.Dir(path), "tmp")); err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", dsn+"&mode=ro")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	// Readers run beside the writer in WAL mode; a pool a few times the core count keeps
	// requests from queueing for a connection while others wait on I/O.
	n := opt.MaxConns
	if n <= 0 {
		n = max(8, 4*runtime.GOMAXPROCS(0))
	}
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	d := sqliteDialect{}
	// SQLite compiles every statement it is given; caching prepared statements saves that on
	// the hot paths (PostgreSQL's driver already caches per connection).
	db := &DB{q: q{db: w, rdb: r, d: d, wc: newStmtCache(w), rc: newStmtCache(r), gc: newGCSettings()}, w: w, r: r, dialect: d}
	db.group = newGroupCommitter(db)
	db.q.group = db.group
	return db, nil
}

// sqliteTemp is the directory SQLite's temporary files go to, set by the first SQLite store
// a process opens.
var sqliteTemp struct {
	once sync.Once
	err  error
}

// sqliteTempDir points SQLite's temporary files (large sorts, temporary tables and indexes,
// statement journals) at dir, beside the database, instead of the first of /var/tmp, /usr/tmp
// and /tmp that exists: so Berth runs with its data directory as the only writable place (a
// read-only root filesystem). SQLite keeps this directory for the whole process, and changing
// it while connections run is unsafe, so the first SQLite store a process opens sets it, before
// any of its connections runs a statement; a Berth process opens one. The files are removed as
// soon as they are opened, so the directory looks empty.
func sqliteTempDir(w *sql.DB, dir string) error {
	sqliteTemp.once.Do(func() {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			sqliteTemp.err = fmt.Errorf("open sqlite: temporary directory: %w", err)
			return
		}
		// The pragma is deprecated in favour of the C variable it sets, which Go cannot reach.
		if _, err := w.Exec("PRAGMA temp_store_directory = '" + strings.ReplaceAll(dir, "'", "''") + "'"); err != nil {
			sqliteTemp.err = fmt.Errorf("open sqlite: set the temporary directory to %s: %w", dir, err)
		}
	})
	return sqliteTemp.err
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
	if db.group != nil {
		db.group.close()
	}
	if db.listener != nil {
		db.listener.close()
	}
	db.wc.close()
	db.rc.close()
	err := db.w.Close()
	if db.lazy != nil {
		if e := db.lazy.Close(); err == nil {
			err = e
		}
	}
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
	if db.group != nil {
		return db.group.run(ctx, fn)
	}
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
	tx := &Tx{q: q{db: sqlTx, rdb: sqlTx, d: db.dialect, wc: db.wc, rc: db.wc, tx: sqlTx, gc: db.gc}}
	err = fn(tx)
	if err == nil {
		err = tx.writeEvents(ctx)
	}
	if err != nil {
		sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	db.committed(tx)
	// Before the caller answers anyone: a read of this replica that follows must not be served
	// what the commit replaced, whenever the notification arrives.
	if !tx.keepsAnswers {
		db.changed(Changes{Content: true, Removal: !tx.removesNothing})
	}
	return nil
}

// Tx is a write transaction; it offers the same queries as DB.
type Tx struct {
	q
	// keepsAnswers marks a transaction that cannot make wrong an answer that something exists
	// (it adds rows, or records pull times or audit entries): its commit announces no change.
	// removesNothing marks one that may move tags but removes nothing: its commit announces a
	// Content change only. See WatchChanges.
	keepsAnswers   bool
	removesNothing bool
	// events are what Emit recorded, written just before the commit; wroteEvents says that
	// some were.
	events      []Event
	wroteEvents bool
	// projectsChanged marks a transaction that changed a project row: its commit announces
	// it (Changes.Projects), so what this process remembers serves the change at once.
	projectsChanged bool
	// quotasChanged marks one that changed a project's storage limit (Changes.Quotas).
	quotasChanged bool
}

// committed does what must follow the commit of tx, before its caller hears of it.
func (db *DB) committed(tx *Tx) {
	if tx.projectsChanged || tx.quotasChanged {
		db.changed(Changes{Projects: tx.projectsChanged, Quotas: tx.quotasChanged})
	}
	if tx.wroteEvents {
		db.eventsCommitted()
	}
}

// execer is what both *sql.DB and *sql.Tx offer.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// q carries the queries. db takes writes (and reads that must see them), rdb takes plain reads.
// wc and rc cache prepared statements for db and rdb (nil: no caching); inside a transaction
// tx is set and both use the write pool's statements bound to tx.
//
// group is set on a SQLite store's DB (not on its transactions). The one write connection is
// then the group committer's: a write outside a transaction joins the next group instead of
// committing (and syncing) on its own, and a read that must see the latest commit takes the
// read pool, where in WAL mode every new read does, instead of queueing for the writer.
type q struct {
	db    execer
	rdb   execer
	d     dialect
	wc    *stmtCache
	rc    *stmtCache
	tx    *sql.Tx
	gc    *gcSettings
	group *groupCommitter
	// changed is told of each write outside a transaction (PostgreSQL; see WatchChanges)
	// unless quiet (keepingAnswers).
	changed func(Changes)
	quiet   bool
}

func (q q) stmt(ctx context.Context, c *stmtCache, query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	st := c.get(ctx, query, q.tx != nil)
	if st != nil && q.tx != nil {
		st = q.tx.StmtContext(ctx, st)
	}
	return st
}

func (q q) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if q.group != nil {
		var res sql.Result
		err := q.group.run(ctx, func(tx *Tx) error {
			tx.keepsAnswers = q.quiet
			var err error
			res, err = tx.exec(ctx, query, args...)
			return err
		})
		return res, err
	}
	query, args = q.d.rebind(query, args)
	if q.changed != nil && !q.quiet {
		defer q.changed(everything)
	}
	if st := q.stmt(ctx, q.wc, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return q.db.ExecContext(ctx, query, args...)
}

func (q q) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	query, args = q.d.rebind(query, args)
	if st := q.stmt(ctx, q.rc, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return q.rdb.QueryContext(ctx, query, args...)
}

func (q q) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	query, args = q.d.rebind(query, args)
	if st := q.stmt(ctx, q.rc, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return q.rdb.QueryRowContext(ctx, query, args...)
}

// keepingAnswers returns q for writes outside a transaction that cannot make wrong an answer
// that something exists (pull times, audit entries): they announce no change.
func (q q) keepingAnswers() q {
	q.quiet = true
	return q
}

// queryRowW reads through the write connection: inside a transaction, or to read what was just
// written without racing a replica of the read pool. Writes that return rows outside a
// transaction use writeRow.
func (q q) queryRowW(ctx context.Context, query string, args ...any) *sql.Row {
	if q.group != nil && isSelect(query) {
		return q.queryRow(ctx, query, args...)
	}
	query, args = q.d.rebind(query, args)
	if st := q.stmt(ctx, q.wc, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return q.db.QueryRowContext(ctx, query, args...)
}

func (q q) queryW(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if q.group != nil && isSelect(query) {
		return q.query(ctx, query, args...)
	}
	query, args = q.d.rebind(query, args)
	if st := q.stmt(ctx, q.wc, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return q.db.QueryContext(ctx, query, args...)
}

// writeRow runs a write that returns a row (INSERT … RETURNING) when its Scan is called. On a
// SQLite store's DB it runs, and is scanned, inside the group commit, like every other write.
func (q q) writeRow(ctx context.Context, query string, args ...any) rowScanner {
	return writeRow{q: q, ctx: ctx, query: query, args: args}
}

type writeRow struct {
	q     q
	ctx   context.Context
	query string
	args  []any
}

func (r writeRow) Scan(dest ...any) error {
	if r.q.group == nil {
		if r.q.changed != nil {
			defer r.q.changed(everything)
		}
		return r.q.queryRowW(r.ctx, r.query, r.args...).Scan(dest...)
	}
	return r.q.group.run(r.ctx, func(tx *Tx) error {
		return tx.queryRowW(r.ctx, r.query, r.args...).Scan(dest...)
	})
}

// isSelect reports whether query only reads (an INSERT … RETURNING writes, though it returns rows).
func isSelect(query string) bool {
	query = strings.TrimLeft(query, " \t\r\n")
	return len(query) >= 6 && strings.EqualFold(query[:6], "SELECT")
}

// stmtCache holds prepared statements by query text. Queries built with a variable number of
// placeholders would grow it without end, so it stops adding at a bound and those run
// unprepared.
type stmtCache struct {
	db        *sql.DB
	mu        sync.Mutex
	stmts     map[string]*sql.Stmt
	preparing map[string]bool
	closed    bool
}

const maxCachedStmts = 512

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}, preparing: map[string]bool{}}
}

// get returns the prepared statement for query, or nil when it is not (yet) cached: the caller
// then runs the query directly. Inside a transaction the pool's connection may be the one the
// transaction holds (SQLite's write pool has one), so preparing there would wait for ever; the
// statement is prepared in the background instead, for the next use.
func (c *stmtCache) get(ctx context.Context, query string, inTx bool) *sql.Stmt {
	c.mu.Lock()
	st, ok := c.stmts[query]
	skip := ok || len(c.stmts)+len(c.preparing) >= maxCachedStmts || c.preparing[query]
	if !skip {
		c.preparing[query] = true
	}
	c.mu.Unlock()
	if skip {
		return st
	}
	if inTx {
		go c.prepare(context.Background(), query)
		return nil
	}
	return c.prepare(ctx, query)
}

func (c *stmtCache) prepare(ctx context.Context, query string) *sql.Stmt {
	st, err := c.db.PrepareContext(context.WithoutCancel(ctx), query)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.preparing, query)
	if err != nil || c.closed {
		if st != nil {
			st.Close()
		}
		return nil
	}
	c.stmts[query] = st
	return st
}

func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.stmts {
		st.Close()
	}
	c.stmts = map[string]*sql.Stmt{}
	c.closed = true
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

// QueryRowForTest runs a query returning one row; tests use it to look at (and back-date) rows
// no API exposes.
func (db *DB) QueryRowForTest(ctx context.Context, query string, args ...any) interface{ Scan(...any) error } {
	switch q := strings.TrimSpace(query); {
	case isSelect(q):
		return db.queryRow(ctx, query, args...)
	case len(q) >= 6 && strings.EqualFold(q[:6], "PRAGMA"):
		// Outside any transaction, on the write connection: inside one most pragmas do nothing.
		return db.queryRowW(ctx, query, args...)
	}
	return db.writeRow(ctx, query, args...)
}
