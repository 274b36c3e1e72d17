// Package scan runs vulnerability scans: the built-in scanner (inventory extraction from the
// blob store, matching against the offline OSV database), external scanners through Harbor's
// pluggable scanner API, scan jobs on the queue, stored reports and their summaries, the pull
// gate, scan-all, re-matching stored inventories when a new database arrives, and downloading
// the database on a schedule.
package scan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/opencontainers/go-digest"

	"github.com/berthreg/berth/internal/blob"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/outbound"
	"github.com/berthreg/berth/internal/scan/inventory"
	"github.com/berthreg/berth/internal/scan/report"
	"github.com/berthreg/berth/internal/scan/vulndb"
)

// ExtractorVersion changes whenever extraction changes what it finds, so stored inventories
// from an older extractor are taken again rather than trusted.
const ExtractorVersion = "2"

// maxIndexChildren bounds how many platform images of one index a scan reads.
const maxIndexChildren = 64

// BuiltinStore is what the built-in scanner reads and writes; *meta.DB satisfies it.
type BuiltinStore interface {
	ManifestByDigest(ctx context.Context, repo, digest string) (meta.Manifest, error)
	LinkedBlobSize(ctx context.Context, repo, digest string) (int64, error)
	InventoryOf(ctx context.Context, digest string) (meta.Inventory, error)
	PutInventory(ctx context.Context, inv meta.Inventory) error
}

// Builtin is Berth's own scanner: it extracts an image's package inventory once, stores it,
// and matches it against the current vulnerability database.
type Builtin struct {
	DB      BuiltinStore
	Blobs   blob.Store
	VulnDB  *vulndb.DB
	Limits  inventory.Limits
	Version string
	// HTTP is the client for pulling from another registry (adapter requests), made by
	// internal/outbound; nil: outbound's defaults.
	HTTP *http.Client
}

// Info names the scanner in reports.
func (b *Builtin) Info() report.Scanner {
	v := b.Version
	if v == "" {
		v = "dev"
	}
	return report.Scanner{Name: "Berth", Vendor: "Berth", Version: v}
}

// Metadata describes the scanner as the adapter API does.
func (b *Builtin) Metadata(ctx context.Context) (report.Metadata, error) {
	props := map[string]string{"harbor.scanner-adapter/scanner-type": "os-package-vulnerability"}
	if st, err := b.VulnDB.Status(ctx); err == nil {
		if t := st.ImportedAt; !t.IsZero() {
			props["harbor.scanner-adapter/vulnerability-database-updated-at"] = t.UTC().Format(time.RFC3339)
		}
		// Berth's own keys: whether scans can find anything, and what to do when they cannot.
		props[PropVulnDBStatus] = VulnDBReady
		if st.Generation == 0 {
			props[PropVulnDBStatus], props[PropVulnDBMessage] = VulnDBMissing, vulndb.ErrNoDatabase.Error()
		}
	}
	consumes := []string{report.MimeOCIImage, report.MimeDocker}
	return report.Metadata{
		Scanner: b.Info(),
		Capabilities: []report.Capability{
			{Type: "vulnerability", ConsumesMimeTypes: consumes, ProducesMimeTypes: []string{report.MimeNative, report.MimeGeneric}},
			{Type: "sbom", ConsumesMimeTypes: consumes, ProducesMimeTypes: []string{report.MimeSBOM}},
		},
		Properties: props,
	}, nil
}

// Scanner metadata properties of the built-in scanner, beside Harbor's.
const (
	// PropVulnDBStatus is VulnDBReady or VulnDBMissing.
	PropVulnDBStatus = "berth.vulnerability-database/status"
	// PropVulnDBMessage says what to do when the database is missing.
	PropVulnDBMessage = "berth.vulnerability-database/message"

	VulnDBReady   = "ready"
	VulnDBMissing = "missing"
)

