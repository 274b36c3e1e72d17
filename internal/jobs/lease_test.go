package jobs_test

import (
	"testing"
	"time"

	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/meta"
)

func TestStale(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		status string
		age    time.Duration
		want   bool
	}{
		{meta.StatusRunning, time.Second, false},
		{meta.StatusRunning, time.Hour, true},
		{meta.StatusSuccess, time.Hour, false},
		{meta.StatusPending, time.Hour, false},
	} {
		if got := jobs.Stale(meta.Execution{Status: c.status, UpdatedAt: time.Now().Add(-c.age)}); got != c.want {
			t.Errorf("Stale(%s, %s old) = %t", c.status, c.age, got)
		}
	}
}
