package portal

// A repository's pages (/projects/{project}/repositories/{repo...}): its description (markdown
// rendered safely) and artifacts, and the actions on them: editing the description, adding and
// removing tags and labels, scanning, deleting an artifact or the repository (after a
// confirmation). The data and the rules are the services' that /api/v2.0's repository,
// artifact, tag and label endpoints use (internal/api/repositories.go, artifacts.go, tags.go).
//
// A repository's name may hold slashes, so its pages are told apart by what follows the name:
// "/-/<action>" for the repository's own actions ("-" is no path component of a repository
// name), "/artifacts/<digest>[/<action>...]" for an artifact's (a digest has a colon, which no
// repository name has).

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/extension"

	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/rbac"
	"github.com/berthreg/berth/internal/registry"
	"github.com/berthreg/berth/internal/scan"
	"github.com/berthreg/berth/internal/scan/report"
)

// repositoryRoutes registers the repository and artifact pages and their forms.
func (h *Handler) repositoryRoutes(mux *http.ServeMux) {
	mux.Handle("GET /projects/{project}/repositories/{repo...}", h.page(h.repositoryGet))
	mux.Handle("POST /projects/{project}/repositories/{repo...}", h.change(h.repositoryPost))
}

// repoTarget is what a path under /projects/{project}/repositories/ names.
type repoTarget struct {
	repo string
	// dgst is the artifact's digest; "" for the repository itself.
	dgst string
	// action is the rest of the path after the artifact or "/-/": "" for the page itself.
	action []string
}

// parseRepoPath reads "<repo>", "<repo>/-/<action...>" or
// "<repo>/artifacts/<digest>[/<action...>]".
func parseRepoPath(path string) (repoTarget, bool) {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		switch {
		case s == "-":
			if i == 0 {
				return repoTarget{}, false
			}
			return repoTarget{repo: strings.Join(segs[:i], "/"), action: segs[i+1:]}, true
		case strings.Contains(s, ":"):
			if i < 2 || segs[i-1] != "artifacts" {
				return repoTarget{}, false
			}
			return repoTarget{repo: strings.Join(segs[:i-1], "/"), dgst: s, action: segs[i+1:]}, true
		}
	}
	if path == "" {
		return repoTarget{}, false
	}
	return repoTarget{repo: path}, true
}

// splitArtifact splits "<repository>/artifacts/<digest>".
func splitArtifact(path string) (repo, dgst string, ok bool) {
	t, ok := parseRepoPath(path)
	if !ok || t.dgst == "" || len(t.action) > 0 {
		return "", "", false
	}
	return t.repo, t.dgst, true
}

// is reports whether action is the words want.
func is(action []string, want ...string) bool { return slices.Equal(action, want) }

func (h *Handler) repositoryGet(c *call) error {
	t, ok := parseRepoPath(c.r.PathValue("repo"))
	if !ok {
		return fault.NotFoundf("There is no page at %s.", c.r.URL.Path)
	}
	c.r.SetPathValue("repo", t.repo)
	c.r.SetPathValue("digest", t.dgst)
	switch {
	case t.dgst == "" && t.action == nil:
		return h.showRepository(c)
	case t.dgst == "" && is(t.action, "delete"):
		return h.confirmRepoDelete(c, t)
	case t.dgst == "":
	case len(t.action) == 0:
		return h.showArtifact(c)
	case is(t.action, "delete"):
		return h.confirmRepoDelete(c, t)
	case is(t.action, "sbom"):
		return h.downloadSBOM(c, t)
	case len(t.action) == 3 && t.action[0] == "tags" && t.action[2] == "delete":
		return h.confirmRepoDelete(c, t)
	}
	return fault.NotFoundf("There is no page at %s.", c.r.URL.Path)
}

