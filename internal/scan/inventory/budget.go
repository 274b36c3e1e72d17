package inventory

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Budget is what the scans of one process share, so that N scans running at once cannot each
// take a whole allowance of their Limits:
//
//   - scratch space: a scan reserves bytes from one total as it writes files into its scratch
//     directory, and gives them back when it ends. A scan that finds the total taken waits,
//     in order of arrival, for other scans to give some back. When every scan holding
//     scratch space is itself waiting for more, none would ever end: the one that started
//     last gives way. It drops its scratch directory and starts again, behind the others;
//     a scan keeps its place in that order across restarts, so the oldest always ends. Only
//     an image needing more than the whole total on its own fails (a *LimitError).
//   - parse slots: a scan holds one while the extractors run over its files, the phase whose
//     memory grows with what the image lists (and its caller while it encodes and matches
//     the inventory: Acquire). Applying layers streams, in a few megabytes (a zstd layer's
//     window, up to 128 MiB, aside), and does not need one.
type Budget struct {
	scratch int64         // bytes all scans may hold at once; 0: no total
	parses  chan struct{} // one token per parse slot; nil: no bound

	mu      sync.Mutex
	leases  int64 // leases handed out, for their order
	used    int64 // bytes granted to leases
	holders int   // leases holding bytes
	blocked int   // holders waiting for more
	queue   []*scratchWaiter
	// For tests: the most bytes granted and parses running at any one time, how many
	// reservations waited, and how many scans gave way.
	peakUsed, parsing, peakParsing, waits, restarts int
}

// scratchChunk is the step in which a scan reserves scratch space, so that the budget's lock
// is taken once per megabyte written rather than once per buffer.
const scratchChunk = 1 << 20

// NewBudget returns a budget of scratchBytes of scratch space and parses parse slots; zero
// (or less) leaves that one unbounded.
func NewBudget(scratchBytes int64, parses int) *Budget {
	b := &Budget{scratch: max(scratchBytes, 0)}
	if parses > 0 {
		b.parses = make(chan struct{}, parses)
	}
	return b
}

// ScratchInUse is the scratch space reserved by running scans (0 for a nil Budget).
func (b *Budget) ScratchInUse() int64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}

// Acquire waits for a parse slot; release gives it back. Extract takes one to run the
// extractors; a caller takes one for its own work proportional to an inventory (encoding it,
// matching it), so that it is not done by more scans at once either. A nil Budget has
// unlimited slots.
func (b *Budget) Acquire(ctx context.Context) (release func(), err error) {
	if b == nil || b.parses == nil {
		return func() {}, nil
	}
	select {
	case b.parses <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	b.mu.Lock()
	b.parsing++
	b.peakParsing = max(b.peakParsing, b.parsing)
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			b.parsing--
			b.mu.Unlock()
			<-b.parses
		})
	}, nil
}

// lease is one scan's share of the scratch space.
type lease struct {
	b    *Budget // nil: no shared total
	seq  int64   // order of the scan: a later one gives way to an earlier one
	held int64
}

type scratchWaiter struct {
	l    *lease
	n    int64
	done chan error // receives nil once granted, or why not
}

func (b *Budget) lease() *lease {
	if b == nil {
		return &lease{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.leases++
	return &lease{b: b, seq: b.leases}
}

// errGiveWay tells a scan to drop its scratch directory and start again (Budget).
var errGiveWay = errors.New("scratch space taken by scans started earlier: starting again after them")

// reserve makes the lease hold at least need bytes, waiting for other scans to give some back
// if the total is taken.
func (l *lease) reserve(ctx context.Context, need int64) error {
	if need <= l.held {
		return nil
	}
	b := l.b
	if b == nil || b.scratch == 0 {
		l.held = need
		return nil
	}
	if need > b.scratch {
		return &LimitError{Limit: "scan scratch budget", Max: b.scratch,
			What: fmt.Sprintf("the image needs more than the %d bytes of scratch space all scans share", b.scratch)}
	}
	n := min((need-l.held+scratchChunk-1)/scratchChunk*scratchChunk, b.scratch-l.held)

	b.mu.Lock()
	if len(b.queue) == 0 && b.used+n <= b.scratch {
		b.grant(l, n)
		b.mu.Unlock()
		return nil
	}
	w := &scratchWaiter{l: l, n: n, done: make(chan error, 1)}
	b.queue = append(b.queue, w)
	b.waits++
	if l.held > 0 {
		b.blocked++
	}
	b.dispatch()
	b.mu.Unlock()

	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		b.mu.Lock()
		if b.dequeue(w) {
			b.dispatch()
			b.mu.Unlock()
			return ctx.Err()
		}
		b.mu.Unlock()
		// Decided meanwhile: a grant is kept (and given back with the rest).
		if err := <-w.done; err != nil {
			return err
		}
		return ctx.Err()
	}
}

// release gives back everything the lease holds.
func (l *lease) release() {
	b := l.b
	if b == nil || b.scratch == 0 || l.held == 0 {
		l.held = 0
		return
	}
	b.mu.Lock()
	b.used -= l.held
	b.holders--
	l.held = 0
	b.dispatch()
	b.mu.Unlock()
}

func (b *Budget) grant(l *lease, n int64) {
	if l.held == 0 {
		b.holders++
	}
	l.held += n
	b.used += n
	b.peakUsed = max(b.peakUsed, int(b.used))
}

// dequeue removes w from the queue; false if it was not there (already decided).
func (b *Budget) dequeue(w *scratchWaiter) bool {
	for i, q := range b.queue {
		if q == w {
			b.queue = append(b.queue[:i], b.queue[i+1:]...)
			if w.l.held > 0 {
				b.blocked--
			}
			return true
		}
	}
	return false
}

// dispatch grants waiting reservations in order while they fit, and breaks a deadlock: when
// every scan holding scratch space waits for more, nothing will be given back, so the latest
// of them gives way (errGiveWay). It gives its space back and starts again.
func (b *Budget) dispatch() {
	for len(b.queue) > 0 {
		w := b.queue[0]
		if b.used+w.n <= b.scratch {
			b.dequeue(w)
			b.grant(w.l, w.n)
			w.done <- nil
			continue
		}
		if b.holders > b.blocked {
			return // a running scan will give space back
		}
		var victim *scratchWaiter
		for _, q := range b.queue {
			if q.l.held > 0 && (victim == nil || q.l.seq > victim.l.seq) {
				victim = q
			}
		}
		if victim == nil {
			return // cannot be: with no holder, the head fits
		}
		b.dequeue(victim)
		b.restarts++
		victim.done <- errGiveWay
	}
}
