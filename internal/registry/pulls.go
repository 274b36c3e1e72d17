package registry

import (
	"context"
	"sync"
	"time"

	"github.com/berthreg/berth/internal/events"
	"github.com/berthreg/berth/internal/meta"
)

// pullFlushInterval is how stale pull times, counts and pull events may be. Pulls are the
// hottest path of a registry; writing each one would put a database write behind every
// manifest GET, so pulls are counted in memory and written in one transaction per interval.
// The pulls of one artifact by one caller in an interval are one event that counts them.
const pullFlushInterval = time.Second

type pullKey struct {
	manifestID int64
	tag        string
}

// pullEvent is what an artifact.pulled event says, but for the count and time.
type pullEvent struct {
	projectID              int64
	repo, resource, actor  string
	digest, mediaType, tag string
}

type pullCounter struct {
	mu      sync.Mutex
	pending map[pullKey]*meta.PullRecord
	events  map[pullEvent]*pulled
	order   []pullEvent // events in the order of their first pull
	started bool
	stop    chan struct{}
	done    chan struct{}
}

type pulled struct {
	count int
	last  time.Time
}

func (c *pullCounter) record(s *Service, e pullEvent, manifestID int64) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started {
		c.started = true
		c.stop, c.done = make(chan struct{}), make(chan struct{})
		go c.loop(s)
	}
	if c.pending == nil {
		c.pending, c.events = map[pullKey]*meta.PullRecord{}, map[pullEvent]*pulled{}
	}
	if p := c.events[e]; p != nil {
		p.count++
		p.last = now
	} else {
		c.events[e] = &pulled{count: 1, last: now}
		c.order = append(c.order, e)
	}
	k := pullKey{manifestID, e.tag}
	if p := c.pending[k]; p != nil {
		p.At = now
		p.Count++
		return
	}
	c.pending[k] = &meta.PullRecord{ManifestID: manifestID, Tag: e.tag, At: now, Count: 1}
}

func (c *pullCounter) loop(s *Service) {
	defer close(c.done)
	t := time.NewTicker(pullFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			c.flush(s)
		case <-c.stop:
			c.flush(s)
			return
		}
	}
}

func (c *pullCounter) flush(s *Service) {
	c.mu.Lock()
	pending, pulls, order := c.pending, c.events, c.order
	c.pending, c.events, c.order = nil, nil, nil
	c.mu.Unlock()
	if len(pending) == 0 {
		return
	}
	recs := make([]meta.PullRecord, 0, len(pending))
	for _, p := range pending {
		recs = append(recs, *p)
	}
	evs := make([]meta.Event, 0, len(order))
	for _, e := range order {
		p := pulls[e]
		evs = append(evs, events.Pulled(e.projectID, e.resource, e.actor, p.last,
			events.Artifact{Repository: e.repo, Digest: e.digest, MediaType: e.mediaType, Tag: e.tag, Count: p.count}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.DB.RecordPulls(ctx, recs, evs...); err != nil {
		s.Log.Warn("record pulls", "manifests", len(recs), "err", err)
	}
}

// Close writes the pulls still in memory and stops the background writer.
func (s *Service) Close() {
	c := &s.pulls
	c.mu.Lock()
	started := c.started
	c.started = false
	c.mu.Unlock()
	if started {
		close(c.stop)
		<-c.done
	}
}
