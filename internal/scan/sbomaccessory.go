package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/scan/report"
)

// SBOM accessories: as Harbor does, a generated SBOM is also stored as an OCI artifact whose
// subject is the scanned artifact (artifact type application/vnd.goharbor.harbor.sbom.v1), so
// it is listed among the artifact's accessories, pulled and replicated with it.

const sbomArtifactType = "application/vnd.goharbor.harbor.sbom.v1"

// pushSBOMAccessory stores the SBOM document of a finished SBOM report as an accessory of the
// report's artifact and returns the accessory's digest.
func (s *Service) pushSBOMAccessory(ctx context.Context, r meta.ScanReport, body []byte) (string, error) {
	if s.Registry == nil {
		return "", nil
	}
	var rep report.SBOM
	if err := json.Unmarshal(body, &rep); err != nil {
		return "", fmt.Errorf("sbom report: %w", err)
	}
	doc, err := json.Marshal(rep.SBOM)
	if err != nil {
		return "", err
	}
	subject, err := s.Store.ManifestByDigest(ctx, r.Repository, r.Digest)
	if err != nil {
		return "", fmt.Errorf("sbom subject: %w", err)
	}
	project, err := s.Registry.Project(ctx, r.Repository)
	if err != nil {
		return "", err
	}
	empty := []byte("{}")
	for _, b := range [][]byte{empty, doc} {
		if _, err := s.Registry.PutBlob(ctx, project.ID, r.Repository, digest.FromBytes(b).String(), bytes.NewReader(b)); err != nil {
			return "", fmt.Errorf("store sbom: %w", err)
		}
	}
	m := map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"artifactType":  sbomArtifactType,
		"config":        map[string]any{"mediaType": "application/vnd.oci.empty.v1+json", "digest": digest.FromBytes(empty).String(), "size": len(empty)},
		"layers": []map[string]any{{"mediaType": rep.MediaType, "digest": digest.FromBytes(doc).String(), "size": len(doc),
			"annotations": map[string]string{"org.opencontainers.image.title": "sbom.json"}}},
		"subject": map[string]any{"mediaType": subject.MediaType, "digest": subject.Digest, "size": len(subject.Payload)},
		"annotations": map[string]string{
			"created-by":                           "Berth",
			"org.opencontainers.image.created":     time.Now().UTC().Format(time.RFC3339),
			"org.opencontainers.image.description": "SBOM",
		},
	}
	mb, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	d := digest.FromBytes(mb).String()
	if _, err := s.Registry.PutManifest(ctx, project, r.Repository, d, "application/vnd.oci.image.manifest.v1+json", mb); err != nil {
		return "", fmt.Errorf("store sbom accessory: %w", err)
	}
	return d, nil
}

// SBOMDocument returns the SBOM of a successful SBOM report in the media type asked for ("":
// as stored). The stored SBOM is SPDX; the built-in scanner makes CycloneDX on request from
// the stored inventory, without reading any layer again.
func (s *Service) SBOMDocument(ctx context.Context, r meta.ScanReport, m meta.Manifest, media string) (report.SBOM, error) {
	var rep report.SBOM
	if err := json.Unmarshal([]byte(r.Report), &rep); err != nil {
		return rep, fmt.Errorf("sbom report %s: %w", r.ID, err)
	}
	if media == "" || media == rep.MediaType || r.RegistrationUUID != BuiltinUUID {
		return rep, nil
	}
	res, err := s.Builtin.Scan(ctx, report.Request{
		Artifact: report.Artifact{Repository: r.Repository, Digest: r.Digest, MimeType: m.MediaType},
		Want:     []string{report.MimeSBOM}, SBOMMediaType: media})
	if err != nil {
		return rep, err
	}
	var out report.SBOM
	if err := json.Unmarshal(res.Reports[report.MimeSBOM], &out); err != nil {
		return rep, err
	}
	return out, nil
}
