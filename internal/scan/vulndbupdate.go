package scan

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"time"

	"github.com/riverqueue/river"

	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
	"github.com/berthreg/berth/internal/scan/vulndb"
)

// The vulnerability database's scheduled update: a stored interval schedule (one run per
// interval whichever replica works it) queues a job that downloads osv.dev's archives and
// imports them when they changed (vulndb.Update); the import re-matches stored inventories
// like any other. A registry without a database queues one update at start instead of waiting
// an interval. A failed update is logged and recorded, never retried before the next run: the
// database in use stays.

// VulnDBUpdateScheduleName names the update's schedule.
const VulnDBUpdateScheduleName = "vulndb_update"

// VulnDBUpdates configures downloading the vulnerability database.
type VulnDBUpdates struct {
	// Source is where archives come from and where they are kept between updates.
	Source vulndb.UpdateOptions
	// Interval is how often the update runs; 0 means never on a schedule.
	Interval time.Duration
	// AirGapped forbids downloads: there is no schedule, and queued updates do nothing.
	AirGapped bool
}

// Scheduled reports whether updates run on a schedule.
func (u VulnDBUpdates) Scheduled() bool { return !u.AirGapped && u.Interval > 0 }

type vulndbUpdateArgs struct {
	// ScheduledAt is the schedule's run; zero for the update queued at start.
	ScheduledAt time.Time `json:"scheduled_at,omitzero"`
}

func (vulndbUpdateArgs) Kind() string { return "vulndb_update" }

type vulndbUpdateWorker struct {
	jobs.WorkerDefaults[vulndbUpdateArgs]
	s *Service
}

// Timeout bounds an update: the archives of every ecosystem are a few gigabytes at most.
func (w *vulndbUpdateWorker) Timeout(*jobs.Job[vulndbUpdateArgs]) time.Duration { return 3 * time.Hour }

func (w *vulndbUpdateWorker) Work(ctx context.Context, job *jobs.Job[vulndbUpdateArgs]) error {
	s := w.s
	if !s.Updates.Scheduled() {
		// Queued while another replica (or this one, before a restart) had updates on.
		s.Log.Info("vulnerability database update skipped: downloads are off here (air_gapped, or vulndb_update_interval 0s)")
		return nil
	}
	opt := s.Updates.Source
	opt.Trigger, opt.ScheduledAt = "SCHEDULE", job.Args.ScheduledAt
	rep, err := s.VulnDB.Update(ctx, opt)
	if errors.Is(err, vulndb.ErrUpdateRunning) {
		s.Log.Info("vulnerability database update skipped", "reason", err)
		return nil
	}
	if err != nil {
		s.Log.Warn("vulnerability database update failed; the database in use stays", "url", opt.URL, "err", err)
		return nil
	}
	s.Log.Info("vulnerability database update", "result", rep.Summary())
	return nil
}

// registerVulnDBUpdates adds the update's worker and schedule handler to the queue.
func registerVulnDBUpdates(q *jobs.Queue, s *Service) {
	jobs.Register(q, &vulndbUpdateWorker{s: s})
	q.HandleSchedules(VulnDBUpdateScheduleName, func(ctx context.Context, tx *meta.Tx, _ string, _ json.RawMessage) error {
		_, err := s.Jobs.InsertTx(ctx, tx, vulndbUpdateArgs{ScheduledAt: jobs.ScheduledAt(ctx)}, nil)
		return err
	})
}

// StartVulnDBUpdates sets the update schedule as this server's configuration says — every
// Interval, or none — and, when there is no database yet, queues an update now. Failures are
// only logged: a registry without its updates still serves.
func (s *Service) StartVulnDBUpdates(ctx context.Context) {
	if !s.Updates.Scheduled() {
		if err := s.Jobs.RemoveSchedule(ctx, VulnDBUpdateScheduleName); err != nil {
			s.Log.Warn("remove the vulnerability database update schedule", "err", err)
		}
		return
	}
	if err := s.Jobs.EnsureInterval(ctx, VulnDBUpdateScheduleName, s.Updates.Interval, nil); err != nil {
		s.Log.Warn("schedule vulnerability database updates", "err", err)
		return
	}
	gen, err := s.VulnDB.Generation(ctx)
	if err != nil || gen > 0 {
		return
	}
	// Replicas starting together, or a server restarting in a loop, queue one such update an
	// hour.
	if _, err := s.Jobs.Insert(ctx, vulndbUpdateArgs{}, &jobs.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByPeriod: time.Hour}}); err != nil {
		s.Log.Warn("queue the first vulnerability database update", "err", err)
	}
}

// VulnDBState is the vulnerability database and its updates, as /systeminfo shows them.
type VulnDBState struct {
	vulndb.Status
	// State is VulnDBReady or VulnDBMissing; Message says what to do when it is missing.
	State, Message string
	// Updates: whether they run on a schedule, how often, from where, and when next.
	Scheduled  bool
	AirGapped  bool
	Interval   time.Duration
	URL        string
	NextUpdate time.Time
}

// VulnDBState returns the state of the vulnerability database, for signed-in callers.
func (s *Service) VulnDBState(ctx context.Context) (VulnDBState, error) {
	if err := rbac.RequireSignedIn(ctx); err != nil {
		return VulnDBState{}, err
	}
	st, err := s.VulnDB.Status(ctx)
	if err != nil {
		return VulnDBState{}, err
	}
	out := VulnDBState{Status: st, State: VulnDBReady, Scheduled: s.Updates.Scheduled(), AirGapped: s.Updates.AirGapped}
	if st.Generation == 0 {
		out.State, out.Message = VulnDBMissing, vulndb.ErrNoDatabase.Error()
	}
	if out.Scheduled {
		out.Interval, out.URL = s.Updates.Interval, s.Updates.Source.URL
		if u, err := url.Parse(out.URL); err == nil {
			out.URL = u.Redacted() // a mirror's Basic credentials
		}
		sch, ok, err := s.Jobs.GetSchedule(ctx, VulnDBUpdateScheduleName)
		if err != nil {
			return VulnDBState{}, err
		}
		if ok {
			out.NextUpdate = sch.NextAt
		}
	}
	return out, nil
}