// Scan produces the wanted reports for one artifact: from Berth's own blob store when
// req.Registry is empty, else pulling it from that registry with req.Authorization.
func (b *Builtin) Scan(ctx context.Context, req report.Request) (report.Result, error) {
	var res report.Result
	logf := func(format string, args ...any) {
		res.Log = append(res.Log, time.Now().UTC().Format("2006-01-02T15:04:05Z ")+fmt.Sprintf(format, args...))
	}
	var src source
	if req.Registry == "" {
		src = &localSource{db: b.DB, blobs: b.Blobs, repo: req.Artifact.Repository}
	} else {
		rs, err := newRemoteSource(req, b.HTTP)
		if err != nil {
			return res, err
		}
		src = rs
	}
	var held int64
	images, err := b.images(ctx, src, req.Artifact.Digest, logf, &held)
	if err != nil {
		logf("error: %v", err)
		return res, err
	}
	// Matching and writing reports take memory in proportion to the inventory: no more
	// scans do it at once than parse.
	release, err := b.Limits.Budget.Acquire(ctx)
	if err != nil {
		return res, err
	}
	defer release()
	res.Reports = map[string][]byte{}
	wantVuln := slices.Contains(req.Want, report.MimeNative) || slices.Contains(req.Want, report.MimeGeneric)
	if wantVuln {
		set, err := b.match(ctx, images)
		if errors.Is(err, vulndb.ErrNoDatabase) {
			logInventory(images, logf, func(line string) { res.Log = append(res.Log, line) })
			return res, err
		}
		if err != nil {
			logf("error: %v", err)
			return res, err
		}
		logf("matched %d packages against vulnerability database generation %d: %d vulnerabilities",
			countPackages(images), set.Generation, len(set.Findings))
		res.Generation = set.Generation
		rep := b.vulnReport(req.Artifact, set)
		body, err := json.Marshal(rep)
		if err != nil {
			return res, err
		}
		for _, m := range req.Want {
			if m == report.MimeNative || m == report.MimeGeneric {
				res.Reports[m] = body
			}
		}
	}
	if slices.Contains(req.Want, report.MimeSBOM) {
		body, err := b.sbomReport(req, images)
		if err != nil {
			logf("error: %v", err)
			return res, err
		}
		res.Reports[report.MimeSBOM] = body
	}
	return res, nil
}

// image is one platform image and its inventory.
type image struct {
	digest string
	inv    inventory.Inventory
}

// maxListedPackages bounds the packages logInventory lists of one image.
const maxListedPackages = 1000

// logInventory is what a vulnerability scan without a database reports: the package inventory
// it took, which is kept and matched once a database is imported. Package lines go to raw
// without a timestamp each.
func logInventory(images []image, logf func(string, ...any), raw func(string)) {
	logf("%v", vulndb.ErrNoDatabase)
	logf("the package inventory below is kept and matched when a vulnerability database is imported")
	for _, im := range images {
		raw(fmt.Sprintf("image %s: %s, %d packages", im.digest, osName(im.inv.OS), len(im.inv.Packages)))
		for i, p := range im.inv.Packages {
			if i == maxListedPackages {
				raw(fmt.Sprintf("  … and %d more (an SBOM, scan_type sbom, lists them all)", len(im.inv.Packages)-i))
				break
			}
			line := fmt.Sprintf("  %s %s %s", p.Ecosystem, p.Name, p.Version)
			if p.SourceName != "" {
				line += " (source " + p.SourceName + ")"
			}
			raw(line)
		}
	}
}

func countPackages(images []image) int {
	n := 0
	for _, im := range images {
		n += len(im.inv.Packages)
	}
	return n
}

