package registry

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

var (
	dgA = "sha256:" + strings.Repeat("a", 64)
	dgB = "sha256:" + strings.Repeat("b", 64)
	dgC = "sha512:" + strings.Repeat("c", 128)
)

func desc(mt, d string, size int) string {
	return fmt.Sprintf(`{"mediaType":%q,"digest":%q,"size":%d}`, mt, d, size)
}

func TestParseManifest(t *testing.T) {
	cfg := desc("application/vnd.oci.image.config.v1+json", dgA, 10)
	layer := desc("application/vnd.oci.image.layer.v1.tar+gzip", dgB, 20)
	foreign := `{"mediaType":"application/vnd.oci.image.layer.nondistributable.v1.tar","digest":"` + dgC + `","size":5,"urls":["https://x"]}`
	image := `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIManifest + `","config":` + cfg + `,"layers":[` + layer + `]}`
	tests := []struct {
		name, contentType, body string
		wantErr                 bool
		check                   func(*parsed) error
	}{
		{"oci image", MediaTypeOCIManifest, image, false, func(p *parsed) error {
			if p.mediaType != MediaTypeOCIManifest || p.config != dgA || len(p.blobs) != 2 || p.blobs[1].Size != 20 {
				return fmt.Errorf("%+v", p)
			}
			if p.artifactType != "application/vnd.oci.image.config.v1+json" {
				return fmt.Errorf("artifactType %q", p.artifactType)
			}
			return nil
		}},
		{"media type from body when Content-Type is generic", "application/json", image, false, nil},
		{"media type inferred from shape", "", `{"schemaVersion":2,"config":` + cfg + `,"layers":[]}`, false, func(p *parsed) error {
			if p.mediaType != MediaTypeOCIManifest {
				return fmt.Errorf("%q", p.mediaType)
			}
			return nil
		}},
		{"artifact type and subject", MediaTypeOCIManifest, `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIManifest + `","artifactType":"application/x-sbom","config":` + cfg + `,"layers":[],"subject":` + desc(MediaTypeOCIManifest, dgB, 3) + `,"annotations":{"k":"v"}}`, false, func(p *parsed) error {
			if p.artifactType != "application/x-sbom" || p.subject != dgB || p.annotations != `{"k":"v"}` {
				return fmt.Errorf("%+v", p)
			}
			return nil
		}},
		{"non-distributable layers are not required", MediaTypeOCIManifest, `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIManifest + `","config":` + cfg + `,"layers":[` + foreign + `]}`, false, func(p *parsed) error {
			if len(p.blobs) != 1 {
				return fmt.Errorf("blobs %+v", p.blobs)
			}
			return nil
		}},
		{"index", MediaTypeOCIIndex, `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIIndex + `","manifests":[` + desc(MediaTypeOCIManifest, dgA, 1) + `,` + desc(MediaTypeOCIManifest, dgC, 2) + `]}`, false, func(p *parsed) error {
			if len(p.children) != 2 || len(p.blobs) != 0 {
				return fmt.Errorf("%+v", p)
			}
			return nil
		}},
		{"docker manifest list", MediaTypeDockerList, `{"schemaVersion":2,"mediaType":"` + MediaTypeDockerList + `","manifests":[` + desc(MediaTypeDockerManifest, dgA, 1) + `]}`, false, nil},
		{"docker v2", MediaTypeDockerManifest, `{"schemaVersion":2,"mediaType":"` + MediaTypeDockerManifest + `","config":` + desc("application/vnd.docker.container.image.v1+json", dgA, 1) + `,"layers":[]}`, false, nil},
		{"garbage", MediaTypeOCIManifest, `{not json`, true, nil},
		{"trailing data", MediaTypeOCIManifest, image + `{}`, true, nil},
		{"schema 1 by content type", mediaTypeSchema1Signed, `{"schemaVersion":1}`, true, nil},
		{"schema 1 by body", "application/json", `{"schemaVersion":1,"fsLayers":[]}`, true, nil},
		{"no schema version", MediaTypeOCIManifest, `{"mediaType":"` + MediaTypeOCIManifest + `","config":` + cfg + `}`, true, nil},
		{"media type mismatch", MediaTypeDockerManifest, image, true, nil},
		{"image without config", MediaTypeOCIManifest, `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIManifest + `","layers":[]}`, true, nil},
		{"bad layer digest", MediaTypeOCIManifest, `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIManifest + `","config":` + cfg + `,"layers":[` + desc("x", "sha256:zz", 1) + `]}`, true, nil},
		{"negative size", MediaTypeOCIManifest, `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIManifest + `","config":` + desc("x", dgA, -1) + `}`, true, nil},
		{"index with layers", MediaTypeOCIIndex, `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIIndex + `","manifests":[],"layers":[]}`, true, nil},
		{"unknown type", "application/x-whatever", `{"schemaVersion":2,"mediaType":"application/x-whatever"}`, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parseManifest(tt.contentType, []byte(tt.body))
			if tt.wantErr {
				var re *Error
				if !errors.As(err, &re) || re.Code != CodeManifestInvalid {
					t.Fatalf("want MANIFEST_INVALID, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				if err := tt.check(p); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}

func TestValidateRepository(t *testing.T) {
	tests := []struct {
		name, project string
		ok            bool
	}{
		{"library/app", "library", true},
		{"team/a/b-c/d_e/f.g", "team", true},
		{"a/b__c", "a", true},
		{"app", "", false},
		{"Library/app", "", false},
		{"library/../etc", "", false},
		{"library//app", "", false},
		{"library/app/", "", false},
		{"/library/app", "", false},
		{"library/-app", "", false},
		{"library/" + strings.Repeat("a", 250), "", false},
	}
	for _, tt := range tests {
		p, err := ValidateRepository(tt.name)
		if (err == nil) != tt.ok || p != tt.project {
			t.Errorf("ValidateRepository(%q) = %q, %v", tt.name, p, err)
		}
	}
}

func TestValidTagAndDigest(t *testing.T) {
	for tag, ok := range map[string]bool{"latest": true, "v1.2.3-rc_1": true, "_x": true, "-x": false, ".x": false, "a+b": false, strings.Repeat("a", 128): true, strings.Repeat("a", 129): false} {
		if ValidTag(tag) != ok {
			t.Errorf("ValidTag(%q) != %v", tag, ok)
		}
	}
	for d, ok := range map[string]bool{dgA: true, dgC: true, "sha256:" + strings.Repeat("A", 64): false, "sha256:abc": false, "md5:" + strings.Repeat("a", 32): false, "sha256:../../etc": false} {
		if _, err := ParseDigest(d); (err == nil) != ok {
			t.Errorf("ParseDigest(%q) err %v", d, err)
		}
	}
}
