package meta

// The content views of the REST API: repositories with their counts, artifacts (manifests) with
// Harbor's listing filters, tags of an artifact, accessories. Content is written by the registry
// (content.go); this file reads it the way Harbor's API shows it, and holds the few writes that
// only the API makes (descriptions, tags created and deleted by the API, the removal of an
// emptied repository, derived media types).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// RepositoryInfo is a repository with the number of artifacts Harbor shows for it.
type RepositoryInfo struct {
	Repository
	ArtifactCount int64
}

// Artifact is a manifest with the repository and project it lives in.
type Artifact struct {
	Manifest
	RepositoryName string
	ProjectID      int64
}

// Tag is a tag row.
type Tag struct {
	ID           int64
	RepositoryID int64
	ManifestID   int64
	Name         string
	PushedAt     time.Time // when the tag was last pointed at its manifest
	PulledAt     time.Time
}

// rowScanner is what *sql.Row and *sql.Rows offer.
type rowScanner interface{ Scan(...any) error }

// withExtra scans the columns a scan function knows, then extra ones appended to the query.
type withExtra struct {
	row   rowScanner
	extra []any
}

func (w withExtra) Scan(dest ...any) error { return w.row.Scan(append(dest, w.extra...)...) }

// Which manifests a listing shows by default, as Harbor does: not the children of an index
// (the index lists them as its references) and not accessories (signatures and other
// referrers, listed with their subject). An accessory is a manifest with a subject, or cosign's
// legacy signature: a manifest tagged "sha256-<hex>.sig" whose subject sha256:<hex> is in the
// same repository.
func baseCond(a string) string {
	return "NOT EXISTS (SELECT 1 FROM manifest_children mc WHERE mc.child_id = " + a + ".id)"
}

func notAccessoryCond(a string) string {
	return a + ".subject_digest IS NULL AND NOT EXISTS (SELECT 1 FROM tags st JOIN manifests sm" +
		" ON sm.repository_id = st.repository_id AND sm.digest = 'sha256:' || SUBSTR(st.name, 8, 64)" +
		" WHERE st.manifest_id = " + a + ".id AND st.name LIKE 'sha256-%.sig' AND LENGTH(st.name) = 75)"
}

var repositoryColumns = map[string]Column{
	"id":            {"r.id", ColInt},
	"name":          {"r.name", ColText},
	"project_id":    {"r.project_id", ColInt},
	"description":   {"r.description", ColText},
	"pull_count":    {"r.pull_count", ColInt},
	"creation_time": {"r.created_at", ColTime},
	"update_time":   {"r.updated_at", ColTime},
}

// repositoryInfoColumns are a repository's columns with its artifact count, from repositories r.
var repositoryInfoColumns = `SELECT r.id, r.project_id, r.name, r.description, r.pull_count, r.created_at, r.updated_at,
	(SELECT COUNT(*) FROM manifests m WHERE m.repository_id = r.id AND ` + baseCond("m") + ` AND ` + notAccessoryCond("m") + `)`

var repositorySelect = repositoryInfoColumns + ` FROM repositories r`

func scanRepositoryInfo(row rowScanner) (RepositoryInfo, error) {
	var r RepositoryInfo
	var c, u int64
	err := row.Scan(&r.ID, &r.ProjectID, &r.Name, &r.Description, &r.PullCount, &c, &u, &r.ArtifactCount)
	r.CreatedAt, r.UpdatedAt = fromMicros(c), fromMicros(u)
	return r, notFound(err)
}

// RepositoryQuery selects repositories for a listing.
type RepositoryQuery struct {
	ProjectID  int64 // 0: every project
	Visibility ProjectVisibility
	List       ListQuery
}

