package scan

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"

	"github.com/berthreg/berth/internal/jobs"
	"github.com/berthreg/berth/internal/meta"
	"github.com/berthreg/berth/internal/scan/vulndb"
)

// An air-gapped registry updates its vulnerability database by replication: the OSV bundle
// (osv.dev's all.zip files, or OSV JSON files, as the layers of an OCI artifact) is pushed
// into the repository named by VulnDBRepository, and every push there is imported.

type vulndbImportArgs struct {
	Repository string `json:"repository"`
	Digest     string `json:"digest"`
}

func (vulndbImportArgs) Kind() string { return "vulndb_import" }

type vulndbImportWorker struct {
	jobs.WorkerDefaults[vulndbImportArgs]
	s *Service
}

// queueVulnDBImport queues the import of a bundle just pushed.
func (s *Service) queueVulnDBImport(ctx context.Context, repo string, m meta.Manifest) {
	if _, err := s.Jobs.Insert(ctx, vulndbImportArgs{Repository: repo, Digest: m.Digest}, &jobs.InsertOpts{UniqueOpts: uniqueArgs}); err != nil {
		s.Log.WarnContext(ctx, "queue vulnerability database import", "repository", repo, "digest", m.Digest, "err", err)
	}
}

func (w *vulndbImportWorker) Work(ctx context.Context, job *jobs.Job[vulndbImportArgs]) error {
	s := w.s
	m, err := s.Store.ManifestByDigest(ctx, job.Args.Repository, job.Args.Digest)
	if err != nil {
		s.Log.Warn("vulnerability database bundle gone before its import", "repository", job.Args.Repository, "digest", job.Args.Digest, "err", err)
		return nil
	}
	var doc struct {
		Layers []struct {
			MediaType string `json:"mediaType"`
			Digest    string `json:"digest"`
		} `json:"layers"`
	}
	if err := json.Unmarshal(m.Payload, &doc); err != nil || len(doc.Layers) == 0 {
		s.Log.Warn("vulnerability database bundle has no layers to import", "repository", job.Args.Repository, "digest", job.Args.Digest)
		return nil
	}
	dir, err := os.MkdirTemp(s.Builtin.Limits.ScratchDir, "vulndb-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var paths []string
	for i, l := range doc.Layers {
		p, err := s.saveBundleLayer(ctx, dir, i, l.Digest)
		if err != nil {
			return err
		}
		paths = append(paths, p)
	}
	rep, err := s.VulnDB.Import(ctx, paths, vulndb.ImportOptions{})
	if err != nil {
		s.Log.Error("vulnerability database import from a pushed bundle failed; the previous database stays current",
			"repository", job.Args.Repository, "digest", job.Args.Digest, "err", err)
		return nil // a broken bundle is not retried: the next push replaces it
	}
	s.Log.Info("vulnerability database imported from a pushed bundle", "repository", job.Args.Repository,
		"digest", job.Args.Digest, "generation", rep.Generation)
	return nil
}

// saveBundleLayer copies one layer into dir as a file the importer reads: a zip archive keeps
// .zip, anything else is taken as one OSV JSON document.
func (s *Service) saveBundleLayer(ctx context.Context, dir string, i int, dgst string) (string, error) {
	rd, err := s.Builtin.Blobs.Open(ctx, digest.Digest(dgst))
	if err != nil {
		return "", fmt.Errorf("bundle layer %s: %w", dgst, err)
	}
	defer rd.Close()
	head := make([]byte, 4)
	n, _ := io.ReadFull(rd, head)
	ext := ".json"
	if bytes.Equal(head[:n], []byte("PK\x03\x04")) {
		ext = ".zip"
	}
	path := filepath.Join(dir, fmt.Sprintf("layer-%03d%s", i, ext))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", err
	}
	_, err = io.Copy(f, io.MultiReader(bytes.NewReader(head[:n]), rd))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return path, err
}

// isVulnBundleRepo reports whether pushes to repo are vulnerability database bundles.
func (s *Service) isVulnBundleRepo(repo string) bool {
	return s.VulnDBRepository != "" && strings.EqualFold(repo, s.VulnDBRepository)
}
