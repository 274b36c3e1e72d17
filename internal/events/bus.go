package events

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/berthreg/berth/internal/meta"
)

// Store is what the bus needs of the metadata store.
type Store interface {
	SequenceEvents(ctx context.Context, limit int) (int, error)
	EventsAfter(ctx context.Context, pos int64, limit int) ([]meta.Event, error)
	AddSubscriber(ctx context.Context, name string) error
	ClaimSubscriber(ctx context.Context, name, owner string, until time.Time) (int64, error)
	AdvanceSubscriber(ctx context.Context, name, owner string, pos int64, until time.Time) error
	ReleaseSubscriber(ctx context.Context, name, owner string) error
	PruneEvents(ctx context.Context, before, idleSince time.Time) (int64, error)
	WatchEvents(fn func())
}

// Handler handles a batch of events, in stream order. It returns an error only for a failure
// worth trying again (the database is unreachable): the whole batch is then delivered again
// after a pause, and nothing after it is delivered before it. A handler therefore tolerates
// seeing an event twice, and ignores what it cannot ever handle (logging it).
type Handler func(ctx context.Context, evs []meta.Event) error

// Options tune a Bus; zero values pick the defaults.
type Options struct {
	Logger *slog.Logger
	// Poll is how often the bus looks for events nobody announced (written by another process
	// on SQLite, or while PostgreSQL's announcements were not heard). Default 1 s.
	Poll time.Duration
	// Lease is how long a replica holds a subscriber without renewing it; a replica that dies
	// holding one delays that subscriber by at most this long. Default 30 s.
	Lease time.Duration
	// Batch is how many events a handler gets at most at once. Default 256.
	Batch int
	// Retain is how long handled events are kept (for inspection) before they are deleted.
	// Default 1 h.
	Retain time.Duration
	// Gather is how long the bus waits, once told of a commit, for more before it looks: one
	// round of sequencing and delivery then serves the commits of that moment together,
	// instead of a few small write transactions for each (which, on SQLite's single writer,
	// would slow the pushes themselves down). Default 50 ms.
	Gather time.Duration
}

// batchTimeout bounds one batch: reading it, handling it and recording the progress.
const batchTimeout = 2 * time.Minute

// Bus delivers the event stream to the subscribers of one process. Subscribe, then Start.
type Bus struct {
	store Store
	log   *slog.Logger
	opt   Options
	owner string

	subs  []*subscriber
	wake  chan struct{}
	stop  context.CancelFunc
	wg    sync.WaitGroup
	start sync.Once
}

type subscriber struct {
	name    string
	types   map[Type]bool // nil: every type
	handle  Handler
	wake    chan struct{}
	pos     int64     // valid while leased
	expires time.Time // of this process's lease; zero when not held
}

// New returns a bus over the store.
func New(store Store, opt Options) *Bus {
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	if opt.Poll <= 0 {
		opt.Poll = time.Second
	}
	if opt.Lease <= 0 {
		opt.Lease = 30 * time.Second
	}
	if opt.Batch <= 0 {
		opt.Batch = 256
	}
	if opt.Retain <= 0 {
		opt.Retain = time.Hour
	}
	if opt.Gather <= 0 {
		opt.Gather = 50 * time.Millisecond
	}
	host, _ := os.Hostname()
	b := make([]byte, 6)
	rand.Read(b)
	return &Bus{store: store, log: opt.Logger, opt: opt, wake: make(chan struct{}, 1),
		owner: fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))}
}

// Subscribe adds a subscriber, before Start. The name is its identity in the store: how far it
// has handled the stream is kept under it across restarts. With types, the handler gets only
// events of those types. A subscriber new to the store starts at the end of the stream.
func (b *Bus) Subscribe(name string, h Handler, types ...Type) {
	s := &subscriber{name: name, handle: h, wake: make(chan struct{}, 1)}
	if len(types) > 0 {
		s.types = map[Type]bool{}
		for _, t := range types {
			s.types[t] = true
		}
	}
	b.subs = append(b.subs, s)
}

// Start registers the subscribers in the store and starts delivering.
func (b *Bus) Start(ctx context.Context) error {
	for _, s := range b.subs {
		if err := b.store.AddSubscriber(ctx, s.name); err != nil {
			return err
		}
	}
	b.start.Do(func() {
		bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
		b.stop = cancel
		b.store.WatchEvents(b.Wake)
		b.wg.Add(2 + len(b.subs))
		go b.sequence(bg)
		go b.prune(bg)
		for _, s := range b.subs {
			go b.deliver(bg, s)
		}
	})
	return nil
}

