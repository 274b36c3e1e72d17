package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/berthreg/berth/internal/gc"
	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

func (h *Handler) gcRoutes(r route) {
	r("GET /system/gc", h.listGC)
	r("GET /system/gc/schedule", h.getGCSchedule)
	r("POST /system/gc/schedule", h.postGCSchedule)
	r("PUT /system/gc/schedule", h.putGCSchedule)
	r("GET /system/gc/{gc_id}", h.getGC)
	r("PUT /system/gc/{gc_id}", h.stopGC)
	r("GET /system/gc/{gc_id}/log", h.getGCLog)
}

// scheduleReq is Harbor's Schedule body: {"schedule":{"type":"Daily","cron":"0 0 2 * * *"},
// "parameters":{…}}. The read-only fields a client may echo back are accepted and ignored.
type scheduleReq struct {
	ID           *int64         `json:"id"`
	Status       *string        `json:"status"`
	CreationTime *string        `json:"creation_time"`
	UpdateTime   *string        `json:"update_time"`
	Schedule     *scheduleObj   `json:"schedule"`
	Parameters   map[string]any `json:"parameters"`
}

type scheduleObj struct {
	Type              string  `json:"type"`
	Cron              string  `json:"cron,omitempty"`
	NextScheduledTime *string `json:"next_scheduled_time,omitempty"`
}

// gcHistoryJSON is Harbor's GCHistory, with what the run deleted and freed added (Harbor
// reports that only in the log).
type gcHistoryJSON struct {
	ID            int64        `json:"id,omitempty"`
	JobName       string       `json:"job_name,omitempty"`
	JobKind       string       `json:"job_kind,omitempty"`
	JobParameters string       `json:"job_parameters,omitempty"`
	Schedule      *scheduleObj `json:"schedule,omitempty"`
	JobStatus     string       `json:"job_status,omitempty"`
	Deleted       bool         `json:"deleted"`
	CreationTime  string       `json:"creation_time,omitempty"`
	UpdateTime    string       `json:"update_time,omitempty"`
	// Berth's additions.
	DryRun           *bool  `json:"dry_run,omitempty"`
	ManifestsDeleted *int   `json:"manifests_deleted,omitempty"`
	BlobsDeleted     *int   `json:"blobs_deleted,omitempty"`
	BytesFreed       *int64 `json:"bytes_freed,omitempty"`
}

const gcJobName = "GARBAGE_COLLECTION"

// scheduleTypeOf names how a run was started in the schedule types' vocabulary (Harbor puts
// the trigger there, which its own schema refuses).
func scheduleTypeOf(trigger string) string {
	if trigger == gc.TriggerSchedule {
		return "Schedule"
	}
	return jobs.TypeManual
}

func gcToJSON(e meta.Execution) gcHistoryJSON {
	out := gcHistoryJSON{
		ID: e.ID, JobName: gcJobName, JobKind: e.Trigger, JobParameters: e.Params,
		Schedule: &scheduleObj{Type: scheduleTypeOf(e.Trigger)}, JobStatus: e.Status,
		CreationTime: harborTime(e.CreatedAt), UpdateTime: harborTime(e.UpdatedAt),
	}
	if jobs.Stale(e) {
		out.JobStatus = meta.StatusError // its process died; a retried job may take it up again
	}
	dry := e.DryRun
	out.DryRun = &dry
	var res gc.Result
	if json.Unmarshal([]byte(e.Result), &res) == nil && e.Finished() {
		out.ManifestsDeleted, out.BlobsDeleted, out.BytesFreed = &res.Manifests, &res.Blobs, &res.Bytes
	}
	return out
}

func (h *Handler) listGC(c *call) error {
	if err := h.authorizeSystem(c, rbac.ResGarbageCollection, rbac.ActList); err != nil {
		return err
	}
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	es, total, err := h.DB.ListExecutions(c.r.Context(), gc.ExecutionKind, 0, lq)
	if err != nil {
		return err
	}
	out := make([]gcHistoryJSON, 0, len(es))
	for _, e := range es {
		out = append(out, gcToJSON(e))
	}
	setPageHeaders(c.w, c.r, page, lq.Limit, total)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// gcExecution reads the {gc_id} execution; 404 unless it is a garbage collection.
func (h *Handler) gcExecution(c *call) (meta.Execution, error) {
	id, err := pathID(c, "gc_id", "gc")
	if err != nil {
		return meta.Execution{}, err
	}
	e, err := h.DB.Execution(c.r.Context(), id)
	if errors.Is(err, meta.ErrNotFound) || err == nil && e.Kind != gc.ExecutionKind {
		return e, notFound(fmt.Sprintf("garbage collection %d not found", id))
	}
	return e, err
}

func (h *Handler) getGC(c *call) error {
	if err := h.authorizeSystem(c, rbac.ResGarbageCollection, rbac.ActRead); err != nil {
		return err
	}
	e, err := h.gcExecution(c)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, gcToJSON(e))
	return nil
}

func (h *Handler) getGCLog(c *call) error {
	if err := h.authorizeSystem(c, rbac.ResGarbageCollection, rbac.ActRead); err != nil {
		return err
	}
	e, err := h.gcExecution(c)
	if err != nil {
		return err
	}
	log, err := h.DB.ExecutionLog(c.r.Context(), e.ID)
	if err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	c.w.WriteHeader(http.StatusOK)
	c.w.Write([]byte(log))
	return nil
}

