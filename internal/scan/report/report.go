// Package report holds the scan reports Berth stores and serves, in the shapes of Harbor's
// pluggable scanner API (spec v1.2): the native vulnerability report, the SBOM report, and
// the scanner contract both the built-in scanner and external adapters meet.
package report

import (
	"context"
	"time"
)

// Report MIME types (HARBOR-NOTES §f).
const (
	MimeNative   = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
	MimeGeneric  = "application/vnd.security.vulnerability.report; version=1.1"
	MimeRaw      = "application/vnd.scanner.adapter.vuln.report.raw"
	MimeSBOM     = "application/vnd.security.sbom.report+json; version=1.0"
	MediaSPDX    = "application/spdx+json"
	MediaCDX     = "application/vnd.cyclonedx+json"
	MimeOCIImage = "application/vnd.oci.image.manifest.v1+json"
	MimeDocker   = "application/vnd.docker.distribution.manifest.v2+json"
)

// Scanner names a scanner as reports and the adapter API show it.
type Scanner struct {
	Name    string `json:"name"`
	Vendor  string `json:"vendor"`
	Version string `json:"version"`
}

// Artifact is what was scanned.
type Artifact struct {
	Repository string `json:"repository"`
	Digest     string `json:"digest"`
	Tag        string `json:"tag,omitempty"`
	MimeType   string `json:"mime_type"`
}

// CVSS is a vulnerability's preferred CVSS scores and vectors.
type CVSS struct {
	ScoreV3  *float64 `json:"score_v3,omitempty"`
	ScoreV2  *float64 `json:"score_v2,omitempty"`
	VectorV3 string   `json:"vector_v3,omitempty"`
	VectorV2 string   `json:"vector_v2,omitempty"`
}

// Vulnerability is one finding: a vulnerability in one package version.
type Vulnerability struct {
	ID               string         `json:"id"`
	Package          string         `json:"package"`
	Version          string         `json:"version"`
	FixVersion       string         `json:"fix_version,omitempty"`
	Severity         string         `json:"severity"`
	Description      string         `json:"description,omitempty"`
	Links            []string       `json:"links"`
	PreferredCVSS    *CVSS          `json:"preferred_cvss,omitempty"`
	CWEIDs           []string       `json:"cwe_ids,omitempty"`
	VendorAttributes map[string]any `json:"vendor_attributes,omitempty"`
	// ArtifactDigests lists the platform images that contain it (an index's report merges
	// its children's).
	ArtifactDigests []string `json:"artifact_digests,omitempty"`
	// Aliases are other ids of the same vulnerability (CVE ids for a GHSA or distro id);
	// allowlist entries match the id or any alias. Kept in vendor_attributes on the wire too.
	Aliases []string `json:"-"`
}

// Vulnerabilities is the native report (MimeNative); the generic 1.1 report has the same
// fields.
type Vulnerabilities struct {
	GeneratedAt     time.Time       `json:"generated_at"`
	Artifact        Artifact        `json:"artifact"`
	Scanner         Scanner         `json:"scanner"`
	Severity        string          `json:"severity"`
	Vulnerabilities []Vulnerability `json:"vulnerabilities"`
}

// SBOM is the SBOM report (MimeSBOM).
type SBOM struct {
	GeneratedAt time.Time      `json:"generated_at"`
	Artifact    Artifact       `json:"artifact"`
	Scanner     Scanner        `json:"scanner"`
	MediaType   string         `json:"media_type"`
	SBOM        map[string]any `json:"sbom"`
}

// Request asks a scanner for reports on one artifact. Registry and Authorization say where
// and how to pull it (an adapter pulls over the OCI distribution API; the built-in scanner in
// Berth itself reads its own blob store when Registry is empty).
type Request struct {
	Registry      string   // base URL of the registry, e.g. https://berth.example.com
	Authorization string   // "Basic …" or "Bearer …", for pulling
	Artifact      Artifact // Repository is the full name (project/repo)
	// Want lists the report MIME types asked for (MimeNative, MimeGeneric, MimeSBOM).
	Want []string
	// SBOMMediaType picks the SBOM format when MimeSBOM is wanted (MediaSPDX or MediaCDX).
	SBOMMediaType string
}

// Result is what a scan produced: one entry per MIME type asked for (raw JSON of the report).
type Result struct {
	Reports map[string][]byte
	// Log is what the scanner says about the scan, line by line, for …/scan/{id}/log.
	Log []string
	// Generation is the vulnerability database generation the built-in scanner matched
	// against (0 from other scanners): a newer database re-matches the stored inventory.
	Generation int64
}

// Capability is one kind of report a scanner produces.
type Capability struct {
	Type              string   `json:"type"` // "vulnerability" or "sbom"
	ConsumesMimeTypes []string `json:"consumes_mime_types"`
	ProducesMimeTypes []string `json:"produces_mime_types"`
}

// Metadata is a scanner's self-description (the adapter API's GET /metadata).
type Metadata struct {
	Scanner      Scanner           `json:"scanner"`
	Capabilities []Capability      `json:"capabilities"`
	Properties   map[string]string `json:"properties,omitempty"`
}

// Engine scans. The built-in scanner and a client of an external adapter both implement it;
// Berth's adapter server serves any Engine over the adapter API. Scan blocks until the reports
// are ready, ctx ends, or the scan fails (an error whose text is fit for the scan log).
type Engine interface {
	Metadata(ctx context.Context) (Metadata, error)
	Scan(ctx context.Context, req Request) (Result, error)
}
