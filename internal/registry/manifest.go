package registry

import (
	"bytes"
	"encoding/json"
	"mime"
	"strings"

	"github.com/berthreg/berth/internal/input"
	"github.com/berthreg/berth/internal/meta"
)

// Manifest media types Berth stores.
const (
	MediaTypeOCIManifest    = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeOCIIndex       = "application/vnd.oci.image.index.v1+json"
	MediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
	MediaTypeDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeSchema1        = "application/vnd.docker.distribution.manifest.v1+json"
	mediaTypeSchema1Signed  = "application/vnd.docker.distribution.manifest.v1+prettyjws"
)

// IsIndex reports whether a media type is a list of manifests.
func IsIndex(mediaType string) bool {
	return mediaType == MediaTypeOCIIndex || mediaType == MediaTypeDockerList
}

type descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	URLs         []string          `json:"urls,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	ArtifactType string            `json:"artifactType,omitempty"`
}

type manifestDoc struct {
	SchemaVersion *int              `json:"schemaVersion"`
	MediaType     string            `json:"mediaType"`
	ArtifactType  string            `json:"artifactType"`
	Config        *descriptor       `json:"config"`
	Layers        []descriptor      `json:"layers"`
	Manifests     []descriptor      `json:"manifests"`
	Subject       *descriptor       `json:"subject"`
	Annotations   map[string]string `json:"annotations"`
	FSLayers      json.RawMessage   `json:"fsLayers"` // only schema 1 has it
}

// parsed is a validated manifest: what it is and what it references.
type parsed struct {
	mediaType    string
	artifactType string
	config       string
	subject      string
	annotations  string
	blobs        []meta.BlobRef
	children     []string
}

// parseManifest validates a manifest body against the Content-Type it was sent with.
func parseManifest(contentType string, body []byte) (*parsed, error) {
	ct := contentType
	if ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil {
			ct = mt
		}
	}
	if ct == mediaTypeSchema1 || ct == mediaTypeSchema1Signed {
		return nil, errorf(CodeManifestInvalid, "Docker schema 1 manifests are not supported: push with a current client (schema 2 or OCI)")
	}
	// Its strings are stored as text (artifactType, media types, annotations).
	if why := input.JSON(body); why != "" {
		return nil, errorf(CodeManifestInvalid, "the manifest %s", why)
	}
	var doc manifestDoc
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&doc); err != nil {
		return nil, errorf(CodeManifestInvalid, "manifest is not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, errorf(CodeManifestInvalid, "manifest has data after the JSON document")
	}
	if doc.MediaType == mediaTypeSchema1 || doc.MediaType == mediaTypeSchema1Signed || (doc.SchemaVersion != nil && *doc.SchemaVersion == 1) || doc.FSLayers != nil {
		return nil, errorf(CodeManifestInvalid, "Docker schema 1 manifests are not supported: push with a current client (schema 2 or OCI)")
	}
	if doc.SchemaVersion == nil || *doc.SchemaVersion != 2 {
		return nil, errorf(CodeManifestInvalid, "schemaVersion must be 2")
	}
	mt := doc.MediaType
	switch {
	case mt != "" && ct != "" && mt != ct && !isGenericJSON(ct):
		return nil, errorf(CodeManifestInvalid, "mediaType %q in the manifest does not match Content-Type %q", mt, ct)
	case mt == "" && !isGenericJSON(ct):
		mt = ct
	case mt == "" && doc.Config != nil:
		mt = MediaTypeOCIManifest
	case mt == "" && doc.Manifests != nil:
		mt = MediaTypeOCIIndex
	}
	if err := checkMediaType("artifactType", doc.ArtifactType); err != nil {
		return nil, err
	}
	p := &parsed{mediaType: mt}
	switch mt {
	case MediaTypeOCIManifest, MediaTypeDockerManifest:
		if doc.Manifests != nil {
			return nil, errorf(CodeManifestInvalid, "an image manifest has no \"manifests\" field")
		}
		if doc.Config == nil {
			return nil, errorf(CodeManifestInvalid, "an image manifest needs a config descriptor")
		}
		if err := checkDescriptor("config", doc.Config); err != nil {
			return nil, err
		}
		p.config = doc.Config.Digest
		p.blobs = append(p.blobs, meta.BlobRef{Digest: doc.Config.Digest, Size: doc.Config.Size})
		for i := range doc.Layers {
			l := &doc.Layers[i]
			if err := checkDescriptor("layer", l); err != nil {
				return nil, err
			}
			// Non-distributable layers live elsewhere (their urls); the registry never has them.
			if nonDistributable(l) {
				continue
			}
			p.blobs = append(p.blobs, meta.BlobRef{Digest: l.Digest, Size: l.Size})
		}
		p.artifactType = doc.ArtifactType
		// The referrers API reports the config's media type when a manifest names no artifactType.
		if p.artifactType == "" && mt == MediaTypeOCIManifest {
			p.artifactType = doc.Config.MediaType
		}
	case MediaTypeOCIIndex, MediaTypeDockerList:
		if doc.Config != nil || doc.Layers != nil {
			return nil, errorf(CodeManifestInvalid, "an index has no \"config\" or \"layers\" fields")
		}
		for i := range doc.Manifests {
			m := &doc.Manifests[i]
			if err := checkDescriptor("manifest", m); err != nil {
				return nil, err
			}
			p.children = append(p.children, m.Digest)
		}
		p.artifactType = doc.ArtifactType
	case "":
		return nil, errorf(CodeManifestInvalid, "cannot tell the manifest type: set mediaType or Content-Type")
	default:
		return nil, errorf(CodeManifestInvalid, "unsupported manifest media type %q", mt)
	}
	if doc.Subject != nil {
		if err := checkDescriptor("subject", doc.Subject); err != nil {
			return nil, err
		}
		p.subject = doc.Subject.Digest
	}
	if len(doc.Annotations) > 0 {
		b, _ := json.Marshal(doc.Annotations)
		p.annotations = string(b)
	}
	return p, nil
}

func isGenericJSON(ct string) bool { return ct == "" || ct == "application/json" }

func checkDescriptor(what string, d *descriptor) error {
	if _, err := ParseDigest(d.Digest); err != nil {
		return errorf(CodeManifestInvalid, "%s descriptor has an invalid digest %q", what, d.Digest)
	}
	if d.Size < 0 {
		return errorf(CodeManifestInvalid, "%s descriptor %s has a negative size", what, d.Digest)
	}
	if d.MediaType == "" {
		return errorf(CodeManifestInvalid, "%s descriptor %s has no mediaType", what, d.Digest)
	}
	if err := checkMediaType(what+" descriptor mediaType", d.MediaType); err != nil {
		return err
	}
	return checkMediaType(what+" descriptor artifactType", d.ArtifactType)
}

// maxMediaTypeLength bounds a media type (RFC 6838 allows 127 characters for the type and the
// subtype each; parameters may follow).
const maxMediaTypeLength = 255

// checkMediaType refuses a media type (or artifactType) that is not one: too long, or with
// control characters. Empty is for the caller to judge.
func checkMediaType(what, mt string) error {
	if len(mt) > maxMediaTypeLength {
		return errorf(CodeManifestInvalid, "%s is %d bytes long, at most %d are accepted", what, len(mt), maxMediaTypeLength)
	}
	if strings.IndexFunc(mt, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return errorf(CodeManifestInvalid, "%s %q holds control characters", what, mt)
	}
	return nil
}

func nonDistributable(d *descriptor) bool {
	return strings.Contains(d.MediaType, ".nondistributable.") || strings.Contains(d.MediaType, ".foreign.")
}
