package portal

// The status strip at the foot of every page: the version, the database's health, and for
// those the services show them to, the storage used (project.Service.QuotaUsed: the sum of
// every project's quota use, as /api/v2.0/quotas lists them — one row per project, where the
// registry-wide total_storage_consumption of /api/v2.0/statistics reads every blob and
// manifest) and the job queue's health (jobmonitor.Service.Queues, as
// /api/v2.0/jobservice/queues). Every page shows it, so what it reads is kept for a few
// seconds per caller: a page costs those queries at most once in that time.

import (
	"strconv"
	"sync"
	"time"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/health"
	"github.com/berthreg/berth/internal/jobmonitor"
)

// statusStrip is what the strip shows beside the version; "" leaves a part out.
type statusStrip struct {
	Database string // healthy or unhealthy
	Storage  string // the storage the projects' quotas count as used, in binary units
	// Jobs is the job queue's state in words (healthy, paused, delayed, unhealthy), JobsHealth
	// healthy or unhealthy for its colour, Waiting the jobs waiting to run (Counted: the queue
	// could be read).
	Jobs, JobsHealth string
	Waiting          int64
	Counted          bool
}

// stripTTL is how long a caller's strip is kept.
const stripTTL = 5 * time.Second

// jobsDelayed is how long the oldest waiting job may wait before the queue reads as delayed.
const jobsDelayed = 10 * time.Minute

// stripCacheMax bounds the callers kept; past it the cache starts again.
const stripCacheMax = 1024

type stripKey struct {
	kind  auth.PrincipalKind
	id    int64
	admin bool
}

type stripEntry struct {
	s  statusStrip
	at time.Time
}

type stripCache struct {
	mu      sync.Mutex
	entries map[stripKey]stripEntry
}

// statusStrip is the caller's strip, read again when older than stripTTL.
func (h *Handler) statusStrip(c *call) statusStrip {
	key := stripKey{c.p.Kind, c.p.ID, c.p.SysAdmin}
	sc := &h.strip
	sc.mu.Lock()
	e, ok := sc.entries[key]
	sc.mu.Unlock()
	if ok && time.Since(e.at) < stripTTL {
		return e.s
	}
	s := h.readStatusStrip(c)
	sc.mu.Lock()
	if sc.entries == nil || len(sc.entries) >= stripCacheMax {
		sc.entries = map[stripKey]stripEntry{}
	}
	sc.entries[key] = stripEntry{s, time.Now()}
	sc.mu.Unlock()
	return s
}

func (h *Handler) readStatusStrip(c *call) statusStrip {
	s := statusStrip{Database: h.databaseHealth(c)}
	if c.p.IsAnonymous() {
		return s
	}
	if h.Projects != nil {
		n, err := h.Projects.QuotaUsed(c.ctx())
		if err == nil {
			s.Storage = humanBytes(n)
		} else if !refused(err) {
			h.Log.WarnContext(c.ctx(), "portal: status strip: storage used", "err", err)
		}
	}
	if h.JobMonitor != nil {
		qs, err := h.JobMonitor.Queues(c.ctx())
		switch {
		case err == nil:
			s.Jobs, s.JobsHealth, s.Waiting = queueState(qs)
			s.Counted = true
		case refused(err):
		default:
			h.Log.WarnContext(c.ctx(), "portal: status strip: job queue", "err", err)
			s.Jobs, s.JobsHealth = health.Unhealthy, health.Unhealthy
		}
	}
	return s
}

// queueState is the job queue's state in words, and as healthy or unhealthy, from the queue of
// each job type: paused when a type is paused, delayed when a job has waited over jobsDelayed,
// else healthy; and the jobs waiting.
func queueState(qs []jobmonitor.JobQueue) (state, colour string, waiting int64) {
	var oldest time.Duration
	paused := false
	for _, q := range qs {
		waiting += q.Count
		oldest = max(oldest, q.Latency)
		paused = paused || q.Paused
	}
	switch {
	case paused:
		return "paused", health.Unhealthy, waiting
	case oldest > jobsDelayed:
		return "delayed", health.Unhealthy, waiting
	}
	return health.Healthy, health.Healthy, waiting
}

// refused is whether err is a service's refusal to show the caller something.
func refused(err error) bool {
	return fault.Is(err, fault.Forbidden) || fault.Is(err, fault.Unauthorized)
}

// waiting is the waiting jobs in words.
func waiting(n int64) string {
	if n == 1 {
		return "1 job waiting"
	}
	return strconv.FormatInt(n, 10) + " jobs waiting"
}
