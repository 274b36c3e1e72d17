package registry

import (
	"context"
	"errors"

	"github.com/berthreg/berth/internal/meta"
)

// CopyArtifact copies artifact m of srcRepo into dstRepo of project dst, as Harbor's copy does:
// index children first (recursively), then the artifact itself under tags, then the
// accessories of every copied manifest. Blobs are linked from the source repository (the caller
// has checked that it may pull there, as for a cross-repository mount) and every manifest is
// stored through PutManifest, so a copy is validated, charged to the quota and audited like a
// push, and has the source's digest. Each manifest is stored atomically; a copy that fails
// part-way leaves only complete manifests behind, which a retry completes.
func (s *Service) CopyArtifact(ctx context.Context, dst meta.Project, dstRepo, srcRepo string, m meta.Manifest, tags []string) error {
	if _, err := ValidateRepository(dstRepo); err != nil {
		return err
	}
	return s.copyDeeply(ctx, dst, dstRepo, srcRepo, m, tags, 0)
}

func (s *Service) copyDeeply(ctx context.Context, dst meta.Project, dstRepo, srcRepo string, m meta.Manifest, tags []string, depth int) error {
	if depth > maxIndexDepth {
		return errorf(CodeManifestInvalid, "manifest %s: references nest deeper than %d levels", m.Digest, maxIndexDepth)
	}
	p, err := parseManifest(m.MediaType, m.Payload)
	if err != nil {
		return err
	}
	for _, c := range p.children {
		child, err := s.DB.ManifestByDigest(ctx, srcRepo, c)
		if errors.Is(err, meta.ErrNotFound) {
			return errorf(CodeManifestUnknown, "manifest %s unknown to repository %s", c, srcRepo)
		}
		if err != nil {
			return err
		}
		if err := s.copyDeeply(ctx, dst, dstRepo, srcRepo, child, nil, depth+1); err != nil {
			return err
		}
	}
	for _, b := range p.blobs {
		ok, err := s.Mount(ctx, dst.ID, dstRepo, srcRepo, b.Digest)
		if err != nil {
			return err
		}
		if !ok {
			return errorf(CodeBlobUnknown, "blob %s unknown to repository %s", b.Digest, srcRepo)
		}
	}
	if _, err := s.PutManifest(ctx, dst, dstRepo, m.Digest, m.MediaType, m.Payload, tags...); err != nil {
		return err
	}
	accessories, err := s.DB.Accessories(ctx, m.RepositoryID, m.Digest)
	if err != nil {
		return err
	}
	for _, a := range accessories {
		var accTags []string
		if a.SubjectDigest != m.Digest {
			// cosign's legacy signature is known by its tag: it keeps it.
			accTags = []string{meta.LegacyCosignTag(m.Digest)}
		}
		if err := s.copyDeeply(ctx, dst, dstRepo, srcRepo, a, accTags, depth+1); err != nil {
			return err
		}
	}
	return nil
}