func (h *Handler) repositoryPost(c *call) error {
	t, ok := parseRepoPath(c.r.PathValue("repo"))
	if !ok {
		return fault.NotFoundf("There is no page at %s.", c.r.URL.Path)
	}
	proj := c.r.PathValue("project")
	f := c.r.PostForm
	if t.dgst == "" {
		switch {
		case is(t.action, "description"):
			if err := h.Repositories.SetDescription(c.ctx(), proj, t.repo, f.Get("description")); err != nil {
				return err
			}
			return h.done(c, repositoryPath(proj, t.repo), "described")
		case is(t.action, "delete"):
			if err := h.Repositories.Delete(c.ctx(), proj, t.repo); err != nil {
				return h.refuseDelete(c, t, err)
			}
			http.Redirect(c.w, c.r, "/projects/"+url.PathEscape(proj)+"?deleted="+url.QueryEscape(proj+"/"+t.repo), http.StatusSeeOther)
			return nil
		}
		return fault.NotFoundf("There is no page at %s.", c.r.URL.Path)
	}
	// After an action on an artifact, back to the page its form was on.
	back := artifactPath(proj, t.repo, t.dgst)
	if f.Get("back") == "repository" {
		back = repositoryPath(proj, t.repo)
	}
	switch a := t.action; {
	case is(a, "scan"):
		typ, done := scan.TypeVulnerability, "scanned"
		if f.Get("scan_type") == scan.TypeSBOM {
			typ, done = scan.TypeSBOM, "sbom"
		}
		if err := h.Scan.Request(c.ctx(), scan.Target{Project: proj, Repository: t.repo, Reference: t.dgst}, typ); err != nil {
			return err
		}
		if done == "scanned" && f.Get("back") != "repository" {
			// The artifact page's address for a requested scan, as it has always been.
			http.Redirect(c.w, c.r, back+"?scan=requested", http.StatusSeeOther)
			return nil
		}
		return h.done(c, back, done)
	case is(a, "tags"):
		tag := strings.TrimSpace(f.Get("tag"))
		if _, err := h.Tags.Create(c.ctx(), proj, t.repo, t.dgst, tag); err != nil {
			return h.formRefused(c, t, err, tag)
		}
		return h.done(c, back, "tagged")
	case len(a) == 3 && a[0] == "tags" && a[2] == "delete":
		if err := h.Tags.Delete(c.ctx(), proj, t.repo, t.dgst, a[1]); err != nil {
			return h.refuseDelete(c, t, err)
		}
		return h.done(c, back, "untagged")
	case is(a, "labels"):
		id, err := strconv.ParseInt(f.Get("label"), 10, 64)
		if err != nil {
			return h.formRefused(c, t, fault.Invalidf("Choose a label to add."), "")
		}
		if err := h.Artifacts.AddLabel(c.ctx(), proj, t.repo, t.dgst, id); err != nil {
			return h.formRefused(c, t, err, "")
		}
		return h.done(c, back, "labelled")
	case len(a) == 3 && a[0] == "labels" && a[2] == "delete":
		id, err := strconv.ParseInt(a[1], 10, 64)
		if err != nil {
			return fault.NotFoundf("There is no label %q.", a[1])
		}
		if err := h.Artifacts.RemoveLabel(c.ctx(), proj, t.repo, t.dgst, id); err != nil {
			return err
		}
		return h.done(c, back, "unlabelled")
	case is(a, "delete"):
		if err := h.Artifacts.Delete(c.ctx(), proj, t.repo, t.dgst); err != nil {
			return h.refuseDelete(c, t, err)
		}
		return h.done(c, repositoryPath(proj, t.repo), "deleted")
	}
	return fault.NotFoundf("There is no page at %s.", c.r.URL.Path)
}

// formRefused shows a refusal of an artifact's form (a tag name the service refuses, a label
// already there) on the artifact's page, in the service's words, with what was typed;
// permission and existence refusals are shown as such.
func (h *Handler) formRefused(c *call, t repoTarget, err error, newTag string) error {
	code, msg, ok := refusal(err)
	if !ok || code == http.StatusForbidden || code == http.StatusUnauthorized || code == http.StatusNotFound {
		return err
	}
	c.r.URL.Path, c.r.URL.RawQuery = artifactPath(c.r.PathValue("project"), t.repo, t.dgst), ""
	c.r.SetPathValue("repo", t.repo)
	c.r.SetPathValue("digest", t.dgst)
	return h.artifactPage(c, code, msg, newTag)
}