// images returns the inventories of the artifact's platform images (itself, or an index's
// image children), extracting and storing those not stored yet. held counts their packages,
// which together must stay within Limits.MaxPackages: a scan holds them all until it ends.
func (b *Builtin) images(ctx context.Context, src source, dgst string, logf func(string, ...any), held *int64) ([]image, error) {
	mt, body, err := src.manifest(ctx, dgst)
	if err != nil {
		return nil, err
	}
	var doc struct {
		MediaType string `json:"mediaType"`
		Config    struct {
			MediaType string `json:"mediaType"`
			Digest    string `json:"digest"`
		} `json:"config"`
		Layers []struct {
			MediaType string `json:"mediaType"`
			Digest    string `json:"digest"`
			Size      int64  `json:"size"`
		} `json:"layers"`
		Manifests []struct {
			MediaType string            `json:"mediaType"`
			Digest    string            `json:"digest"`
			Platform  map[string]string `json:"platform"`
		} `json:"manifests"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", dgst, err)
	}
	if mt == "" {
		mt = doc.MediaType
	}
	if isIndex(mt) {
		var out []image
		for i, m := range doc.Manifests {
			if i >= maxIndexChildren {
				logf("index has more than %d manifests: the rest are not scanned", maxIndexChildren)
				break
			}
			if isIndex(m.MediaType) || !isImageManifest(m.MediaType) {
				continue
			}
			if m.Platform["os"] == "unknown" {
				continue // attestations in BuildKit indexes
			}
			ims, err := b.images(ctx, src, m.Digest, logf, held)
			if err != nil {
				return nil, fmt.Errorf("platform %s/%s: %w", m.Platform["os"], m.Platform["architecture"], err)
			}
			out = append(out, ims...)
		}
		return out, nil
	}
	if !isImageConfig(doc.Config.MediaType) {
		return nil, fmt.Errorf("%s is not a container image (config %s): nothing to scan", dgst, doc.Config.MediaType)
	}
	if stored, err := b.DB.InventoryOf(ctx, dgst); err == nil && stored.Extractor == ExtractorVersion {
		var inv inventory.Inventory
		if err := json.Unmarshal([]byte(stored.JSON), &inv); err == nil {
			logf("image %s: inventory of %d packages taken on %s reused", dgst, len(inv.Packages), stored.CreatedAt.UTC().Format(time.RFC3339))
			if err := b.hold(held, inv); err != nil {
				return nil, err
			}
			return []image{{dgst, inv}}, nil
		}
	} else if err != nil && !errors.Is(err, meta.ErrNotFound) {
		return nil, err
	}
	layers := make([]inventory.Layer, len(doc.Layers))
	for i, l := range doc.Layers {
		l := l
		layers[i] = inventory.Layer{Digest: l.Digest, MediaType: l.MediaType, Open: func() (io.ReadCloser, error) { return src.blob(ctx, l.Digest) }}
	}
	start := time.Now()
	inv, err := inventory.Extract(ctx, layers, b.Limits)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", dgst, err)
	}
	logf("image %s: %d layers read in %s: %s, %d packages", dgst, len(layers), time.Since(start).Round(time.Millisecond),
		osName(inv.OS), len(inv.Packages))
	if err := b.hold(held, inv); err != nil {
		return nil, err
	}
	for _, p := range inv.Problems {
		// A broken OS package database leaves the image's main inventory unknown: a report
		// without it would look clean. A broken language manifest (one package.json among
		// thousands) is only noted.
		if strings.HasPrefix(p.Extractor, "os/") {
			return nil, fmt.Errorf("image %s: malformed package database %s (%s): %s", dgst, p.Path, p.Extractor, p.Message)
		}
		logf("warning: %s: %s: %s", p.Extractor, p.Path, p.Message)
	}
	release, err := b.Limits.Budget.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	js, err := json.Marshal(inv)
	if err != nil {
		return nil, err
	}
	if err := b.DB.PutInventory(ctx, meta.Inventory{Digest: dgst, JSON: string(js), Extractor: ExtractorVersion}); err != nil {
		return nil, err
	}
	return []image{{dgst, inv}}, nil
}

// hold adds the packages of inv to those the scan holds, within Limits.MaxPackages.
func (b *Builtin) hold(held *int64, inv inventory.Inventory) error {
	*held += int64(len(inv.Packages))
	if max := b.Limits.WithDefaults().MaxPackages; max > 0 && *held > max {
		return &inventory.LimitError{Limit: "MaxPackages", Max: max,
			What: fmt.Sprintf("the images of the artifact hold more than %d packages together", max)}
	}
	return nil
}

func osName(o inventory.OS) string {
	switch {
	case o.PrettyName != "":
		return o.PrettyName
	case o.ID != "":
		return o.ID + " " + o.VersionID
	}
	return "no known OS"
}

// matched is the findings of a set of images, each finding with the images it is in.
type matched struct {
	Generation int64
	Findings   []vulndb.Finding
	Images     [][]string // per finding: the image digests that contain it
}

func (b *Builtin) match(ctx context.Context, images []image) (matched, error) {
	var out matched
	index := map[string]int{} // id + package + version → finding
	for _, im := range images {
		set, err := b.VulnDB.MatchSet(ctx, im.inv.Packages)
		if err != nil {
			return out, err
		}
		out.Generation = set.Generation
		for _, f := range set.Findings {
			k := f.ID + "\x00" + f.Package.Name + "\x00" + f.Package.Version
			if i, ok := index[k]; ok {
				if !slices.Contains(out.Images[i], im.digest) {
					out.Images[i] = append(out.Images[i], im.digest)
				}
				continue
			}
			index[k] = len(out.Findings)
			out.Findings = append(out.Findings, f)
			out.Images = append(out.Images, []string{im.digest})
		}
	}
	if len(images) == 0 {
		gen, err := b.VulnDB.Generation(ctx)
		if err != nil {
			return out, err
		}
		out.Generation = gen
	}
	return out, nil
}

// vulnReport turns findings into Harbor's native report.
func (b *Builtin) vulnReport(a report.Artifact, m matched) report.Vulnerabilities {
	rep := report.Vulnerabilities{GeneratedAt: time.Now().UTC(), Artifact: a, Scanner: b.Info(), Severity: "None",
		Vulnerabilities: []report.Vulnerability{}}
	for i, f := range m.Findings {
		v := report.Vulnerability{
			ID:              displayID(f),
			Package:         f.Package.Name,
			Version:         f.Package.Version,
			FixVersion:      f.FixedVersion,
			Severity:        f.Severity,
			Description:     f.Description,
			Links:           f.Links,
			CWEIDs:          f.CWEIDs,
			ArtifactDigests: m.Images[i],
			Aliases:         aliasesOf(f),
		}
		if v.Links == nil {
			v.Links = []string{}
		}
		if f.CVSSv3Vector != "" || f.CVSSv2Vector != "" {
			c := &report.CVSS{VectorV3: f.CVSSv3Vector, VectorV2: f.CVSSv2Vector}
			if f.CVSSv3Vector != "" {
				s := f.CVSSv3Score
				c.ScoreV3 = &s
			}
			if f.CVSSv2Vector != "" {
				s := f.CVSSv2Score
				c.ScoreV2 = &s
			}
			v.PreferredCVSS = c
		}
		v.VendorAttributes = map[string]any{"osv_id": f.ID, "aliases": v.Aliases, "ecosystem": f.Package.Ecosystem,
			"purl": f.Package.PURL, "database_generation": m.Generation}
		rep.Vulnerabilities = append(rep.Vulnerabilities, v)
		if vulndb.SeverityRank(v.Severity) > vulndb.SeverityRank(rep.Severity) {
			rep.Severity = v.Severity
		}
	}
	return rep
}

// displayID is the id Harbor users expect: the CVE where the record has one.
func displayID(f vulndb.Finding) string {
	if f.CVE != "" {
		return f.CVE
	}
	return f.ID
}

// aliasesOf lists every id of the finding other than the one displayed.
func aliasesOf(f vulndb.Finding) []string {
	shown := displayID(f)
	out := []string{}
	for _, a := range append([]string{f.ID}, f.Aliases...) {
		if a != shown && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

func (b *Builtin) sbomReport(req report.Request, images []image) ([]byte, error) {
	media := req.SBOMMediaType
	if media == "" {
		media = report.MediaSPDX
	}
	var merged inventory.Inventory
	for _, im := range images {
		if merged.OS.ID == "" {
			merged.OS = im.inv.OS
		}
		merged.Packages = append(merged.Packages, im.inv.Packages...)
	}
	subject := inventory.SBOMSubject{Repository: req.Artifact.Repository, Digest: req.Artifact.Digest, Tag: req.Artifact.Tag,
		Created: time.Now().UTC(), Tool: "berth-" + b.Info().Version}
	var doc []byte
	var err error
	switch media {
	case report.MediaSPDX:
		doc, err = inventory.SPDX(merged, subject)
	case report.MediaCDX:
		doc, err = inventory.CycloneDX(merged, subject)
	default:
		return nil, fmt.Errorf("unsupported SBOM media type %q (%s or %s)", media, report.MediaSPDX, report.MediaCDX)
	}
	if err != nil {
		return nil, err
	}
	var sbom map[string]any
	if err := json.Unmarshal(doc, &sbom); err != nil {
		return nil, err
	}
	return json.Marshal(report.SBOM{GeneratedAt: time.Now().UTC(), Artifact: req.Artifact, Scanner: b.Info(), MediaType: media, SBOM: sbom})
}

// Media types.

func isIndex(mt string) bool {
	return mt == "application/vnd.oci.image.index.v1+json" || mt == "application/vnd.docker.distribution.manifest.list.v2+json"
}

func isImageManifest(mt string) bool {
	return mt == report.MimeOCIImage || mt == report.MimeDocker
}

func isImageConfig(mt string) bool {
	return mt == "application/vnd.oci.image.config.v1+json" || mt == "application/vnd.docker.container.image.v1+json"
}

// Sources of manifests and blobs.

type source interface {
	manifest(ctx context.Context, dgst string) (mediaType string, body []byte, err error)
	blob(ctx context.Context, dgst string) (io.ReadCloser, error)
}

// localSource reads from Berth's own stores: only what the repository holds.
type localSource struct {
	db    BuiltinStore
	blobs blob.Store
	repo  string
}

func (s *localSource) manifest(ctx context.Context, dgst string) (string, []byte, error) {
	m, err := s.db.ManifestByDigest(ctx, s.repo, dgst)
	if err != nil {
		return "", nil, fmt.Errorf("manifest %s in %s: %w", dgst, s.repo, err)
	}
	return m.MediaType, m.Payload, nil
}

func (s *localSource) blob(ctx context.Context, dgst string) (io.ReadCloser, error) {
	if _, err := s.db.LinkedBlobSize(ctx, s.repo, dgst); err != nil {
		return nil, fmt.Errorf("layer %s in %s: %w", dgst, s.repo, err)
	}
	return s.blobs.Open(ctx, digest.Digest(dgst))
}

// remoteSource pulls from another registry over the distribution API.
type remoteSource struct {
	repo name.Repository
	opts []remote.Option
}

func newRemoteSource(req report.Request, hc *http.Client) (*remoteSource, error) {
	host := strings.TrimPrefix(strings.TrimPrefix(req.Registry, "https://"), "http://")
	host = strings.TrimSuffix(host, "/")
	var nameOpts []name.Option
	if strings.HasPrefix(req.Registry, "http://") {
		nameOpts = append(nameOpts, name.Insecure)
	}
	repo, err := name.NewRepository(host+"/"+req.Artifact.Repository, nameOpts...)
	if err != nil {
		return nil, fmt.Errorf("registry %s, repository %s: %w", req.Registry, req.Artifact.Repository, err)
	}
	var base http.RoundTripper
	if hc != nil {
		base = hc.Transport
	}
	if base == nil {
		base = outbound.NewTransport(outbound.Options{})
	}
	rt := &authTransport{base: base, auth: req.Authorization}
	return &remoteSource{repo: repo, opts: []remote.Option{remote.WithTransport(rt)}}, nil
}

func (s *remoteSource) manifest(ctx context.Context, dgst string) (string, []byte, error) {
	desc, err := remote.Get(s.repo.Digest(dgst), append(s.opts, remote.WithContext(ctx))...)
	if err != nil {
		return "", nil, fmt.Errorf("pull manifest %s: %w", dgst, err)
	}
	return string(desc.MediaType), desc.Manifest, nil
}

func (s *remoteSource) blob(ctx context.Context, dgst string) (io.ReadCloser, error) {
	l, err := remote.Layer(s.repo.Digest(dgst), append(s.opts, remote.WithContext(ctx))...)
	if err != nil {
		return nil, fmt.Errorf("pull layer %s: %w", dgst, err)
	}
	return l.Compressed()
}

// authTransport sends the credentials the scan request carries (Basic or a ready Bearer
// token) on every request to the registry.
type authTransport struct {
	base http.RoundTripper
	auth string
}

func (t *authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.auth != "" && r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", t.auth)
	}
	return t.base.RoundTrip(r)
}