// Wake makes the bus look for new events now. It never blocks.
func (b *Bus) Wake() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// Close stops delivering, waits for the handlers under way, and hands this process's
// subscribers back so that another replica may take them at once.
func (b *Bus) Close() {
	if b.stop == nil {
		return
	}
	b.stop()
	b.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range b.subs {
		if !s.expires.IsZero() {
			if err := b.store.ReleaseSubscriber(ctx, s.name, b.owner); err != nil {
				b.log.Warn("release event subscriber", "subscriber", s.name, "err", err)
			}
		}
	}
}

// sequence gives positions to new events and tells the subscribers.
func (b *Bus) sequence(ctx context.Context) {
	defer b.wg.Done()
	t := time.NewTicker(b.opt.Poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.wake:
			select {
			case <-ctx.Done():
				return
			case <-time.After(b.opt.Gather):
			}
			// Commits announced meanwhile are served by this round.
			select {
			case <-b.wake:
			default:
			}
		case <-t.C:
		}
		for {
			n, err := b.store.SequenceEvents(ctx, b.opt.Batch)
			if err != nil {
				if ctx.Err() == nil {
					b.log.Warn("sequence events", "err", err)
				}
				break
			}
			if n < b.opt.Batch {
				break
			}
		}
		// Another replica may have sequenced what this one was woken for: the subscribers
		// look either way.
		for _, s := range b.subs {
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
	}
}

// deliver runs one subscriber: it holds the subscriber's lease while it can, and hands it the
// events after its position, batch by batch.
func (b *Bus) deliver(ctx context.Context, s *subscriber) {
	defer b.wg.Done()
	t := time.NewTicker(b.opt.Poll)
	defer t.Stop()
	backoff := time.Duration(0)
	for {
		if backoff > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
		} else {
			select {
			case <-ctx.Done():
				return
			case <-s.wake:
			case <-t.C:
			}
		}
		// A batch under way is finished, handled and recorded, even when Close is called
		// meanwhile: stopping halfway would only deliver it again.
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), batchTimeout)
		more, err := b.deliverBatch(bctx, s)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, meta.ErrLeaseLost):
			s.expires = time.Time{}
			backoff = 0
		case err != nil:
			backoff = min(max(2*backoff, time.Second), 30*time.Second)
			b.log.Warn("deliver events", "subscriber", s.name, "err", err, "retry_in", backoff)
		default:
			backoff = 0
		}
		if more && err == nil {
			// A full batch: there may be more at once.
			select {
			case s.wake <- struct{}{}:
			default:
			}
		}
	}
}

// deliverBatch delivers the next batch and reports whether it was full.
func (b *Bus) deliverBatch(ctx context.Context, s *subscriber) (bool, error) {
	now := time.Now()
	// The lease is renewed when a third of it is gone, so an idle subscriber writes rarely.
	if s.expires.IsZero() || s.expires.Sub(now) < 2*b.opt.Lease/3 {
		until := now.Add(b.opt.Lease)
		pos, err := b.store.ClaimSubscriber(ctx, s.name, b.owner, until)
		if err != nil {
			return false, err
		}
		s.pos, s.expires = pos, until
	}
	evs, err := b.store.EventsAfter(ctx, s.pos, b.opt.Batch)
	if err != nil || len(evs) == 0 {
		return false, err
	}
	batch := evs
	if s.types != nil {
		batch = slices.DeleteFunc(slices.Clone(evs), func(e meta.Event) bool { return !s.types[e.Type] })
	}
	if len(batch) > 0 {
		if time.Now().After(s.expires) {
			// The lease may be another replica's by now: take it again before handling.
			s.expires = time.Time{}
			return true, nil
		}
		if err := b.run(ctx, s, batch); err != nil {
			return false, err
		}
	}
	last := evs[len(evs)-1].Pos
	until := time.Now().Add(b.opt.Lease)
	if err := b.store.AdvanceSubscriber(ctx, s.name, b.owner, last, until); err != nil {
		return false, err
	}
	s.pos, s.expires = last, until
	return len(evs) == b.opt.Batch, nil
}

// run calls the handler, turning a panic into an error so that one bad event cannot take the
// process down (the batch is tried again later, and the panic is logged each time).
func (b *Bus) run(ctx context.Context, s *subscriber, batch []meta.Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in event handler: %v", p)
		}
	}()
	return s.handle(ctx, batch)
}

// prune deletes old events every subscriber has handled.
func (b *Bus) prune(ctx context.Context) {
	defer b.wg.Done()
	t := time.NewTicker(10 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := time.Now()
		// A subscriber no process has run for a week (one a newer version dropped) holds
		// nothing back.
		n, err := b.store.PruneEvents(ctx, now.Add(-b.opt.Retain), now.Add(-7*24*time.Hour))
		if err != nil {
			if ctx.Err() == nil {
				b.log.Warn("prune events", "err", err)
			}
			continue
		}
		if n > 0 {
			b.log.Debug("pruned handled events", "count", n)
		}
	}
}
