package portal

import (
	"testing"
	"time"

	"github.com/berthreg/berth/internal/jobmonitor"
)

// TestQueueState: the strip's words for the job queue, from the queue of each job type.
func TestQueueState(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name          string
		qs            []jobmonitor.JobQueue
		state, colour string
		waiting       int64
	}{
		{"no job types", nil, "healthy", "healthy", 0},
		{"jobs waiting briefly", []jobmonitor.JobQueue{{JobType: "IMAGE_SCAN", Count: 3, Latency: time.Minute}, {JobType: "GARBAGE_COLLECTION", Count: 1}}, "healthy", "healthy", 4},
		{"a job waiting long", []jobmonitor.JobQueue{{JobType: "IMAGE_SCAN", Count: 2, Latency: 11 * time.Minute}}, "delayed", "unhealthy", 2},
		{"a type paused", []jobmonitor.JobQueue{{JobType: "IMAGE_SCAN", Count: 2, Latency: 11 * time.Minute}, {JobType: "RETENTION", Paused: true}}, "paused", "unhealthy", 2},
	} {
		state, colour, waiting := queueState(c.qs)
		if state != c.state || colour != c.colour || waiting != c.waiting {
			t.Errorf("%s: %s %s %d, want %s %s %d", c.name, state, colour, waiting, c.state, c.colour, c.waiting)
		}
	}
	if waiting(1) != "1 job waiting" || waiting(3) != "3 jobs waiting" {
		t.Errorf("waiting: %q %q", waiting(1), waiting(3))
	}
}
