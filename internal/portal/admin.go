package portal

// Administration (/admin): the system administrators' pages. Garbage collection goes through
// the GC service (internal/gc) as /api/v2.0/system/gc does; whether the caller may see these
// pages is the services' own rule (gc.Service.Can, user.Service.CanManage).

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/gc"
	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// adminLink is a page of the administration the caller may open.
type adminLink struct {
	Path, Label, About string
}

// adminLinks are the administration pages the caller may open; none for others.
func (h *Handler) adminLinks(c *call) ([]adminLink, error) {
	var out []adminLink
	if h.Users != nil {
		ok, err := h.Users.CanManage(c.ctx())
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, adminLink{"/admin/users", "Users", "Create local users, make or revoke administrators, reset passwords, delete users."})
		}
	}
	more, err := h.accessAdminLinks(c)
	if err != nil {
		return nil, err
	}
	out = append(out, more...)
	if h.Labels != nil {
		ok, err := h.Labels.CanGlobal(c.ctx(), rbac.ActCreate)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, adminLink{"/admin/labels", "Labels", "Create, edit and delete the global labels, which artifacts of every project can carry."})
		}
	}
	if h.GC != nil {
		ok, err := h.GC.Can(c.ctx(), rbac.ActList)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, adminLink{"/admin/gc", "Garbage collection", "Schedule and run garbage collection, and read each run's log."})
		}
	}
	if more, err = h.systemLinks(c); err != nil {
		return nil, err
	}
	out = append(out, more...)
	return out, nil
}

type adminPage struct {
	Links []adminLink
}

func (h *Handler) admin(c *call) error {
	if err := requireSignedIn(c); err != nil {
		return err
	}
	links, err := h.adminLinks(c)
	if err != nil {
		return err
	}
	if len(links) == 0 {
		return fault.ErrForbidden
	}
	h.render(c.w, c, http.StatusOK, "admin", adminPage{Links: links})
	return nil
}

// requireSignedIn sends an anonymous caller to the login page (see fail).
func requireSignedIn(c *call) error {
	if c.p.IsAnonymous() {
		return fault.ErrUnauthorized
	}
	return nil
}

type gcRow struct {
	meta.Execution
	Result *gc.Result // nil until the run has ended with a result
}

type gcPage struct {
	Schedule scheduleForm
	Current  string // the stored schedule in words; "" without one
	NextAt   string
	// ScheduleUntagged is the schedule's delete-untagged option.
	ScheduleUntagged bool
	// DeleteUntagged is the run form's option.
	DeleteUntagged bool
	Rows           []gcRow
	List           listing
	// CanStop is whether the caller may stop a running collection.
	CanStop       bool
	Notice, Error string
}

var gcSortKeys = []string{"id", "status", "creation_time", "start_time", "end_time"}

var gcNotices = map[string]string{
	"scheduled":   "The schedule was saved.",
	"unscheduled": "The schedule was removed: garbage collection runs only when started here.",
	"started":     "Garbage collection was started; it appears in the history below.",
	"dryrun":      "A dry run was started; its log says what a collection would delete.",
	"stopping":    "The collection was asked to stop; its status shows when it has.",
}

func (h *Handler) gcPage(c *call) error {
	pg := gcPage{Notice: gcNotices[c.r.URL.Query().Get("done")], DeleteUntagged: true}
	return h.renderGC(c, pg, http.StatusOK, true)
}

// renderGC shows the page; fromSchedule fills the schedule form from the stored schedule.
func (h *Handler) renderGC(c *call, pg gcPage, code int, fromSchedule bool) error {
	if err := requireSignedIn(c); err != nil {
		return err
	}
	lq, l, err := parseListing(c.r, gcSortKeys)
	if err != nil {
		return err
	}
	lq.Filters = nil
	l.Filter = ""
	es, total, err := h.GC.History(c.ctx(), lq)
	if err != nil {
		return err
	}
	l.Total = total
	pg.List = l
	for _, e := range es {
		row := gcRow{Execution: e}
		var res gc.Result
		if e.Finished() && e.Result != "" && json.Unmarshal([]byte(e.Result), &res) == nil {
			row.Result = &res
		}
		pg.Rows = append(pg.Rows, row)
	}
	s, found, err := h.GC.Schedule(c.ctx())
	if err != nil {
		return err
	}
	if found {
		pg.Current = s.Type + " (cron " + s.Cron + ")"
		pg.NextAt = formatTime(s.NextAt)
	}
	if fromSchedule {
		pg.Schedule, pg.ScheduleUntagged = storedSchedule("gc", "", ""), true
		if found {
			pg.Schedule = storedSchedule("gc", s.Type, s.Cron)
			var p gc.Params
			if json.Unmarshal(s.Params, &p) == nil {
				pg.ScheduleUntagged = p.DeleteUntagged
			}
		}
	}
	if pg.CanStop, err = h.GC.Can(c.ctx(), rbac.ActStop); err != nil {
		return err
	}
	h.render(c.w, c, code, "gc", pg)
	return nil
}

