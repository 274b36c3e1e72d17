package meta

import (
	"context"
	"fmt"
	"strings"
)

// Statistics are the counts behind Harbor's /statistics.
type Statistics struct {
	PublicProjects  int64
	PublicRepos     int64
	PrivateProjects int64 // all private projects, or those the member belongs to
	PrivateRepos    int64
	TotalProjects   int64 // only filled for the whole registry
	TotalRepos      int64
	StorageBytes    int64
}

// memberOf is the condition "project p.id has user $n as a member".
const memberOf = "p.id IN (SELECT project_id FROM project_members WHERE entity_type = 'u' AND entity_id = %s)"

// Statistics counts projects and repositories. With all, it counts the whole registry and its
// storage (for system administrators); otherwise public projects and the private projects
// where memberID is a member (0: none), as Harbor shows them to other users.
func (q q) Statistics(ctx context.Context, all bool, memberID int64) (Statistics, error) {
	var s Statistics
	err := q.queryRow(ctx, `SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN public THEN 1 ELSE 0 END), 0) AS BIGINT) FROM projects`).
		Scan(&s.TotalProjects, &s.PublicProjects)
	if err != nil {
		return s, fmt.Errorf("count projects: %w", err)
	}
	err = q.queryRow(ctx, `SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN p.public THEN 1 ELSE 0 END), 0) AS BIGINT)
		FROM repositories r JOIN projects p ON p.id = r.project_id`).Scan(&s.TotalRepos, &s.PublicRepos)
	if err != nil {
		return s, fmt.Errorf("count repositories: %w", err)
	}
	if all {
		s.PrivateProjects, s.PrivateRepos = s.TotalProjects-s.PublicProjects, s.TotalRepos-s.PublicRepos
		s.StorageBytes, err = q.StorageConsumption(ctx)
		return s, err
	}
	s.TotalProjects, s.TotalRepos = 0, 0
	if memberID == 0 {
		return s, nil
	}
	cond := fmt.Sprintf(memberOf, "$1")
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM projects p WHERE NOT p.public AND "+cond, memberID).Scan(&s.PrivateProjects); err != nil {
		return s, fmt.Errorf("count private projects: %w", err)
	}
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM repositories r JOIN projects p ON p.id = r.project_id WHERE NOT p.public AND "+cond, memberID).
		Scan(&s.PrivateRepos); err != nil {
		return s, fmt.Errorf("count private repositories: %w", err)
	}
	return s, nil
}

// StorageConsumption is the size of everything stored once: every blob, plus every distinct
// manifest (Harbor stores manifests as blobs too, and counts them).
func (q q) StorageConsumption(ctx context.Context) (int64, error) {
	var blobs, manifests int64
	if err := q.queryRow(ctx, "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM blobs").Scan(&blobs); err != nil {
		return 0, fmt.Errorf("sum blob sizes: %w", err)
	}
	err := q.queryRow(ctx, `SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM
		(SELECT digest, MAX(size) AS size FROM manifests GROUP BY digest) m`).Scan(&manifests)
	if err != nil {
		return 0, fmt.Errorf("sum manifest sizes: %w", err)
	}
	return blobs + manifests, nil
}

// SearchLimit bounds each half of a search answer, which Harbor does not paginate.
const SearchLimit = 500

// SearchFilter narrows a search to what a caller may see: everything (All; callers whose
// rights are checked one by one afterwards pass All too), or public projects and those where
// MemberID is a member.
type SearchFilter struct {
	Term     string // substring of the name, case-insensitive
	All      bool
	MemberID int64
}

func (f SearchFilter) where(nameExpr string) (string, []any) {
	w := NewWhere(1)
	w.Add("LOWER("+nameExpr+") LIKE ? ESCAPE '\\'", "%"+likeEscape(strings.ToLower(f.Term))+"%")
	if !f.All {
		w.Add("(p.public OR "+fmt.Sprintf(memberOf, "?")+")", f.MemberID)
	}
	return w.SQL()
}

// SearchProjects returns the projects whose name contains the term, by name.
func (q q) SearchProjects(ctx context.Context, f SearchFilter) ([]Project, error) {
	where, args := f.where("p.name")
	rows, err := q.query(ctx, "SELECT "+projectColumns+" FROM projects p JOIN users u ON u.id = p.owner_id"+where+
		fmt.Sprintf(" ORDER BY p.name LIMIT %d", SearchLimit), args...)
	if err != nil {
		return nil, fmt.Errorf("search projects: %w", err)
	}
	defer rows.Close()
	ps := []Project{}
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, rows.Err()
}

// SearchRepository is one repository found by a search, with its project.
type SearchRepository struct {
	ProjectID     int64
	ProjectName   string
	ProjectPublic bool
	Name          string
	PullCount     int64
	ArtifactCount int64
}

// SearchRepositories returns the repositories whose full name contains the term, by name.
func (q q) SearchRepositories(ctx context.Context, f SearchFilter) ([]SearchRepository, error) {
	where, args := f.where("r.name")
	rows, err := q.query(ctx, `SELECT p.id, p.name, p.public, r.name, r.pull_count,
			(SELECT COUNT(*) FROM manifests m WHERE m.repository_id = r.id)
		FROM repositories r JOIN projects p ON p.id = r.project_id`+where+fmt.Sprintf(" ORDER BY r.name LIMIT %d", SearchLimit), args...)
	if err != nil {
		return nil, fmt.Errorf("search repositories: %w", err)
	}
	defer rows.Close()
	out := []SearchRepository{}
	for rows.Next() {
		var s SearchRepository
		if err := rows.Scan(&s.ProjectID, &s.ProjectName, &s.ProjectPublic, &s.Name, &s.PullCount, &s.ArtifactCount); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
