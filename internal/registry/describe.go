package registry

// Artifacts as Harbor's API describes them: what a stored manifest is (its type and media type),
// how large it is with everything it references, what its image config says, which index
// children it has on which platforms, and which accessories (signatures, SBOMs, other
// referrers) belong to it. Everything is derived from the manifest bytes and the blobs they
// name, so content pushed through /v2/ and content created through the API look alike.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"
	"go.yaml.in/yaml/v3"

	"github.com/berthreg/berth/internal/meta"
)

// Artifact types, as Harbor names them.
const (
	ArtifactTypeImage   = "IMAGE"
	ArtifactTypeChart   = "CHART"
	ArtifactTypeCNAB    = "CNAB"
	ArtifactTypeCNAI    = "CNAI"
	ArtifactTypeWASM    = "WASM"
	ArtifactTypeUnknown = "UNKNOWN"
)

// Media types that decide an artifact's type.
const (
	MediaTypeOCIConfig    = "application/vnd.oci.image.config.v1+json"
	MediaTypeDockerConfig = "application/vnd.docker.container.image.v1+json"
	MediaTypeHelmConfig   = "application/vnd.cncf.helm.config.v1+json"
	MediaTypeHelmChart    = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
	MediaTypeCNAB         = "application/vnd.cnab.manifest.v1"
	MediaTypeCNAIConfig   = "application/vnd.cnai.model.config.v1+json"
	MediaTypeWASMConfig   = "application/vnd.wasm.config.v1+json"
	mediaTypeOCIEmpty     = "application/vnd.oci.empty.v1+json"
)

// Accessory types, as Harbor names them, and the artifact types that mark them.
const (
	AccessoryCosign    = "signature.cosign"
	AccessoryNotation  = "signature.notation"
	AccessorySBOM      = "sbom.harbor"
	AccessoryGeneric   = "subject.accessory"
	artifactTypeCosign = "application/vnd.dev.cosign.artifact.sig.v1+json"
	artifactTypeNotary = "application/vnd.cncf.notary.signature"
	artifactTypeSBOM   = "application/vnd.goharbor.harbor.sbom.v1"
)

// maxConfigSize bounds how much of a config blob the API reads to describe an artifact. Image
// configs are a few kilobytes (their history grows with layers); anything past this is not
// described rather than read into memory.
const maxConfigSize = 4 << 20

// maxIndexDepth bounds how deep nested indexes are followed.
const maxIndexDepth = 8

// artifactDoc is the part of a manifest or index the API reads.
type artifactDoc struct {
	MediaType    string            `json:"mediaType"`
	ArtifactType string            `json:"artifactType"`
	Config       *descriptor       `json:"config"`
	Layers       []descriptor      `json:"layers"`
	Manifests    []indexEntry      `json:"manifests"`
	Annotations  map[string]string `json:"annotations"`
}

type indexEntry struct {
	descriptor
	Platform *Platform `json:"platform"`
}

// Platform is an index entry's platform.
type Platform struct {
	Architecture string   `json:"architecture"`
	OS           string   `json:"os"`
	OSVersion    string   `json:"os.version,omitempty"`
	OSFeatures   []string `json:"os.features,omitempty"`
	Variant      string   `json:"variant,omitempty"`
}

func decodeDoc(m meta.Manifest) (artifactDoc, error) {
	var doc artifactDoc
	if err := json.Unmarshal(m.Payload, &doc); err != nil {
		return doc, fmt.Errorf("manifest %s: %w", m.Digest, err)
	}
	return doc, nil
}

// ArtMediaType is the media type Harbor lists an artifact under: the config's media type for a
// manifest (WASM modules packaged as images are WASM), the index's own media type for an
// index unless its annotations name an artifact type (as CNAB bundles do).
func ArtMediaType(m meta.Manifest) string {
	doc, err := decodeDoc(m)
	if err != nil {
		return m.MediaType
	}
	return artMediaType(m, doc)
}

func artMediaType(m meta.Manifest, doc artifactDoc) string {
	if IsIndex(m.MediaType) {
		if t := doc.Annotations["org.opencontainers.artifactType"]; t != "" {
			return t
		}
		return m.MediaType
	}
	if doc.Annotations["module.wasm.image/variant"] == "compat" || doc.Annotations["run.oci.handler"] == "wasm" {
		return MediaTypeWASMConfig
	}
	if doc.Config != nil {
		return doc.Config.MediaType
	}
	return m.MediaType
}

// customTypeRE reads the type of other artifacts from their config media type, as Harbor does:
// application/vnd.<vendor>.<type>.config.<version>+json.
var customTypeRE = regexp.MustCompile(`^application/vnd\.[^.]*\.(.*)\.config\.[^.]*\+json$`)

