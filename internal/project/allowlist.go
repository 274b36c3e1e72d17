package project

import (
	"context"
	"strings"

	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// Allowlist is a CVE allowlist as a request gives it: the system's, or a project's (with its
// creation or update).
type Allowlist struct {
	// ProjectID, when given, must name the project the list is for (0: the system, or a
	// project being created).
	ProjectID *int64
	Items     []string // CVE ids
	ExpiresAt *int64   // epoch seconds; nil: never
}

// validItems returns the CVE ids, each non-empty and listed once (Harbor's rule).
func (l Allowlist) validItems() ([]string, error) {
	seen := make(map[string]bool, len(l.Items))
	out := make([]string, 0, len(l.Items))
	for _, it := range l.Items {
		id := strings.TrimSpace(it)
		if id == "" {
			return nil, fault.Invalidf("empty or whitespace-only CVE ID in allowlist")
		}
		if seen[id] {
			return nil, fault.Invalidf("duplicate CVE ID in allowlist: %s", id)
		}
		seen[id] = true
		out = append(out, id)
	}
	return out, nil
}

// SystemAllowlist returns the system's CVE allowlist; every signed-in user may read it, as in
// Harbor.
func (s *Service) SystemAllowlist(ctx context.Context) (meta.CVEAllowlist, error) {
	if err := rbac.RequireSignedIn(ctx); err != nil {
		return meta.CVEAllowlist{}, err
	}
	return s.Store.CVEAllowlist(ctx, meta.SystemAllowlistProject)
}

// SetSystemAllowlist replaces the system's CVE allowlist.
func (s *Service) SetSystemAllowlist(ctx context.Context, l Allowlist) error {
	if err := rbac.RequireSysAdmin(ctx); err != nil {
		return err
	}
	if l.ProjectID != nil && *l.ProjectID != meta.SystemAllowlistProject {
		return fault.Invalidf("project_id of the system allowlist must be 0, not %d", *l.ProjectID)
	}
	items, err := l.validItems()
	if err != nil {
		return err
	}
	return s.Store.SetCVEAllowlist(ctx, meta.CVEAllowlist{ProjectID: meta.SystemAllowlistProject, Items: items, ExpiresAt: l.ExpiresAt})
}
