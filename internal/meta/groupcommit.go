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
	// after, instead of done, receives the outcome of work nobody waits for (submit).
	after func(error)
}

// finish reports the outcome of r.
func (r *groupReq) finish(err error) {
	if r.after != nil {
		r.after(err)
	} else if r.done != nil {
		r.done <- err
	}
}

// queueLen is how much work may wait for the committer. Queued work keeps its order, so work
// submitted without waiting is committed before anything queued after it.
const queueLen = 256

// maxGroup bounds how much work one commit carries, so one commit never waits on a long
// queue of others' work.
const maxGroup = 64

func newGroupCommitter(db *DB) *groupCommitter {
	g := &groupCommitter{db: db, reqs: make(chan *groupReq, queueLen), stop: make(chan struct{}), stopped: make(chan struct{})}
	go g.loop()
	return g
}

func (g *groupCommitter) run(ctx context.Context, fn func(tx *Tx) error) error {
	r := &groupReq{ctx: ctx, fn: fn, done: make(chan error, 1)}
	if g.closed() {
		return fmt.Errorf("begin: %w", sql.ErrConnDone)
	}
	select {
	case g.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-g.stop:
		return fmt.Errorf("begin: %w", sql.ErrConnDone)
	}
	// Once queued, the work is committed or not as a whole with its group; the caller waits
	// for the outcome even if its context ends, so it never reports a failure for work that
	// is in fact committed.
	select {
	case err := <-r.done:
		return err
	case <-g.stopped:
		// The committer reports every outcome before it stops.
		select {
		case err := <-r.done:
			return err
		default:
			return fmt.Errorf("commit: %w", sql.ErrConnDone)
		}
	}
}

// submit queues fn without waiting for its commit; after, if not nil, is called with the
// outcome on the committer's goroutine, before the outcome of anything queued later is
// reported.
func (g *groupCommitter) submit(fn func(tx *Tx) error, after func(error)) error {
	r := &groupReq{ctx: context.Background(), fn: fn, after: after}
	if g.closed() {
		return fmt.Errorf("begin: %w", sql.ErrConnDone)
	}
	select {
	case g.reqs <- r:
		return nil
	case <-g.stop:
		return fmt.Errorf("begin: %w", sql.ErrConnDone)
	}
}

func (g *groupCommitter) loop() {
	defer close(g.stopped)
	batch := make([]*groupReq, 0, maxGroup)
	for {
		select {
		case r := <-g.reqs:
			batch = append(batch[:0], r)
		case <-g.stop:
			// Work still queued is not started.
			for {
				select {
				case r := <-g.reqs:
					r.finish(fmt.Errorf("begin: %w", sql.ErrConnDone))
				default:
					return
				}
			}
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
			r.finish(fmt.Errorf("begin: %w", err))
		}
		return
	}
	tx := &Tx{q: q{db: sqlTx, rdb: sqlTx, d: g.db.dialect, wc: g.db.wc, rc: g.db.wc, tx: sqlTx, gc: g.db.gc}}
	// A group that only added rows or recorded pulls and audit entries announces no change
	// (Tx.keepsAnswers).
	quiet, removesNothing := true, true
	for i, r := range batch {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		if _, err := sqlTx.Exec("SAVEPOINT grp"); err != nil {
			errs[i] = fmt.Errorf("savepoint: %w", err)
			continue
		}
		tx.keepsAnswers, tx.removesNothing = false, false
		tx.events = nil
		errs[i] = runProtected(r.fn, tx)
		if errs[i] == nil {
			errs[i] = tx.writeEvents(r.ctx)
		}
		quiet = quiet && (tx.keepsAnswers || errs[i] != nil)
		removesNothing = removesNothing && (tx.keepsAnswers || tx.removesNothing || errs[i] != nil)
		if errs[i] != nil {
			if _, err := sqlTx.Exec("ROLLBACK TO grp"); err != nil {
				// The transaction is unusable: nobody's work can be committed.
				sqlTx.Rollback()
				for j, r := range batch {
					if errs[j] == nil || j == i {
						errs[j] = fmt.Errorf("rollback to savepoint: %w", err)
					}
					r.finish(errs[j])
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
	} else {
		if !quiet {
			// Before anyone hears of the outcome, so a caller reading after its write is
			// not served what it replaced.
			g.db.changed(Changes{Content: true, Removal: !removesNothing})
		}
		g.db.committed(tx)
	}
	for i, r := range batch {
		r.finish(errs[i])
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

// closed reports whether close has been called (select picks at random among ready cases, so
// a queue with room would otherwise take work after close).
func (g *groupCommitter) closed() bool {
	select {
	case <-g.stop:
		return true
	default:
		return false
	}
}

func (g *groupCommitter) close() {
	g.once.Do(func() { close(g.stop) })
	<-g.stopped
}