// cronTime reads the time of day (and the weekday, for a weekly one) of a cron expression
// that runs once a day or week at a fixed time: "0 30 2 * * *" is 02:30.
func cronTime(cron string) (string, int, bool) {
	f := strings.Fields(cron)
	if len(f) != 6 || f[0] != "0" {
		return "", 0, false
	}
	m, err1 := strconv.Atoi(f[1])
	hr, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil {
		return "", 0, false
	}
	day := 0
	if d, err := strconv.Atoi(f[5]); err == nil && d >= 0 && d < 7 {
		day = d
	}
	return fmt.Sprintf("%02d:%02d", hr, m), day, true
}

// scheduleCron is the cron expression the API would store for a preset: Daily at 02:00 is
// "0 0 2 * * *", Weekly adds the day, Hourly and None need none, Custom is as typed.
func scheduleCron(typ, at string, day int, custom string) (string, error) {
	switch typ {
	case jobs.TypeNone, jobs.TypeHourly:
		return "", nil
	case jobs.TypeCustom:
		return strings.TrimSpace(custom), nil
	case jobs.TypeDaily, jobs.TypeWeekly:
		hs, ms, ok := strings.Cut(at, ":")
		hr, err1 := strconv.Atoi(hs)
		m, err2 := strconv.Atoi(ms)
		if !ok || err1 != nil || err2 != nil || hr < 0 || hr > 23 || m < 0 || m > 59 {
			return "", fault.Invalidf("The time %q is not a time of day such as 02:00.", at)
		}
		if typ == jobs.TypeDaily {
			return fmt.Sprintf("0 %d %d * * *", m, hr), nil
		}
		if day < 0 || day > 6 {
			return "", fault.Invalidf("The day of the week is not one of the form's.")
		}
		return fmt.Sprintf("0 %d %d * * %d", m, hr, day), nil
	}
	return "", fault.Invalidf("The schedule %q is not one of None, Hourly, Daily, Weekly or Custom.", typ)
}

func (h *Handler) saveGCSchedule(c *call) error {
	f := c.r.PostForm
	pg := gcPage{Schedule: postedSchedule("gc", f), DeleteUntagged: true, ScheduleUntagged: f.Get("delete_untagged") == "on"}
	cron, err := pg.Schedule.cron()
	if err == nil {
		// The parameters the schedule's runs take: collections delete untagged artifacts,
		// as Harbor's scheduled collections do unless told otherwise.
		_, err = h.GC.UpdateSchedule(c.ctx(), pg.Schedule.Type, cron, map[string]any{"delete_untagged": f.Get("delete_untagged") == "on"})
	}
	if err != nil {
		code, msg, ok := refusal(err)
		if !ok || code != http.StatusBadRequest {
			return err
		}
		pg.Error = msg
		return h.renderGC(c, pg, code, false)
	}
	done := "scheduled"
	if pg.Schedule.Type == jobs.TypeNone {
		done = "unscheduled"
	}
	http.Redirect(c.w, c.r, "/admin/gc?done="+done, http.StatusSeeOther)
	return nil
}

// runGC starts a collection now, as a Manual schedule request to the API does; dry_run=true
// makes it a dry run.
func (h *Handler) runGC(c *call) error {
	f := c.r.PostForm
	dry := f.Get("dry_run") == "true"
	if _, err := h.GC.CreateSchedule(c.ctx(), jobs.TypeManual, "", map[string]any{"delete_untagged": f.Get("delete_untagged") == "on", "dry_run": dry}); err != nil {
		return err
	}
	done := "started"
	if dry {
		done = "dryrun"
	}
	http.Redirect(c.w, c.r, "/admin/gc?done="+done, http.StatusSeeOther)
	return nil
}

type gcLogPage struct {
	Run gcRow
	Log string
}

func (h *Handler) gcLog(c *call) error {
	if err := requireSignedIn(c); err != nil {
		return err
	}
	id, err := strconv.ParseInt(c.r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return fault.NotFoundf("There is no garbage collection %q.", c.r.PathValue("id"))
	}
	e, err := h.GC.Execution(c.ctx(), id)
	if err != nil {
		return err
	}
	text, err := h.GC.Log(c.ctx(), id)
	if err != nil {
		return err
	}
	row := gcRow{Execution: e}
	var res gc.Result
	if e.Finished() && e.Result != "" && json.Unmarshal([]byte(e.Result), &res) == nil {
		row.Result = &res
	}
	h.render(c.w, c, http.StatusOK, "gc_log", gcLogPage{Run: row, Log: text})
	return nil
}