// done redirects to path with a notice.
func (h *Handler) done(c *call, path, notice string) error {
	http.Redirect(c.w, c.r, path+"?done="+notice, http.StatusSeeOther)
	return nil
}

// repoNotices are the notices a redirect after an action asks for.
var repoNotices = map[string]string{
	"described":  "The description was saved.",
	"deleted":    "The artifact was deleted.",
	"scanned":    "The scan was requested; reload the page to see its result.",
	"sbom":       "The SBOM was requested; reload the page to see it.",
	"tagged":     "The tag was added.",
	"untagged":   "The tag was removed.",
	"labelled":   "The label was added.",
	"unlabelled": "The label was removed.",
}

func repositoryPath(project, repo string) string {
	return "/projects/" + url.PathEscape(project) + "/repositories/" + repoPath(repo)
}

// repoPerms are the actions the caller may take on a repository and its artifacts, for which
// the pages show their controls; the services decide again on each post.
type repoPerms struct {
	EditRepo, DeleteRepo, Scan, SBOM, AddTag, RemoveTag, AddLabel, RemoveLabel, DeleteArtifact bool
}

func (h *Handler) repoPerms(c *call, p meta.Project) (repoPerms, error) {
	var rp repoPerms
	for _, q := range []struct {
		to  *bool
		res rbac.Resource
		act rbac.Action
	}{
		{&rp.EditRepo, rbac.ResRepository, rbac.ActUpdate},
		{&rp.DeleteRepo, rbac.ResRepository, rbac.ActDelete},
		{&rp.Scan, rbac.ResScan, rbac.ActCreate},
		{&rp.SBOM, rbac.ResSBOM, rbac.ActCreate},
		{&rp.AddTag, rbac.ResTag, rbac.ActCreate},
		{&rp.RemoveTag, rbac.ResTag, rbac.ActDelete},
		{&rp.AddLabel, rbac.ResArtifactLabel, rbac.ActCreate},
		{&rp.RemoveLabel, rbac.ResArtifactLabel, rbac.ActDelete},
		{&rp.DeleteArtifact, rbac.ResArtifact, rbac.ActDelete},
	} {
		ok, err := h.Projects.Can(c.ctx(), p, q.res, q.act)
		if err != nil {
			return rp, err
		}
		*q.to = ok
	}
	return rp, nil
}

// Any is whether the caller may take any action on an artifact.
func (rp repoPerms) Any() bool {
	return rp.Scan || rp.SBOM || rp.AddTag || rp.RemoveTag || rp.AddLabel || rp.RemoveLabel || rp.DeleteArtifact
}

// maxLabelChoices bounds the labels of each scope a label menu offers.
const maxLabelChoices = maxPageSize

// labelChoices are the labels that may be added to the project's artifacts: the global ones
// and the project's, as GET /api/v2.0/labels lists them.
func (h *Handler) labelChoices(c *call, p meta.Project) ([]meta.Label, error) {
	var out []meta.Label
	for _, q := range []meta.LabelQuery{
		{Scope: meta.LabelScopeProject, ProjectID: p.ID},
		{Scope: meta.LabelScopeGlobal},
	} {
		q.List = meta.ListQuery{Limit: maxLabelChoices, Sort: []meta.SortKey{{Key: "name"}}}
		ls, _, err := h.Labels.List(c.ctx(), q)
		if err != nil {
			return nil, err
		}
		out = append(out, ls...)
	}
	return out, nil
}

// addable are the labels of choices an artifact does not have yet.
func addable(choices, has []meta.Label) []meta.Label {
	var out []meta.Label
	for _, l := range choices {
		if !slices.ContainsFunc(has, func(x meta.Label) bool { return x.ID == l.ID }) {
			out = append(out, l)
		}
	}
	return out
}

