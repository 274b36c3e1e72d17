package jobs

import (
	"errors"

	"github.com/berthreg/berth/internal/fault"
)

// ScheduleActions are what a schedule request can ask of one kind of recurring work.
type ScheduleActions struct {
	// Validate checks the request's parameters before anything runs; nil when there are none.
	Validate func() error
	// Run starts the work now (Manual) and returns its execution id.
	Run func() (int64, error)
	// Set sets or replaces the schedule (Hourly, Daily, Weekly, Custom; types as
	// NormalizeSchedule takes them).
	Set func(typ, cron string) error
	// Remove removes the schedule (None).
	Remove func() error
}

// ApplySchedule does what a schedule request asks, as Harbor does for both POST and PUT of
// /system/gc/schedule and /system/scanAll/schedule: Manual runs now (the execution id is
// returned), None removes the schedule, any other type sets or replaces it ("Schedule" is
// Custom). A missing type, invalid parameters and an invalid schedule are refused as invalid.
func ApplySchedule(typ, cron string, a ScheduleActions) (int64, error) {
	if typ == "" {
		return 0, fault.Invalidf("schedule.type is required (Hourly, Daily, Weekly, Custom, Manual or None)")
	}
	if a.Validate != nil {
		if err := a.Validate(); err != nil {
			return 0, err
		}
	}
	switch typ {
	case TypeManual:
		return a.Run()
	case TypeNone:
		return 0, a.Remove()
	case "Schedule":
		typ = TypeCustom
	}
	if err := a.Set(typ, cron); err != nil {
		if errors.Is(err, ErrInvalidSchedule) {
			return 0, fault.Invalidf("%s", err.Error())
		}
		return 0, err
	}
	return 0, nil
}
