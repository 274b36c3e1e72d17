package meta

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// groupCommitter runs the write transactions of a SQLite store on one goroutine and commits
// the ones that arrive together as one SQLite transaction, each inside its own savepoint.
// SQLite has one writer and, with synchronous=FULL, every commit waits for an fsync of the
// write-ahead log; concurrent pushes would otherwise queue for one fsync each. A function that
// fails rolls back to its savepoint and gets its error; the others still commit. Each caller
// returns only after the commit that contains its work is durable.
type groupCommitter struct {
	db      *DB
	reqs    chan *groupReq
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

type groupReq struct {
	ctx  context.Context
	fn   func(tx *Tx) error
	done chan error
}

// maxGroup bounds how much work one commit carries, so one commit never waits on a long
// queue of others' work.
const maxGroup = 64

func newGroupCommitter(db *DB) *groupCommitter {
	g := &groupCommitter{db: db, reqs: make(chan *groupReq), stop: make(chan struct{}), stopped: make(chan struct{})}
	go g.loop()
	return g
}

func (g *groupCommitter) run(ctx context.Context, fn func(tx *Tx) error) error {
	r := &groupReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case g.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-g.stop:
		return fmt.Errorf("begin: %w", sql.ErrConnDone)
	}
	// Once taken, the work is committed or not as a whole with its group; the caller waits
	// for the outcome even if its context ends, so it never reports a failure for work that
	// is in fact committed.
	return <-r.done
}

func (g *groupCommitter) loop() {
	defer close(g.stopped)
	batch := make([]*groupReq, 0, maxGroup)
	for {
		select {
		case r := <-g.reqs:
			batch = append(batch[:0], r)
		case <-g.stop:
			return
		}
	more:
		for len(batch) < maxGroup {
			select {
			case r := <-g.reqs:
				batch = append(batch, r)
			default:
				break more
			}
		}
		g.commit(batch)
	}
}

func (g *groupCommitter) commit(batch []*groupReq) {
	errs := make([]error, len(batch))
	sqlTx, err := g.db.w.BeginTx(context.Background(), nil)
	if err != nil {
		for _, r := range batch {
			r.done <- fmt.Errorf("begin: %w", err)
		}
		return
	}
	tx := &Tx{q: q{db: sqlTx, rdb: sqlTx, d: g.db.dialect, wc: g.db.wc, rc: g.db.wc, tx: sqlTx, gc: g.db.gc}}
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if _, err := sqlTx.Exec("SAVEPOINT grp"); err != nil {
			errs[i] = fmt.Errorf("savepoint: %w", err)
			continue
		}
		errs[i] = runProtected(r.fn, tx)
		if errs[i] != nil {
			if _, err := sqlTx.Exec("ROLLBACK TO grp"); err != nil {
				// The transaction is unusable: nobody's work can be committed.
				sqlTx.Rollback()
				for j, r := range batch {
					if errs[j] == nil || j == i {
						errs[j] = fmt.Errorf("rollback to savepoint: %w", err)
					}
					r.done <- errs[j]
				}
				return
			}
		}
		if _, err := sqlTx.Exec("RELEASE grp"); err != nil && errs[i] == nil {
			errs[i] = fmt.Errorf("release savepoint: %w", err)
		}
	}
	if err := sqlTx.Commit(); err != nil {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = fmt.Errorf("commit: %w", err)
			}
		}
	}
	for i, r := range batch {
		r.done <- errs[i]
	}
}

// runProtected turns a panic in one caller's function into that caller's error, so it cannot
// take the writer down with everyone's work.
func runProtected(fn func(tx *Tx) error, tx *Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in transaction: %v", p)
		}
	}()
	return fn(tx)
}

func (g *groupCommitter) close() {
	g.once.Do(func() { close(g.stop) })
	<-g.stopped
}