// colorRE is a label colour the page may draw: #rgb or #rrggbb.
var colorRE = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}){1,2}$`)

// labelColor is a label's colour for its swatch; "" draws none.
func labelColor(c string) string {
	if colorRE.MatchString(c) {
		return c
	}
	return ""
}

// markdown renders descriptions: CommonMark with GitHub's tables, strikethrough and links,
// without raw HTML (goldmark drops it unless told otherwise) and without dangerous link
// schemes (javascript:, vbscript:, file:, data: but images).
var markdown = goldmark.New(goldmark.WithExtensions(extension.GFM))

// renderMarkdown renders a description as HTML safe to put on the page.
func renderMarkdown(src string) (template.HTML, error) {
	var buf bytes.Buffer
	if err := markdown.Convert([]byte(src), &buf); err != nil {
		return "", err
	}
	return template.HTML(buf.String()), nil // goldmark escapes the text and drops raw HTML
}

type repositoryPage struct {
	Project     string
	Name        string // within the project
	RepoPath    string // the page's path
	Repo        meta.RepositoryInfo
	Description template.HTML
	Artifacts   []artifactRow
	List        listing
	Notice      string
	Can         repoPerms
	// Host is the registry's host, for the pull commands.
	Host       string
	CopyScript string
}

type artifactRow struct {
	registry.ArtifactView
	// Vulns is the vulnerability summary of the artifact's report by the project's scanner.
	Vulns     vulnCounts
	Signed    bool
	Platforms []platformRow
	Labels    []labelView
	Addable   []meta.Label
	Pull      string
}

// platformRow is an index's child, for the rows under the index.
type platformRow struct {
	Platform string // os/arch[/variant]
	Digest   string
	// Stored is whether the child is in the repository (an index lists only stored ones).
	Stored bool
}

type labelView struct {
	meta.Label
	Swatch string
}

func labelViews(ls []meta.Label) []labelView {
	out := make([]labelView, 0, len(ls))
	for _, l := range ls {
		out = append(out, labelView{Label: l, Swatch: labelColor(l.Color)})
	}
	return out
}

func platformsOf(info registry.ArtifactInfo) []platformRow {
	var out []platformRow
	for _, r := range info.References {
		pr := platformRow{Digest: r.ChildDigest, Stored: r.ChildID != 0, Platform: "unknown platform"}
		if p := r.Platform; p != nil {
			pr.Platform = p.OS + "/" + p.Architecture
			if p.Variant != "" {
				pr.Platform += "/" + p.Variant
			}
		}
		out = append(out, pr)
	}
	return out
}

func signed(accs []registry.Accessory) bool {
	return slices.ContainsFunc(accs, func(a registry.Accessory) bool {
		return a.Type == registry.AccessoryCosign || a.Type == registry.AccessoryNotation
	})
}

// registryHost is the host clients reach the registry at, for pull commands.
func (h *Handler) registryHost(c *call) string {
	if h.Origin == nil {
		return c.r.Host
	}
	u, err := url.Parse(h.Origin.URL(c.r))
	if err != nil || u.Host == "" {
		return c.r.Host
	}
	return u.Host
}

func (h *Handler) showRepository(c *call) error {
	proj, name := c.r.PathValue("project"), c.r.PathValue("repo")
	lq, l, err := parseListing(c.r, artifactSortKeys)
	if err != nil {
		return err
	}
	// Artifacts have no name: the filter box matches their tags.
	if f, ok := lq.Take("name"); ok {
		f.Key = "tags"
		lq.Filters = append(lq.Filters, f)
	}
	repo, err := h.Repositories.Get(c.ctx(), proj, name)
	if err != nil {
		return err
	}
	list, err := h.Artifacts.List(c.ctx(), proj, name, lq, registry.Details{Tags: true, Labels: true, Accessories: true})
	if err != nil {
		return err
	}
	l.Total = list.Total
	pg := repositoryPage{Project: proj, Name: name, RepoPath: repositoryPath(proj, name), Repo: repo, List: l, Notice: repoNotices[c.r.URL.Query().Get("done")],
		Host: h.registryHost(c), CopyScript: h.assets.url("copy.js")}
	if pg.Description, err = renderMarkdown(repo.Description); err != nil {
		return err
	}
	if pg.Can, err = h.repoPerms(c, list.Project); err != nil {
		return err
	}
	var choices []meta.Label
	if pg.Can.AddLabel && len(list.Artifacts) > 0 {
		if choices, err = h.labelChoices(c, list.Project); err != nil {
			return err
		}
	}
	// The page's reports in one read, as the API's with_scan_overview does.
	digests := make([]string, len(list.Artifacts))
	for i, a := range list.Artifacts {
		digests[i] = a.Digest
	}
	reports := map[string]map[string]meta.ScanReport{}
	if len(digests) > 0 {
		if reports, err = h.Scan.Reports(c.ctx(), list.Project.ID, digests); err != nil {
			return err
		}
	}
	for _, a := range list.Artifacts {
		row := artifactRow{ArtifactView: a, Signed: signed(a.Accessories), Platforms: platformsOf(a.Info),
			Labels: labelViews(a.Labels), Addable: addable(choices, a.Labels),
			Pull: "docker pull " + pg.Host + "/" + repo.Name + "@" + a.Digest}
		if r, ok := reports[a.Digest][report.MimeGeneric]; ok {
			row.Vulns = countsOf(r)
		}
		pg.Artifacts = append(pg.Artifacts, row)
	}
	h.render(c.w, c, http.StatusOK, "repository", pg)
	return nil
}

// repoDeletePage asks to confirm a deletion: of a repository, an artifact or a tag.
type repoDeletePage struct {
	Project, Repo string
	Digest        string // the artifact's, "" for the repository
	Tag           string // the tag to remove, if that is it
	Action        string // the form's action
	Back          string // where Cancel goes
	Error         string
}

// confirmRepoDelete asks for confirmation; a caller who may not delete is told so by the
// service when posting, and offered no link here.
func (h *Handler) confirmRepoDelete(c *call, t repoTarget) error {
	proj := c.r.PathValue("project")
	pg := repoDeletePage{Project: proj, Repo: t.repo, Digest: t.dgst}
	v, err := h.Projects.Get(c.ctx(), proj, true)
	if err != nil {
		return err
	}
	res := rbac.ResRepository
	if t.dgst == "" {
		if _, err := h.Repositories.Get(c.ctx(), proj, t.repo); err != nil {
			return err
		}
		pg.Action, pg.Back = repositoryPath(proj, t.repo)+"/-/delete", repositoryPath(proj, t.repo)
	} else {
		if _, _, err := h.Artifacts.Get(c.ctx(), proj, t.repo, t.dgst, registry.Details{}); err != nil {
			return err
		}
		res = rbac.ResArtifact
		pg.Back = artifactPath(proj, t.repo, t.dgst)
		pg.Action = pg.Back + "/delete"
		if len(t.action) == 3 {
			res = rbac.ResTag
			pg.Tag = t.action[1]
			pg.Action = pg.Back + "/tags/" + url.PathEscape(pg.Tag) + "/delete"
		}
	}
	// Those who may not delete are offered no link here, and no form either.
	if err := h.requireProject(c, v, res, rbac.ActDelete); err != nil {
		return err
	}
	h.render(c.w, c, http.StatusOK, "repository_delete", pg)
	return nil
}

// refuseDelete shows a deletion the service refused for a reason other than permission (an
// artifact an index lists, an immutable tag) on the confirmation page, in its words.
func (h *Handler) refuseDelete(c *call, t repoTarget, err error) error {
	code, msg, ok := refusal(err)
	if !ok || code == http.StatusForbidden || code == http.StatusUnauthorized || code == http.StatusNotFound {
		return err
	}
	if _, immutable := errors.AsType[*registry.ImmutableError](err); immutable {
		code = http.StatusPreconditionFailed // as the API answers
	}
	proj := c.r.PathValue("project")
	pg := repoDeletePage{Project: proj, Repo: t.repo, Digest: t.dgst, Error: msg, Back: repositoryPath(proj, t.repo)}
	if t.dgst != "" {
		pg.Back = artifactPath(proj, t.repo, t.dgst)
		if len(t.action) == 3 {
			pg.Tag = t.action[1]
		}
	}
	h.render(c.w, c, code, "repository_delete", pg)
	return nil
}