func (h *Handler) stopGC(c *call) error {
	if err := h.authorizeSystem(c, rbac.ResGarbageCollection, rbac.ActStop); err != nil {
		return err
	}
	e, err := h.gcExecution(c)
	if err != nil {
		return err
	}
	if _, err := h.GC.Stop(c.r.Context(), e.ID); err != nil {
		return err
	}
	return ok(c)
}

func (h *Handler) getGCSchedule(c *call) error {
	if err := h.authorizeSystem(c, rbac.ResGarbageCollection, rbac.ActRead); err != nil {
		return err
	}
	s, found, err := h.GC.Schedule(c.r.Context())
	if err != nil {
		return err
	}
	if !found {
		// Harbor answers 200 with nothing when no schedule is set; an empty object keeps JSON
		// clients happy and says the same.
		writeJSON(c.w, http.StatusOK, struct{}{})
		return nil
	}
	next := harborTime(s.NextAt)
	writeJSON(c.w, http.StatusOK, gcHistoryJSON{
		JobName: gcJobName, JobKind: gc.TriggerSchedule, JobParameters: string(s.Params),
		Schedule:     &scheduleObj{Type: s.Type, Cron: s.Cron, NextScheduledTime: &next},
		CreationTime: harborTime(s.Created), UpdateTime: harborTime(s.Updated),
	})
	return nil
}

func (h *Handler) postGCSchedule(c *call) error {
	return h.postSchedule(c, rbac.ResGarbageCollection, h.kickGC, func(id int64) string { return fmt.Sprintf("%s/system/gc/%d", base, id) })
}

func (h *Handler) putGCSchedule(c *call) error {
	return h.putSchedule(c, rbac.ResGarbageCollection, h.kickGC)
}

// postSchedule answers POST …/schedule for a kind of recurring work: 201, with the Location
// of the run when the body started one.
func (h *Handler) postSchedule(c *call, res rbac.Resource, kick func(*call) (int64, error), location func(id int64) string) error {
	if err := h.authorizeSystem(c, res, rbac.ActCreate); err != nil {
		return err
	}
	id, err := kick(c)
	if err != nil {
		return err
	}
	if id > 0 {
		return created(c, location(id))
	}
	c.w.WriteHeader(http.StatusCreated)
	return nil
}

// putSchedule answers PUT …/schedule: the same, 200.
func (h *Handler) putSchedule(c *call, res rbac.Resource, kick func(*call) (int64, error)) error {
	if err := h.authorizeSystem(c, res, rbac.ActUpdate); err != nil {
		return err
	}
	if _, err := kick(c); err != nil {
		return err
	}
	return ok(c)
}

// kickGC applies a schedule body to garbage collection.
func (h *Handler) kickGC(c *call) (int64, error) {
	params := func(req scheduleReq) (gc.Params, error) {
		p, err := gc.ParseParams(req.Parameters)
		if err != nil {
			return p, badRequest(err.Error())
		}
		return p, nil
	}
	return h.kickSchedule(c, scheduleActions{
		validate: func(req scheduleReq) error { _, err := params(req); return err },
		run: func(req scheduleReq) (int64, error) {
			p, _ := params(req)
			id, err := h.GC.Start(c.r.Context(), gc.TriggerManual, p)
			if err == nil {
				h.audit(c, 0, "create", "gc", fmt.Sprintf("gc/%d", id))
			}
			return id, err
		},
		set: func(typ, cron string, req scheduleReq) error {
			p, _ := params(req)
			return h.GC.SetSchedule(c.r.Context(), typ, cron, p)
		},
		remove: func() error { return h.GC.RemoveSchedule(c.r.Context()) },
	})
}

// scheduleActions are what a Harbor schedule body can ask of one kind of recurring work.
type scheduleActions struct {
	validate func(req scheduleReq) error                   // the parameters, before anything runs
	run      func(req scheduleReq) (int64, error)          // Manual: run now, returning the execution id
	set      func(typ, cron string, req scheduleReq) error // Hourly, Daily, Weekly, Custom
	remove   func() error                                  // None
}

// kickSchedule does what a schedule body asks, as Harbor does for both POST and PUT of
// /system/gc/schedule and /system/scanAll/schedule: Manual runs now (the execution id is
// returned), None removes the schedule, any other type sets or replaces it ("Schedule" is
// Custom).
func (h *Handler) kickSchedule(c *call, a scheduleActions) (int64, error) {
	var req scheduleReq
	if err := decode(c.r, &req); err != nil {
		return 0, err
	}
	if req.Schedule == nil || req.Schedule.Type == "" {
		return 0, badRequest("schedule.type is required (Hourly, Daily, Weekly, Custom, Manual or None)")
	}
	if a.validate != nil {
		if err := a.validate(req); err != nil {
			return 0, err
		}
	}
	typ := req.Schedule.Type
	switch typ {
	case jobs.TypeManual:
		return a.run(req)
	case jobs.TypeNone:
		return 0, a.remove()
	case "Schedule":
		typ = jobs.TypeCustom
	}
	if err := a.set(typ, req.Schedule.Cron, req); err != nil {
		if errors.Is(err, jobs.ErrInvalidSchedule) {
			return 0, badRequest(err.Error())
		}
		return 0, err
	}
	return 0, nil
}
