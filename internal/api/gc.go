package api

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/berthreg/berth/internal/gc"
	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/meta"
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
	dry := e.DryRun
	out.DryRun = &dry
	var res gc.Result
	if json.Unmarshal([]byte(e.Result), &res) == nil && e.Finished() {
		out.ManifestsDeleted, out.BlobsDeleted, out.BytesFreed = &res.Manifests, &res.Blobs, &res.Bytes
	}
	return out
}

func (h *Handler) listGC(c *call) error {
	lq, page, err := listQuery(c.r)
	if err != nil {
		return err
	}
	es, total, err := h.GC.History(c.r.Context(), lq)
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

func (h *Handler) getGC(c *call) error {
	id, err := pathID(c, "gc_id", "gc")
	if err != nil {
		return err
	}
	e, err := h.GC.Execution(c.r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, gcToJSON(e))
	return nil
}

func (h *Handler) getGCLog(c *call) error {
	id, err := pathID(c, "gc_id", "gc")
	if err != nil {
		return err
	}
	log, err := h.GC.Log(c.r.Context(), id)
	if err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	c.w.WriteHeader(http.StatusOK)
	c.w.Write([]byte(log))
	return nil
}

func (h *Handler) stopGC(c *call) error {
	id, err := pathID(c, "gc_id", "gc")
	if err != nil {
		return err
	}
	if err := h.GC.Stop(c.r.Context(), id); err != nil {
		return err
	}
	return ok(c)
}

func (h *Handler) getGCSchedule(c *call) error {
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
	req, err := decodeSchedule(c)
	if err != nil {
		return err
	}
	id, err := h.GC.CreateSchedule(c.r.Context(), req.Schedule.Type, req.Schedule.Cron, req.Parameters)
	if err != nil {
		return err
	}
	return scheduleCreated(c, id, fmt.Sprintf("%s/system/gc/%d", base, id))
}

func (h *Handler) putGCSchedule(c *call) error {
	req, err := decodeSchedule(c)
	if err != nil {
		return err
	}
	if _, err := h.GC.UpdateSchedule(c.r.Context(), req.Schedule.Type, req.Schedule.Cron, req.Parameters); err != nil {
		return err
	}
	return ok(c)
}

// decodeSchedule reads a schedule body; a body without a schedule object is one without a
// type, which the services refuse.
func decodeSchedule(c *call) (scheduleReq, error) {
	var req scheduleReq
	if err := decode(c.r, &req); err != nil {
		return req, err
	}
	if req.Schedule == nil {
		req.Schedule = &scheduleObj{}
	}
	return req, nil
}

// scheduleCreated answers POST …/schedule: 201, with the Location of the run when the request
// started one.
func scheduleCreated(c *call, id int64, location string) error {
	if id > 0 {
		return created(c, location)
	}
	c.w.WriteHeader(http.StatusCreated)
	return nil
}
