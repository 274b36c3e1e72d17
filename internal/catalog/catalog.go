// Package catalog answers what the registry holds, as each caller may see it: the counts of
// projects and repositories (Harbor's /statistics), searches by name (/search), and the size of
// the storage holding it (/systeminfo/volumes).
package catalog

import (
	"context"
	"fmt"

	"github.com/berthreg/berth/internal/auth"
	"github.com/berthreg/berth/internal/blob"
	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
)

// Store is what the catalog reads; *meta.DB satisfies it.
type Store interface {
	Statistics(ctx context.Context, all bool, memberID int64) (meta.Statistics, error)
	SearchProjects(ctx context.Context, f meta.SearchFilter) ([]meta.Project, error)
	SearchRepositories(ctx context.Context, f meta.SearchFilter) ([]meta.SearchRepository, error)
	ProjectMetadata(ctx context.Context, projectID int64) (map[string]string, error)
}

// Service answers for the catalog over the store.
type Service struct {
	Store Store
	Authz *rbac.Authorizer
	// Blobs is the blob storage, whose size Volumes reports.
	Blobs blob.Store
}

// Statistics follows Harbor: public counts for everyone signed in; system administrators get
// the totals, private counts over all projects and the storage consumption; other users the
// private projects they are members of (robots, not being members, none).
func (s *Service) Statistics(ctx context.Context) (meta.Statistics, error) {
	if err := rbac.RequireSignedIn(ctx); err != nil {
		return meta.Statistics{}, err
	}
	p := auth.PrincipalFrom(ctx)
	var member int64
	if p.Kind == auth.User {
		member = p.ID
	}
	st, err := s.Store.Statistics(ctx, p.SysAdmin, member)
	if err != nil {
		return st, fmt.Errorf("statistics: %w", err)
	}
	return st, nil
}

// Project is a project a search found, with its metadata.
type Project struct {
	meta.Project
	Metadata map[string]string
}

// Results are what a search found: projects and repositories by name.
type Results struct {
	Projects     []Project
	Repositories []meta.SearchRepository
}

// Search finds projects and repositories whose names contain term (case-insensitive), among
// those the caller in ctx may see. The store narrows the candidates for users (public projects
// and their own); every candidate is then put to the authorizer, which is what decides.
func (s *Service) Search(ctx context.Context, term string) (Results, error) {
	if term == "" {
		return Results{}, fault.Invalidf("q is required")
	}
	p := auth.PrincipalFrom(ctx)
	// Robots are not members: the store cannot narrow their candidates, the authorizer does.
	f := meta.SearchFilter{Term: term, All: p.SysAdmin || p.Kind == auth.Robot}
	if p.Kind == auth.User {
		f.MemberID = p.ID
	}
	ps, err := s.Store.SearchProjects(ctx, f)
	if err != nil {
		return Results{}, err
	}
	out := Results{Projects: make([]Project, 0, len(ps))}
	for _, pr := range ps {
		visible, err := s.Authz.CanSeeProject(ctx, p, pr)
		if err != nil {
			return Results{}, err
		}
		if !visible {
			continue
		}
		md, err := s.Store.ProjectMetadata(ctx, pr.ID)
		if err != nil {
			return Results{}, err
		}
		out.Projects = append(out.Projects, Project{pr, md})
	}
	rs, err := s.Store.SearchRepositories(ctx, f)
	if err != nil {
		return Results{}, err
	}
	canList := map[int64]bool{}
	out.Repositories = make([]meta.SearchRepository, 0, len(rs))
	for _, r := range rs {
		allowed, seen := canList[r.ProjectID]
		if !seen {
			pr := meta.Project{ID: r.ProjectID, Name: r.ProjectName, Public: r.ProjectPublic}
			if allowed, err = s.Authz.Can(ctx, p, pr, rbac.ResRepository, rbac.ActList); err != nil {
				return Results{}, err
			}
			canList[r.ProjectID] = allowed
		}
		if allowed {
			out.Repositories = append(out.Repositories, r)
		}
	}
	return out, nil
}

// Volumes returns the size of the blob storage and the bytes free in it (Harbor's
// /systeminfo/volumes), for those allowed to read it; fault.NotFound when the storage has no
// size (an object store).
func (s *Service) Volumes(ctx context.Context) (total, free uint64, err error) {
	if err := s.Authz.RequireSystem(ctx, rbac.ResSystemVolumes, rbac.ActRead); err != nil {
		return 0, 0, err
	}
	// The blob storage is what fills up.
	u, ok := s.Blobs.(blob.UsageReporter)
	if !ok {
		return 0, 0, fault.NotFoundf("the blob storage has no size to report")
	}
	total, free, err = u.Usage(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("volumes: %w", err)
	}
	return total, free, nil
}

// StorageProvider names the blob storage: drivers may name themselves; the filesystem driver,
// the only one that does not, is "filesystem".
func (s *Service) StorageProvider() string {
	if n, ok := s.Blobs.(interface{ Provider() string }); ok {
		return n.Provider()
	}
	return "filesystem"
}
