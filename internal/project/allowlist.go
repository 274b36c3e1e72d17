package project

import (
	"context"
	"regexp"
	"strings"

	"github.com/berthreg/berth/internal/auth"
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

// Bounds of an allowlist. Harbor sets none; these are far beyond any real list and keep a
// request from storing megabytes of junk.
const (
	maxAllowlistItems = 10000
	maxCVEIDLength    = 128
	// maxExpiresAt is the last second of the year 9999: later times do not fit the formats
	// the API answers in.
	maxExpiresAt = 253402300799
)

// cveIDRE is what a vulnerability id looks like in any scanner's report: CVE-2021-44228,
// GHSA-jfh8-c2jp-5v3q, RUSTSEC-2021-0001, RHSA-2021:1234, openSUSE-SU-2021:1234-1.
var cveIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:+-]*$`)

// validItems checks the list and returns its CVE ids: each non-empty and listed once
// (Harbor's rule), shaped like a vulnerability id and at most maxCVEIDLength long, at most
// maxAllowlistItems of them; the expiry, when set, is an epoch second from 0 to year 9999.
func (l Allowlist) validItems() ([]string, error) {
	if l.ExpiresAt != nil && (*l.ExpiresAt < 0 || *l.ExpiresAt > maxExpiresAt) {
		return nil, fault.Invalidf("expires_at %d is not a time: want epoch seconds from 0 to %d, or null for never", *l.ExpiresAt, int64(maxExpiresAt))
	}
	if len(l.Items) > maxAllowlistItems {
		return nil, fault.Invalidf("the allowlist has %d CVE IDs, at most %d are accepted", len(l.Items), maxAllowlistItems)
	}
	seen := make(map[string]bool, len(l.Items))
	out := make([]string, 0, len(l.Items))
	for _, it := range l.Items {
		id := strings.TrimSpace(it)
		if id == "" {
			return nil, fault.Invalidf("empty or whitespace-only CVE ID in allowlist")
		}
		if len(id) > maxCVEIDLength {
			return nil, fault.Invalidf("CVE ID %.40q... is %d bytes long, at most %d are accepted", id, len(id), maxCVEIDLength)
		}
		if !cveIDRE.MatchString(id) {
			return nil, fault.Invalidf("invalid CVE ID %q: want an id such as CVE-2021-44228 or GHSA-jfh8-c2jp-5v3q", id)
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

// CanSetSystemAllowlist reports whether the caller in ctx may replace the system's CVE
// allowlist, by the rule SetSystemAllowlist checks: for pages that offer it.
func (s *Service) CanSetSystemAllowlist(ctx context.Context) bool {
	return auth.PrincipalFrom(ctx).SysAdmin
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