// ArtifactType maps an artifact media type (see ArtMediaType) to Harbor's artifact type.
func ArtifactType(mediaType string) string {
	switch mediaType {
	case MediaTypeOCIConfig, MediaTypeDockerConfig, MediaTypeOCIIndex, MediaTypeDockerList:
		return ArtifactTypeImage
	case MediaTypeHelmConfig:
		return ArtifactTypeChart
	case MediaTypeCNAB:
		return ArtifactTypeCNAB
	case MediaTypeCNAIConfig:
		return ArtifactTypeCNAI
	case MediaTypeWASMConfig, "application/vnd.wasm.config.v0+json", "application/vnd.module.wasm.config.v1+json":
		return ArtifactTypeWASM
	}
	if m := customTypeRE.FindStringSubmatch(mediaType); m != nil {
		return strings.ToUpper(m[1])
	}
	return ArtifactTypeUnknown
}

// ArtifactInfo is what the API says about an artifact beyond its manifest row.
type ArtifactInfo struct {
	Type         string
	MediaType    string // Harbor's media_type: see ArtMediaType
	ArtifactType string // the manifest's artifactType, else MediaType
	Size         int64  // the manifest, its config and layers; for an index, with its children
	Annotations  map[string]string
	References   []Reference
	// ExtraAttrs is a JSON object (nil when there is nothing to say): for images architecture,
	// os, created, author and config; for charts and other JSON configs, the config itself.
	ExtraAttrs json.RawMessage
	// Additions lists the additions the artifact has (build_history, values.yaml, ...).
	Additions []string
}

// Reference is an index entry: a child manifest and the platform the index names for it.
type Reference struct {
	ChildID     int64
	ChildDigest string
	Platform    *Platform
	Annotations map[string]string
	URLs        []string
}

// Additions, as Harbor names them.
const (
	AdditionBuildHistory = "build_history"
	AdditionValues       = "values.yaml"
	AdditionReadme       = "readme.md"
	AdditionDependencies = "dependencies"
)

// DescribeArtifact derives what the API shows about a manifest. With extra, the config blob is
// read for ExtraAttrs.
func (s *Service) DescribeArtifact(ctx context.Context, m meta.Manifest, extra bool) (ArtifactInfo, error) {
	doc, err := decodeDoc(m)
	if err != nil {
		return ArtifactInfo{}, err
	}
	info := ArtifactInfo{MediaType: artMediaType(m, doc), Annotations: doc.Annotations}
	info.Type = ArtifactType(info.MediaType)
	info.ArtifactType = doc.ArtifactType
	if info.ArtifactType == "" {
		info.ArtifactType = info.MediaType
	}
	if IsIndex(m.MediaType) {
		digests := make([]string, 0, len(doc.Manifests))
		for _, e := range doc.Manifests {
			digests = append(digests, e.Digest)
		}
		children, err := s.DB.ManifestsByDigests(ctx, m.RepositoryID, digests)
		if err != nil {
			return ArtifactInfo{}, err
		}
		info.Size = int64(len(m.Payload))
		for _, e := range doc.Manifests {
			c, ok := children[e.Digest]
			if !ok {
				// An index can only be stored with its children present, and a child cannot be
				// deleted while an index lists it; a missing one is shown without an id.
				info.References = append(info.References, Reference{ChildDigest: e.Digest, Platform: e.Platform, Annotations: e.Annotations, URLs: e.URLs})
				continue
			}
			size, err := s.artifactSize(ctx, c, 1)
			if err != nil {
				return ArtifactInfo{}, err
			}
			info.Size += size
			info.References = append(info.References, Reference{ChildID: c.ID, ChildDigest: e.Digest, Platform: e.Platform, Annotations: e.Annotations, URLs: e.URLs})
		}
		return info, nil
	}
	info.Size = manifestSize(m, doc)
	switch info.Type {
	case ArtifactTypeImage:
		info.Additions = []string{AdditionBuildHistory}
	case ArtifactTypeChart:
		info.Additions = []string{AdditionValues, AdditionReadme, AdditionDependencies}
	}
	if extra && doc.Config != nil {
		if info.ExtraAttrs, err = s.extraAttrs(ctx, info.Type, *doc.Config); err != nil {
			return ArtifactInfo{}, err
		}
	}
	return info, nil
}

// manifestSize is the manifest's own size plus every blob it names.
func manifestSize(m meta.Manifest, doc artifactDoc) int64 {
	size := int64(len(m.Payload))
	if doc.Config != nil {
		size += doc.Config.Size
	}
	for _, l := range doc.Layers {
		size += l.Size
	}
	return size
}

