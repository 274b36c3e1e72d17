package project

import (
	"context"
	"errors"
	"strconv"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// Each project has one storage quota. As in Harbor, the quotas themselves are for system
// administrators and system robots granted quota:list / quota:read; project members see their
// project's quota in its summary.

// Quotas returns one page of quotas and their total. reference and referenceID select, as
// Harbor's listing does, the quotas of what they name: quotas reference projects only, so
// another reference, or an id no project can have, matches nothing (Harbor compares them as
// strings). Empty strings select every quota.
func (s *Service) Quotas(ctx context.Context, lq meta.ListQuery, reference, referenceID string) ([]meta.Quota, int64, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResQuota, rbac.ActList); err != nil {
		return nil, 0, err
	}
	if reference != "" && reference != "project" {
		return []meta.Quota{}, 0, nil
	}
	var projectID int64
	if referenceID != "" {
		id, err := strconv.ParseInt(referenceID, 10, 64)
		if err != nil || id <= 0 {
			return []meta.Quota{}, 0, nil
		}
		projectID = id
	}
	return s.Store.ListQuotas(ctx, lq, projectID)
}

// CanQuotas reports whether the caller in ctx may list the quotas (rbac.ActList, as Quotas
// checks) or change a quota's limit (rbac.ActUpdate, as SetQuota checks): for pages that offer
// them before they are asked for.
func (s *Service) CanQuotas(ctx context.Context, act rbac.Action) (bool, error) {
	p := auth.PrincipalFrom(ctx)
	if act == rbac.ActUpdate {
		return p.SysAdmin, nil
	}
	return s.Authz.CanSystem(ctx, p, rbac.ResQuota, act)
}

// QuotaUsed is the storage used by every project, the sum of what their quotas count, for
// those who may list the quotas (as Quotas checks).
func (s *Service) QuotaUsed(ctx context.Context) (int64, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResQuota, rbac.ActList); err != nil {
		return 0, err
	}
	return s.Store.QuotaUsedTotal(ctx)
}

// Quota returns one quota.
func (s *Service) Quota(ctx context.Context, id int64) (meta.Quota, error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResQuota, rbac.ActRead); err != nil {
		return meta.Quota{}, err
	}
	q, err := s.Store.QuotaByID(ctx, id)
	if errors.Is(err, meta.ErrNotFound) {
		return q, fault.NotFoundf("quota %d not found", id)
	}
	return q, err
}

// SetQuota changes a quota's hard limits, by resource name; "storage" is the one resource.
// A limit below the current usage is allowed: it stops further growth.
func (s *Service) SetQuota(ctx context.Context, id int64, hard map[string]int64) error {
	if err := rbac.RequireSysAdmin(ctx); err != nil {
		return err
	}
	if len(hard) == 0 {
		return fault.Invalidf("hard required in body")
	}
	for name := range hard {
		if name != "storage" {
			return fault.Invalidf("resource %s not support", name)
		}
	}
	if err := validStorageLimit(hard["storage"]); err != nil {
		return err
	}
	err := s.Store.SetQuotaHard(ctx, id, hard["storage"])
	if errors.Is(err, meta.ErrNotFound) {
		return fault.NotFoundf("quota %d not found", id)
	}
	return err
}
