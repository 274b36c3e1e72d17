// Package audit records who did what: pushes, pulls, deletions, creations and membership
// changes, from /v2/ and the REST API alike. Entries are written in batches off the request
// path, so recording a pull never slows the pull down.
package audit

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/meta"
)

// Store is where entries go.
type Store interface {
	InsertAudit(ctx context.Context, entries ...meta.AuditEntry) error
}

// Recorder batches entries and writes them from one goroutine.
type Recorder struct {
	store Store
	log   *slog.Logger
	ch    chan meta.AuditEntry
	done  chan struct{}
	once  sync.Once
}

const (
	queueSize = 1 << 16
	batchSize = 1000
	flushIdle = 200 * time.Millisecond
)

// New starts a recorder; Close flushes and stops it.
func New(store Store, log *slog.Logger) *Recorder {
	r := &Recorder{store: store, log: log, ch: make(chan meta.AuditEntry, queueSize), done: make(chan struct{})}
	go r.loop()
	return r
}

// Record queues an entry for the caller in ctx. When the queue is full (the database cannot
// keep up) the request waits for room rather than dropping the line: an audit log that loses
// lines under load is worse than a slower request, and waiting for the batch writer costs far
// less than writing one row on the request path.
func (r *Recorder) Record(ctx context.Context, projectID int64, operation, resourceType, resource string) {
	if r == nil {
		return
	}
	p := auth.PrincipalFrom(ctx)
	name := p.Name
	if p.IsAnonymous() {
		name = "anonymous"
	}
	e := meta.AuditEntry{ProjectID: projectID, Username: name, Resource: resource, ResourceType: resourceType, Operation: operation, OpTime: time.Now()}
	select {
	case r.ch <- e:
		return
	default:
	}
	select {
	case r.ch <- e:
	case <-ctx.Done():
		// The client is gone; the operation itself happened, so the line is still written.
		if err := r.store.InsertAudit(context.WithoutCancel(ctx), e); err != nil {
			r.log.ErrorContext(ctx, "write audit log", "err", err)
		}
	}
}

func (r *Recorder) loop() {
	defer close(r.done)
	batch := make([]meta.AuditEntry, 0, batchSize)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := r.store.InsertAudit(ctx, batch...); err != nil {
			r.log.Error("write audit log", "entries", len(batch), "err", err)
		}
		cancel()
		batch = batch[:0]
	}
	timer := time.NewTimer(flushIdle)
	defer timer.Stop()
	for {
		select {
		case e, ok := <-r.ch:
			if !ok {
				flush()
				return
			}
			batch = append(batch, e)
			if len(batch) >= batchSize {
				flush()
			}
		case <-timer.C:
			flush()
			timer.Reset(flushIdle)
		}
	}
}

// Close writes what is queued and stops the recorder.
func (r *Recorder) Close() {
	r.once.Do(func() { close(r.ch) })
	<-r.done
}
