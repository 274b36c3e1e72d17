package registry

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/berthreg/berth/internal/input"
)

// Fuzz targets for the registry's parsers: what they accept must hold their rules, and what
// they refuse must be refused with the right code. The seeds (here and in testdata/fuzz) run
// with every go test; make fuzz runs each target for a while.

// FuzzValidateRepository: an accepted repository name is at most 255 bytes of path
// components of the distribution grammar, inside a project, and nothing a store or a path
// could misread (no NUL, no escapes, no "..").
func FuzzValidateRepository(f *testing.F) {
	for _, s := range []string{"library/nginx", "a/b/c", "library", "", "UPPER/x", "a//b", "a/../b", "a/./b", "/a/b", "a/b/",
		strings.Repeat("a/", 127) + "ab", "a\x00/b", "café/x", "a__b/c-d.e", "a/b%2Fc", "a/b-", "a/-b", "a/b__", "a/b___c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		project, err := ValidateRepository(name)
		if err != nil {
			var re *Error
			if !errors.As(err, &re) || re.Code != CodeNameInvalid {
				t.Fatalf("ValidateRepository(%q): %v, want a NAME_INVALID", name, err)
			}
			return
		}
		if len(name) > maxNameLength || !strings.HasPrefix(name, project+"/") {
			t.Fatalf("ValidateRepository(%q) accepted it, project %q", name, project)
		}
		for _, c := range strings.Split(name, "/") {
			if !componentRE.MatchString(c) {
				t.Fatalf("ValidateRepository(%q) accepted the component %q", name, c)
			}
		}
		if input.Text(name) != "" || strings.ContainsAny(name, "%\\ :@") || strings.Contains(name, "..") || strings.Contains(name, "//") {
			t.Fatalf("ValidateRepository(%q) accepted what a path or a store could misread", name)
		}
	})
}

// FuzzReference: a manifest reference is a tag or a digest, never both; a valid tag is 1 to
// 128 characters of [A-Za-z0-9_.-] not starting with '.' or '-'; a valid digest is sha256 or
// sha512 with lower-case hex of its length, and reads back as given.
func FuzzReference(f *testing.F) {
	for _, s := range []string{"latest", "v1.2.3", "_x", ".x", "-x", strings.Repeat("a", 128), strings.Repeat("a", 129), "",
		"sha256:" + strings.Repeat("0", 64), "sha256:" + strings.Repeat("A", 64), "sha256:" + strings.Repeat("0", 63),
		"sha512:" + strings.Repeat("f", 128), "md5:d41d8cd98f00b204e9800998ecf8427e", "sha256:", ":", "a:b", "v1\x00", "sha256:zz"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		tag := ValidTag(ref)
		d, err := ParseDigest(ref)
		if tag {
			if len(ref) < 1 || len(ref) > 128 || ref[0] == '.' || ref[0] == '-' || IsDigest(ref) {
				t.Fatalf("ValidTag(%q) accepted it", ref)
			}
			for _, c := range []byte(ref) {
				if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
					t.Fatalf("ValidTag(%q) accepted %q", ref, c)
				}
			}
		}
		if err != nil {
			var re *Error
			if !errors.As(err, &re) || re.Code != CodeDigestInvalid {
				t.Fatalf("ParseDigest(%q): %v, want a DIGEST_INVALID", ref, err)
			}
			return
		}
		if tag {
			t.Fatalf("%q is both a tag and a digest", ref)
		}
		alg, hex, _ := strings.Cut(ref, ":")
		n := map[string]int{"sha256": 64, "sha512": 128}[alg]
		if d.String() != ref || !IsDigest(ref) || n == 0 || len(hex) != n || strings.Trim(hex, "0123456789abcdef") != "" {
			t.Fatalf("ParseDigest(%q) accepted it as %q", ref, d)
		}
	})
}