// ListRepositories returns one page of repositories and the total count. Harbor's default
// order is newest first.
func (q q) ListRepositories(ctx context.Context, rq RepositoryQuery) ([]RepositoryInfo, int64, error) {
	w := NewWhere(1)
	if rq.ProjectID != 0 {
		w.Add("r.project_id = ?", rq.ProjectID)
	}
	// The projects the caller sees, as project listings decide it.
	vis := &Where{next: w.next}
	rq.Visibility.apply(vis)
	if len(vis.conds) > 0 {
		w.conds = append(w.conds, "r.project_id IN (SELECT p.id FROM projects p WHERE "+strings.Join(vis.conds, " AND ")+")")
		w.args = append(w.args, vis.args...)
		w.next = vis.next
	}
	if err := w.Apply(rq.List, repositoryColumns); err != nil {
		return nil, 0, err
	}
	order, err := OrderBy(rq.List.Sort, repositoryColumns, "r.created_at DESC", "r.id DESC")
	if err != nil {
		return nil, 0, err
	}
	where, args := w.SQL()
	var total int64
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM repositories r"+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count repositories: %w", err)
	}
	page := w.Page(rq.List)
	_, args = w.SQL()
	// The page is chosen first: artifact counts are worked out for its rows only, not for
	// every repository the sort has to look at.
	rows, err := q.query(ctx, repositoryInfoColumns+" FROM (SELECT r.* FROM repositories r"+where+order+page+") r"+order, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list repositories: %w", err)
	}
	defer rows.Close()
	out := []RepositoryInfo{}
	for rows.Next() {
		r, err := scanRepositoryInfo(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, r)
	}
	return out, total, rows.Err()
}

// RepositoryInfoByName returns a repository with its artifact count.
func (q q) RepositoryInfoByName(ctx context.Context, name string) (RepositoryInfo, error) {
	return scanRepositoryInfo(q.queryRow(ctx, repositorySelect+" WHERE r.name = $1", name))
}