// artifactSize is the size DescribeArtifact reports, without reading configs.
func (s *Service) artifactSize(ctx context.Context, m meta.Manifest, depth int) (int64, error) {
	doc, err := decodeDoc(m)
	if err != nil {
		return 0, err
	}
	if !IsIndex(m.MediaType) {
		return manifestSize(m, doc), nil
	}
	size := int64(len(m.Payload))
	if depth >= maxIndexDepth {
		return size, nil
	}
	digests := make([]string, 0, len(doc.Manifests))
	for _, e := range doc.Manifests {
		digests = append(digests, e.Digest)
	}
	children, err := s.DB.ManifestsByDigests(ctx, m.RepositoryID, digests)
	if err != nil {
		return 0, err
	}
	for _, e := range doc.Manifests {
		if c, ok := children[e.Digest]; ok {
			n, err := s.artifactSize(ctx, c, depth+1)
			if err != nil {
				return 0, err
			}
			size += n
		}
	}
	return size, nil
}

// extraAttrs describes an artifact from its config blob. Configs are content-addressed, so what
// is derived from one never changes and is cached by digest.
func (s *Service) extraAttrs(ctx context.Context, typ string, cfg descriptor) (json.RawMessage, error) {
	jsonConfig := strings.HasSuffix(cfg.MediaType, "+json") || cfg.MediaType == "application/json"
	if typ != ArtifactTypeImage && (!jsonConfig || cfg.MediaType == mediaTypeOCIEmpty) {
		return nil, nil
	}
	key := typ + " " + cfg.Digest
	if v, ok := attrCache.get(key); ok {
		return v, nil
	}
	b, err := s.readConfig(ctx, cfg)
	if err != nil || b == nil {
		return nil, err
	}
	var out json.RawMessage
	if typ == ArtifactTypeImage {
		var img v1.Image
		if err := json.Unmarshal(b, &img); err != nil {
			return nil, nil // not an image config after all: nothing to say
		}
		author := img.Author
		if author == "" {
			author = img.Config.Labels["maintainer"]
		}
		out, err = json.Marshal(map[string]any{
			"created": img.Created, "architecture": img.Architecture, "os": img.OS, "config": img.Config, "author": author,
		})
		if err != nil {
			return nil, err
		}
	} else {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(b, &obj); err != nil || obj == nil {
			return nil, nil
		}
		out = b
	}
	attrCache.put(key, out)
	return out, nil
}

// readConfig reads a config blob, bounded; nil when it is larger than maxConfigSize or gone.
func (s *Service) readConfig(ctx context.Context, cfg descriptor) ([]byte, error) {
	if cfg.Size > maxConfigSize {
		return nil, nil
	}
	return s.readBlob(ctx, cfg.Digest, maxConfigSize)
}

// readBlob reads at most limit bytes of a blob; nil when it is larger or missing.
func (s *Service) readBlob(ctx context.Context, d string, limit int64) ([]byte, error) {
	dg, err := ParseDigest(d)
	if err != nil {
		return nil, nil
	}
	r, err := s.Blobs.Open(ctx, dg)
	if err != nil {
		s.Log.WarnContext(ctx, "read blob for the API", "digest", d, "err", err)
		return nil, nil
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", d, err)
	}
	if int64(len(b)) > limit || dg.Algorithm().FromBytes(b) != dg {
		return nil, nil
	}
	return b, nil
}

// BuildHistory returns the history array of an image's config (an empty array when it has
// none). ok is false when the artifact is not an image manifest.
func (s *Service) BuildHistory(ctx context.Context, m meta.Manifest) (history json.RawMessage, ok bool, err error) {
	doc, err := decodeDoc(m)
	if err != nil || IsIndex(m.MediaType) || doc.Config == nil || ArtifactType(artMediaType(m, doc)) != ArtifactTypeImage {
		return nil, false, err
	}
	b, err := s.readConfig(ctx, *doc.Config)
	if err != nil {
		return nil, false, err
	}
	var cfg struct {
		History []v1.History `json:"history"`
	}
	if b != nil {
		if err := json.Unmarshal(b, &cfg); err != nil {
			cfg.History = nil
		}
	}
	if cfg.History == nil {
		cfg.History = []v1.History{}
	}
	out, err := json.Marshal(cfg.History)
	return out, true, err
}

// AccessoryType tells what an accessory of the artifact with digest subject is.
func AccessoryType(acc meta.Manifest, subject string) string {
	if acc.SubjectDigest != subject {
		return AccessoryCosign // cosign's legacy signature, found by its tag
	}
	switch acc.ArtifactType {
	case artifactTypeCosign:
		return AccessoryCosign
	case artifactTypeNotary:
		return AccessoryNotation
	case artifactTypeSBOM:
		return AccessorySBOM
	}
	return AccessoryGeneric
}

// FillArtMediaTypes derives the listing media type of the manifests of a repository (or, with
// repoID 0, of a project) that do not have it yet, so that listings can filter on it.
func (s *Service) FillArtMediaTypes(ctx context.Context, repoID, projectID int64) error {
	for {
		ms, err := s.DB.ManifestsWithoutArtMediaType(ctx, repoID, projectID, 500)
		if err != nil || len(ms) == 0 {
			return err
		}
		for _, m := range ms {
			if err := s.DB.SetArtMediaType(ctx, m.ID, ArtMediaType(m)); err != nil {
				return err
			}
		}
	}
}

