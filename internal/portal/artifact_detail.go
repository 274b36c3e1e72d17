package portal

// The parts of an artifact's page beyond its overview and vulnerabilities: the image's config,
// layers and build history (what GET /api/v2.0/.../additions/build_history gives), an index's
// platforms, its referrers (…/accessories) and its SBOM (…/additions/sbom), with the SBOM
// document for download.

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/berthreg/berth/internal/fault"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/registry"
	"github.com/berthreg/berth/internal/scan"
)

// imageInfo is what an image's config says, as the artifact's extra attributes give it.
type imageInfo struct {
	Created      *time.Time
	Architecture string
	OS           string
	Author       string
	// Config is the config's "config" object, indented, for the page.
	Config string
}

func imageOf(extra json.RawMessage) *imageInfo {
	if len(extra) == 0 {
		return nil
	}
	var x struct {
		Created      *time.Time      `json:"created"`
		Architecture string          `json:"architecture"`
		OS           string          `json:"os"`
		Author       string          `json:"author"`
		Config       json.RawMessage `json:"config"`
	}
	if json.Unmarshal(extra, &x) != nil || x.Architecture == "" && x.OS == "" {
		return nil
	}
	img := &imageInfo{Created: x.Created, Architecture: x.Architecture, OS: x.OS, Author: x.Author}
	var cfg map[string]any
	if json.Unmarshal(x.Config, &cfg) == nil && len(cfg) > 0 {
		b, _ := json.MarshalIndent(cfg, "", "  ")
		img.Config = string(b)
	}
	return img
}

// descriptorRow is a blob a manifest names.
type descriptorRow struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Size      int64  `json:"size"`
}

// layersOf reads a manifest's config and layers; none for an index.
func layersOf(payload []byte) (*descriptorRow, []descriptorRow) {
	var doc struct {
		Config *descriptorRow  `json:"config"`
		Layers []descriptorRow `json:"layers"`
	}
	if json.Unmarshal(payload, &doc) != nil {
		return nil, nil
	}
	return doc.Config, doc.Layers
}

type historyRow struct {
	Created    string
	CreatedBy  string
	Comment    string
	EmptyLayer bool
}

// historyOf reads the build_history addition: the config's history, oldest first.
func historyOf(raw []byte) []historyRow {
	var hs []v1.History
	if json.Unmarshal(raw, &hs) != nil {
		return nil
	}
	out := make([]historyRow, 0, len(hs))
	for _, h := range hs {
		row := historyRow{CreatedBy: h.CreatedBy, Comment: h.Comment, EmptyLayer: h.EmptyLayer, Created: "—"}
		if h.Created != nil {
			row.Created = formatTime(*h.Created)
		}
		out = append(out, row)
	}
	return out
}

type referrerRow struct {
	registry.Accessory
	Kind string // in words
}

// accessoryKinds name the accessory types in words.
var accessoryKinds = map[string]string{
	registry.AccessoryCosign:   "Signature (cosign)",
	registry.AccessoryNotation: "Signature (Notation)",
	registry.AccessorySBOM:     "SBOM",
	registry.AccessoryGeneric:  "Referrer",
}

func referrersOf(accs []registry.Accessory) []referrerRow {
	out := make([]referrerRow, 0, len(accs))
	for _, a := range accs {
		k := accessoryKinds[a.Type]
		if k == "" {
			k = a.Type
		}
		if a.Type == registry.AccessoryGeneric && strings.Contains(a.Manifest.ArtifactType, "in-toto") {
			k = "Attestation"
		}
		out = append(out, referrerRow{Accessory: a, Kind: k})
	}
	return out
}

// sbomView is the SBOM section: the report's state and a page of its packages.
type sbomView struct {
	Status     string // "" without a report
	StatusText string
	MediaType  string
	Packages   []sbomPackage
	Total      int
	Page       int
	Pages      int
	Prev, Next string
}

type sbomPackage struct{ Name, Version, Type, PURL string }

// sbomPageSize is how many packages the SBOM table shows a page.
const sbomPageSize = defaultPageSize

