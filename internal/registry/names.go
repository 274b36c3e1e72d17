package registry

import (
	"regexp"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berthreg/berth/internal/blob"
)

// The distribution grammar for path components, and Harbor's tag rule.
var (
	componentRE = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*$`)
	tagRE       = regexp.MustCompile(`^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$`)
)

const maxNameLength = 255

// ValidateRepository checks a repository name and returns its project (first component).
// Berth, like Harbor, keeps every repository inside a project: "project/name[/...]".
func ValidateRepository(name string) (project string, err error) {
	if name == "" || len(name) > maxNameLength {
		return "", errorf(CodeNameInvalid, "invalid repository name %q: 1 to %d characters", name, maxNameLength)
	}
	parts := strings.Split(name, "/")
	for _, p := range parts {
		if !componentRE.MatchString(p) {
			return "", errorf(CodeNameInvalid, "invalid repository name %q: each path component must match %s", name, componentRE)
		}
	}
	if len(parts) < 2 {
		return "", errorf(CodeNameInvalid, "invalid repository name %q: repositories live in a project, use <project>/%s", name, name)
	}
	return parts[0], nil
}

// ValidTag reports whether s is a valid tag.
func ValidTag(s string) bool { return tagRE.MatchString(s) }

// ParseDigest validates a digest (sha256 or sha512, lower-case hex of the right length).
func ParseDigest(s string) (digest.Digest, error) {
	d := digest.Digest(s)
	if err := blob.ValidateDigest(d); err != nil {
		return "", errorf(CodeDigestInvalid, "invalid digest %q: want sha256:<64 hex> or sha512:<128 hex>", s)
	}
	return d, nil
}

// IsDigest reports whether a manifest reference is a digest rather than a tag.
func IsDigest(ref string) bool { return strings.Contains(ref, ":") }