// attrCache keeps derived config descriptions by config digest, bounded in bytes.
var attrCache = &boundedCache{max: 8 << 20, entries: map[string]json.RawMessage{}}

type boundedCache struct {
	mu      sync.Mutex
	max     int
	used    int
	entries map[string]json.RawMessage
	order   []string // insertion order, oldest first
}

func (c *boundedCache) get(k string) (json.RawMessage, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.entries[k]
	return v, ok
}

func (c *boundedCache) put(k string, v json.RawMessage) {
	if len(v) > c.max/32 {
		return // one large config must not flush everything else
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; ok {
		return
	}
	for c.used+len(v) > c.max && len(c.order) > 0 {
		old := c.order[0]
		c.order = c.order[1:]
		c.used -= len(c.entries[old])
		delete(c.entries, old)
	}
	c.entries[k] = bytes.Clone(v)
	c.order = append(c.order, k)
	c.used += len(v)
}

// Chart additions are read from the chart archive; these bound what one request reads.
const (
	maxChartArchive = 16 << 20 // compressed
	maxChartFile    = 4 << 20
	maxChartRead    = 64 << 20 // decompressed, all entries
)

// ChartAddition returns an addition of a Helm chart, as Harbor's chart processor does:
// values.yaml, readme.md (the chart's README.md) or dependencies (from Chart.yaml, or
// requirements.yaml for apiVersion v1 charts) as JSON. ok is false when the artifact is not a
// chart or its archive cannot be read.
func (s *Service) ChartAddition(ctx context.Context, m meta.Manifest, addition string) (content []byte, contentType string, ok bool, err error) {
	doc, err := decodeDoc(m)
	if err != nil || IsIndex(m.MediaType) || ArtifactType(artMediaType(m, doc)) != ArtifactTypeChart {
		return nil, "", false, err
	}
	var layer *descriptor
	for i := range doc.Layers {
		if doc.Layers[i].MediaType == MediaTypeHelmChart {
			layer = &doc.Layers[i]
			break
		}
	}
	if layer == nil || layer.Size > maxChartArchive {
		return nil, "", false, nil
	}
	archive, err := s.readBlob(ctx, layer.Digest, maxChartArchive)
	if err != nil || archive == nil {
		return nil, "", false, err
	}
	files, err := chartFiles(archive)
	if err != nil {
		s.Log.WarnContext(ctx, "read chart archive", "digest", layer.Digest, "err", err)
		return nil, "", false, nil
	}
	switch addition {
	case AdditionValues:
		return files["values.yaml"], "text/plain; charset=utf-8", true, nil
	case AdditionReadme:
		return files["readme.md"], "text/markdown; charset=utf-8", true, nil
	case AdditionDependencies:
		deps := chartDependencies(files["Chart.yaml"])
		if len(deps) == 0 {
			deps = chartDependencies(files["requirements.yaml"])
		}
		b, err := json.Marshal(deps)
		return b, "application/json; charset=utf-8", true, err
	}
	return nil, "", false, nil
}

// chartFiles extracts the files of a chart archive (<chart>/Chart.yaml, ...) that additions
// use, keyed Chart.yaml, requirements.yaml, values.yaml, readme.md.
func chartFiles(archive []byte) (map[string][]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	tr := tar.NewReader(io.LimitReader(zr, maxChartRead))
	files := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return files, nil
		}
		if err != nil {
			return nil, err
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		// Only the chart's own top-level files, not those of charts vendored under charts/.
		_, name, ok := strings.Cut(strings.TrimPrefix(hdr.Name, "./"), "/")
		if !ok || strings.Contains(name, "/") {
			continue
		}
		key := name
		switch {
		case name == "Chart.yaml", name == "requirements.yaml", name == "values.yaml":
		case strings.EqualFold(name, "readme.md"):
			key = "readme.md"
		default:
			continue
		}
		if _, seen := files[key]; seen || hdr.Size > maxChartFile {
			continue
		}
		b, err := io.ReadAll(io.LimitReader(tr, maxChartFile))
		if err != nil {
			return nil, err
		}
		files[key] = b
	}
}

// chartDependencies reads the dependencies list of a Chart.yaml or requirements.yaml.
func chartDependencies(b []byte) []map[string]any {
	var doc struct {
		Dependencies []map[string]any `yaml:"dependencies"`
	}
	if len(b) == 0 || yaml.Unmarshal(b, &doc) != nil {
		return []map[string]any{}
	}
	if doc.Dependencies == nil {
		return []map[string]any{}
	}
	return doc.Dependencies
}