// FuzzParseManifest: an accepted manifest or index is of a type Berth stores, valid UTF-8
// without NUL characters, references only valid digests with sizes that are not negative, and
// keeps its media types and annotations storable; a refused one is MANIFEST_INVALID.
func FuzzParseManifest(f *testing.F) {
	cfg := `{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + strings.Repeat("a", 64) + `","size":2}`
	layer := `{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:` + strings.Repeat("b", 64) + `","size":10}`
	child := `{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + strings.Repeat("c", 64) + `","size":300,"platform":{"os":"linux","architecture":"amd64"}}`
	for _, s := range []struct{ ct, body string }{
		{MediaTypeOCIManifest, `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIManifest + `","config":` + cfg + `,"layers":[` + layer + `]}`},
		{"", `{"schemaVersion":2,"config":` + cfg + `,"layers":[],"annotations":{"a":"b"},"artifactType":"application/x"}`},
		{MediaTypeDockerManifest, `{"schemaVersion":2,"mediaType":"` + MediaTypeDockerManifest + `","config":` + cfg + `,"layers":[` + layer + `]}`},
		{MediaTypeOCIIndex, `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIIndex + `","manifests":[` + child + `]}`},
		{MediaTypeDockerList, `{"schemaVersion":2,"manifests":[` + child + `]}`},
		{MediaTypeOCIManifest, `{"schemaVersion":2,"config":` + cfg + `,"layers":[],"subject":` + child + `}`},
		{MediaTypeOCIManifest, `{"schemaVersion":2,"config":` + cfg + `,"layers":[],"artifactType":"a\u0000"}`},
		{"application/json", `{"schemaVersion":1,"fsLayers":[]}`},
		{MediaTypeOCIManifest, `{"schemaVersion":2,"config":{"mediaType":"x","digest":"sha256:zz","size":-1}}`},
		{"", `[]`},
		{"", "{\"schemaVersion\":2,\"x\":\"\xff\"}"},
	} {
		f.Add(s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, contentType string, body []byte) {
		p, err := parseManifest(contentType, body)
		if err != nil {
			var re *Error
			if !errors.As(err, &re) || re.Code != CodeManifestInvalid {
				t.Fatalf("parseManifest: %v, want a MANIFEST_INVALID", err)
			}
			return
		}
		switch p.mediaType {
		case MediaTypeOCIManifest, MediaTypeDockerManifest:
			if p.config == "" || len(p.children) > 0 {
				t.Fatalf("an image manifest with config %q and children %v", p.config, p.children)
			}
		case MediaTypeOCIIndex, MediaTypeDockerList:
			if p.config != "" || len(p.blobs) > 0 {
				t.Fatalf("an index with config %q and blobs %v", p.config, p.blobs)
			}
		default:
			t.Fatalf("accepted a manifest of media type %q", p.mediaType)
		}
		if !utf8.Valid(body) || input.JSON(body) != "" {
			t.Fatalf("accepted a manifest that is not storable text: %q", body)
		}
		for _, b := range p.blobs {
			if _, err := ParseDigest(b.Digest); err != nil || b.Size < 0 {
				t.Fatalf("accepted a blob reference %+v", b)
			}
		}
		for _, c := range append(p.children, p.subject) {
			if _, err := ParseDigest(c); c != "" && err != nil {
				t.Fatalf("accepted a manifest reference %q", c)
			}
		}
		if input.Text(p.artifactType) != "" || checkMediaType("artifactType", p.artifactType) != nil {
			t.Fatalf("accepted the artifactType %q", p.artifactType)
		}
		if p.annotations != "" {
			var a map[string]string
			if err := json.Unmarshal([]byte(p.annotations), &a); err != nil {
				t.Fatalf("annotations %q do not read back: %v", p.annotations, err)
			}
			for k, v := range a {
				if input.Text(k) != "" || input.Text(v) != "" {
					t.Fatalf("accepted the annotation %q: %q", k, v)
				}
			}
		}
	})
}