// sbomView reads the artifact's SBOM report by the project's scanner and a page of its
// packages (sbom_page).
func (h *Handler) sbomView(c *call, p meta.Project, v registry.ArtifactView, pageParam string) (sbomView, error) {
	var sv sbomView
	page := 1
	if pageParam != "" {
		n, err := strconv.Atoi(pageParam)
		if err != nil || n < 1 || n > maxPage {
			return sv, fault.Invalidf("The SBOM page number %q is not a whole number from 1 to %d.", pageParam, maxPage)
		}
		page = n
	}
	r, err := h.Scan.Report(c.ctx(), p.ID, v.Digest, scan.TypeSBOM)
	if errors.Is(err, meta.ErrNotFound) {
		return sv, nil
	}
	if err != nil {
		return sv, err
	}
	sv.Status, sv.StatusText = r.Status, sentenceOrEmpty(r.StatusText)
	if r.Status != meta.StatusSuccess || r.Report == "" {
		return sv, nil
	}
	doc, err := h.Scan.SBOMDocument(c.ctx(), r, v.Manifest, "")
	if err != nil {
		return sv, err
	}
	sv.MediaType = doc.MediaType
	all := sbomPackages(doc.SBOM)
	sv.Total = len(all)
	sv.Pages = max(1, (len(all)+sbomPageSize-1)/sbomPageSize)
	sv.Page = page
	from := min(len(all), (page-1)*sbomPageSize)
	sv.Packages = all[from:min(len(all), from+sbomPageSize)]
	link := func(n int) string {
		q := c.r.URL.Query()
		q.Set("sbom_page", strconv.Itoa(n))
		return c.r.URL.Path + "?" + q.Encode() + "#sbom"
	}
	if page > 1 {
		sv.Prev = link(min(page-1, sv.Pages))
	}
	if page < sv.Pages {
		sv.Next = link(page + 1)
	}
	return sv, nil
}

// sbomPackages lists the packages of an SPDX document, or the components of a CycloneDX one.
func sbomPackages(doc map[string]any) []sbomPackage {
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil
	}
	var d struct {
		Packages []struct {
			SPDXID  string `json:"SPDXID"`
			Name    string `json:"name"`
			Version string `json:"versionInfo"`
			Purpose string `json:"primaryPackagePurpose"`
			Refs    []struct {
				Type    string `json:"referenceType"`
				Locator string `json:"referenceLocator"`
			} `json:"externalRefs"`
		} `json:"packages"`
		Components []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
			Type    string `json:"type"`
			PURL    string `json:"purl"`
		} `json:"components"`
	}
	if json.Unmarshal(raw, &d) != nil {
		return nil
	}
	var out []sbomPackage
	for _, p := range d.Packages {
		sp := sbomPackage{Name: p.Name, Version: p.Version, Type: strings.ToLower(p.Purpose)}
		for _, r := range p.Refs {
			if r.Type == "purl" {
				sp.PURL = r.Locator
			}
		}
		out = append(out, sp)
	}
	for _, cp := range d.Components {
		out = append(out, sbomPackage{Name: cp.Name, Version: cp.Version, Type: cp.Type, PURL: cp.PURL})
	}
	return out
}

// downloadSBOM serves the SBOM document, as GET …/additions/sbom does: the artifact's
// addition (which checks that the caller may read it), then the scan service's document.
func (h *Handler) downloadSBOM(c *call, t repoTarget) error {
	proj := c.r.PathValue("project")
	a, err := h.Artifacts.Addition(c.ctx(), proj, t.repo, t.dgst, registry.AdditionSBOM)
	if err != nil {
		return err
	}
	r, err := h.Scan.Report(c.ctx(), a.Project.ID, a.Artifact.Digest, scan.TypeSBOM)
	if errors.Is(err, meta.ErrNotFound) || err == nil && (r.Status != meta.StatusSuccess || r.Report == "") {
		return a.Unavailable()
	}
	if err != nil {
		return err
	}
	doc, err := h.Scan.SBOMDocument(c.ctx(), r, a.Artifact, "")
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(doc.SBOM, "", "  ")
	if err != nil {
		return err
	}
	hdr := c.w.Header()
	hdr.Set("Content-Type", doc.MediaType)
	hdr.Set("Content-Disposition", `attachment; filename="sbom-`+strings.ReplaceAll(a.Artifact.Digest, ":", "-")+`.json"`)
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	c.w.WriteHeader(http.StatusOK)
	c.w.Write(b)
	return nil
}
