package scan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/scan/vulndb"
)

// PolicyViolation is a pull the project's vulnerability policy refuses (412
// PROJECTPOLICYVIOLATION, with Harbor's message).
type PolicyViolation struct {
	Message string
	// Blocking lists the vulnerability ids that block the pull.
	Blocking []string
}

func (e *PolicyViolation) Error() string { return e.Message }

// maxNamed bounds how many blocking ids a refusal names.
const maxNamed = 10

// Gate applies a project's vulnerability policy (prevent_vul with severity) to the pull of an
// image manifest: unscanned images, failed scans, and images with a vulnerability at or above
// the severity that the CVE allowlist does not cover are refused. Indexes pass (each platform
// image is checked when it is pulled), as do artifacts that are not images.
func (s *Service) Gate(ctx context.Context, project meta.Project, m meta.Manifest) error {
	md, err := s.projectPolicy(ctx, project.ID)
	if err != nil {
		return err
	}
	if md["prevent_vul"] != "true" {
		return nil
	}
	threshold := normSeverity(md["severity"])
	if threshold == "Unknown" && md["severity"] == "" {
		threshold = "Low"
	}
	if isIndex(m.MediaType) || !isImageManifest(m.MediaType) || !isImageConfig(configMediaType(m.Payload)) {
		return nil
	}
	policy := fmt.Sprintf(`Prevent images with vulnerability severity of "%s" or higher from running.`, threshold)
	sc, err := s.Scanners.ForProject(ctx, project.ID)
	if err != nil {
		return err
	}
	r, err := s.Store.ScanReportOf(ctx, m.Digest, sc.UUID, reportMime(TypeVulnerability))
	if errors.Is(err, meta.ErrNotFound) {
		return &PolicyViolation{Message: fmt.Sprintf("current image without vulnerability scanning cannot be pulled due to configured policy in '%s' To continue with pull, please contact your project administrator for help.", policy)}
	}
	if err != nil {
		return err
	}
	if r.Status != meta.StatusSuccess {
		return &PolicyViolation{Message: fmt.Sprintf(`current image with "%s" status of vulnerability scanning cannot be pulled due to configured policy in '%s' To continue with pull, please contact your project administrator for help.`, r.Status, policy)}
	}
	var sum Summary
	if err := json.Unmarshal([]byte(r.Summary), &sum); err != nil {
		return fmt.Errorf("report %s summary: %w", r.ID, err)
	}
	if vulndb.SeverityRank(sum.Severity) < vulndb.SeverityRank(threshold) {
		return nil
	}
	allowed, err := s.allowlist(ctx, project.ID, md)
	if err != nil {
		return err
	}
	var blocking []string
	for _, v := range sum.Vulns {
		if vulndb.SeverityRank(v.Severity) < vulndb.SeverityRank(threshold) || allowed[v.ID] {
			continue
		}
		if slices.ContainsFunc(v.Aliases, func(a string) bool { return allowed[a] }) {
			continue
		}
		if !slices.Contains(blocking, v.ID) {
			blocking = append(blocking, v.ID)
		}
	}
	if len(blocking) == 0 {
		return nil
	}
	noun := "vulnerabilities"
	if len(blocking) == 1 {
		noun = "vulnerability"
	}
	named := blocking
	more := ""
	if len(named) > maxNamed {
		named, more = named[:maxNamed], fmt.Sprintf(" and %d more", len(blocking)-maxNamed)
	}
	return &PolicyViolation{
		Message: fmt.Sprintf("current image with %d %s cannot be pulled due to configured policy in '%s' To continue with pull, please contact your project administrator to exempt matched vulnerabilities through configuring the CVE allowlist. Blocking: %s%s.",
			len(blocking), noun, policy, strings.Join(named, ", "), more),
		Blocking: blocking,
	}
}

// allowlist returns the ids the project's effective CVE allowlist exempts: the system list,
// or the project's own when reuse_sys_cve_allowlist is "false"; an expired list exempts
// nothing.
func (s *Service) allowlist(ctx context.Context, projectID int64, md map[string]string) (map[string]bool, error) {
	owner := int64(0)
	if md["reuse_sys_cve_allowlist"] == "false" {
		owner = projectID
	}
	al, err := s.Store.CVEAllowlist(ctx, owner)
	if errors.Is(err, meta.ErrNotFound) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	if al.ExpiresAt != nil && time.Unix(*al.ExpiresAt, 0).Before(time.Now()) {
		return out, nil
	}
	for _, id := range al.Items {
		out[strings.TrimSpace(id)] = true
	}
	return out, nil
}
