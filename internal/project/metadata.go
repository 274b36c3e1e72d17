package project

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/berthreg/berth/internal/events"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// Project metadata keys (Harbor's ProjectMetadata) and their rules. Values are strings;
// booleans are "true"/"false". Every key is stored and returned, including those whose feature
// (signatures, proxy cache) comes later. "public" is a column of the project row, the others
// rows of its metadata.
var (
	boolMetadata = map[string]bool{
		"public": true, "enable_content_trust": true, "enable_content_trust_cosign": true, "prevent_vul": true,
		"auto_scan": true, "auto_sbom_generation": true, "reuse_sys_cve_allowlist": true,
		"proxy_cache_local_on_not_found": true, "proxy_referrer_api": true,
	}
	severities = map[string]bool{"none": true, "low": true, "medium": true, "high": true, "critical": true}
)

// validMetadata checks one metadata entry and returns its normalised value.
func validMetadata(key, value string) (string, error) {
	switch {
	case boolMetadata[key]:
		b, err := strconv.ParseBool(value)
		if err != nil {
			return "", fault.Invalidf("invalid value %q for metadata %s: want \"true\" or \"false\"", value, key)
		}
		return strconv.FormatBool(b), nil
	case key == "severity":
		v := strings.ToLower(value)
		if !severities[v] {
			return "", fault.Invalidf("invalid value %q for metadata severity: want none, low, medium, high or critical", value)
		}
		return v, nil
	case key == "retention_id":
		if _, err := strconv.ParseUint(value, 10, 63); err != nil {
			return "", fault.Invalidf("invalid value %q for metadata retention_id: want the id of a retention policy", value)
		}
		return value, nil
	case key == "proxy_speed_kb" || key == "max_upstream_conn":
		if _, err := strconv.ParseInt(value, 10, 32); err != nil {
			return "", fault.Invalidf("invalid value %q for metadata %s: want a 32-bit integer", value, key)
		}
		return value, nil
	case key == "proxy_cache_filter_kind":
		if value != "" && value != "doublestar" && value != "regex" {
			return "", fault.Invalidf("invalid value %q for metadata proxy_cache_filter_kind: want doublestar or regex", value)
		}
		return value, nil
	case key == "proxy_cache_filter_pattern":
		return value, nil
	}
	return "", fault.Invalidf("invalid metadata key %q", key)
}

// splitMetadata validates metadata and separates "public" from the rest.
func splitMetadata(in map[string]string) (public *bool, md map[string]string, err error) {
	md = make(map[string]string, len(in))
	for k, v := range in {
		nv, err := validMetadata(k, v)
		if err != nil {
			return nil, nil, err
		}
		if k == "public" {
			b := nv == "true"
			public = &b
			continue
		}
		md[k] = nv
	}
	return public, md, nil
}

// withPublic returns the project's stored metadata with "public".
func withPublic(md map[string]string, public bool) map[string]string {
	out := make(map[string]string, len(md)+1)
	for k, v := range md {
		out[k] = v
	}
	out["public"] = strconv.FormatBool(public)
	return out
}

// Metadata returns all of the project's metadata.
func (s *Service) Metadata(ctx context.Context, ref string, byName bool) (map[string]string, error) {
	p, err := s.FindFor(ctx, ref, byName, rbac.ResMetadata, rbac.ActList)
	if err != nil {
		return nil, err
	}
	md, err := s.Store.ProjectMetadata(ctx, p.ID)
	if err != nil {
		return nil, err
	}
	return withPublic(md, p.Public), nil
}

// MetadataValue returns the value of one metadata key of the project.
func (s *Service) MetadataValue(ctx context.Context, ref string, byName bool, name string) (string, error) {
	p, err := s.FindFor(ctx, ref, byName, rbac.ResMetadata, rbac.ActRead)
	if err != nil {
		return "", err
	}
	md, err := s.Store.ProjectMetadata(ctx, p.ID)
	if err != nil {
		return "", err
	}
	v, found := withPublic(md, p.Public)[name]
	if !found {
		return "", fault.NotFoundf("metadata %s of project %s not found", name, p.Name)
	}
	return v, nil
}

// AddMetadata adds metadata keys the project does not have yet: all of them or none.
func (s *Service) AddMetadata(ctx context.Context, ref string, byName bool, in map[string]string) error {
	p, err := s.FindFor(ctx, ref, byName, rbac.ResMetadata, rbac.ActCreate)
	if err != nil {
		return err
	}
	if len(in) == 0 {
		return fault.Invalidf("the body must name at least one metadata key and its value")
	}
	md := make(map[string]string, len(in))
	for k, v := range in {
		if md[k], err = validMetadata(k, v); err != nil {
			return err
		}
	}
	err = s.change(ctx, func(tx *meta.Tx) error {
		if err := tx.AddProjectMetadata(ctx, p.ID, md); err != nil {
			return err
		}
		tx.Emit(events.OfProject(ctx, events.ProjectUpdated, p.ID, p.Name, nil))
		return nil
	})
	switch {
	case errors.Is(err, meta.ErrConflict):
		return fault.Conflictf("the metadata already exists: update it with PUT .../metadatas/{meta_name}")
	case errors.Is(err, meta.ErrNotFound):
		return fault.NotFoundf("project %s not found", p.Name)
	}
	return err
}

// SetMetadata sets one metadata key of the project, whether it had it or not.
func (s *Service) SetMetadata(ctx context.Context, ref string, byName bool, name, value string) error {
	p, err := s.FindFor(ctx, ref, byName, rbac.ResMetadata, rbac.ActUpdate)
	if err != nil {
		return err
	}
	if value, err = validMetadata(name, value); err != nil {
		return err
	}
	var u meta.ProjectUpdate
	if name == "public" {
		b := value == "true"
		u.Public = &b
	} else {
		u.Metadata = map[string]string{name: value}
	}
	return s.update(ctx, p, u)
}

// DeleteMetadata removes one metadata key of the project; without "public" a project is
// private.
func (s *Service) DeleteMetadata(ctx context.Context, ref string, byName bool, name string) error {
	p, err := s.FindFor(ctx, ref, byName, rbac.ResMetadata, rbac.ActDelete)
	if err != nil {
		return err
	}
	err = s.change(ctx, func(tx *meta.Tx) error {
		if err := tx.DeleteProjectMetadata(ctx, p.ID, name); err != nil {
			return err
		}
		tx.Emit(events.OfProject(ctx, events.ProjectUpdated, p.ID, p.Name, nil))
		return nil
	})
	if errors.Is(err, meta.ErrNotFound) {
		return fault.NotFoundf("metadata %s of project %s not found", name, p.Name)
	}
	return err
}
