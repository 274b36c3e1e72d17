// Package health checks the components Berth depends on, for Harbor's /health: this process
// ("core"), the metadata database and the blob storage ("registry" in Harbor's terms).
package health

import (
	"context"
	"log/slog"
	"time"
)

// Component is something Berth needs, and how to tell that it answers.
type Component struct {
	Name string
	Ping func(ctx context.Context) error
}

// Checker checks components.
type Checker struct {
	Components []Component
	Log        *slog.Logger
}

// The statuses of a component and of the whole.
const (
	Healthy   = "healthy"
	Unhealthy = "unhealthy"
)

// ComponentStatus is one component's state. Error says that it is unreachable, never why: the
// cause may name hosts or credentials, so it is logged instead.
type ComponentStatus struct {
	Name   string
	Status string
	Error  string
}

// Report is the state of everything: unhealthy when any component is.
type Report struct {
	Status     string
	Components []ComponentStatus
}

// timeout bounds a whole check, so a hung component cannot hold a health probe.
const timeout = 5 * time.Second

// Check asks every component in turn. Core, this process, is healthy whenever it answers.
func (c *Checker) Check(ctx context.Context) Report {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r := Report{Status: Healthy, Components: []ComponentStatus{{Name: "core", Status: Healthy}}}
	for _, cmp := range c.Components {
		s := ComponentStatus{Name: cmp.Name, Status: Healthy}
		if err := cmp.Ping(ctx); err != nil {
			c.Log.WarnContext(ctx, "health check failed", "component", cmp.Name, "err", err)
			s = ComponentStatus{Name: cmp.Name, Status: Unhealthy, Error: cmp.Name + " is unreachable"}
			r.Status = Unhealthy
		}
		r.Components = append(r.Components, s)
	}
	return r
}
