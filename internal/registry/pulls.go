package registry

import (
	"context"
	"sync"
	"time"

	"github.com/berthreg/berth/internal/meta"
)

// pullFlushInterval is how stale pull times and counts may be. Pulls are the hottest path of a
// registry; writing each one would put a database write behind every manifest GET, so pulls
// are counted in memory and written in one transaction per interval.
const pullFlushInterval = time.Second

type pullKey struct {
	manifestID int64
	tag        string
}

type pullCounter struct {
	mu      sync.Mutex
	pending map[pullKey]*meta.PullRecord
	started bool
	stop    chan struct{}
	done    chan struct{}
}

func (c *pullCounter) record(s *Service, manifestID int64, tag string) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started {
		c.started = true
		c.stop, c.done = make(chan struct{}), make(chan struct{})
		go c.loop(s)
	}
	if c.pending == nil {
		c.pending = map[pullKey]*meta.PullRecord{}
	}
	k := pullKey{manifestID, tag}
	if p := c.pending[k]; p != nil {
		p.At = now
		p.Count++
		return
	}
	c.pending[k] = &meta.PullRecord{ManifestID: manifestID, Tag: tag, At: now, Count: 1}
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
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	if len(pending) == 0 {
		return
	}
	recs := make([]meta.PullRecord, 0, len(pending))
	for _, p := range pending {
		recs = append(recs, *p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.DB.RecordPulls(ctx, recs); err != nil {
		s.Log.Warn("record pull times", "manifests", len(recs), "err", err)
	}
}

// Close writes the pull times still in memory and stops the background writer.
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