// SetRepositoryDescription updates a repository's description.
func (q q) SetRepositoryDescription(ctx context.Context, id int64, description string) error {
	res, err := q.exec(ctx, "UPDATE repositories SET description = $2, updated_at = $3 WHERE id = $1", id, description, now())
	if err != nil {
		return fmt.Errorf("update repository %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// RootManifestDigests returns up to n digests of manifests of the repository that no index
// lists: the ones that can be deleted first.
func (q q) RootManifestDigests(ctx context.Context, repoID int64, n int) ([]string, error) {
	rows, err := q.queryW(ctx, `SELECT m.digest FROM manifests m WHERE m.repository_id = $1 AND `+baseCond("m")+
		` ORDER BY m.id LIMIT $2`, repoID, n)
	if err != nil {
		return nil, fmt.Errorf("manifests of repository %d: %w", repoID, err)
	}
	return scanStrings(rows)
}

// DeleteEmptyRepository removes, in the transaction, a repository that holds no manifest (its
// blob links go with it, also those of uploads into its name that no push has adopted yet).
// ErrNotEmpty when content arrived meanwhile, ErrNotFound when it is gone.
func (tx *Tx) DeleteEmptyRepository(ctx context.Context, id int64) error {
	if _, err := tx.exec(ctx, "DELETE FROM pending_blobs WHERE repository = (SELECT name FROM repositories WHERE id = $1)", id); err != nil {
		return fmt.Errorf("delete repository %d: %w", id, err)
	}
	res, err := tx.exec(ctx, "DELETE FROM repositories WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM manifests WHERE repository_id = $1)", id)
	if err != nil {
		return fmt.Errorf("delete repository %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	var one int
	err = tx.queryRowW(ctx, "SELECT 1 FROM repositories WHERE id = $1", id).Scan(&one)
	if err != nil {
		return notFound(err)
	}
	return ErrNotEmpty
}

// ArtifactQuery selects artifacts for a listing: those of one repository or of every
// repository of a project.
type ArtifactQuery struct {
	RepositoryID int64
	ProjectID    int64
	List         ListQuery
	// LatestInRepository keeps only the most recently pushed matching artifact of each repository.
	LatestInRepository bool
}

func artifactColumns(a string) map[string]Column {
	return map[string]Column{
		"id":                  {a + ".id", ColInt},
		"digest":              {a + ".digest", ColText},
		"manifest_media_type": {a + ".media_type", ColText},
		"media_type":          {"COALESCE(" + a + ".art_media_type, '')", ColText},
		"artifact_type":       {"CASE WHEN " + a + ".artifact_type <> '' THEN " + a + ".artifact_type ELSE COALESCE(" + a + ".art_media_type, '') END", ColText},
		"push_time":           {a + ".created_at", ColTime},
		"pull_time":           {"COALESCE(" + a + ".pulled_at, 0)", ColTime},
	}
}

// NeedsArtMediaType reports whether a listing filters on the derived media type, so that the
// caller derives the missing ones first (see FillArtMediaTypes in the registry).
func (lq ListQuery) NeedsArtMediaType() bool {
	for _, f := range lq.Filters {
		if f.Key == "media_type" || f.Key == "artifact_type" {
			return true
		}
	}
	for _, s := range lq.Sort {
		if s.Key == "media_type" || s.Key == "artifact_type" {
			return true
		}
	}
	return false
}

// artifactConds adds the conditions of an artifact listing on the manifests aliased a: the
// default base and accessory exclusions, Harbor's extra keys (tags, labels, base) and the
// column filters.
func (w *Where) artifactConds(lq ListQuery, a string) error {
	base := true
	if f, ok := lq.Take("base"); ok {
		if f.Op != OpExact || f.Values[0] != "*" {
			return fmt.Errorf(`%w: the value of "base" can only be exactly "*"`, ErrBadQuery)
		}
		base = false
	}
	if base {
		w.Add(baseCond(a))
	}
	w.Add(notAccessoryCond(a))
	if f, ok := lq.Take("tags"); ok {
		if err := w.tagsCond(f, a); err != nil {
			return err
		}
	}
	if f, ok := lq.Take("labels"); ok {
		if err := w.labelsCond(f, a); err != nil {
			return err
		}
	}
	return w.Apply(lq, artifactColumns(a))
}

func (w *Where) tagsCond(f Filter, a string) error {
	exists := "EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = " + a + ".id"
	switch f.Op {
	case OpExact:
		switch v := f.Values[0]; v {
		case "*":
			w.Add(exists + ")")
		case "nil":
			w.Add("NOT " + exists + ")")
		default:
			w.Add(exists+" AND t.name = ?)", v)
		}
	case OpFuzzy:
		w.Add(exists+" AND LOWER(t.name) LIKE ? ESCAPE '\\')", "%"+likeEscape(strings.ToLower(f.Values[0]))+"%")
	case OpAny:
		if len(f.Values) == 0 {
			w.Add("1 = 0")
			return nil
		}
		vals := make([]any, len(f.Values))
		for i, v := range f.Values {
			vals[i] = v
		}
		w.Add(exists+" AND t.name IN ("+strings.TrimSuffix(strings.Repeat("?,", len(vals)), ",")+"))", vals...)
	case OpAll:
		for _, v := range f.Values {
			w.Add(exists+" AND t.name = ?)", v)
		}
	default:
		return fmt.Errorf("%w: tags cannot be filtered by a range", ErrBadQuery)
	}
	return nil
}

func (w *Where) labelsCond(f Filter, a string) error {
	ids := make([]any, 0, len(f.Values))
	for _, v := range f.Values {
		id, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("%w: labels: %q is not a label id", ErrBadQuery, v)
		}
		ids = append(ids, id)
	}
	exists := "EXISTS (SELECT 1 FROM artifact_labels al WHERE al.manifest_id = " + a + ".id"
	switch f.Op {
	case OpExact, OpAll:
		for _, id := range ids {
			w.Add(exists+" AND al.label_id = ?)", id)
		}
	case OpAny:
		if len(ids) == 0 {
			w.Add("1 = 0")
			return nil
		}
		w.Add(exists+" AND al.label_id IN ("+strings.TrimSuffix(strings.Repeat("?,", len(ids)), ",")+"))", ids...)
	default:
		return fmt.Errorf("%w: labels can be matched exactly, by any of (k={a b}) or by all of (k=(a b))", ErrBadQuery)
	}
	return nil
}

// ListArtifacts returns one page of artifacts, newest first unless sorted otherwise, and the
// total count.
func (q q) ListArtifacts(ctx context.Context, aq ArtifactQuery) ([]Artifact, int64, error) {
	w := NewWhere(1)
	if aq.RepositoryID != 0 {
		w.Add("m.repository_id = ?", aq.RepositoryID)
	}
	if aq.ProjectID != 0 {
		w.Add("r.project_id = ?", aq.ProjectID)
	}
	if err := w.artifactConds(aq.List, "m"); err != nil {
		return nil, 0, err
	}
	if aq.LatestInRepository {
		// The same conditions on the repository's other manifests pick its latest match.
		inner := &Where{next: w.next}
		if err := inner.artifactConds(aq.List, "m2"); err != nil {
			return nil, 0, err
		}
		w.conds = append(w.conds, "m.id = (SELECT m2.id FROM manifests m2 WHERE m2.repository_id = m.repository_id AND "+
			strings.Join(inner.conds, " AND ")+" ORDER BY m2.created_at DESC, m2.id DESC LIMIT 1)")
		w.args = append(w.args, inner.args...)
		w.next = inner.next
	}
	order, err := OrderBy(aq.List.Sort, artifactColumns("m"), "m.created_at DESC", "m.id DESC")
	if err != nil {
		return nil, 0, err
	}
	from := " FROM manifests m JOIN repositories r ON r.id = m.repository_id"
	where, args := w.SQL()
	var total int64
	if err := q.queryRow(ctx, "SELECT COUNT(*)"+from+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count artifacts: %w", err)
	}
	page := w.Page(aq.List)
	_, args = w.SQL()
	rows, err := q.query(ctx, "SELECT "+manifestColumns+", r.name, r.project_id"+from+where+order+page, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list artifacts: %w", err)
	}
	defer rows.Close()
	out := []Artifact{}
	for rows.Next() {
		var a Artifact
		m, err := scanManifest(withExtra{rows, []any{&a.RepositoryName, &a.ProjectID}})
		if err != nil {
			return nil, 0, err
		}
		a.Manifest = m
		out = append(out, a)
	}
	return out, total, rows.Err()
}

// ManifestsByDigests returns the manifests of a repository with the given digests, by digest.
func (q q) ManifestsByDigests(ctx context.Context, repoID int64, digests []string) (map[string]Manifest, error) {
	out := make(map[string]Manifest, len(digests))
	digests = dedupe(digests)
	for len(digests) > 0 {
		// Bounded batches keep the statement within both databases' parameter limits.
		batch := digests[:min(len(digests), 500)]
		digests = digests[len(batch):]
		args := make([]any, 0, len(batch)+1)
		args = append(args, repoID)
		for _, d := range batch {
			args = append(args, d)
		}
		rows, err := q.query(ctx, "SELECT "+manifestColumns+" FROM manifests m WHERE m.repository_id = $1 AND m.digest IN ("+
			placeholders(2, len(batch))+")", args...)
		if err != nil {
			return nil, fmt.Errorf("manifests of repository %d: %w", repoID, err)
		}
		for rows.Next() {
			m, err := scanManifest(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			out[m.Digest] = m
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ParentDigests lists the digests of the indexes that list the manifest.
func (q q) ParentDigests(ctx context.Context, manifestID int64) ([]string, error) {
	rows, err := q.query(ctx, `SELECT m.digest FROM manifest_children mc JOIN manifests m ON m.id = mc.parent_id
		WHERE mc.child_id = $1 ORDER BY m.id`, manifestID)
	if err != nil {
		return nil, fmt.Errorf("parents of manifest %d: %w", manifestID, err)
	}
	return scanStrings(rows)
}

// Accessories returns the accessories of the manifest with the digest in the repository: the
// manifests whose subject it is and, for a sha256 digest, cosign's legacy signature tagged
// "sha256-<hex>.sig". Oldest first.
func (q q) Accessories(ctx context.Context, repoID int64, digest string) ([]Manifest, error) {
	legacy := LegacyCosignTag(digest)
	rows, err := q.query(ctx, "SELECT "+manifestColumns+` FROM manifests m WHERE m.repository_id = $1
		AND (m.subject_digest = $2 OR m.id IN (SELECT t.manifest_id FROM tags t WHERE t.repository_id = $1 AND t.name = $3))
		ORDER BY m.id`, repoID, digest, legacy)
	if err != nil {
		return nil, fmt.Errorf("accessories of %s: %w", digest, err)
	}
	defer rows.Close()
	var out []Manifest
	for rows.Next() {
		m, err := scanManifest(rows)
		if err != nil {
			return nil, err
		}
		if m.Digest != digest {
			out = append(out, m)
		}
	}
	return out, rows.Err()
}

// AccessoriesOfMany is Accessories for several manifests of one repository, in one query:
// the accessories by subject digest, oldest first.
func (q q) AccessoriesOfMany(ctx context.Context, repoID int64, digests []string) (map[string][]Manifest, error) {
	out := map[string][]Manifest{}
	if len(digests) == 0 {
		return out, nil
	}
	args := []any{repoID}
	for _, d := range digests {
		args = append(args, d)
	}
	bySubject := placeholders(2, len(digests))
	legacy := map[string]string{} // legacy signature tag → its subject
	var tags []string
	for _, d := range digests {
		if t := LegacyCosignTag(d); t != "" {
			legacy[t] = d
			tags = append(tags, t)
			args = append(args, t)
		}
	}
	query := "SELECT " + manifestColumns + ", m.subject_digest AS accessory_of FROM manifests m WHERE m.repository_id = $1 AND m.subject_digest IN (" + bySubject + ")"
	if len(tags) > 0 {
		query += " UNION ALL SELECT " + manifestColumns + ", t.name FROM manifests m JOIN tags t ON t.manifest_id = m.id" +
			" WHERE t.repository_id = $1 AND t.name IN (" + placeholders(2+len(digests), len(tags)) + ")"
	}
	rows, err := q.query(ctx, query+" ORDER BY id", args...)
	if err != nil {
		return nil, fmt.Errorf("accessories of %d manifests: %w", len(digests), err)
	}
	defer rows.Close()
	seen := map[string]map[int64]bool{}
	for rows.Next() {
		var of string
		m, err := scanManifest(withExtra{rows, []any{&of}})
		if err != nil {
			return nil, err
		}
		if subject, ok := legacy[of]; ok {
			of = subject
		}
		if m.Digest == of || seen[of][m.ID] {
			continue
		}
		if seen[of] == nil {
			seen[of] = map[int64]bool{}
		}
		seen[of][m.ID] = true
		out[of] = append(out[of], m)
	}
	return out, rows.Err()
}

// LegacyCosignTag is the tag cosign (before OCI 1.1 referrers) gives the signature of a
// sha256 digest; "" for other digests.
func LegacyCosignTag(digest string) string {
	hex, ok := strings.CutPrefix(digest, "sha256:")
	if !ok {
		return ""
	}
	return "sha256-" + hex + ".sig"
}

const tagColumns = "t.id, t.repository_id, t.manifest_id, t.name, t.updated_at, t.pulled_at"

func scanTag(row rowScanner) (Tag, error) {
	var t Tag
	var u int64
	var p sql.NullInt64
	err := row.Scan(&t.ID, &t.RepositoryID, &t.ManifestID, &t.Name, &u, &p)
	t.PushedAt, t.PulledAt = fromMicros(u), fromNullMicros(p)
	return t, notFound(err)
}

var tagListColumns = map[string]Column{
	"id":        {"t.id", ColInt},
	"name":      {"t.name", ColText},
	"push_time": {"t.updated_at", ColTime},
	"pull_time": {"COALESCE(t.pulled_at, 0)", ColTime},
}

// TagsOfManifests returns the tags of the manifests, newest first, by manifest id.
func (q q) TagsOfManifests(ctx context.Context, ids []int64) (map[int64][]Tag, error) {
	out := map[int64][]Tag{}
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := q.query(ctx, "SELECT "+tagColumns+" FROM tags t WHERE t.manifest_id IN ("+placeholders(1, len(ids))+
		") ORDER BY t.updated_at DESC, t.id DESC", args...)
	if err != nil {
		return nil, fmt.Errorf("tags of manifests: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		t, err := scanTag(rows)
		if err != nil {
			return nil, err
		}
		out[t.ManifestID] = append(out[t.ManifestID], t)
	}
	return out, rows.Err()
}

// ListManifestTags returns one page of the tags of a manifest (newest first unless sorted
// otherwise) and the total count; q filters on name, push_time, pull_time, id.
func (q q) ListManifestTags(ctx context.Context, manifestID int64, lq ListQuery) ([]Tag, int64, error) {
	w := NewWhere(1)
	w.Add("t.manifest_id = ?", manifestID)
	if err := w.Apply(lq, tagListColumns); err != nil {
		return nil, 0, err
	}
	order, err := OrderBy(lq.Sort, tagListColumns, "t.updated_at DESC", "t.id DESC")
	if err != nil {
		return nil, 0, err
	}
	where, args := w.SQL()
	var total int64
	if err := q.queryRow(ctx, "SELECT COUNT(*) FROM tags t"+where, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("count tags: %w", err)
	}
	page := w.Page(lq)
	_, args = w.SQL()
	rows, err := q.query(ctx, "SELECT "+tagColumns+" FROM tags t"+where+order+page, args...)
	if err != nil {
		return nil, 0, fmt.Errorf("list tags: %w", err)
	}
	defer rows.Close()
	out := []Tag{}
	for rows.Next() {
		t, err := scanTag(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, t)
	}
	return out, total, rows.Err()
}

// CreateTag points a new tag of the repository at the manifest. ErrConflict when the
// repository already has the tag; ErrNotFound when the manifest is not in the repository.
func (q q) CreateTag(ctx context.Context, repoID, manifestID int64, name string) (Tag, error) {
	t := now()
	tag, err := scanTag(q.writeRow(ctx, `INSERT INTO tags (repository_id, name, manifest_id, created_at, updated_at)
		SELECT m.repository_id, CAST($3 AS TEXT), m.id, CAST($4 AS BIGINT), CAST($4 AS BIGINT) FROM manifests m WHERE m.id = $2 AND m.repository_id = $1
		RETURNING id, repository_id, manifest_id, name, updated_at, pulled_at`, repoID, manifestID, name, t))
	if err != nil && q.d.isUniqueViolation(err) {
		return Tag{}, ErrConflict
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Tag{}, fmt.Errorf("create tag %s: %w", name, err)
	}
	return tag, err
}

// DeleteManifestTag removes, in the transaction, the tag if it points at the manifest
// (ErrNotFound otherwise); the manifest goes on the review queue.
func (tx *Tx) DeleteManifestTag(ctx context.Context, manifestID int64, name string) error {
	var repoID int64
	var digest string
	err := tx.queryRowW(ctx, `DELETE FROM tags WHERE manifest_id = $1 AND name = $2
		RETURNING repository_id, (SELECT digest FROM manifests WHERE id = tags.manifest_id)`, manifestID, name).Scan(&repoID, &digest)
	if err != nil {
		if err = notFound(err); err != ErrNotFound {
			err = fmt.Errorf("delete tag %s: %w", name, err)
		}
		return err
	}
	return tx.reviewManifest(ctx, repoID, digest, ReviewUntagged)
}

// ManifestsWithoutArtMediaType returns up to n manifests of a repository (or, with repoID 0, of
// a project) whose listing media type is not derived yet.
func (q q) ManifestsWithoutArtMediaType(ctx context.Context, repoID, projectID int64, n int) ([]Manifest, error) {
	query := "SELECT " + manifestColumns + " FROM manifests m WHERE m.art_media_type IS NULL AND m.repository_id = $1 LIMIT $2"
	args := []any{repoID, n}
	if repoID == 0 {
		query = "SELECT " + manifestColumns + ` FROM manifests m WHERE m.art_media_type IS NULL
			AND m.repository_id IN (SELECT id FROM repositories WHERE project_id = $1) LIMIT $2`
		args = []any{projectID, n}
	}
	rows, err := q.query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("manifests to describe: %w", err)
	}
	defer rows.Close()
	var out []Manifest
	for rows.Next() {
		m, err := scanManifest(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// SetArtMediaType records the derived listing media type of a manifest.
func (q q) SetArtMediaType(ctx context.Context, manifestID int64, mediaType string) error {
	if _, err := q.exec(ctx, "UPDATE manifests SET art_media_type = $2 WHERE id = $1", manifestID, mediaType); err != nil {
		return fmt.Errorf("set media type of manifest %d: %w", manifestID, err)
	}
	return nil
}
