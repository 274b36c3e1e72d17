package portal

import (
	"net/url"
	"strconv"

	"github.com/berthreg/berth/internal/jobs"
)

// scheduleForm is a schedule as the garbage collection, scan-all and tag retention forms hold
// it (the schedulefields partial): a preset, the time of day and weekday of a daily or weekly
// one, the cron expression of a custom one.
type scheduleForm struct {
	// ID prefixes the ids of the form's controls.
	ID               string
	Type, Time, Cron string
	Day              int
}

// Presets are the schedule types Harbor's portal offers.
func (scheduleForm) Presets() []string { return schedulePresets }

// Days are the weekdays, Sunday first (cron's 0).
func (scheduleForm) Days() []string { return weekdays }

var schedulePresets = []string{jobs.TypeNone, jobs.TypeHourly, jobs.TypeDaily, jobs.TypeWeekly, jobs.TypeCustom}

var weekdays = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}

// postedSchedule reads the schedule fields of a posted form.
func postedSchedule(id string, f url.Values) scheduleForm {
	day, _ := strconv.Atoi(f.Get("day"))
	return scheduleForm{ID: id, Type: f.Get("type"), Time: f.Get("time"), Day: day, Cron: f.Get("cron")}
}

// storedSchedule fills the form from a stored schedule: its type ("" to read it from the cron
// expression) and cron expression ("" for none).
func storedSchedule(id, typ, cron string) scheduleForm {
	s := scheduleForm{ID: id, Type: jobs.TypeNone, Time: "00:00"}
	if cron == "" && typ == "" {
		return s
	}
	s.Type, s.Cron = typ, cron
	if typ == "" {
		s.Type = scheduleType(cron)
	}
	if t, d, ok := cronTime(cron); ok {
		s.Time, s.Day = t, d
	}
	return s
}

// cron is the form's cron expression (see scheduleCron).
func (s scheduleForm) cron() (string, error) { return scheduleCron(s.Type, s.Time, s.Day, s.Cron) }
